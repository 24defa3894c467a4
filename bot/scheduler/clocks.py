"""Regulatory report clocks as domain functions: start, record a report, waive, describe.

A clock is an obligation, not a timer: it outlives the incident's resolution and ends only when every stage
is recorded as done (with the reference of the report filed) or the clock is waived with a reason (the
regime turned out not to apply). Who may do either is the permission policy's REPORT_CLOCK_DONE.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from bot.config.org import Config
from bot.core import limits, timeline
from bot.core.clock import Clock
from bot.core.durations import format_duration
from bot.core.errors import Conflict, NotFound, UsageError
from bot.core.text import Code, Msg, When, when_utc
from bot.scheduler.regimes import Regime, deadlines, get_regime, regimes
from bot.store.models import Incident, ReportClock

REFERENCE = 200  # the reference of a filed report (a case or ticket number)


_CLOCKS = select(ReportClock).where(col(ReportClock.incident_id) == bindparam("n")).order_by(col(ReportClock.id))


def clocks_of(session: Session, incident_id: int) -> list[ReportClock]:
    return list(session.exec(_CLOCKS, params={"n": incident_id}))


def open_stage(row: ReportClock) -> dict[str, Any] | None:
    """The earliest stage neither recorded nor waived."""
    return next((s for s in row.stages if not s.get("done_at") and not s.get("waived_at")), None)


def label_of(config: Config, regime: str) -> str:
    found = regimes(config).get(regime)
    return found.label if found else regime


def start_clock(session: Session, clock: Clock, config: Config, incident: Incident, regime_name: str, *,
                case: str | None, aware_at: datetime | None, classified_at: datetime | None, actor: str,
                usage: str | None = None) -> tuple[ReportClock, Regime]:
    regime = get_regime(config, regime_name, usage)
    now = clock.now()
    aware = aware_at or now
    if aware > now:
        raise UsageError("--aware-at is in the future; give the time your organization became aware.", usage=usage)
    if classified_at is not None:
        if not regime.uses_classification:
            raise UsageError(f"--classified-at applies to dora only, not {regime.name}.", usage=usage)
        if classified_at > now or classified_at < aware:
            raise UsageError("--classified-at must be between --aware-at and now.", usage=usage)
    existing = session.exec(select(ReportClock).where(ReportClock.incident_id == incident.id,
                                                      ReportClock.regime == regime.name)).first()
    if existing is not None:
        raise Conflict(Msg.of("The {regime} clock of {ref} is already running (started {at}). "
                              "`/incident report-clock` shows it.", regime=regime.name, ref=incident.ref,
                              at=When(existing.started_at)))
    assert incident.id is not None
    stages: list[dict[str, Any]] = [{"stage": s.name, "label": s.label, "due": due.isoformat(), "done_at": None, "reference": None,
               "done_by": None}
              for s, due in deadlines(regime, aware, case=case, classified_at=classified_at, usage=usage)]
    row = ReportClock(incident_id=incident.id, regime=regime.name, regime_case=case, aware_at=aware, stages=stages,
                      started_at=now, started_by=actor)
    session.add(row)
    session.flush()
    due_text = "; ".join(f"{s['label']} by {when_utc(datetime.fromisoformat(s['due']))}" for s in stages)
    timeline.record(session, clock, incident.id, "report_clock_started",
                    f"{regime.label}{f' ({case})' if case else ''}: {due_text}", actor=actor,
                    data={"regime": regime.name, "case": case, "aware_at": aware.isoformat(),
                          "deadlines": {s["stage"]: s["due"] for s in stages}})
    return row, regime


def _locked(session: Session, incident: Incident, regime: Regime, usage: str | None) -> ReportClock:
    row = session.exec(select(ReportClock).where(ReportClock.incident_id == incident.id,
                                                 ReportClock.regime == regime.name).with_for_update()).first()
    if row is None:
        raise NotFound(f"{incident.ref} has no {regime.name} clock. Start one with "
                       f"`/incident report-clock {regime.name}`.", usage=usage)
    if row.done_at is not None or open_stage(row) is None:
        raise Conflict(f"Every {regime.name} report of {incident.ref} is already recorded or waived.")
    return row


def record_done(session: Session, clock: Clock, config: Config, incident: Incident, regime_name: str,
                reference: str, *, actor: str, usage: str | None = None) -> tuple[ReportClock, dict, bool]:
    """Mark the earliest open stage of the regime reported. Returns (clock, stage, whether all are done)."""
    regime = get_regime(config, regime_name, usage)
    reference = limits.clean(reference, REFERENCE, "reference", usage=usage,
                             required="Give the reference of the report you filed (a case or ticket number).")
    row = _locked(session, incident, regime, usage)
    stages = [dict(s) for s in row.stages]
    stage = next(s for s in stages if not s.get("done_at") and not s.get("waived_at"))
    now = clock.now()
    stage.update(done_at=now.isoformat(), reference=reference, done_by=actor)
    row.stages = stages  # a new list, so SQLAlchemy sees the JSON change
    complete = all(s.get("done_at") or s.get("waived_at") for s in stages)
    if complete:
        row.done_at = now
    session.add(row)
    due = datetime.fromisoformat(stage["due"])
    late = f" ({format_duration(now - due)} after the deadline)" if now > due else ""
    assert incident.id is not None
    timeline.record(session, clock, incident.id, "report_clock_done",
                    f"{regime.label}: {stage['label']} recorded, reference {reference}{late}", actor=actor,
                    data={"regime": regime.name, "stage": stage["stage"], "reference": reference,
                          "late": bool(late), "complete": complete})
    return row, stage, complete


@dataclass(frozen=True)
class Waived:
    clock: ReportClock
    stages: list[str]  # the labels of the stages waived
    reason: str


def waive(session: Session, clock: Clock, config: Config, incident: Incident, regime_name: str, reason: str, *,
          actor: str, usage: str | None = None) -> Waived:
    """Close a clock whose remaining reports are not owed (the regime does not apply), with the reason why."""
    regime = get_regime(config, regime_name, usage)
    reason = limits.clean(reason, limits.REASON, "reason", usage=usage,
                          required="Say why no report is owed, e.g. `no personal data was involved`.")
    row = _locked(session, incident, regime, usage)
    now = clock.now()
    stages = [dict(s) for s in row.stages]
    waived = [s for s in stages if not s.get("done_at") and not s.get("waived_at")]
    for s in waived:
        s.update(waived_at=now.isoformat(), waived_by=actor, waive_reason=reason)
    row.stages = stages
    row.done_at = now
    session.add(row)
    labels = [s["label"] for s in waived]
    assert incident.id is not None
    timeline.record(session, clock, incident.id, "report_clock_waived",
                    f"{regime.label}: waived ({', '.join(labels)}): {reason}", actor=actor,
                    data={"regime": regime.name, "stages": [s["stage"] for s in waived], "reason": reason})
    return Waived(row, labels, reason)


def open_obligations(session: Session, incident_id: int) -> list[tuple[ReportClock, dict[str, Any]]]:
    """Each clock still running, with its next stage."""
    out = []
    for row in clocks_of(session, incident_id):
        stage = open_stage(row) if row.done_at is None else None
        if stage is not None:
            out.append((row, stage))
    return out


def describe(row: ReportClock, regime_label: str, now: datetime) -> list[Msg]:
    """The clock as lines: its regime, then each stage's deadline and state."""
    head = Msg.of("*{label}*", label=regime_label)
    if row.regime_case:
        head = head + Msg.of(" ({case})", case=row.regime_case)
    lines = [head + Msg.of(" — aware {at}", at=When(row.aware_at))]
    for s in row.stages:
        due = datetime.fromisoformat(s["due"])
        if s.get("done_at"):
            state = Msg.of(":white_check_mark: recorded {at}, ref {ref}", at=When(datetime.fromisoformat(s["done_at"])),
                           ref=Code(str(s.get("reference") or "")))
        elif s.get("waived_at"):
            state = Msg.of(":white_circle: waived {at}: {reason}", at=When(datetime.fromisoformat(s["waived_at"])),
                           reason=str(s.get("waive_reason") or ""))
        elif now >= due:
            state = Msg.of(":red_circle: OVERDUE" + (" by {late}" if now > due else ""),
                           **({"late": format_duration(now - due)} if now > due else {}))
        else:
            state = Msg.of("in {left}", left=format_duration(due - now))
        lines.append(Msg.of("• {label}: due {due} — ", label=s["label"], due=When(due)) + state)
    return lines
