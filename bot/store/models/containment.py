"""Containment actions: one row per lever pull, with its times, outcome and what revert must restore."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, UniqueConstraint
from sqlmodel import Field, SQLModel

from bot.store.db import UTCDateTime

# ContainmentAction.outcome values
REQUESTED = "requested"      # recorded, call in flight
APPLIED = "applied"          # the change was made; verification pending or not possible
VERIFIED = "verified"        # the lever's verifier observed the change
NOT_EFFECTIVE = "not_effective"  # applied (and verified) but a proof check says harm continues
FAILED = "failed"            # the change could not be made (after retries)
DRY_RUN = "dry_run"          # recorded what it would do; nothing was called
LIVE_OUTCOMES = (REQUESTED, APPLIED, VERIFIED, NOT_EFFECTIVE)


class ContainmentAction(SQLModel, table=True):
    __tablename__ = "containment_action"
    # At most one current pull per lever, incident and mode: `slot` is "live"/"dry" while the pull stands and
    # NULL once it failed or was reverted (NULLs never collide), so two people pulling at once cannot both
    # insert, on SQLite and PostgreSQL alike.
    __table_args__ = (UniqueConstraint("incident_id", "lever", "slot", name="uq_containment_action_current"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    lever: str = Field(max_length=64)
    type: str = Field(max_length=32)
    target: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    by: str = Field(max_length=32)
    reason: str = ""
    dry_run: bool = False
    slot: str | None = Field(default=None, max_length=8)
    outcome: str = Field(default=REQUESTED, max_length=16)
    error: str | None = None
    attempts: int = 0
    detail: str = ""
    previous: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    requested_at: datetime = Field(sa_type=UTCDateTime)
    applied_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    verified_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reverted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reverted_by: str | None = Field(default=None, max_length=32)
    revert_error: str | None = None
