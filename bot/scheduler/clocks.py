"""Regulatory report clocks as domain functions: start, record a report, describe. No Slack here."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from bot.config.org import Config
from bot.core import timeline
from bot.core.clock import Clock
from bot.core.durations import format_duration
from bot.core.errors import Conflict, NotFound, UsageError
from bot.scheduler.regimes import Regime, deadlines, get_regime
from bot.slack import render
from bot.store.models import Incident, ReportClock


def clocks_of(session: Session, incident_id: int) -> list[ReportClock]:
    query = select(ReportClock).where(ReportClock.incident_id == incident_id).order_by(ReportClock.id)
    return list(session.exec(query))  # type: ignore[arg-type]


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
        raise Conflict(f"The {regime.name} clock of {incident.ref} is already running (started "
                       f"{render.when(existing.started_at)}). `/incident report-clock` shows it.")
    stages = [{"stage": s.name, "label": s.label, "due": due.isoformat(), "done_at": None, "reference": None,
               "done_by": None}
              for s, due in deadlines(regime, aware, case=case, classified_at=classified_at, usage=usage)]
    row = ReportClock(incident_id=incident.id, regime=regime.name, regime_case=case, aware_at=aware, stages=stages,
                      started_at=now, started_by=actor)
    session.add(row)
    session.flush()
    due_text = "; ".join(f"{s['label']} by {render.when(datetime.fromisoformat(s['due']))}" for s in stages)
    timeline.record(session, clock, incident.id, "report_clock_started",
                    f"{regime.label}{f' ({case})' if case else ''}: {due_text}", actor=actor,
                    data={"regime": regime.name, "case": case, "aware_at": aware.isoformat(),
                          "deadlines": {s["stage"]: s["due"] for s in stages}})
    return row, regime


def record_done(session: Session, clock: Clock, config: Config, incident: Incident, regime_name: str,
                reference: str, *, actor: str, usage: str | None = None) -> tuple[ReportClock, dict, bool]:
    """Mark the earliest open stage of the regime reported. Returns (clock, stage, whether all are done)."""
    regime = get_regime(config, regime_name, usage)
    reference = reference.strip()
    if not reference:
        raise UsageError("Give the reference of the report you filed (a case or ticket number).", usage=usage)
    row = session.exec(select(ReportClock).where(ReportClock.incident_id == incident.id,
                                                 ReportClock.regime == regime.name).with_for_update()).first()
    if row is None:
        raise NotFound(f"{incident.ref} has no {regime.name} clock. Start one with "
                       f"`/incident report-clock {regime.name}`.", usage=usage)
    stages = [dict(s) for s in row.stages]
    stage = next((s for s in stages if not s.get("done_at")), None)
    if stage is None:
        raise Conflict(f"Every {regime.name} report of {incident.ref} is already recorded.")
    now = clock.now()
    stage.update(done_at=now.isoformat(), reference=reference[:200], done_by=actor)
    row.stages = stages  # a new list, so SQLAlchemy sees the JSON change
    complete = all(s.get("done_at") for s in stages)
    if complete:
        row.done_at = now
    session.add(row)
    due = datetime.fromisoformat(stage["due"])
    late = f" ({format_duration(now - due)} after the deadline)" if now > due else ""
    timeline.record(session, clock, incident.id, "report_clock_done",
                    f"{regime.label}: {stage['label']} recorded, reference {reference}{late}", actor=actor,
                    data={"regime": regime.name, "stage": stage["stage"], "reference": reference,
                          "late": bool(late), "complete": complete})
    return row, stage, complete


def describe(row: ReportClock, regime_label: str, now: datetime) -> list[str]:
    lines = [f"*{regime_label}*" + (f" ({row.regime_case})" if row.regime_case else "")
             + f" — aware {render.when(row.aware_at)}"]
    for s in row.stages:
        due = datetime.fromisoformat(s["due"])
        if s.get("done_at"):
            state = f":white_check_mark: recorded {render.when(datetime.fromisoformat(s['done_at']))}, ref `{s['reference']}`"
        elif now >= due:
            state = ":red_circle: OVERDUE" + (f" by {format_duration(now - due)}" if now > due else "")
        else:
            state = f"in {format_duration(due - now)}"
        lines.append(f"• {s['label']}: due {render.when(due)} — {state}")
    return lines
