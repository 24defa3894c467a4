"""The checklist message of an incident's runbook, as recorded side effects.

The domain never posts: it records, in the transaction of the change that calls for it, that the checklist must
be posted (once per incident, key `inc-<n>:checklist`) or brought up to date. The transport renders the message
from the database when the effect runs (the named view `VIEW`), so:
- the first post waits for the incident's channel by itself (the effects runner holds an incident's effects
  while its channel is being provisioned): an open never waits for Slack before its checklist;
- an update renders the state as it is when it runs, so one update still waiting covers every change recorded
  after it: a burst of clicks makes one `chat.update`, not one per click;
- a post with `then=THEN` tells the transport to keep the message's ts; updates name the post (`ref`), run after
  it, and post the message afresh when someone deleted it (`repost`).
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from bot.core import effects
from bot.store.models.effects import PENDING, Effect
from bot.store.models.runbook import DROPPED, RunbookAttachment, RunbookStep

VIEW = "runbook_checklist"      # the transport's renderer of the checklist message (data: {"incident": n})
THEN = "runbook_checklist"      # the transport's callback that keeps the posted message's ts


def post_key(incident_id: int) -> str:
    return f"inc-{incident_id}:checklist"


def lane(incident_id: int) -> str:
    """Checklist updates run one at a time, apart from the channel's other messages (no queue behind them)."""
    return f"checklist:{incident_id}"


def _has_runbook(session: Session, incident_id: int) -> bool:
    attached = session.exec(select(RunbookAttachment.id).where(RunbookAttachment.incident_id == incident_id)).first()
    if attached is not None:
        return True
    return session.exec(select(RunbookStep.id).where(RunbookStep.incident_id == incident_id,
                                                     RunbookStep.state != DROPPED)).first() is not None


def first_post(session: Session, incident_id: int, *, created_at: datetime) -> int:
    """The checklist's first post, for a runbook just attached to an incident opened in this transaction."""
    return effects.post(session, incident_id, view=VIEW, data={"incident": incident_id}, then=THEN,
                        key=post_key(incident_id), created_at=created_at)


def publish(session: Session, incident_id: int, *, created_at: datetime) -> int | None:
    """Record that the checklist must show the incident's current steps: the first post, or an update of the
    message (coalesced with one already waiting). Returns the effect id, None when no runbook was ever attached."""
    post = session.exec(select(Effect.id, Effect.state).where(Effect.key == post_key(incident_id))).first()
    if post is None:
        if not _has_runbook(session, incident_id):
            return None
        return first_post(session, incident_id, created_at=created_at)
    post_id, post_state = post
    assert post_id is not None
    if post_state == PENDING and effects.join(session, post_id):
        return post_id  # not posted yet: it renders the state as it is when it runs
    waiting = session.exec(select(Effect.id).where(Effect.incident_id == incident_id, Effect.kind == effects.UPDATE,
                                                   Effect.lane == lane(incident_id), Effect.state == PENDING)
                           .order_by(col(Effect.id))).first()
    if waiting is not None and effects.join(session, waiting):
        return waiting
    return effects.record(session, kind=effects.UPDATE, lane=lane(incident_id), incident_id=incident_id,
                          after=post_id, created_at=created_at,
                          payload={"ref": post_id, "view": VIEW, "data": {"incident": incident_id}, "repost": True})
