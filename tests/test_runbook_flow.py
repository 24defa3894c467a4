"""The runbook checklist in Slack, through signed slash commands and block_actions against the fake Slack."""

from __future__ import annotations

import json

from sqlmodel import select

from bot.core import timeline
from bot.runbooks import checklist
from bot.slack.harness import Harness, block_text
from bot.store.models.runbook import RunbookStep


def open_incident(h: Harness, text: str = "Injected instructions in a retrieved wiki page --category "
                  "prompt_injection --sev 1", user: str = "U0ALICE") -> str:
    reply = h.command(f"open {text}", user=user)
    assert "Opened *INC-1*" in reply.text, reply.text
    return h.incident_channel(1)


def checklist_message(h: Harness, channel: str):
    found = [m for m in h.fake.history(channel) if m.text.startswith("INC-1 runbook:")]
    assert len(found) == 1, [m.text for m in h.fake.history(channel)]
    return found[0]


def message_text(message) -> str:
    return "\n".join(block_text(b) for b in message.blocks)


def value(step: str, incident: int = 1) -> str:
    return json.dumps({"incident": incident, "step": step})


def events(h: Harness, *kinds: str):
    with h.ctx.db.session() as session:
        return timeline.events(session, 1, kinds=list(kinds))


def step_row(h: Harness, step: str) -> RunbookStep:
    with h.ctx.db.session() as session:
        return session.exec(select(RunbookStep).where(RunbookStep.incident_id == 1,
                                                      RunbookStep.step_id == step)).one()


def test_sev1_prompt_injection_posts_its_runbook_as_a_working_checklist(harness: Harness) -> None:
    h = harness
    channel = open_incident(h)
    msg = checklist_message(h, channel)
    text = message_text(msg)
    assert "Prompt injection (direct or indirect)" in text
    assert "0/22 done" in text
    assert "*`preserve-evidence`*" in text and "due 09:20 UTC" in text  # SEV1: 20m after the 09:00 opening
    assert "Owner: _safety researcher — unassigned_" in text
    assert len(msg.blocks) <= 50
    done = [b["accessory"] for b in msg.blocks if b.get("accessory", {}).get("action_id") == checklist.DONE_ACTION]
    assert json.loads(done[0]["value"]) == {"incident": 1, "step": "assign-roles"}
    actions = next(b for b in msg.blocks if b.get("block_id") == "step-actions:assign-roles")
    assert [e["action_id"] for e in actions["elements"]] == [checklist.SKIP_ACTION, checklist.ASSIGN_ACTION]
    # Steps that do not fit Block Kit's 50 blocks are listed with the command that finishes them.
    assert "More pending steps" in text
    attached = events(h, "runbook_attached")
    assert len(attached) == 1
    assert attached[0].data["runbook"] == "prompt_injection" and attached[0].actor == "firebreak"
    assert "Runbook* Prompt injection (direct or indirect): 0/22 steps finished" in h.summary(1)


def test_done_button_updates_the_message_in_place_and_writes_the_timeline(harness: Harness, clock) -> None:
    h = harness
    channel = open_incident(h)
    msg = checklist_message(h, channel)
    clock.advance(minutes=7)
    reply = h.click(checklist.DONE_ACTION, value("assign-roles"), channel=channel, message_ts=msg.ts, user="U0BOB")
    assert reply.ack.status == 200
    after = checklist_message(h, channel)
    assert after.ts == msg.ts and after.edits >= 1
    text = message_text(after)
    assert "1/22 done" in text
    assert "~`assign-roles`~" in text and "done by <@U0BOB> at 09:07" in text
    assert not any(b.get("block_id") == "step:assign-roles" for b in after.blocks)  # no buttons on a done step
    [done] = events(h, "step_done")
    assert done.actor == "U0BOB" and done.data["step"] == "assign-roles" and done.data["runbook"] == "prompt_injection"
    assert done.data["started_at"] == "2026-01-05T09:00:00+00:00"
    assert done.at.isoformat() == "2026-01-05T09:07:00+00:00"
    # A second click is told who finished it, and nothing more is written.
    reply = h.click(checklist.DONE_ACTION, value("assign-roles"), channel=channel, message_ts=msg.ts, user="U0CAROL")
    assert "already done by <@U0BOB> at 2026-01-05 09:07:00 UTC" in h.fake.ephemerals[-1]["text"]
    assert h.fake.ephemerals[-1]["user"] == "U0CAROL"
    assert len(events(h, "step_done")) == 1


