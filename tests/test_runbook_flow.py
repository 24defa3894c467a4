"""The runbook checklist in Slack, through signed slash commands and block_actions against the strict Slack
stand-in: one block per step, a menu per step, updated in place."""

from __future__ import annotations

import copy
import json
from datetime import timedelta

from sqlmodel import select

from bot.slack.harness import Harness, block_text, seen
from bot.slack.views.checklist import MENU_ACTION
from bot.store.models.runbook import RunbookStep
from tests.runbook_support import (
    checklist_message,
    choose,
    events,
    message_text,
    open_incident,
    step_block,
    step_blocks,
    step_row,
    told,
    violations,
)


def test_sev1_prompt_injection_posts_its_runbook_as_a_compact_checklist(harness: Harness) -> None:
    h = harness
    channel = open_incident(h)
    msg = checklist_message(h, channel)
    text = message_text(msg)
    assert "Prompt injection (direct or indirect)" in text
    assert "0/22 done" in text
    assert "due times count from the opening at 09:00 UTC" in text
    assert "`/incident step <id> done | skip <reason> | assign @user`" in text
    preserve = block_text(step_block(msg, "preserve-evidence"))
    assert preserve.startswith("*`preserve-evidence`* Before changing anything")
    assert "_safety researcher — unassigned_ · due 09:20 UTC" in seen(preserve)  # SEV1: 20m after the opening
    # One block per step: a section whose accessory is the step's menu; header and progress above; nothing else.
    with h.ctx.db.session() as session:
        rows = {r.step_id: r for r in session.exec(select(RunbookStep).where(RunbookStep.incident_id == 1))}
    blocks = step_blocks(msg)
    assert len(blocks) == 22 and len(msg.blocks) == 24
    assert all("\n" not in block_text(b) for b in blocks)  # one line of text each
    menu = blocks[0]["accessory"]
    assert menu["type"] == "overflow" and menu["action_id"] == MENU_ACTION
    first = rows[blocks[0]["block_id"].removeprefix("step:")]
    assert [(o["text"]["text"], o["value"]) for o in menu["options"]] == [
        ("Done", f"done:{first.id}"), ("Skip…", f"skip:{first.id}"), ("Assign…", f"assign:{first.id}")]
    # Required steps first, each group in phase order.
    order = [b["block_id"].removeprefix("step:") for b in blocks]
    required = [rows[s].required for s in order]
    assert required == sorted(required, reverse=True) and required.count(False) == 3
    assert order[0] == "assign-roles" and order[-3:] == ["kill-switch", "notify-source-owner", "restore-source"]
    assert block_text(blocks[-1]).startswith("_optional_ · *`restore-source`*")
    attached = events(h, "runbook_attached")
    assert len(attached) == 1
    assert attached[0].data["runbook"] == "prompt_injection" and attached[0].actor == "firebreak"
    assert "Runbook* Prompt injection (direct or indirect): 0/22 steps finished" in h.summary(1)
    assert violations(h) == []


def test_done_from_the_menu_updates_the_message_in_place_and_writes_the_timeline(harness: Harness, clock) -> None:
    h = harness
    channel = open_incident(h)
    msg = checklist_message(h, channel)
    h.join("U0BOB", channel)
    clock.advance(minutes=7)
    reply = choose(h, channel, "assign-roles", "done", user="U0BOB")
    assert reply.ack.status == 200 and reply.text == ""  # the checklist itself is the answer
    after = checklist_message(h, channel)
    assert after.ts == msg.ts and after.edits == 1
    text = message_text(after)
    assert "1/22 done" in text
    assert "*Finished* (1)\n:white_check_mark: ~`assign-roles`~ done by <@U0BOB> at 09:07 UTC" in text
    assert step_block(after, "assign-roles") is None  # a finished step has no menu
    [done] = events(h, "step_done")
    assert done.actor == "U0BOB" and done.data["step"] == "assign-roles" and done.data["runbook"] == "prompt_injection"
    assert done.data["started_at"] == "2026-01-05T09:00:00+00:00"
    assert done.at.isoformat() == "2026-01-05T09:07:00+00:00"
    # Someone clicking the stale menu is told who finished it; nothing more is written or updated.
    h.join("U0CAROL", channel)
    stale = checklist_message(h, channel)
    from tests.runbook_support import choose_value

    reply = choose_value(h, f"done:{step_row(h, 'assign-roles').id}", channel=channel, message=stale, user="U0CAROL")
    assert "Step `assign-roles` was already done by <@U0BOB> at 2026-01-05 09:07:00 UTC." in reply.text
    assert len(events(h, "step_done")) == 1 and checklist_message(h, channel).edits == 1
    assert violations(h) == []


