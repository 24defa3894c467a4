"""What an incident starts with commits with it: its runbook, its checklist post and its timers are recorded in the
open's own transaction (`hooks.OPENING`), so the first summary already shows the runbook and nothing is refreshed
right after it was posted. A feature that fails there is rolled back alone; the incident still opens."""

from __future__ import annotations

import logging

import pytest
from sqlmodel import select

from bot.core.timers import incident_key
from bot.runbooks import checklist, nudges
from bot.slack.harness import Harness
from bot.store.models import Effect
from bot.store.models.runbook import RunbookAttachment, RunbookStep
from tests.helpers import kinds
from tests.runbook_support import checklist_message, open_incident


def _timers(h: Harness, number: int = 1) -> dict[str, object]:
    return dict(h.ctx.timers.scheduled(incident_key(number, "")))


def test_the_first_summary_shows_the_runbook_and_is_not_updated_right_after(db_harness: Harness) -> None:
    h = db_harness
    channel = open_incident(h)
    summaries = [c for c in h.fake.calls_to("chat.postMessage") if c.params.get("channel") == channel
                 and str(c.params.get("text", "")).startswith("INC-1 · ")]
    assert len(summaries) == 1
    assert [c for c in h.fake.calls_to("chat.update") if c.params.get("channel") == channel] == []
    assert "Runbook* Prompt injection (direct or indirect): 0/22 steps finished" in h.summary(1)
    checklist_message(h, channel)  # posted once, in the incident channel
    # The channel was made moments ago: who is in it is known without asking Slack before the invite.
    assert h.fake.calls_to("conversations.members") == []
    assert "U0ALICE" in h.fake.channels[channel]["members"] and h.fake.violations == []
    # Timers: one nudge per required step, and the scheduler's (the status reminder, the page if nobody leads).
    with h.ctx.db.session() as session:
        required = session.exec(select(RunbookStep.step_id).where(RunbookStep.incident_id == 1,
                                                                  RunbookStep.required)).all()
    timers = _timers(h)
    assert {k for k in timers if k.startswith(nudges.timer_prefix(1))} == {nudges.step_key(1, s) for s in required}
    assert any(not k.startswith(nudges.timer_prefix(1)) for k in timers)
    # The slash command's answer, the timeline and the effects: nothing twice.
    assert kinds(h, 1).count("runbook_attached") == 1
    with h.ctx.db.session() as session:
        keys = session.exec(select(Effect.key).where(Effect.incident_id == 1)).all()
    assert keys.count(checklist.post_key(1)) == 1


def test_a_failing_feature_is_rolled_back_alone_and_the_incident_still_opens(
        db_harness: Harness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    h = db_harness

    schedule = nudges.schedule

    def broken(*args: object, **kwargs: object) -> int:
        schedule(*args, **kwargs)  # type: ignore[arg-type]
        raise RuntimeError("timer store unavailable")

    # The runbook feature fails last: after its steps, its attachment, its timeline event, its checklist post and
    # its nudge timers were recorded or queued.
    monkeypatch.setattr(nudges, "schedule", broken)
    with caplog.at_level(logging.ERROR, logger="bot.app.opening"):
        channel = open_incident(h)
    assert any("incident_opening" in r.getMessage() for r in caplog.records)
    assert "U0ALICE" in h.fake.channels[channel]["members"]
    assert "Runbook*" not in h.summary(1)
    with h.ctx.db.session() as session:
        assert session.exec(select(RunbookStep).where(RunbookStep.incident_id == 1)).all() == []
        assert session.exec(select(RunbookAttachment).where(RunbookAttachment.incident_id == 1)).all() == []
    assert "runbook_attached" not in kinds(h, 1)
    with h.ctx.db.session() as session:
        assert session.exec(select(Effect).where(Effect.key == checklist.post_key(1))).all() == []
    assert kinds(h, 1)[:3] == ["opened", "severity_classified", "channel_created"]
    timers = _timers(h)
    assert not any(k.startswith(nudges.timer_prefix(1)) for k in timers)  # its queued timers went with it
    assert timers  # the scheduler's subscriber ran after it, in the same transaction