def test_skip_button_asks_for_a_reason_in_a_modal(harness: Harness) -> None:
    h = harness
    channel = open_incident(h)
    msg = checklist_message(h, channel)
    h.click(checklist.SKIP_ACTION, value("notify-source-owner"), channel=channel, message_ts=msg.ts)
    view = h.last_view()
    assert view["callback_id"] == "firebreak_step_skip_modal"
    assert "notify-source-owner" in block_text(view["blocks"][0])
    reply = h.submit_view(view, {"reason": "   "})
    assert json.loads(reply.ack.body) == {"response_action": "errors",
                                          "errors": {"reason": "Say why the step is skipped."}}
    assert events(h, "step_skipped") == [] and step_row(h, "notify-source-owner").state == "pending"
    reply = h.submit_view(view, {"reason": "The source is our own wiki; the owner is on this channel"})
    assert reply.ack.status == 200
    [skipped] = events(h, "step_skipped")
    assert skipped.data == {"runbook": "prompt_injection", "step": "notify-source-owner", "user": "U0ALICE",
                            "reason": "The source is our own wiki; the owner is on this channel",
                            "started_at": "2026-01-05T09:00:00+00:00", "due_at": "2026-01-05T13:00:00+00:00"}
    assert any("skipped `notify-source-owner`" in t for t in h.fake.texts(channel))
    assert "~`notify-source-owner`~" in message_text(checklist_message(h, channel))
    # Submitting the same modal again: the step is no longer pending; the modal says who skipped it.
    reply = h.submit_view(view, {"reason": "again"})
    assert "already skipped by <@U0ALICE>" in json.loads(reply.ack.body)["errors"]["reason"]
    assert len(events(h, "step_skipped")) == 1


def test_assign_button_hands_off_only_to_someone_in_the_incident(harness: Harness) -> None:
    h = harness
    channel = open_incident(h)
    msg = checklist_message(h, channel)
    h.click(checklist.ASSIGN_ACTION, value("preserve-evidence"), channel=channel, message_ts=msg.ts)
    view = h.last_view()
    assert view["callback_id"] == "firebreak_step_assign_modal"
    reply = h.submit_view(view, {"user": "U0STRANGER"})
    error = json.loads(reply.ack.body)["errors"]["user"]
    assert error.startswith("@U0STRANGER is not in INC-1")  # modal errors are plain text
    assert events(h, "step_assigned") == [] and step_row(h, "preserve-evidence").owner_id is None
    h.fake.channels[channel]["members"].add("U0DANA")
    reply = h.submit_view(view, {"user": "U0DANA"})
    assert reply.ack.status == 200 and not reply.ack.body
    [assigned] = events(h, "step_assigned")
    assert assigned.data == {"runbook": "prompt_injection", "step": "preserve-evidence", "user": "U0DANA",
                             "previous": None}
    assert "Owner: <@U0DANA>" in message_text(checklist_message(h, channel))
    assert any("<@U0DANA> now owns `preserve-evidence`" in t for t in h.fake.texts(channel))


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
    assert "2/22 done" not in reply.text and "1/22 done, 1 skipped, 20 pending" in reply.text
    assert ":white_square: `reproduce`" in reply.text and "<@U0BOB>," in reply.text
    # The IC now owns the IC's steps in the checklist.
    assert "Owner: <@U0BOB> (incident commander)" in message_text(checklist_message(h, channel))


