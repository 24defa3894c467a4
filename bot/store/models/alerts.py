"""Alert intake tables: each alert a detector sent (one row per source and dedup key), the groups alerts fall
into (one open group per route and group key: the unique `open_key` is what keeps two processes from declaring
two incidents for one group), and per-source delivery counters for `firebreak alerts stats`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from bot.store.db import UTCDateTime

# AlertGroup.state
GROUP_NEW = "new"            # stored, not yet acted on
GROUP_DECLARING = "declaring"  # a process claimed it and is opening the incident
GROUP_INCIDENT = "incident"  # attached to an incident (declared, attached by route or by a responder)
GROUP_TRIAGE = "triage"      # waiting in the triage channel
GROUP_DISMISSED = "dismissed"
GROUP_RECORDED = "recorded"  # no route acts on it: kept, nothing posted


class Alert(SQLModel, table=True):
    __tablename__ = "alert"
    __table_args__ = (UniqueConstraint("source", "dedup_key", name="uq_alert_source_dedup"),
                      Index("ix_alert_pending", "processed", "id"))

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=64)
    dedup_key: str = Field(max_length=200)
    group_key: str = Field(default="", max_length=200)
    status: str = Field(default="firing", max_length=12)  # firing | resolved
    title: str = Field(max_length=200)
    category: str = Field(max_length=40)
    inputs: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)  # reach/exposure/data/ongoing/domain
    labels: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    scores: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    evidence: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSON)
    source_url: str | None = Field(default=None, max_length=500)
    detected_at: datetime = Field(sa_type=UTCDateTime)  # the detector's first signal (never after received_at)
    received_at: datetime = Field(sa_type=UTCDateTime)
    last_seen_at: datetime = Field(sa_type=UTCDateTime)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    count: int = 1
    body_sha256: str = Field(max_length=64)  # the last delivery's content: a retry with the same body is a no-op
    exercise: bool = False
    # Set after the answer, on the alerts lane: which route took it and what happened.
    processed: bool = False
    route: str | None = Field(default=None, max_length=64)
    group_id: int | None = Field(default=None, index=True)
    incident_id: int | None = Field(default=None, index=True)
    repro_done: bool = False


class AlertGroup(SQLModel, table=True):
    __tablename__ = "alert_group"

    id: int | None = Field(default=None, primary_key=True)
    # "<route>|<group key>" while the group is open; NULL once closed (so a later storm starts a new group).
    open_key: str | None = Field(default=None, max_length=300, unique=True)
    source: str = Field(max_length=64)
    route: str = Field(max_length=64)
    action: str = Field(max_length=20)
    group_key: str = Field(max_length=200)
    title: str = Field(max_length=200)
    state: str = Field(default=GROUP_NEW, max_length=12)
    exercise: bool = False
    incident_id: int | None = Field(default=None, index=True)
    first_signal_at: datetime = Field(sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)
    last_alert_at: datetime = Field(sa_type=UTCDateTime)
    alert_count: int = 0
    resolved_count: int = 0
    # Rate-limited channel updates: alerts not yet told, and when the channel was last told.
    untold: int = 0
    told_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    triage_effect_id: int | None = None  # the triage message's post effect (updates edit it)
    claimed_by: str | None = Field(default=None, max_length=64)
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    all_resolved_told: bool = False
    decided_by: str | None = Field(default=None, max_length=32)
    dismiss_reason: str | None = Field(default=None, sa_type=Text)


class AlertSourceStat(SQLModel, table=True):
    """Deliveries per source: accepted, and rejected by reason (no secret, no body: a reason and a count)."""

    __tablename__ = "alert_source_stat"
    __table_args__ = (UniqueConstraint("source", "outcome", name="uq_alert_stat"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=64)
    outcome: str = Field(max_length=40)  # accepted | duplicate | unknown_source | bad_auth | stale | ...
    count: int = 0
    last_at: datetime = Field(sa_type=UTCDateTime)
