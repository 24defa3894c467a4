"""Scheduler tables: regulatory report clocks, page state, the run ledger, and APScheduler's job table.

`apscheduler_jobs` is declared here with exactly the columns APScheduler's SQLAlchemyJobStore creates, so
that the one migration history creates it (deployments need no CREATE rights at run time) and the
migration check sees it. The job store itself builds its own Table object on a private MetaData.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Float, LargeBinary, Table, Unicode, UniqueConstraint
from sqlmodel import Field, SQLModel

from bot.store.db import UTCDateTime

JOBS_TABLE = "apscheduler_jobs"
RUNS_TABLE = "scheduler_run"

apscheduler_jobs = Table(
    JOBS_TABLE,
    SQLModel.metadata,
    Column("id", Unicode(191), primary_key=True),
    Column("next_run_time", Float(25), index=True),
    Column("job_state", LargeBinary, nullable=False),
)


class ReportClock(SQLModel, table=True):
    """One regulatory reporting obligation of an incident (e.g. GDPR 72 h), with its stages' deadlines."""

    __tablename__ = "report_clock"
    __table_args__ = (UniqueConstraint("incident_id", "regime"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    regime: str = Field(max_length=60)
    regime_case: str | None = Field(default=None, max_length=60)
    aware_at: datetime = Field(sa_type=UTCDateTime)
    # [{"stage": "notification", "label": "...", "due": iso, "done_at": iso|None, "reference": str|None,
    #   "done_by": str|None}], ordered by due time.
    stages: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSON)
    started_at: datetime = Field(sa_type=UTCDateTime)
    started_by: str = Field(max_length=32)
    done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class PageState(SQLModel, table=True):
    """The acknowledgement page of an incident: whether it was sent, to the pager, and resolved."""

    __tablename__ = "page_state"

    incident_id: int = Field(foreign_key="incident.id", primary_key=True)
    # Exercises never page people unless the scenario opts in (tabletop sets this).
    exercise_pages_allowed: bool = False
    paged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    dedup_key: str | None = Field(default=None, max_length=80)
    pager_status: str | None = Field(default=None, max_length=20)  # triggered|failed|resolved|simulated
    attempts: int = 0
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


# no-redef: the checker's model plugin gives the constructor a `**kwargs`, which the `kwargs` column's name meets.
class SchedulerRun(SQLModel, table=True):  # type: ignore[no-redef]
    """The ledger of timer firings: claimed atomically with the job's removal, finished after it ran.

    A row without `finished_at` whose owner is gone is a firing interrupted by a crash; the next
    scheduler to take over re-queues it once.
    """

    __tablename__ = RUNS_TABLE

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=191, index=True)
    job: str = Field(max_length=80)
    kwargs: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    due_at: datetime = Field(sa_type=UTCDateTime)
    claimed_at: datetime = Field(sa_type=UTCDateTime)
    owner: str = Field(max_length=64, index=True)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    outcome: str | None = Field(default=None, max_length=200)


# The ledger as a Core table, for the scheduler's own connection (the checker does not see a model's `__table__`).
scheduler_runs: Table = SQLModel.metadata.tables[RUNS_TABLE]
