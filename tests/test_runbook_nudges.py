"""Late required steps are nudged in the channel and to the owner: once, and again at escalation."""

from __future__ import annotations

from sqlmodel import select

from bot.core import timeline
from bot.runbooks import nudges
from bot.slack.harness import Harness
from bot.store.models import Effect, Incident
from tests.runbook_support import runner_held


def settled(h, value):
    """The value, once the side effects the call recorded have been carried out."""
    h.wait()
    return value


def nudge_posts(h: Harness, channel: str) -> list[str]:
    return [t for t in h.fake.texts(channel) if "required runbook steps are late" in t]


def test_late_steps_are_nudged_once_then_again_at_escalation(harness: Harness, clock) -> None:
    h = harness
    h.command("open Bypass prompt shared on a forum --category jailbreak --sev 3")
    channel = h.incident_channel(1)
    h.command("ic <@U0BOB>", channel=channel)
    pending = [t.key for t in h.ctx.timers.pending(nudges.timer_prefix(1))]
    assert "inc-1:runbook:step:assign-roles" in pending
    assert "inc-1:runbook:step:kill-switch" not in pending  # optional steps are never nudged

    clock.advance(minutes=119)
    h.ctx.timers.run_due()
    assert nudge_posts(h, channel) == []

    clock.advance(minutes=1)  # 2h: assign-roles and confirm-severity are due at SEV3
    h.ctx.timers.run_due()
    [post] = nudge_posts(h, channel)
    assert "`assign-roles`" in post and "`confirm-severity`" in post and "<@U0BOB> (incident commander)" in post
    assert "`preserve-evidence`" not in post  # due at 4h
    dm = h.fake.texts("DU0BOB")
    assert len(dm) == 1 and "you own late runbook steps" in dm[0] and "`assign-roles`" in dm[0]
    with h.ctx.db.session() as session:
        nudged = timeline.events(session, 1, kinds=["step_nudged"])
    assert {e.data["step"] for e in nudged} == {"assign-roles", "confirm-severity"}
    assert ":alarm_clock: 2 overdue" in h.summary(1)
    assert all(e.data["user"] == "U0BOB" and e.data["runbook"] == "jailbreak" for e in nudged)

    # Running again (or the durable scheduler calling it twice) nudges nothing new.
    assert settled(h, nudges.nudge_overdue(h.ctx, 1)) == []
    h.ctx.timers.run_due()
    assert len(nudge_posts(h, channel)) == 1

    # A finished step is not nudged; escalating nudges the still-late steps again, with the new due times.
    h.command("step assign-roles done", channel=channel, user="U0BOB")
    h.command("sev 1 it works on every model version", channel=channel, user="U0BOB")
    h.ctx.timers.run_due()
    posts = nudge_posts(h, channel)
    assert len(posts) == 2
    assert "`confirm-severity`" in posts[1] and "_(escalated)_" in posts[1]
    assert "`assign-roles`" not in posts[1]
    assert "`preserve-evidence`" in posts[1]  # SEV1: due 20m after opening, now 2h late
    assert "SEV1" in posts[1]
    assert settled(h, nudges.nudge_overdue(h.ctx, 1)) == []


def test_unowned_late_step_is_nudged_in_the_channel_only(harness: Harness, clock) -> None:
    h = harness
    h.command("open Model gave a wrong dosage --category hallucination_high_stakes --sev 1")
    channel = h.incident_channel(1)
    clock.advance(minutes=10)
    assert settled(h, nudges.nudge_overdue(h.ctx, 1)) == ["assign-roles"]
    [post] = nudge_posts(h, channel)
    assert "_incident commander — unassigned_" in post
    assert not [c for c in h.fake.calls_to("chat.postMessage") if c.params.get("channel", "").startswith("U")]


def test_resolved_incident_is_not_nudged(harness: Harness, clock) -> None:
    h = harness
    h.command("open Leaked system prompt --category data_leakage --sev 2")
    channel = h.incident_channel(1)
    h.command("ic <@U0ALICE>", channel=channel)
    h.command("resolve false alarm, prompt was public already", channel=channel)
    assert h.ctx.timers.pending(nudges.timer_prefix(1)) == []
    clock.advance(hours=5)
    assert settled(h, nudges.nudge_overdue(h.ctx, 1)) == []
    assert nudge_posts(h, channel) == []


