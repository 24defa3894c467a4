"""`/incident action add|done` and `/incident actions`: follow-up items; bad input writes nothing."""

from __future__ import annotations

import pytest
from sqlmodel import select

from bot.core import timeline
from bot.slack.harness import Harness
from bot.store.models import ActionItem

ADD_USAGE = "/incident action add <text> [@owner] [due: 2026-02-01 or 7d]"


def rows(h: Harness) -> list[ActionItem]:
    with h.ctx.db.session() as s:
        return list(s.exec(select(ActionItem).order_by(ActionItem.number)))


def events(h: Harness, kind: str) -> list:
    with h.ctx.db.session() as s:
        return timeline.events(s, 1, kinds=[kind])


def open_incident(h: Harness) -> str:
    h.command("open Eval regression on refusals --category model_regression")
    return h.incident_channel(1)


@pytest.fixture
def channel(db_harness: Harness) -> str:
    return open_incident(db_harness)


def test_add_list_done(db_harness: Harness, channel: str, clock) -> None:
    h = db_harness
    reply = h.command("action add Add refusal evals to CI <@U0DAVE|dave> 2w", channel=channel)
    assert "Added action item #1 to INC-1" in reply.text
    assert "Action item #1 on INC-1: Add refusal evals to CI · owner <@U0DAVE> · due 2026-01-19" in h.fake.texts(channel)[-1]
    h.command("action add Document the rollback", channel=channel, user="U0BOB")
    (a, b) = rows(h)
    assert (a.number, a.text, a.owner, a.due.isoformat(), a.created_by) == (
        1, "Add refusal evals to CI", "U0DAVE", "2026-01-19", "U0ALICE")
    assert (b.number, b.owner, b.due) == (2, None, None)
    reply = h.command("action done 2", channel=channel, user="U0BOB")
    assert "Marked action item #2 of INC-1 done" in reply.text
    clock.advance(days=20)
    listing = h.command("actions", channel=channel).text
    assert "#1* Add refusal evals to CI · <@U0DAVE> · due 2026-01-19 · *overdue*" in listing
    assert "#2* Document the rollback · no owner · due — · done" in listing
    assert [e.data["number"] for e in events(h, "action_added")] == [1, 2]
    assert [e.data["number"] for e in events(h, "action_done")] == [2]


def test_actions_after_resolution(harness: Harness) -> None:
    h = harness
    h.command("open Something odd --category other")
    ch = h.incident_channel(1)
    h.command("resolve nothing to see", channel=ch)
    assert "Added action item #1" in h.command("action add Check the dashboards due:3d", channel=ch).text
    assert rows(h)[0].due.isoformat() == "2026-01-08"
    assert "INC-1 has no action items" not in h.command("actions INC-1").text


@pytest.mark.parametrize("text, message", [
    ("action add", "Say what needs doing"),
    ("action add <@U0DAVE>", "Say what needs doing"),
    ("action add Fix it <@U0DAVE> <@U0BOB>", "one owner"),
    ("action add Fix it 2025-12-01", "is in the past"),
    ("action add Fix it 2026-02-30", "not a real date"),
    ("action add Fix it due:soon", "not a due date"),
    ("action add " + "x" * 501, "keep it under 500"),
    ("action", "Say what to do: use `add` or `done`"),
    ("action frob", "`frob` is not an action verb"),
    ("action done", "Name one action item by its number"),
    ("action done one", "`one` is not an action item number"),
    ("action done 1 2", "Name one action item by its number"),
    ("action done 7", "INC-1 has no action item #7"),
    ("actions please", "takes no arguments"),
])
def test_bad_input_writes_nothing(harness: Harness, text: str, message: str) -> None:
    reply = harness.command(text, channel=open_incident(harness))
    assert message in reply.text
    assert "Usage:" in reply.text or "has no action item" in reply.text
    assert rows(harness) == [] and events(harness, "action_added") == []


def test_bad_input_rolls_back_on_both_databases(db_harness: Harness, channel: str) -> None:
    db_harness.command("action add Something", channel=channel)
    reply = db_harness.command("action done 2", channel=channel)
    assert "INC-1 has no action item #2" in reply.text
    assert [r.done_at for r in rows(db_harness)] == [None] and events(db_harness, "action_done") == []


def test_done_twice_is_a_conflict(harness: Harness) -> None:
    h = harness
    h.command("open Something odd --category other")
    ch = h.incident_channel(1)
    h.command("action add Do it", channel=ch)
    h.command("action done 1", channel=ch)
    reply = h.command("action done #1", channel=ch)
    assert "Action item #1 was already done on 2026-01-05" in reply.text
    assert len(events(h, "action_done")) == 1


def test_outside_an_incident_channel(harness: Harness) -> None:
    reply = harness.command("action add Something")
    assert "This is not an incident channel" in reply.text and ADD_USAGE in reply.text
