"""A whole exercise through signed requests, the fake Slack server and a manual clock (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func
from sqlmodel import select

from bot.core import timeline
from bot.core.clock import ManualClock
from bot.slack.harness import Harness
from bot.store.models import Effect, Incident, TimelineEvent
from bot.store.models.effects import DONE, RUNNING
from bot.store.models.tabletop import ENDED, ExerciseRun, InjectDelivery, Scorecard
from bot.tabletop import runner
from bot.tabletop.references import EXERCISE_LEVERS
from bot.tabletop.scorecard import AnswersTally, Card, ContainmentScore, LeverScore

SANDBOX = "C0SANDBOX"
FACIL = "U0FACIL"


@pytest.fixture
def make_sandbox(make_harness: Callable[..., Harness], write_yaml, tmp_path: Path) -> Callable[..., Harness]:
    def make(database_url: str | None = None, scenarios: dict[str, Any] | None = None) -> Harness:
        config = write_yaml("config.yml", {"sandbox_channels": ["tabletop-*", "C0OTHERSB"]})
        kwargs: dict[str, Any] = {"config_file": config, "levers_file": EXERCISE_LEVERS}
        if database_url:
            kwargs["database_url"] = database_url
        if scenarios is not None:
            directory = tmp_path / "scenarios"
            directory.mkdir(exist_ok=True)
            for name, data in scenarios.items():
                (directory / name).write_text(data if isinstance(data, str) else yaml.safe_dump(data))
            kwargs["scenarios_dir"] = directory
        h = make_harness(**kwargs)
        h.fake.add_channel("tabletop-drills", channel_id=SANDBOX, members=["U0MAYA", "U0RAJ", FACIL])
        return h

    return make


@pytest.fixture
def sandbox(make_sandbox, db_url: str) -> Harness:
    return make_sandbox(db_url)


def counts(h: Harness) -> tuple[int, int, int]:
    with h.ctx.db.session() as s:
        return (s.exec(select(func.count()).select_from(Incident)).one(),
                s.exec(select(func.count()).select_from(ExerciseRun)).one(),
                s.exec(select(func.count()).select_from(TimelineEvent)).one())


def events(h: Harness, kind: str) -> list[TimelineEvent]:
    with h.ctx.db.session() as s:
        return timeline.events(s, 1, kinds=[kind])


def record(h: Harness, kind: str, data: dict, actor: str = "U0MAYA") -> None:
    """Write an event the way the runbook/containment/scheduler features will."""
    with h.ctx.db.session() as s:
        timeline.record(s, h.ctx.clock, 1, kind, kind, actor=actor, data=data)


def test_full_exercise_injects_responders_scorecard(sandbox: Harness, clock: ManualClock) -> None:
    h = sandbox
    start = clock.now()
    reply = h.command("tabletop start jailbreak-viral", user=FACIL, channel=SANDBOX)
    assert "Started *Jailbreak campaign going viral* as INC-1" in reply.text
    channel = h.incident_channel(1)
    assert h.fake.channels[channel]["name"].startswith("inc-1-exercise-")
    assert {"U0MAYA", "U0RAJ", FACIL} <= h.fake.channels[channel]["members"]  # the players are in
    with h.ctx.db.session() as s:
        incident = s.get(Incident, 1)
        run = runner.run_for_incident(s, 1)
        assert incident.is_exercise and run.page_real_people is False
        assert runner.pages_allowed(s, 1) is False
    briefing = [m for m in h.fake.history(channel) if m.text == "[EXERCISE] Tabletop exercise: Jailbreak campaign going viral"]
    assert len(briefing) == 1 and "What you know at the start" in str(briefing[0].blocks)
    # The runbook for the category is attached and its checklist posted, flagged like everything else.
    assert any(m.text.startswith("[EXERCISE] INC-1 runbook: Jailbreak") for m in h.fake.history(channel))
    assert [t.key for t in h.ctx.timers.pending("inc-1:inject:")] == [f"inc-1:inject:{i}" for i in range(5)]

    timers = h.ctx.timers
    clock.advance(minutes=1)
    h.command("ic <@U0MAYA>", user="U0MAYA", channel=channel)
    clock.advance(minutes=1, seconds=59)
    timers.run_due()  # (runbook nudge timers share the incident's key prefix; injects are counted below)
    assert events(h, "inject_posted") == []
    clock.advance(seconds=1)  # +3m: the first inject
    timers.run_due()
    assert [e.data["inject"] for e in events(h, "inject_posted")] == ["repro"]
    clock.advance(minutes=2)
    assert "`preserve-evidence` done." in h.command("step preserve-evidence done", user="U0LIN", channel=channel).text
    clock.advance(minutes=3)  # +8m
    timers.run_due()
    clock.advance(minutes=1)
    assert "INC-1 is now SEV1" in h.command("sev 1 trending publicly", user="U0MAYA", channel=channel).text
    clock.advance(minutes=2)
    h.command("status SEV1, filter coming", user="U0RAJ", channel=channel)
    clock.advance(minutes=3)  # +14m
    timers.run_due()
    clock.advance(minutes=2)
    reply = h.command("contain emergency-filter", user="U0LIN", channel=channel)
    assert "Dry run of `emergency-filter` recorded; nothing was sent." in reply.text
    clock.advance(minutes=9)  # +25m (inject 4 was due at +24m)
    timers.run_due()
    h.command("status filter live", user="U0RAJ", channel=channel)
    assert "`assign-roles` done." in h.command("step assign-roles done", user="U0MAYA", channel=channel).text
    h.command("step collect-variants skip T&S already collected them", user="U0LIN", channel=channel)
    clock.advance(minutes=8)  # +33m
    timers.run_due()
    h.command("contained filter verified", user="U0MAYA", channel=channel)
    clock.advance(minutes=2)  # +35m

    posted = events(h, "inject_posted")
    assert [e.data["inject"] for e in posted] == ["repro", "trending", "variants", "filter-cost", "press"]
    assert [e.at - start for e in posted] == [timedelta(minutes=m) for m in (3, 8, 14, 25, 33)]

    reply = h.command("tabletop end", user=FACIL, channel=SANDBOX)
    assert "ended; the scorecard is posted" in reply.text
    assert "The postmortem draft (with the exercise banner) is being uploaded to the exercise channel as " \
        "`INC-1-postmortem.md`" \
        in reply.text
    uploaded = [f for f in h.fake.files.values() if f["name"] == "INC-1-postmortem.md"]
    assert uploaded and channel in uploaded[0]["channels"]
    assert b"EXERCISE" in uploaded[0]["content"]
    with h.ctx.db.session() as s:
        sc = s.exec(select(Scorecard)).one()
        stored, card = sc.data, Card.from_json(sc.data)
        run = s.exec(select(ExerciseRun)).one()
        assert run.state == ENDED and s.get(Incident, 1).status == "resolved"
    assert card.acknowledge.seconds == 60
    assert card.severity.reached_seconds == 9 * 60
    # The stored JSON keeps its shape (rows written before the typed card read the same way).
    assert stored["containment"] == {"mttc": 33 * 60, "target": 45 * 60, "met": True}
    assert card.containment == ContainmentScore(mttc=33 * 60, target=45 * 60, met=True)
    assert card.status.count == 2 and card.status.longest_gap == 14 * 60
    # Runbook steps as the runbook feature recorded them: assign-roles was due 10m after the SEV1 change.
    rb = card.runbook  # in bot.core.facts' step states
    # emergency-filter: ticked off by the (dry-run) pull of its lever at +16m, so it is no longer listed as open.
    assert rb.done_on_time == ("jailbreak/preserve-evidence", "jailbreak/emergency-filter")
    assert rb.done_late == ("jailbreak/assign-roles",)
    assert rb.skipped == ("jailbreak/collect-variants (T&S already collected them)",)
    assert rb.overdue == ("jailbreak/confirm-severity", "jailbreak/status-update")  # overdue, never done
    assert len(rb.pending) + len(rb.not_required) == 13  # not yet due at +35m, or optional
    assert "jailbreak/verify-containment" in rb.pending
    # The lever was really pulled through the containment layer, and forced to a dry run.
    assert stored["levers"] == [{"lever": "emergency-filter", "at": 16 * 60, "dry_run": True, "verified": False}]
    assert card.levers == (LeverScore(lever="emergency-filter", at=16 * 60, dry_run=True, verified=False),)
    assert [e.data["dry_run"] for e in events(h, "lever_applied")] == [True]
    assert events(h, "lever_verified") == [] and events(h, "contained")[0].actor == "U0MAYA"
    trending = card.injects[1].answers
    assert [(a.kind, a.seconds) for a in trending] == [("severity", 60), ("status_update", 3 * 60)]
    assert card.injects[2].answers[0].seconds == 2 * 60  # the lever 2m after the variants inject
    assert card.injects[3].answers[0].seconds == 0       # status posted as inject 4 arrived
    assert card.answers == AnswersTally(expected=7, answered=7, on_time=7)
    assert "✅ Time to contain (MTTC): 33m against a target of 45m" in sc.text
    assert "- Overdue (required, not done): `confirm-severity`, `status-update`" in sc.text
    assert "- `emergency-filter` at +16m (dry run: nothing was sent)" in sc.text
    # The scorecard is posted in the exercise channel; the sandbox gets the headline.
    scorecard_msg = [m for m in h.fake.history(channel) if "Scorecard" in m.text][0]
    assert "Time to contain (MTTC)" in str(scorecard_msg.blocks)
    assert any("MTTC 33m against 45m (met)" in t for t in h.fake.texts(SANDBOX))
    # Every message this exercise produced is flagged, in every channel.
    for ch in (channel, SANDBOX, h.settings.announce_channel):
        for m in h.fake.history(ch):
            assert m.text.startswith("[EXERCISE]"), (ch, m.text)
    assert h.ctx.timers.pending("inc-1:") == []
    # (The lifecycle's own `ic` invite reports already_in_channel for a player already invited; not ours.)
    assert [e.text for e in events(h, "slack_error") if e.data["what"] != "conversations.invite"] == []


def test_pause_resume_and_next(sandbox: Harness, clock: ManualClock) -> None:
    h = sandbox
    start = clock.now()
    h.command("tabletop start privacy-leak-allegation", user=FACIL, channel=SANDBOX)
    channel = h.incident_channel(1)
    timers = h.ctx.timers
    clock.advance(minutes=1)
    reply = h.command("tabletop next", user=FACIL, channel=channel)  # from the exercise channel
    assert "Inject 1 of 5 delivered to INC-1" in reply.text
    # Fast-forward pulled the script 3m earlier: inject 2 (+10m) is now due at +7m.
    assert timers.pending("inc-1:inject:1")[0].when == start + timedelta(minutes=7)
    assert "Inject 1 of 5" in h.fake.texts(channel)[-1]
    clock.advance(minutes=2)
    assert "paused" in h.command("tabletop pause", user=FACIL, channel=SANDBOX).text
    assert timers.pending("inc-1:inject:") == []
    clock.advance(minutes=30)
    timers.run_due()  # runbook nudges may fire (same incident prefix); no inject may
    assert len(events(h, "inject_posted")) == 1
    assert "resumed" in h.command("tabletop resume", user=FACIL, channel=SANDBOX).text
    assert timers.pending("inc-1:inject:1")[0].when == start + timedelta(minutes=37)
    # A timer firing for an inject already delivered by `next` posts nothing.
    assert runner.deliver(h.ctx, 1, 0, trigger="timer") is False
    clock.advance(minutes=4)  # +37m
    timers.run_due()
    assert len(events(h, "inject_posted")) == 2
    with h.ctx.db.session() as s:
        rows = s.exec(select(InjectDelivery).order_by(InjectDelivery.inject_index)).all()
    assert [(r.inject_index, r.trigger, r.posted_at - start) for r in rows] == [
        (0, "next", timedelta(minutes=1)), (1, "timer", timedelta(minutes=37))]
    assert all(r.message_ts for r in rows)
    assert [e.kind for e in events(h, "exercise_paused") + events(h, "exercise_resumed")] == [
        "exercise_paused", "exercise_resumed"]
    reply = h.command("tabletop resume", user=FACIL, channel=SANDBOX)
    assert "The exercise is running, not paused." in reply.text
    h.command("tabletop end", user=FACIL, channel=SANDBOX)
    with h.ctx.db.session() as s:
        card = Card.from_json(s.exec(select(Scorecard)).one().data)
    assert card.paused == 30 * 60 and card.duration == 7 * 60


def test_only_facilitator_controls(sandbox: Harness) -> None:
    h = sandbox
    h.command("tabletop start medical-hallucination", user=FACIL, channel=SANDBOX)
    before = counts(h)
    reply = h.command("tabletop end", user="U0MALLORY", channel=SANDBOX)
    assert "Only the facilitator (who started it) may control the exercise." in reply.text
    incidents_, runs, events_ = counts(h)
    assert (incidents_, runs, events_) == (before[0], before[1], before[2] + 1)  # the refusal, audited
    assert [e.actor for e in events(h, "permission_denied")] == ["U0MALLORY"]
    assert events(h, "exercise_ended") == []


def test_start_outside_sandbox_is_refused_and_writes_nothing(make_sandbox) -> None:
    h = make_sandbox()
    posts_before = len(h.fake.calls_to("chat.postMessage"))
    channels_before = len(h.fake.channels)
    reply = h.command("tabletop start jailbreak-viral", user=FACIL, channel=h.general)
    assert "Tabletop exercises run only in a sandbox channel: `#tabletop-*`, <#C0OTHERSB>." in reply.text
    assert "This channel is not one of them." in reply.text
    assert counts(h) == (0, 0, 0)
    assert len(h.fake.channels) == channels_before
    assert len(h.fake.calls_to("chat.postMessage")) == posts_before


def test_no_sandbox_configured(harness: Harness) -> None:
    reply = harness.command("tabletop start jailbreak-viral", channel=harness.general)
    assert "No sandbox channels are configured: add `sandbox_channels`" in reply.text
    assert counts(harness) == (0, 0, 0)


@pytest.mark.parametrize(("text", "message"), [
    ("tabletop start no-such-drill", "Unknown scenario `no-such-drill`. Scenarios: agent-tool-misuse,"),
    ("tabletop start", "Name the scenario to start; `/incident tabletop list` shows them."),
    ("tabletop start jailbreak-viral now", "Unexpected words after the scenario name: `now`."),
    ("tabletop next", "No exercise is running here. Start one in a sandbox channel"),
    ("tabletop end", "No exercise is running here."),
    ("tabletop", "Say what to do with the exercise."),
    ("tabletop rewind", "Unknown tabletop action `rewind`."),
    ("tabletop pause INC-9", "INC-9 does not exist."),
    ("tabletop start broken", "Scenario `broken` cannot be used: its file is invalid."),
])
def test_bad_input_clear_message_nothing_written(make_sandbox, text: str, message: str) -> None:
    h = make_sandbox(scenarios={"broken.yml": {"key": "broken", "title": "Broken drill"}})
    posts_before = len(h.fake.calls_to("chat.postMessage"))
    reply = h.command(text, user=FACIL, channel=SANDBOX)
    assert message in reply.text
    assert "Usage: `/incident tabletop start <scenario> | next | pause | resume | end | list`" in reply.text \
        or "does not exist" in reply.text
    assert counts(h) == (0, 0, 0)
    assert len(h.fake.calls_to("chat.postMessage")) == posts_before


def test_broken_file_error_names_file_and_key(make_sandbox) -> None:
    h = make_sandbox(scenarios={"broken.yml": {"key": "broken", "title": "Broken drill"}})
    reply = h.command("tabletop start broken", user=FACIL, channel=SANDBOX)
    assert "broken.yml: category: Field required" in reply.text
    assert "broken.yml: injects: Field required" in reply.text


def test_second_start_while_running_and_next_on_ended(sandbox: Harness) -> None:
    h = sandbox
    h.command("tabletop start agent-tool-misuse", user=FACIL, channel=SANDBOX)
    before = counts(h)
    reply = h.command("tabletop start jailbreak-viral", user=FACIL, channel=SANDBOX)
    assert "INC-1 (`agent-tool-misuse`) is still running here" in reply.text
    assert counts(h) == before
    h.command("tabletop end", user=FACIL, channel=SANDBOX)
    after_end = counts(h)
    reply = h.command("tabletop next INC-1", user=FACIL, channel=SANDBOX)
    assert "The exercise INC-1 has already ended." in reply.text
    assert counts(h) == after_end
    # A real incident is not an exercise.
    h.command("open A real problem --category jailbreak", user="U0MAYA")
    reply = h.command("tabletop end INC-2", user=FACIL, channel=SANDBOX)
    assert "INC-2 is not a tabletop exercise." in reply.text


def test_list_shows_scenarios_and_broken_files(make_sandbox) -> None:
    h = make_sandbox(scenarios={"broken.yml": "key: [oops\n"})
    reply = h.command("tabletop list", user=FACIL, channel=h.general)
    assert "`jailbreak-viral` — Jailbreak campaign going viral" in reply.text
    assert "`privacy-leak-allegation`" in reply.text
    assert "Scenario files with errors" in reply.text and "`broken.yml`" in reply.text
    assert counts(h) == (0, 0, 0)


def test_exercise_pages_real_people_only_when_the_scenario_opts_in(make_sandbox) -> None:
    from bot.tabletop.scenario import load_catalog

    data = load_catalog().get("jailbreak-viral").snapshot()
    data.update(key="paging-drill", page_real_people=True)
    h = make_sandbox(scenarios={"paging-drill.yml": data})
    h.command("tabletop start paging-drill", user=FACIL, channel=SANDBOX)
    with h.ctx.db.session() as s:
        assert runner.pages_allowed(s, 1) is True
    assert events(h, "exercise_started")[0].data["page_real_people"] is True
    h.command("open A real problem --category jailbreak", user="U0MAYA")
    with h.ctx.db.session() as s:
        assert runner.pages_allowed(s, 2) is True  # real incidents always page


def test_reschedule_after_restart(sandbox: Harness, clock: ManualClock) -> None:
    h = sandbox
    h.command("tabletop start jailbreak-viral", user=FACIL, channel=SANDBOX)
    h.command("tabletop next", user=FACIL, channel=SANDBOX)
    timers = h.ctx.timers
    timers.cancel_prefix("inc-1:")  # what a restart does to in-memory timers
    assert runner.reschedule_running(h.ctx) == 1
    assert [t.key for t in timers.pending("inc-1:inject:")] == [f"inc-1:inject:{i}" for i in range(1, 5)]
    clock.advance(hours=1)
    assert timers.run_due() == 4
    assert len(events(h, "inject_posted")) == 5
    assert "That was the last inject" in h.fake.texts(h.incident_channel(1))[-1]


def test_slack_failure_on_an_inject_is_recorded_not_lost(sandbox: Harness, clock: ManualClock) -> None:
    h = sandbox
    h.command("tabletop start model-regression-release", user=FACIL, channel=SANDBOX)
    h.fake.fail_next("chat.postMessage", "channel_not_found")
    clock.advance(minutes=5)
    h.ctx.timers.run_due()
    errors = events(h, "slack_error")
    assert [e.data["error"] for e in errors] == ["chat.postMessage: channel_not_found"]
    assert [e.data["inject"] for e in events(h, "inject_posted")] == ["eval-gap"]
    with h.ctx.db.session() as s:
        assert s.exec(select(InjectDelivery)).one().message_ts is None


def test_help_lists_tabletop(harness: Harness) -> None:
    assert "/incident tabletop start <scenario> | next | pause | resume | end | list" in \
        harness.command("help").text


def test_private_sandbox_is_recognised_by_its_real_name(make_sandbox) -> None:
    h = make_sandbox()
    private = h.fake.add_channel("tabletop-private", channel_id="G0PRIVATE", private=True)
    body, key = h.command_body("tabletop start jailbreak-viral", user=FACIL, channel=private)
    body = body.replace("channel_name=tabletop-private", "channel_name=privategroup")
    assert "channel_name=privategroup" in body
    reply = h.command("", body=body)
    assert "Started *Jailbreak campaign going viral* as INC-1" in " ".join(
        c.params.get("text", "") for c in reply.calls if c.method == "response_url")


def test_the_postmortem_upload_at_the_end_happens_once_across_a_crash(sandbox: Harness) -> None:
    """The end records the draft's upload as a side effect; a process killed after Slack took the file but before
    the effect was marked done does not upload it a second time when the effect is resumed."""
    h = sandbox
    h.command("tabletop start jailbreak-viral", user=FACIL, channel=SANDBOX)
    h.command("tabletop end", user=FACIL, channel=SANDBOX)
    name = "INC-1-postmortem.md"
    assert len([f for f in h.fake.files.values() if f["name"] == name]) == 1
    with h.ctx.db.session() as s:
        row = s.exec(select(Effect).where(Effect.kind == "upload")).one()
        assert row.state == DONE
        row.state, row.attempts, row.owner = RUNNING, 1, "killed"  # as if killed between the upload and the mark
        s.add(row)
    h.ctx.effects.recover()
    h.wait()
    assert len([f for f in h.fake.files.values() if f["name"] == name]) == 1
    with h.ctx.db.session() as s:
        assert s.exec(select(Effect).where(Effect.kind == "upload")).one().state == DONE
    assert len(events(h, "postmortem_drafted")) == 1
