"""Tabletop exercise runs, the injects delivered in them, and their scorecards."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, UniqueConstraint
from sqlmodel import Field, SQLModel

from bot.store.db import UTCDateTime

# ExerciseRun.state values
RUNNING = "running"
PAUSED = "paused"
ENDED = "ended"


class ExerciseRun(SQLModel, table=True):
    """One play of a scenario. The scenario is stored as validated, so the run survives file edits."""

    __tablename__ = "exercise_run"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", unique=True, index=True)
    scenario_key: str = Field(max_length=64, index=True)
    scenario_title: str = Field(max_length=150)
    scenario: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    sandbox_channel_id: str = Field(max_length=32, index=True)
    facilitator_id: str = Field(max_length=32)
    state: str = Field(default=RUNNING, max_length=12, index=True)
    # Read by the scheduler/paging feature: exercises page real people only when the scenario opts in.
    page_real_people: bool = False
    started_at: datetime = Field(sa_type=UTCDateTime)
    paused_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Injects are due at started_at + offset + shift: pauses add to the shift, `next` takes from it.
    shift_seconds: int = 0
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    ended_by: str | None = Field(default=None, max_length=32)


class InjectDelivery(SQLModel, table=True):
    """An inject posted to the exercise channel (at most once per run and inject)."""

    __tablename__ = "inject_delivery"
    __table_args__ = (UniqueConstraint("run_id", "inject_index", name="uq_inject_delivery_run_index"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="exercise_run.id", index=True)
    inject_index: int
    inject_id: str = Field(max_length=64)
    due_at: datetime = Field(sa_type=UTCDateTime)
    posted_at: datetime = Field(sa_type=UTCDateTime)
    trigger: str = Field(max_length=12)  # "timer" or "next"
    message_ts: str | None = Field(default=None, max_length=32)


class Scorecard(SQLModel, table=True):
    """The scorecard computed at the end of a run: the numbers (JSON) and the rendered text."""

    __tablename__ = "exercise_scorecard"

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="exercise_run.id", unique=True, index=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    created_at: datetime = Field(sa_type=UTCDateTime)
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    text: str = ""
