"""The checklist as recorded effects: posted once, after the channel exists, without the open waiting for it;
a burst of changes makes one update; changes before the first post need none. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlmodel import select

from bot.app.opening import open_and_provision
from bot.core import incidents
from bot.core.incidents import OpenRequest
from bot.core.severity import Inputs
from bot.runbooks import checklist, flows
from bot.runbooks.loader import Library
from bot.slack.harness import Harness
from bot.store.models import Effect
from bot.store.models.effects import DONE, PENDING
from bot.store.models.runbook import RunbookChecklist
from tests.runbook_support import checklist_message, message_text, open_incident, runner_held, violations


def effects_of(h: Harness, **where):
    with h.ctx.db.session() as session:
        query = select(Effect)
        for column, value in where.items():
            query = query.where(getattr(Effect, column) == value)
        return list(session.exec(query.order_by(Effect.id)))


def test_the_checklist_waits_for_the_channel_by_itself(db_harness: Harness) -> None:
    h = db_harness
    request = OpenRequest(title="Injected instructions in a retrieved page", reporter_id="U0ALICE",
                          inputs=Inputs(category="prompt_injection"), severity_override=2)
    with runner_held(h):
        opened = open_and_provision(h.ctx, request, wait=0)  # the answer does not wait for Slack at all
        assert opened.state == "waiting" and opened.channel_id is None
        # The runbook is attached and its checklist recorded before the channel exists.
        [post] = effects_of(h, key=checklist.post_key(1))
        assert post.state == PENDING and post.payload["view"] == checklist.VIEW
        with h.ctx.db.session() as session:
            assert incidents.get(session, 1).channel_id is None
    channel = h.incident_channel(1)
    msg = checklist_message(h, channel)
    assert "0/22 done" in message_text(msg)
    [post] = effects_of(h, key=checklist.post_key(1))
    assert post.state == DONE and post.result == {"ts": msg.ts, "channel": channel}
    with h.ctx.db.session() as session:  # the post's `then` kept where the checklist lives
        kept = session.get(RunbookChecklist, 1)
        assert (kept.channel_id, kept.message_ts) == (channel, msg.ts)
    assert violations(h) == []


def test_a_burst_of_changes_makes_one_update(db_harness: Harness) -> None:
    h = db_harness
    channel = open_incident(h)
    msg = checklist_message(h, channel)

    def updates() -> int:
        return len([c for c in h.fake.calls_to("chat.update") if c.params.get("ts") == msg.ts])

    before = updates()
    steps = ["assign-roles", "confirm-severity", "classify-vector", "preserve-evidence", "preserve-source"]
    with runner_held(h):
        for step in steps:
            flows.finish_step(h.ctx, 1, step, actor="U0ALICE")
        waiting = effects_of(h, lane=checklist.lane(1), state=PENDING)
        assert len(waiting) == 1 and waiting[0].kind == "update"  # the later changes joined the first
    assert updates() == before + 1
    after = checklist_message(h, channel)
    assert after.ts == msg.ts and "5/22 done" in message_text(after)


def test_changes_before_the_first_post_need_no_update(db_harness: Harness) -> None:
    h = db_harness
    request = OpenRequest(title="Injected instructions in a retrieved page", reporter_id="U0ALICE",
                          inputs=Inputs(category="prompt_injection"), severity_override=2)
    with runner_held(h):
        open_and_provision(h.ctx, request, wait=0)
        flows.finish_step(h.ctx, 1, "assign-roles", actor="U0ALICE")
        flows.finish_step(h.ctx, 1, "reproduce", actor="U0ALICE", skip=True, reason="reproduced by the reporter")
        assert effects_of(h, lane=checklist.lane(1)) == []  # the waiting post covers them
    channel = h.incident_channel(1)
    text = message_text(checklist_message(h, channel))
    assert "1/22 done · 1 skipped" in text and "~`reproduce`~ skipped" in text
    assert not [c for c in h.fake.calls_to("chat.update") if "runbook:" in str(c.params.get("text"))]


def test_an_incident_without_a_runbook_gets_no_checklist(harness: Harness) -> None:
    h = harness
    h.ctx.runbooks = Library({})  # none for this category
    h.command("open Something odd --category prompt_injection --sev 2")
    channel = h.incident_channel(1)
    assert [t for t in h.fake.texts(channel) if "No runbook applies to `prompt_injection` at SEV2" in t]
    assert not [m for m in h.fake.history(channel) if "runbook:" in m.text]
    with h.ctx.db.session() as session:
        assert checklist.publish(session, 1, created_at=h.ctx.clock.now()) is None