def test_resolving_closes_the_checklist_buttons(harness: Harness) -> None:
    h = harness
    h.command("open Leaked system prompt --category data_leakage --sev 2")
    channel = h.incident_channel(1)
    h.command("ic <@U0ALICE>", channel=channel)
    h.command("resolve prompt was public already", channel=channel)
    msg = next(m for m in h.fake.history(channel) if m.text.startswith("INC-1 runbook:"))
    assert not [b for b in msg.blocks if b["type"] == "actions" or "accessory" in b]
    assert "Not finished when INC-1 was resolved" in "\n".join(b.get("text", {}).get("text", "") for b in msg.blocks)


def test_a_nudge_run_again_after_a_crash_posts_nothing_twice(db_harness: Harness, clock) -> None:
    """The nudge job recorded its messages and the process stopped before they went out; the scheduler re-runs
    the interrupted job after the restart. Each message reaches Slack exactly once."""
    h = db_harness
    h.command("open Bypass prompt shared on a forum --category jailbreak --sev 3")
    channel = h.incident_channel(1)
    h.command("ic <@U0BOB>", channel=channel)
    clock.advance(hours=2)
    with runner_held(h):
        assert sorted(nudges.nudge_overdue(h.ctx, 1)) == ["assign-roles", "confirm-severity"]
        with h.ctx.db.session() as session:
            recorded = [e.key for e in session.exec(select(Effect).where(Effect.key.like("inc-1:nudge:%")))]
        assert len(recorded) == 2 and any(k.endswith(":dm:U0BOB") for k in recorded)  # channel + the owner's DM
        assert nudges.nudge_overdue(h.ctx, 1) == []  # the re-run: already nudged at SEV3, nothing recorded
        with h.ctx.db.session() as session:
            assert len(session.exec(select(Effect).where(Effect.key.like("inc-1:nudge:%"))).all()) == 2
    h.ctx.effects.recover()
    h.ctx.timers.run_due()
    assert len(nudge_posts(h, channel)) == 1
    assert len([t for t in h.fake.texts("DU0BOB") if "you own late runbook steps" in t]) == 1
    assert len(_nudged(h)) == 2


def _nudged(h: Harness):
    with h.ctx.db.session() as session:
        return timeline.events(session, 1, kinds=["step_nudged"])


def test_the_overdue_rule_is_the_facts_module_s_exercise_pauses_move_due_times(harness: Harness, clock) -> None:
    h = harness
    h.command("open Bypass prompt shared on a forum --category jailbreak --sev 3")
    channel = h.incident_channel(1)
    with h.ctx.db.session() as session:
        incident = session.get(Incident, 1)
        incident.is_exercise = True  # a rehearsal: its facilitator may pause it
        session.add(incident)
    clock.advance(minutes=30)
    with h.ctx.db.session() as session:
        timeline.record(session, h.ctx.clock, 1, "exercise_paused", "Paused", actor="U0ALICE")
    clock.advance(hours=2)  # 2h30m: assign-roles (due 2h at SEV3) would be late, but the clock stood still
    assert settled(h, nudges.nudge_overdue(h.ctx, 1)) == []
    [recheck] = [t.when for t in h.ctx.timers.pending(nudges.step_key(1, "assign-roles"))]
    assert recheck == clock.now() + nudges.PAUSED_RECHECK  # while paused, looked at again
    with h.ctx.db.session() as session:
        timeline.record(session, h.ctx.clock, 1, "exercise_resumed", "Resumed", actor="U0ALICE")
    nudges.schedule(h.ctx, 1)
    [due] = [t.when for t in h.ctx.timers.pending(nudges.step_key(1, "assign-roles"))]
    assert due.isoformat() == "2026-01-05T13:00:00+00:00"  # 2h of active time: 09:00-09:30, then 11:30-13:00
    clock.advance(hours=1, minutes=29)
    h.ctx.timers.run_due()
    assert nudge_posts(h, channel) == []
    clock.advance(minutes=1)
    h.ctx.timers.run_due()
    [post] = nudge_posts(h, channel)
    assert "`assign-roles`" in post and "`rollback-prompt`" not in post  # optional steps are never overdue
