"""The incident row: derived state written alongside the timeline, never instead of it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from bot.store.db import UTCDateTime

# Incident.status values
ACTIVE = "active"
CONTAINED = "contained"
RESOLVED = "resolved"


class Incident(SQLModel, table=True):
    __tablename__ = "incident"
    __table_args__ = {"sqlite_autoincrement": True}

    # The id is the INC number: unique and increasing, allocated by the database even under concurrency.
    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=200)
    description: str = ""
    category: str = Field(max_length=40, index=True)
    category_suggested: bool = False
    severity: int = Field(index=True)
    severity_reasons: str = ""  # newline-separated reasons for the current severity
    reach: str | None = Field(default=None, max_length=20)
    exposure: str | None = Field(default=None, max_length=20)
    data: str | None = Field(default=None, max_length=20)
    ongoing: bool | None = None
    regulated_domain: str | None = Field(default=None, max_length=40)
    status: str = Field(default=ACTIVE, max_length=12, index=True)
    private: bool = False
    is_exercise: bool = Field(default=False, index=True)
    reporter_id: str = Field(max_length=32)
    channel_id: str | None = Field(default=None, max_length=32, index=True, unique=True)
    channel_name: str | None = Field(default=None, max_length=80)
    summary_ts: str | None = Field(default=None, max_length=32)
    topic: str | None = Field(default=None, max_length=250)  # the channel topic as last set (set only on change)
    source_permalink: str | None = None
    resolution: str | None = None
    detected_at: datetime = Field(sa_type=UTCDateTime)
    opened_at: datetime = Field(sa_type=UTCDateTime, index=True)
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    contained_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_status_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    @property
    def ref(self) -> str:
        return f"INC-{self.id}"

    @property
    def sev(self) -> str:
        return f"SEV{self.severity}"

    @property
    def is_open(self) -> bool:
        return self.status != RESOLVED

    @property
    def reasons(self) -> list[str]:
        return [r for r in self.severity_reasons.split("\n") if r]


class RoleAssignment(SQLModel, table=True):
    """Who holds each role now. The history of assignments lives in the timeline."""

    __tablename__ = "role_assignment"
    __table_args__ = (UniqueConstraint("incident_id", "role", name="uq_role_assignment_incident_role"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    role: str = Field(max_length=32)
    user_id: str = Field(max_length=32)
    assigned_at: datetime = Field(sa_type=UTCDateTime)
    assigned_by: str = Field(max_length=32)