def test_skip_asks_for_a_reason_in_a_modal(harness: Harness) -> None:
    h = harness
    channel = open_incident(h)
    choose(h, channel, "notify-source-owner", "skip")
    view = h.last_view()
    assert view["callback_id"] == "firebreak_step_skip_modal"
    assert "notify-source-owner" in block_text(view["blocks"][0])
    assert len(view["private_metadata"]) <= 40 and "notify" not in view["private_metadata"]  # an opaque token
    reply = h.submit_view(view, {"reason": "   "})
    assert json.loads(reply.ack.body) == {"response_action": "errors",
                                          "errors": {"reason": "Say why the step is skipped."}}
    assert events(h, "step_skipped") == [] and step_row(h, "notify-source-owner").state == "pending"
    reply = h.submit_view(view, {"reason": "The source is our own wiki; the owner is on this channel"})
    assert reply.ack.status == 200 and not reply.ack.body
    [skipped] = events(h, "step_skipped")
    assert skipped.data == {"runbook": "prompt_injection", "step": "notify-source-owner", "user": "U0ALICE",
                            "reason": "The source is our own wiki; the owner is on this channel",
                            "started_at": "2026-01-05T09:00:00+00:00", "due_at": "2026-01-05T13:00:00+00:00"}
    assert any("skipped `notify-source-owner`" in t for t in h.fake.texts(channel))
    assert ("skipped by <@U0ALICE> at 09:00 UTC: _The source is our own wiki; the owner is on this channel_"
            in message_text(checklist_message(h, channel)))
    # Submitting the same form again: a form works once; the person is told it is out of date.
    reply = h.submit_view(view, {"reason": "again"})
    assert reply.ack.status == 200 and "out of date" in reply.text
    assert len(events(h, "step_skipped")) == 1
    assert violations(h) == []


def test_assign_hands_off_only_to_someone_in_the_incident_and_invites_nobody(harness: Harness) -> None:
    h = harness
    channel = open_incident(h)
    choose(h, channel, "preserve-evidence", "assign")
    view = h.last_view()
    assert view["callback_id"] == "firebreak_step_assign_modal"
    h.submit_view(view, {"user": "U0STRANGER"})
    assert told(h, "U0ALICE")[-1].startswith(":warning: <@U0STRANGER> is not in INC-1")
    assert events(h, "step_assigned") == [] and step_row(h, "preserve-evidence").owner_id is None
    assert "U0STRANGER" not in h.fake.channels[channel]["members"]
    assert not [c for c in h.fake.calls_to("conversations.invite") if "U0STRANGER" in str(c.params)]
    h.invite("U0DANA", channel)
    reply = h.submit_view(view, {"user": "U0DANA"})
    assert reply.ack.status == 200 and not reply.ack.body
    [assigned] = events(h, "step_assigned")
    assert assigned.data == {"runbook": "prompt_injection", "step": "preserve-evidence", "user": "U0DANA",
                             "previous": None}
    assert assigned.text == "preserve-evidence assigned to @U0DANA"  # plain text and ids: no Slack markup
    assert "— <@U0DANA> · due" in block_text(step_block(checklist_message(h, channel), "preserve-evidence"))
    assert any("<@U0DANA> now owns `preserve-evidence`" in t for t in h.fake.texts(channel))
    assert violations(h) == []


def test_step_commands(harness: Harness, clock) -> None:
    h = harness
    channel = open_incident(h)
    clock.advance(minutes=3)
    reply = h.command("step confirm-severity done", channel=channel, user="U0BOB")
    assert "`confirm-severity` done." in reply.text
    reply = h.command("step classify-vector skip handled by confirm-severity", channel=channel)
    assert "`classify-vector` skipped." in reply.text
    assert step_row(h, "classify-vector").reason == "handled by confirm-severity"
    h.command("ic <@U0BOB>", channel=channel)
    reply = h.command("step reproduce assign <@U0BOB|bob>", channel=channel)
    assert "<@U0BOB> owns `reproduce`." in reply.text
    reply = h.command("runbook", channel=channel)
    assert "1/22 done, 1 skipped, 20 pending" in reply.text
    assert ":white_square: *`reproduce`*" in reply.text and "— <@U0BOB> · due" in reply.text
    assert "*Triage*" in reply.text and "*Reproduce and preserve evidence*" in reply.text
    # The IC now owns the IC's steps in the checklist.
    assert "<@U0BOB> (incident commander)" in block_text(step_block(checklist_message(h, channel), "assign-roles"))


