"""The append-only timeline: every fact about an incident is an event with a UTC time and an actor."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, event
from sqlmodel import Field, SQLModel

from bot.store.db import UTCDateTime

BOT_ACTOR = "firebreak"


class TimelineEvent(SQLModel, table=True):
    __tablename__ = "timeline_event"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    at: datetime = Field(sa_type=UTCDateTime, index=True)
    actor: str = Field(max_length=32)  # a Slack user id, or "firebreak"
    kind: str = Field(max_length=40, index=True)
    text: str = ""
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)


class AppendOnlyViolation(RuntimeError):
    pass


@event.listens_for(TimelineEvent, "before_update")
def _refuse_update(*_args) -> None:
    raise AppendOnlyViolation("timeline events are append-only; record a correction as a new event")


@event.listens_for(TimelineEvent, "before_delete")
def _refuse_delete(*_args) -> None:
    raise AppendOnlyViolation("timeline events are append-only; they are never deleted")