def test_step_command_bad_input_says_what_and_writes_nothing(harness: Harness) -> None:
    h = harness
    channel = open_incident(h)
    h.command("step assign-roles done", channel=channel, user="U0BOB")
    before = len(events(h))
    cases = {
        "step nope done": "INC-1 has no step `nope`. Pending steps: `confirm-severity`",
        "step assign-roles done": "Step `assign-roles` was already done by <@U0BOB> at 2026-01-05 09:00:00 UTC.",
        "step reproduce skip": "Say why `reproduce` is skipped.",
        "step reproduce assign <@U0STRANGER>": "<@U0STRANGER> is not in INC-1",
        "step reproduce assign bob": "`bob` is not a Slack user mention",
        "step reproduce finish": "Unknown step action `finish`; use done, skip or assign.",
        "step reproduce": "Name a step and what to do with it.",
        "step reproduce done now": "`done` takes no more words (got `now`).",
        "runbook use nope": "There is no runbook `nope`. Runbooks: agent_tool_misuse, bias",
        "runbook use prompt_injection": "Runbook `prompt_injection` is already in use on INC-1.",
        "runbook frobnicate": "Unknown runbook action `frobnicate`.",
    }
    for command, expected in cases.items():
        reply = h.command(command, channel=channel)
        assert expected in reply.text, (command, reply.text)
        assert "Usage: `/incident" in reply.text, command
    assert len(events(h)) == before
    assert h.command("step reproduce done", user="U0BOB").text.startswith(":warning: This is not an incident")


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
    text = message_text(checklist_message(h, channel))
    assert "PII or data leakage in model outputs + Bias or unfair outcomes" in text
    assert "measure-disparity" in text or "measure-disparity" in h.command("runbook", channel=channel).text


def test_escalation_re_evaluates_runbook_and_due_times(harness: Harness, clock) -> None:
    h = harness
    h.command("open Red-team found a bypass on the staging model --category jailbreak --sev 4")
    channel = h.incident_channel(1)
    assert "Near miss or red-team finding" in message_text(checklist_message(h, channel))
    h.command("step preserve-evidence done", channel=channel)
    h.command("ic <@U0ALICE>", channel=channel)
    clock.advance(minutes=5)
    h.command("sev 3 works on the production chat model too", channel=channel)
    posted = "\n".join(h.fake.texts(channel))
    assert "Runbook re-evaluated for SEV4 → SEV3" in posted
    assert "Runbook `jailbreak` replaces `near_miss`" in posted
    assert "Kept as they were: `preserve-evidence`" in posted
    assert step_row(h, "preserve-evidence").state == "done"
    assert step_row(h, "check-production").state == "dropped"
    assert step_row(h, "reproduce").due_at.isoformat() == "2026-01-05T17:00:00+00:00"  # SEV3: 8h
    with h.ctx.db.session() as session:  # block-abusers applies at SEV1-2 only: not on the SEV3 checklist
        assert session.exec(select(RunbookStep).where(RunbookStep.step_id == "block-abusers")).first() is None
    h.command("sev 1 the prompt is on social media", channel=channel)
    posted = "\n".join(h.fake.texts(channel))
    assert "Runbook re-evaluated for SEV3 → SEV1" in posted
    assert "`reproduce` now due 09:45 UTC (+45m) (was 17:00 UTC (+8h))." in posted
    assert "Steps added: `block-abusers`" in posted
    assert step_row(h, "reproduce").due_at.isoformat() == "2026-01-05T09:45:00+00:00"
    [updated_3, updated_1] = events(h, "runbook_updated")
    assert updated_1.data["old"] == 3 and updated_1.data["new"] == 1
    assert "SEV1" in message_text(checklist_message(h, channel))


def test_lever_button_only_when_the_lever_is_configured(make_harness) -> None:
    h = make_harness()

    class Levers:
        def get(self, name):
            return {"name": name} if name == "quarantine-retrieval-source" else None

    h.ctx.levers = Levers()
    channel = open_incident(h)
    msg = checklist_message(h, channel)
    actions = next(b for b in msg.blocks if b.get("block_id") == "step-actions:quarantine-source")
    lever = actions["elements"][-1]
    assert lever["action_id"] == "firebreak_lever_pull"
    assert json.loads(lever["value"]) == {"incident": 1, "lever": "quarantine-retrieval-source",
                                          "step": "quarantine-source"}
    text = message_text(msg)
    assert "Lever `emergency-filter` — not configured here" in text
    del h.ctx.levers
    h.command("step assign-roles done", channel=channel)
    msg = checklist_message(h, channel)
    actions = next(b for b in msg.blocks if b.get("block_id") == "step-actions:quarantine-source")
    assert [e["action_id"] for e in actions["elements"]] == [checklist.SKIP_ACTION, checklist.ASSIGN_ACTION]
    assert "Lever `quarantine-retrieval-source` — not configured here" in message_text(msg)