def test_step_command_bad_input_says_what_and_writes_nothing(harness: Harness) -> None:
    h = harness
    channel = open_incident(h)
    h.command("step assign-roles done", channel=channel, user="U0BOB")
    before = len(events(h))
    cases = {
        "step nope done": "INC-1 has no step `nope`. Pending steps: `confirm-severity`",
        "step assign-roles done": "Step `assign-roles` was already done by <@U0BOB> at 2026-01-05 09:00:00 UTC.",
        "step reproduce skip": "Say why `reproduce` is skipped.",
        "step reproduce skip " + "x" * 1001: "The skip reason is 1,001 characters; the limit is 1,000.",
        "step reproduce assign <@U0STRANGER>": "<@U0STRANGER> is not in INC-1",
        "step reproduce assign bob": "`bob` is not a Slack user mention",
        "step reproduce finish": "Unknown step action `finish`; use done, skip or assign.",
        "step reproduce": "Name a step and what to do with it.",
        "step reproduce done now": "`done` takes no more words (got `now`).",
        "step " + "y" * 500 + " done": "INC-1 has no step `" + "y" * 63 + "…`.",
        "runbook use nope": "There is no runbook `nope`. Runbooks: `agent_tool_misuse`, `bias`",
        "runbook use prompt_injection": "Runbook `prompt_injection` is already in use on INC-1.",
        "runbook frobnicate": "Unknown runbook action `frobnicate`.",
    }
    for command, expected in cases.items():
        reply = h.command(command, channel=channel)
        assert expected in reply.text, (command, reply.text)
        assert "Usage: `/incident" in reply.text, command
        assert "x" * 100 not in reply.text  # never the whole input echoed
    assert len(events(h)) == before
    assert h.command("step reproduce done", user="U0BOB").text.startswith(":warning: This is not an incident")
    assert violations(h) == []


def test_runbooks_lists_what_is_available(harness: Harness) -> None:
    reply = harness.command("runbooks")
    for key in ("jailbreak", "prompt_injection", "data_leakage", "harmful_content", "hallucination_high_stakes",
                "agent_tool_misuse", "bias", "model_regression", "near_miss", "general"):
        assert f"`{key}`" in reply.text
    assert "Prompt injection (direct or indirect)* · prompt_injection · SEV1,2,3 · 22 steps" in reply.text


def test_runbook_use_switches_and_keeps_completed_steps(harness: Harness) -> None:
    h = harness
    channel = open_incident(h)
    h.command("step preserve-evidence done", channel=channel)
    h.command("step classify-vector done", channel=channel)
    reply = h.command("runbook use data_leakage", channel=channel)
    assert "Runbook `data_leakage` switched to" in reply.text
    with h.ctx.db.session() as session:
        rows = {r.step_id: r for r in session.exec(select(RunbookStep).where(RunbookStep.incident_id == 1))}
    assert rows["preserve-evidence"].state == "done"  # shared step id: kept
    assert rows["classify-vector"].state == "done"   # done steps of the old runbook stay on the checklist
    assert rows["quarantine-source"].runbook_key == "data_leakage"  # shared pending step now follows data_leakage
    assert rows["preserve-source"].state == "dropped"  # pending, only in prompt_injection
    assert rows["rotate-secrets"].state == "pending"
    posted = "\n".join(h.fake.texts(channel))
    assert "switched to runbook *PII or data leakage in model outputs*" in posted
    assert "Kept as they were: `preserve-evidence`" in posted
    text = message_text(checklist_message(h, channel))
    assert "INC-1 runbook: PII or data leakage in model outputs" in text and "~`classify-vector`~" in text
    assert "preserve-source" not in text
    reply = h.command("runbook use bias --add", channel=channel)
    assert "Runbook `bias` added" in reply.text
    assert step_row(h, "assign-roles").runbook_key == "data_leakage"  # a shared pending step stays where it was
    assert step_row(h, "measure-disparity").state == "pending"
    msg = checklist_message(h, channel)
    assert "PII or data leakage in model outputs + Bias or unfair outcomes" in message_text(msg)
    assert step_block(msg, "measure-disparity") is not None and len(msg.blocks) <= 50
    assert violations(h) == []


