"""Reproduction cases as evidence: validate, hash (SHA-256), timestamp, record on the timeline.

The hash is over a canonical JSON document of the evidence fields plus the incident, the author and the
time it was added (`canonical`), so anyone with the database can recompute it (`verify`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam
from sqlmodel import Session, col, func, select

from bot.core import limits, timeline
from bot.core.clock import Clock, ensure_utc
from bot.core.errors import NotFound, UsageError
from bot.evidence.preview import preview
from bot.store.models import Incident
from bot.store.models.evidence import ProbeResult, ProbeRun, ReproCase

MAX_CASE_BYTES = limits.REPRO
TEXT_FIELDS = ("prompt", "harmful_output", "endpoint", "system_prompt_version", "filter_setting", "tool_call",
               "marker")
SHORT_LIMITS = {"endpoint": 200, "system_prompt_version": 200, "filter_setting": 500, "marker": 500}
CHECK_NAMES = ("gateway", "refusal", "marker", "moderation")


@dataclass
class CaseInput:
    prompt: str
    harmful_output: str = ""
    endpoint: str = ""
    system_prompt_version: str = ""
    filter_setting: str = ""
    tool_call: str = ""
    marker: str = ""
    checks: list[str] | None = None
    source: str = "modal"
    source_permalink: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def size(self) -> int:
        return sum(len(getattr(self, f).encode("utf-8", "surrogatepass")) for f in TEXT_FIELDS)


class CaseProblems(UsageError):
    """Bad case input; `problems` maps a field name to what is wrong (for modal errors)."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__(" ".join(problems.values()))
        self.problems = problems


def validate(case: CaseInput) -> CaseInput:
    """Strip and check a case; raise CaseProblems naming every problem (never quoting a field whole).

    The text is kept as the person typed it, byte for byte, whichever way it came in (the transports unescape
    Slack's text once, where it enters). Control characters are refused in every field, as the slash command
    refuses them: the database cannot keep some (NUL) and the same case must be storable by every path. A
    prompt that needs them says so as JSON escapes in a conversation (`"\\u001b"`), which is what the model
    receives."""
    for f in TEXT_FIELDS:
        value = getattr(case, f)
        setattr(case, f, (value if isinstance(value, str) else "").strip())
    problems: dict[str, str] = {}
    for f in TEXT_FIELDS:
        if _unencodable(getattr(case, f)):
            problems[f] = f"`{f.replace('_', ' ')}` is not valid text (it has unpaired surrogates)."
        elif any(ch in limits.CONTROL for ch in getattr(case, f)):
            problems[f] = (f"`{f.replace('_', ' ')}` contains control characters; paste it as plain text (a "
                           "conversation in JSON may write them as escapes such as \\u001b).")
    if not case.prompt and "prompt" not in problems:
        problems["prompt"] = "The reproducing prompt or conversation is empty; paste what was sent to the model."
    size = case.size()
    if size > MAX_CASE_BYTES:
        problems["prompt"] = (f"The case is {size:,} bytes; the limit is {MAX_CASE_BYTES:,} bytes (32 KB). "
                              "Attach the full transcript as a file and keep the shortest reproducing part here.")
    for f, limit in SHORT_LIMITS.items():
        if len(getattr(case, f)) > limit:
            problems[f] = f"`{f.replace('_', ' ')}` is {len(getattr(case, f))} characters; keep it under {limit}."
    if case.marker and case.harmful_output and case.marker not in case.harmful_output:
        problems["marker"] = "The marker must be a string copied from the harmful output."
    if case.checks is not None:
        unknown = [limits.shown(str(c), 20) for c in case.checks if c not in CHECK_NAMES]
        if unknown:
            problems["checks"] = f"Unknown check(s) {', '.join(unknown[:4])}; use {', '.join(CHECK_NAMES)}."
    if problems:
        raise CaseProblems(problems)
    return case


def _unencodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def canonical(incident_id: int, fields: dict[str, Any], added_at: datetime, added_by: str) -> bytes:
    doc = {"incident": incident_id, "added_at": ensure_utc(added_at).isoformat(), "added_by": added_by,
           **{f: fields.get(f) or "" for f in TEXT_FIELDS}, "checks": fields.get("checks")}
    return json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def digest(row: ReproCase) -> str:
    fields = {f: getattr(row, f) for f in (*TEXT_FIELDS, "checks")}
    return hashlib.sha256(canonical(row.incident_id, fields, row.added_at, row.added_by)).hexdigest()


def add_case(session: Session, clock: Clock, incident: Incident, case: CaseInput, *, actor: str) -> ReproCase:
    """Validate and store a case, hashed and timestamped, and record `repro_added` on the timeline."""
    validate(case)
    assert incident.id is not None
    now = clock.now()
    row = ReproCase(incident_id=incident.id, prompt=case.prompt, harmful_output=case.harmful_output,
                    endpoint=case.endpoint, system_prompt_version=case.system_prompt_version,
                    filter_setting=case.filter_setting, tool_call=case.tool_call, marker=case.marker,
                    checks=case.checks, source=case.source, source_permalink=case.source_permalink,
                    size_bytes=case.size(), added_at=now, added_by=actor, sha256="")
    row.sha256 = digest(row)
    session.add(row)
    session.flush()
    timeline.record(session, clock, incident.id, "repro_added",
                    f"Repro case #{row.id} added as evidence (sha256 {row.sha256[:12]}…, {row.size_bytes:,} bytes)",
                    actor=actor, data={"case_id": row.id, "sha256": row.sha256})
    return row


def cases(session: Session, incident_id: int) -> list[ReproCase]:
    query = select(ReproCase).where(ReproCase.incident_id == incident_id).order_by(col(ReproCase.id))
    return list(session.exec(query))


_CASES = select(func.count()).select_from(ReproCase).where(col(ReproCase.incident_id) == bindparam("n"))


def case_count(session: Session, incident_id: int) -> int:
    return int(session.exec(_CASES, params={"n": incident_id}).one())


def last_run_line(session: Session, incident_id: int) -> tuple[Any, str] | None:
    """(finished_at, summary) of the incident's latest probe run (the last of `runs`), or None."""
    query = (select(ProbeRun.finished_at, ProbeRun.summary).where(ProbeRun.incident_id == incident_id)
             .order_by(col(ProbeRun.id).desc()).limit(1))
    row = session.exec(query).first()
    return (row[0], row[1]) if row else None


def get_case(session: Session, case_id: int) -> ReproCase:
    row = session.get(ReproCase, case_id)
    if row is None:
        raise NotFound(f"Repro case #{case_id} does not exist.")
    return row


def verify(session: Session, incident_id: int) -> list[tuple[ReproCase, bool]]:
    """Recompute every case's hash: (case, matches)."""
    return [(row, digest(row) == row.sha256) for row in cases(session, incident_id)]


def runs(session: Session, incident_id: int) -> list[ProbeRun]:
    query = select(ProbeRun).where(ProbeRun.incident_id == incident_id).order_by(col(ProbeRun.id))
    return list(session.exec(query))


def results(session: Session, run_id: int) -> list[ProbeResult]:
    query = (select(ProbeResult).where(ProbeResult.run_id == run_id)
             .order_by(col(ProbeResult.case_id), col(ProbeResult.id)))
    return list(session.exec(query))


def summary_line(row: ReproCase, category: str | None, limit: int = 80) -> str:
    """A one-line description of a case for listings and the postmortem: redacted, and in the categories where
    the case is the harm, only its opening words (`bot.evidence.preview`)."""
    return preview(row.prompt, category=category, limit=limit).text
