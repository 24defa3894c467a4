"""What a button or a modal acts on, kept on the server: Slack carries only an opaque id.

A crafted payload can name an id, but never an incident, lever, channel or reason of its own choosing: those
are read from this row, and the permission policy is asked again about the person who clicked.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON
from sqlmodel import Field, SQLModel

from bot.store.db import UTCDateTime


class PendingAction(SQLModel, table=True):
    __tablename__ = "pending_action"

    id: str = Field(primary_key=True, max_length=40)  # a random token (the only thing Slack sees)
    kind: str = Field(max_length=40)
    incident_id: int | None = Field(default=None, index=True)
    user_id: str | None = Field(default=None, max_length=32)  # who it was made for (None: anyone allowed)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