def test_escalation_re_evaluates_runbook_and_due_times(harness: Harness, clock) -> None:
    h = harness
    h.command("open Red-team found a bypass on the staging model --category jailbreak --sev 4")
    channel = h.incident_channel(1)
    assert "Near miss or red-team finding" in message_text(checklist_message(h, channel))
    h.command("step preserve-evidence done", channel=channel)
    h.command("ic <@U0ALICE>", channel=channel)
    clock.advance(minutes=5)
    h.command("sev 3 works on the production chat model too", channel=channel)
    posted = "\n".join(seen(t) for t in h.fake.texts(channel))
    assert "Runbook re-evaluated for SEV4 → SEV3" in posted
    assert "Runbook `jailbreak` replaces `near_miss`" in posted
    assert "Kept as they were: `preserve-evidence`" in posted
    assert step_row(h, "preserve-evidence").state == "done"
    assert step_row(h, "check-production").state == "dropped"
    assert step_row(h, "reproduce").due_at.isoformat() == "2026-01-05T17:00:00+00:00"  # SEV3: 8h
    with h.ctx.db.session() as session:  # block-abusers applies at SEV1-2 only: not on the SEV3 checklist
        assert session.exec(select(RunbookStep).where(RunbookStep.step_id == "block-abusers")).first() is None
    h.command("sev 1 the prompt is on social media", channel=channel)
    posted = "\n".join(seen(t) for t in h.fake.texts(channel))
    assert "Runbook re-evaluated for SEV3 → SEV1" in posted
    assert "`reproduce` now due 09:45 UTC (+45m) (was 17:00 UTC (+8h))." in posted
    assert "Steps added: `block-abusers`" in posted
    raw = "\n".join(h.fake.raw_texts(channel))
    assert "now due <!date^" in raw  # each reader sees their own time
    assert step_row(h, "reproduce").due_at.isoformat() == "2026-01-05T09:45:00+00:00"
    [updated_3, updated_1] = events(h, "runbook_updated")
    assert updated_1.data["old"] == 3 and updated_1.data["new"] == 1
    assert "reproduce now due 09:45 UTC (+45m) (was 17:00 UTC (+8h))." in updated_1.data["changes"]
    assert "SEV1" in message_text(checklist_message(h, channel))
    assert violations(h) == []


def test_lever_choice_only_when_the_lever_is_configured(make_harness) -> None:
    h = make_harness()

    class Levers:
        def get(self, name):
            return {"name": name} if name == "quarantine-retrieval-source" else None

    h.ctx.levers = Levers()
    channel = open_incident(h)
    msg = checklist_message(h, channel)
    options = [o["text"]["text"] for o in step_block(msg, "quarantine-source")["accessory"]["options"]]
    assert options == ["Done", "Skip…", "Assign…", "Pull lever…"]
    assert "lever `quarantine-retrieval-source` (" not in block_text(step_block(msg, "quarantine-source"))
    assert "lever `emergency-filter` (not configured here)" in block_text(step_block(msg, "emergency-filter"))
    assert len(step_block(msg, "emergency-filter")["accessory"]["options"]) == 3
    h.ctx.levers = None
    h.command("step assign-roles done", channel=channel)
    msg = checklist_message(h, channel)
    assert len(step_block(msg, "quarantine-source")["accessory"]["options"]) == 3
    assert "lever `quarantine-retrieval-source` (not configured here)" in block_text(step_block(msg, "quarantine-source"))


def test_postmortem_provider_shape(harness: Harness, clock) -> None:
    from bot.core import incidents
    from bot.core.facts import StepState
    from bot.postmortem.providers import collect

    h = harness
    channel = open_incident(h)
    clock.advance(minutes=30)
    h.command("step assign-roles done", channel=channel, user="U0BOB")
    with h.ctx.db.session() as session:
        data = collect(h.ctx, session, incidents.get(session, 1))
    rows = {s.step_id: s for s in data["runbook"]}  # bot.core.facts.StepFact, judged by the facts module
    row = rows["assign-roles"]
    assert (row.state, row.finished_by, row.phase, row.runbook) == (StepState.DONE_LATE, "U0BOB", "triage",
                                                                    "prompt_injection")
    assert row.finished_at.isoformat() == "2026-01-05T09:30:00+00:00"
    assert row.due_at.isoformat() == "2026-01-05T09:10:00+00:00"
    assert row.late_by == timedelta(minutes=20)
    assert rows["harden"].state == StepState.PENDING
    assert rows["kill-switch"].required is False and rows["kill-switch"].state == StepState.NOT_REQUIRED


def test_the_postmortem_provider_needs_no_slack(sqlite_url, clock) -> None:
    """`firebreak postmortem` builds the services alone: the runbook's rows are there without the Bolt app."""
    from bot.app.services import build_services
    from bot.config.settings import Settings

    services = build_services(Settings(database_url=sqlite_url), clock)
    try:
        assert "runbook" in services.postmortem_providers and services.runbooks is not None
    finally:
        services.close()


