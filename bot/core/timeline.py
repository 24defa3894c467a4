"""Append and read timeline events. Nothing here updates or deletes an event."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from bot.core import secrets
from bot.core.clock import Clock
from bot.store.models import TimelineEvent


def record(
    session: Session,
    clock: Clock,
    incident_id: int,
    kind: str,
    text: str,
    *,
    actor: str,
    data: dict[str, Any] | None = None,
) -> TimelineEvent:
    event = TimelineEvent(  # the one redaction step: no secret an outside service echoed is ever kept
        incident_id=incident_id, at=clock.now(), actor=actor, kind=kind, text=secrets.redact(text),
        data=secrets.redact_data(data or {}),
    )
    session.add(event)
    session.flush()
    return event


def events(session: Session, incident_id: int, *, kinds: list[str] | None = None) -> list[TimelineEvent]:
    query = select(TimelineEvent).where(TimelineEvent.incident_id == incident_id)
    if kinds:
        query = query.where(TimelineEvent.kind.in_(kinds))  # type: ignore[attr-defined]
    return list(session.exec(query.order_by(TimelineEvent.at, TimelineEvent.id)))  # type: ignore[arg-type]
