"""The effects ledger: every side effect firebreak has on the outside world (a Slack post, an invite, a pinned
summary, a pager event), recorded before it is done and marked when it is done.

Rows are written in the same transaction as the fact that calls for them, so a fact and its effects commit or
roll back together; a runner performs them afterwards (`bot.app.effects`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index
from sqlmodel import Field, SQLModel

from bot.store.db import UTCDateTime

# Effect.state
PENDING = "pending"    # recorded, not yet done (or waiting for its retry time)
RUNNING = "running"    # claimed by a runner; a crash leaves it here until the lease runs out
DONE = "done"
FAILED = "failed"      # gave up (a permanent error, or the retry budget ran out); `/incident repair` retries


class Effect(SQLModel, table=True):
    __tablename__ = "effect"
    __table_args__ = (Index("ix_effect_state_lane", "state", "lane", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    # Idempotency key: the same fact never records the same effect twice (retries, duplicate deliveries).
    key: str = Field(max_length=200, unique=True)
    incident_id: int | None = Field(default=None, index=True)
    # Effects of one lane run one at a time, in the order they were recorded (the messages of one channel);
    # different lanes run side by side.
    lane: str = Field(max_length=80)
    kind: str = Field(max_length=40)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    # Runs only once this effect is done or has failed (e.g. the pin after the post, the posts after the channel).
    after_id: int | None = Field(default=None)
    state: str = Field(default=PENDING, max_length=12)
    attempts: int = 0
    created_at: datetime = Field(sa_type=UTCDateTime)
    not_before: datetime | None = Field(default=None, sa_type=UTCDateTime)  # real time, for retries
    deadline: datetime | None = Field(default=None, sa_type=UTCDateTime)    # real time: stop retrying after
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    owner: str | None = Field(default=None, max_length=64)
    done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    result: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    error: str | None = Field(default=None, max_length=500)
