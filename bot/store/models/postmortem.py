"""Follow-up action items of an incident: numbered per incident, owned, optionally due; shown in the postmortem."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from bot.store.db import UTCDateTime


class ActionItem(SQLModel, table=True):
    __tablename__ = "action_item"
    __table_args__ = (UniqueConstraint("incident_id", "number", name="uq_action_item_incident_number"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    number: int  # 1, 2, 3... within the incident: what `/incident action done <n>` names
    text: str = Field(max_length=500)
    owner: str | None = Field(default=None, max_length=32)
    due: date | None = None
    created_at: datetime = Field(sa_type=UTCDateTime)
    created_by: str = Field(max_length=32)
    done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    done_by: str | None = Field(default=None, max_length=32)

    @property
    def is_done(self) -> bool:
        return self.done_at is not None