def test_postmortem_provider_shape(harness: Harness, clock) -> None:
    from bot.core import incidents
    from bot.postmortem.providers import collect

    h = harness
    channel = open_incident(h)
    clock.advance(minutes=30)
    h.command("step assign-roles done", channel=channel, user="U0BOB")
    with h.ctx.db.session() as session:
        data = collect(h.ctx, session, incidents.get(session, 1))
    rows = {r["id"]: r for r in data["runbook"]}
    assert set(rows["assign-roles"]) == {"runbook", "phase", "id", "text", "owner_role", "owner", "required",
                                         "state", "reason", "due_at", "done_at", "late", "by", "started_at"}
    row = rows["assign-roles"]
    assert (row["state"], row["by"], row["late"], row["phase"]) == ("done", "U0BOB", True, "triage")
    assert row["done_at"].isoformat() == "2026-01-05T09:30:00+00:00"
    assert row["started_at"].isoformat() == "2026-01-05T09:00:00+00:00"
    assert row["due_at"].isoformat() == "2026-01-05T09:10:00+00:00"
    assert rows["harden"]["late"] is False and rows["harden"]["state"] == "pending"
    assert rows["kill-switch"]["required"] is False


def test_slack_failures_are_recorded_and_never_lose_the_step(harness: Harness) -> None:
    h = harness
    channel = open_incident(h)
    msg = checklist_message(h, channel)
    h.fake.fail_next("chat.update", "internal_error")
    h.click(checklist.DONE_ACTION, value("assign-roles"), channel=channel, message_ts=msg.ts)
    assert step_row(h, "assign-roles").state == "done"
    errors = [e for e in events(h, "slack_error") if "runbook checklist" in e.text]
    assert errors and errors[0].data["error"] == "internal_error"
    # The next change brings the message up to date.
    h.command("step confirm-severity done", channel=channel)
    assert "2/22 done" in message_text(checklist_message(h, channel))
    # A deleted checklist message is posted afresh rather than lost.
    h.fake.messages[channel] = [m for m in h.fake.messages[channel] if m.ts != msg.ts]
    h.command("step classify-vector done", channel=channel)
    fresh = checklist_message(h, channel)
    assert fresh.ts != msg.ts and "3/22 done" in message_text(fresh)


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


def test_buttons_on_a_finished_step_or_resolved_incident_answer_privately(harness: Harness) -> None:
    h = harness
    channel = open_incident(h)
    msg = checklist_message(h, channel)
    h.command("step reproduce done", channel=channel, user="U0BOB")
    views = len(h.fake.views)
    h.click(checklist.SKIP_ACTION, value("reproduce"), channel=channel, message_ts=msg.ts)
    assert len(h.fake.views) == views  # no modal
    assert h.fake.ephemerals[-1]["text"].startswith(":warning: Step `reproduce` was already done by <@U0BOB>")
    h.command("ic <@U0ALICE>", channel=channel)
    h.command("resolve duplicate of INC-0", channel=channel)
    before = len(events(h))
    h.click(checklist.DONE_ACTION, value("blast-radius"), channel=channel, message_ts=msg.ts)
    assert "INC-1 is resolved" in h.fake.ephemerals[-1]["text"]
    h.click(checklist.ASSIGN_ACTION, value("blast-radius"), channel=channel, message_ts=msg.ts)
    assert "INC-1 is resolved" in h.fake.ephemerals[-1]["text"] and len(h.fake.views) == views
    assert len(events(h)) == before
