"""Exactly once across a crash in the window the batched marks open: done in Slack, not yet marked in the ledger."""

from __future__ import annotations

import threading

from bot.app.effects import EffectRunner, Job
from bot.core import effects
from bot.core.text import Msg
from bot.slack.effects import METADATA_EVENT, SlackEffects
from bot.store.models import Effect


def _posts_of(h, channel: str, effect_id: int) -> list[dict]:
    return [c.params for c in h.fake.calls if c.method == "chat.postMessage" and c.params.get("channel") == channel
            and ((c.params.get("metadata") or {}).get("event_payload") or {}).get("effect") == effect_id
            and (c.params.get("metadata") or {}).get("event_type") == METADATA_EVENT]


def test_a_post_done_but_not_yet_marked_when_the_process_dies_is_not_posted_again(make_harness, db_url) -> None:
    h = make_harness(database_url=db_url)
    first = h.ctx.effects
    posted = threading.Event()

    def post_then_die(job: Job) -> dict:
        result = h.ctx.slack_effects.post(job)  # the real post, in Slack

        def dead(moment, marks):  # from here on the process never commits again: the mark stays in memory
            raise RuntimeError("the process is dying")

        first._scan_and_claim = dead  # type: ignore[method-assign]
        posted.set()
        return result

    first.register(effects.POST, post_then_die)
    with h.ctx.db.session() as s:
        effect_id = effects.post(s, None, Msg.of("Said once."), to=effects.channel(h.general),
                                 created_at=h.ctx.clock.now(), key="said-once")
    assert posted.wait(10)
    h.ctx.lanes.wait_idle(5)
    assert [m["effect_id"] for m in first._marks] == [effect_id]  # done in Slack, its mark not yet written
    with h.ctx.db.session() as s:
        row = s.get(Effect, effect_id)
        assert row is not None and row.state == "running"
    first._marks.clear()  # the process dies: what it held in memory is gone
    first.close()

    restarted = EffectRunner(h.ctx, single_process=True)
    SlackEffects(h.ctx, restarted)
    try:
        assert restarted.recover() == 1
        assert restarted.wait([effect_id], 10) == {effect_id: "done"}
    finally:
        restarted.close()
    assert len(_posts_of(h, h.general, effect_id)) == 1  # the resumed attempt found it and did not post again
    with h.ctx.db.session() as s:
        row = s.get(Effect, effect_id)
        assert row is not None and row.attempts == 2 and row.result.get("ts")