def test_slack_failures_never_lose_the_step_and_the_message_catches_up(harness: Harness) -> None:
    h = harness
    channel = open_incident(h)
    msg = checklist_message(h, channel)
    # A transient failure (Slack's 5xx) is retried until the message is up to date.
    h.fake.fail_next("chat.update", "internal_error")
    h.command("step assign-roles done", channel=channel)
    assert step_row(h, "assign-roles").state == "done"
    assert "1/22 done" in message_text(checklist_message(h, channel))
    assert len(h.fake.calls_to("chat.update")) >= 2
    # A permanent refusal is a fact on the timeline; the next change brings the message up to date.
    h.fake.fail_next("chat.update", "invalid_blocks", times=2)  # the checklist's and the summary's
    h.command("step confirm-severity done", channel=channel)
    assert step_row(h, "confirm-severity").state == "done"
    [error] = [e for e in events(h, "slack_error") if e.data["what"] == "update"]
    assert "invalid_blocks" in error.data["error"]
    h.command("step classify-vector done", channel=channel)
    assert "3/22 done" in message_text(checklist_message(h, channel))
    # A deleted checklist message is posted afresh, and later changes update the new one.
    h.fake.messages[channel] = [m for m in h.fake.messages[channel] if m.ts != msg.ts]
    h.command("step preserve-evidence done", channel=channel)
    fresh = checklist_message(h, channel)
    assert fresh.ts != msg.ts and "4/22 done" in message_text(fresh)
    h.command("step blast-radius done", channel=channel)
    latest = checklist_message(h, channel)
    assert latest.ts == fresh.ts and "5/22 done" in message_text(latest)


def test_timeline_shows_each_steps_start_and_finish(harness: Harness, clock) -> None:
    """Done when: the timeline alone tells when each step started and finished, including steps that an
    escalation added later."""
    h = harness
    h.command("open Jailbreak prompt circulating --category jailbreak --sev 3")
    channel = h.incident_channel(1)
    h.command("ic <@U0ALICE>", channel=channel)
    clock.advance(minutes=25)
    h.command("step reproduce done", channel=channel)
    clock.advance(minutes=5)
    h.command("sev 2 reproduced on production", channel=channel)
    clock.advance(minutes=20)
    h.command("step block-abusers skip no single source; rate limits already apply", channel=channel)

    started: dict[str, str] = {}
    finished: dict[str, tuple[str, str]] = {}
    for e in events(h, "runbook_attached", "runbook_updated", "step_done", "step_skipped"):
        if e.kind in ("runbook_attached", "runbook_updated"):
            for step in e.data["added"]:
                started.setdefault(step, e.at.strftime("%H:%M"))
        else:
            finished[e.data["step"]] = (e.kind, e.at.strftime("%H:%M"))
    assert started["reproduce"] == "09:00" and finished["reproduce"] == ("step_done", "09:25")
    assert started["block-abusers"] == "09:30" and finished["block-abusers"] == ("step_skipped", "09:50")
    assert set(finished) <= set(started)


def test_menus_on_a_finished_step_or_resolved_incident_answer_privately(harness: Harness) -> None:
    h = harness
    channel = open_incident(h)
    old = copy.deepcopy(checklist_message(h, channel))  # the message as it was when someone opened it
    h.command("step reproduce done", channel=channel, user="U0BOB")
    from tests.runbook_support import choose_value, option

    views = len(h.fake.views)
    reply = choose_value(h, option(old, "reproduce", "skip"), channel=channel, message=old)
    assert len(h.fake.views) == views  # no modal
    assert reply.text.startswith(":warning: Step `reproduce` was already done by <@U0BOB>")
    h.command("ic <@U0ALICE>", channel=channel)
    h.command("resolve duplicate of INC-0", channel=channel)
    before = len(events(h))
    reply = choose_value(h, option(old, "blast-radius", "done"), channel=channel, message=old)
    assert "INC-1 is resolved" in reply.text
    reply = choose_value(h, option(old, "blast-radius", "assign"), channel=channel, message=old)
    assert "INC-1 is resolved" in reply.text and len(h.fake.views) == views
    assert len(events(h)) == before
    closed = checklist_message(h, channel)
    assert not [b for b in closed.blocks if "accessory" in b or b["type"] == "actions"]
    assert "Not finished when INC-1 was resolved" in message_text(closed)
