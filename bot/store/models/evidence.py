"""Evidence tables: reproduction cases (hashed, never edited) and probe runs with one result per case."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Text, event
from sqlmodel import Field, SQLModel

from bot.store.db import UTCDateTime


class ReproCase(SQLModel, table=True):
    """A reproducing case kept as evidence. `sha256` covers every evidence field plus who and when
    (see bot.evidence.store.canonical), so any later change is detectable."""

    __tablename__ = "repro_case"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    prompt: str = Field(sa_type=Text)  # the prompt, or a conversation as a JSON list of {role, content}
    harmful_output: str = Field(default="", sa_type=Text)
    endpoint: str = Field(default="", max_length=200)  # model or endpoint it reproduced on
    system_prompt_version: str = Field(default="", max_length=200)
    filter_setting: str = Field(default="", max_length=500)
    tool_call: str = Field(default="", sa_type=Text)
    marker: str = Field(default="", max_length=500)  # a string from the harmful output that must disappear
    checks: list[str] | None = Field(default=None, sa_type=JSON)  # per-case judge override
    source: str = Field(default="modal", max_length=20)  # modal | shortcut | command
    source_permalink: str | None = Field(default=None, max_length=500)
    size_bytes: int = 0
    sha256: str = Field(max_length=64, index=True)
    added_at: datetime = Field(sa_type=UTCDateTime)
    added_by: str = Field(max_length=32)


class ProbeRun(SQLModel, table=True):
    __tablename__ = "probe_run"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    trigger: str = Field(max_length=20)  # command | lever
    actor: str = Field(max_length=32)
    action_id: str | None = Field(default=None, max_length=64)
    lever: str | None = Field(default=None, max_length=120)
    dry_run: bool = False
    endpoints: str = Field(default="", max_length=500)  # comma-separated endpoint names used
    started_at: datetime = Field(sa_type=UTCDateTime)
    finished_at: datetime = Field(sa_type=UTCDateTime)
    total: int = 0
    refused: int = 0
    blocked: int = 0
    harmful: int = 0
    inconclusive: int = 0
    outcome: str = Field(max_length=20)  # effective | not_effective | inconclusive
    summary: str = Field(default="", max_length=500)


class ProbeResult(SQLModel, table=True):
    __tablename__ = "probe_result"

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="probe_run.id", index=True)
    case_id: int = Field(foreign_key="repro_case.id", index=True)
    endpoint: str = Field(max_length=200)
    verdict: str = Field(max_length=20)  # refused | blocked | harmful | inconclusive
    reason: str = Field(default="", max_length=500)
    http_status: int | None = None
    latency_ms: int | None = None
    reply_sha256: str | None = Field(default=None, max_length=64)
    reply_excerpt: str = Field(default="", sa_type=Text)  # stored as received; redacted when shown
    details: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)


class EvidenceImmutable(RuntimeError):
    pass


@event.listens_for(ReproCase, "before_update")
def _refuse_update(*_args: Any) -> None:
    raise EvidenceImmutable("repro cases are evidence; add a new case instead of editing one")
