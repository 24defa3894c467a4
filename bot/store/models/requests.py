"""Requests already handled, so a Slack retry (X-Slack-Retry-Num) never acts twice."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from bot.store.db import UTCDateTime


class ProcessedRequest(SQLModel, table=True):
    __tablename__ = "processed_request"

    key: str = Field(primary_key=True, max_length=64)
    received_at: datetime = Field(sa_type=UTCDateTime, index=True)
