"""Runbooks attached to an incident and the state of each step.

The timeline holds the history (runbook_attached, step_done, step_skipped, step_assigned, step_nudged);
these rows hold the current state, written in the same transaction as the event.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from bot.store.db import UTCDateTime

# RunbookStep.state values. "dropped": no longer applies (runbook switched, severity lowered); kept for history.
PENDING = "pending"
DONE = "done"
SKIPPED = "skipped"
DROPPED = "dropped"


class RunbookAttachment(SQLModel, table=True):
    """A runbook in use on an incident (detached_at is set when another runbook replaced it)."""

    __tablename__ = "runbook_attachment"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    runbook_key: str = Field(max_length=64)
    title: str = Field(max_length=200)
    auto: bool = True  # attached by category and severity (re-evaluated on severity change)
    attached_at: datetime = Field(sa_type=UTCDateTime)
    attached_by: str = Field(max_length=32)
    detached_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    detached_by: str | None = Field(default=None, max_length=32)


class RunbookStep(SQLModel, table=True):
    """One step of the incident's checklist. A step id is unique within an incident, so a step shared by two
    runbooks (e.g. `preserve-evidence`) keeps its state when the runbook is switched."""

    __tablename__ = "runbook_step"
    __table_args__ = (UniqueConstraint("incident_id", "step_id", name="uq_runbook_step_incident_step"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    runbook_key: str = Field(max_length=64)
    step_id: str = Field(max_length=64)
    phase: str = Field(max_length=20)
    position: int = 0
    text: str = ""
    owner_role: str = Field(max_length=16)
    owner_id: str | None = Field(default=None, max_length=32)  # set by Assign; else the role holder owns it
    required: bool = True
    lever: str | None = Field(default=None, max_length=64)
    state: str = Field(default=PENDING, max_length=10)
    reason: str | None = None
    due_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    started_at: datetime = Field(sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_by: str | None = Field(default=None, max_length=32)
    nudged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    nudged_severity: int | None = None  # the severity at the last nudge; a lower (worse) one nudges again


class RunbookChecklist(SQLModel, table=True):
    """Where the interactive checklist message lives, so it is updated in place."""

    __tablename__ = "runbook_checklist"

    incident_id: int = Field(foreign_key="incident.id", primary_key=True)
    channel_id: str = Field(max_length=32)
    message_ts: str = Field(max_length=32)
    posted_at: datetime = Field(sa_type=UTCDateTime)
