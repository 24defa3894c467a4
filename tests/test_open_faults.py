"""An open always finishes, exactly once: Slack's faults and a crash at any step end with one channel, one
pinned summary and one announcement, and no incident without a channel."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlmodel import select

from bot.app import opening
from bot.slack.harness import Harness
from bot.store.models import Effect
from bot.store.models.effects import RUNNING
from tests.helpers import counts, incident, kinds

TITLE = "Jailbreak spreading --category jailbreak"


def exactly_once(h: Harness, number: int = 1) -> str:
    channel = h.incident_channel(number)
    made = [c for c in h.fake.channels.values() if c["name"].startswith(f"inc-{number}-")]
    assert [c["id"] for c in made] == [channel], made  # one channel, and it is the incident's
    summaries = [m for m in h.fake.history(channel) if m.blocks and m.blocks[0].get("type") in ("header", "section")
                 and "Last status update" in str(m.blocks)]
    assert len(summaries) == 1 and len(h.fake.pinned(channel)) == 1
    announced = [t for t in h.fake.texts(h.settings.announce_channel) if f"INC-{number} opened" in t]
    assert len(announced) == 1
    assert h.fake.channels[channel]["members"] >= {"U0ALICE"}
    return channel


@pytest.mark.parametrize("fault", [
    dict(method="conversations.create", error="internal_error", status=500, times=3),
    dict(method="conversations.create", error="ratelimited", status=429, retry_after=0, times=6),
    dict(method="chat.postMessage", error="ratelimited", status=429, retry_after=0, times=20),
    dict(method="pins.add", error="service_unavailable", status=503, times=4),
    dict(method="conversations.invite", error="fatal_error", times=4),
])
def test_slack_faults_on_open_end_with_one_of_everything(harness: Harness, fault: dict) -> None:
    h = harness
    method = fault.pop("method")
    h.fake.fail_next(method, **fault)
    reply = h.command(f"open {TITLE}")
    assert "Opened *INC-1*" in reply.text
    exactly_once(h)
    assert "slack_error" not in kinds(h, 1)  # retried within the budget: nothing failed for good


def test_a_create_that_timed_out_after_slack_made_the_channel_is_adopted(make_harness) -> None:
    h = make_harness(slack_timeout_seconds=2)
    h.fake.fail_next("conversations.create", None, delay_after=5)  # made, but the answer comes too late
    reply = h.command(f"open {TITLE}")
    assert "Opened *INC-1*" in reply.text, reply.text
    h.wait()
    channel = exactly_once(h)
    assert [e for e in kinds(h, 1) if e == "channel_created"] == ["channel_created"]
    assert channel


def test_names_taken_by_others_then_repair(harness: Harness) -> None:
    h = harness
    h.fake.fail_next("conversations.create", "name_taken", times=6)
    reply = h.command(f"open {TITLE}")
    assert "its channel could not be created" in reply.text and "/incident repair INC-1" in reply.text
    assert incident(h, 1).channel_id is None and "slack_error" in kinds(h, 1)
    before = counts(h)
    reply = h.command("repair INC-1")
    assert "Repaired INC-1" in reply.text
    exactly_once(h)
    assert counts(h)[0] == before[0]


def crash_during(h: Harness, step: Callable[[Harness], None], monkeypatch) -> Harness:
    """Open, stop the effects runner at a step as a SIGKILL would (the step's row left `running`), and restart."""
    monkeypatch.setattr(opening, "OPEN_WAIT", 0.2)
    h.ctx.db.on_effects.clear()  # nothing runs after the commit: the process is about to die
    h.command(f"open {TITLE}", wait=False)
    h.bot.executor.wait_idle(10)
    step(h)
    fake, settings = h.fake, h.settings
    h.bot.close()
    again = Harness(settings, clock=h.ctx.clock, fake=fake, create_tables=False)
    again.ctx.effects.recover()  # what serve does at start
    again.wait()
    return again


def _claim(h: Harness, kind: str, *, perform: Callable[[Harness], None] = lambda h: None) -> None:
    with h.ctx.db.session() as s:
        row = s.exec(select(Effect).where(Effect.kind == kind)).first()
        assert row is not None
        row.state, row.attempts, row.owner = RUNNING, 1, "killed"
        s.add(row)
    perform(h)


def test_killed_after_the_channel_was_made_before_it_was_recorded(harness: Harness, monkeypatch) -> None:
    def made(h: Harness) -> None:
        _claim(h, "provision", perform=lambda h: h.fake.api_conversations_create(
            {"name": "inc-1-jailbreak-spreading", "is_private": "false"}))

    again = crash_during(harness, made, monkeypatch)
    try:
        exactly_once(again)  # adopted by name, not a second channel
    finally:
        again.bot.close()


def test_killed_after_the_summary_was_posted_before_it_was_marked(harness: Harness) -> None:
    h = harness
    h.command(f"open {TITLE}")
    channel = h.incident_channel(1)
    posts_before = len(h.fake.history(channel))
    h.command("status Still investigating", channel=channel)
    with h.ctx.db.session() as s:  # the status post went out; the process died before marking it done
        row = s.exec(select(Effect).where(Effect.kind == "post", Effect.incident_id == 1)
                     .order_by(Effect.id.desc())).first()  # type: ignore[union-attr]
        row.state, row.owner = RUNNING, "killed"
        s.add(row)
    h.ctx.effects.recover()
    h.wait()
    texts = h.fake.texts(channel)[posts_before:]
    assert sum("Still investigating" in t for t in texts) == 1  # found by its metadata: not posted twice
