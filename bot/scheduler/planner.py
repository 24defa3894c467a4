"""Which timers an incident needs, from its state: status reminders, the acknowledgement page, SLA warnings
and regulatory report reminders. `plan` is idempotent; `reconcile` makes the job table match reality.

Resolving ends the technical response, not the legal one: a resolved incident keeps the reminders of every
reporting clock not yet recorded as done or waived, and loses every other timer of this feature.

The job store is read only outside database sessions (on SQLite both need the one write lock); writes made
inside a session are queued until it commits.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlmodel import Session, col, select

from bot.core import facts
from bot.core.durations import format_duration
from bot.core.text import Msg, When
from bot.core.timers import Timers, incident_key
from bot.scheduler.regimes import reminder_times
from bot.store.models import Incident, PageState, ReportClock
from bot.store.models.incident import RESOLVED

if TYPE_CHECKING:
    from bot.app.services import Services

log = logging.getLogger(__name__)

REMINDER = "status-reminder"
PAGE = "ack-page"
SLA = "sla-"
REPORT = "report:"
PAGER = "pager-"  # timers of an earlier version (pager calls are effects now); kept for their shim
KEY = re.compile(r"^inc-(\d+):")

STATUS_JOB, PAGE_JOB, SLA_JOB, REPORT_JOB = "status_reminder", "ack_page", "sla_warning", "report_reminder"


def timers(ctx: Services) -> Timers:
    return ctx.timers


def report_key(n: int, regime: str, stage: str, point: str) -> str:
    return incident_key(n, f"{REPORT}{regime}:{stage}:{point}")


def remind_at(ctx: Services, n: int, when: datetime) -> None:
    """(Re-)arm the status reminder; its run time rides along so the reminder it posts has a stable key."""
    timers(ctx).at(incident_key(n, REMINDER), when, STATUS_JOB, incident_id=n, due=when.isoformat())


@dataclass(frozen=True)
class _State:
    """What planning reads from the database, read in one short transaction."""

    incident: Incident
    paged: bool
    clocks: list[ReportClock]
    mttc: facts.IncidentFacts | None  # None once contained


def _read(session: Session, ctx: Services, n: int, *, new_incident: bool = False) -> _State | None:
    incident = session.get(Incident, n)
    if incident is None:
        return None
    page = None if new_incident else session.get(PageState, n)  # nobody was paged for an incident opening now
    clocks = list(session.exec(select(ReportClock).where(ReportClock.incident_id == n,
                                                          col(ReportClock.done_at).is_(None))))
    mttc = (facts.load(session, incident, ctx.rules, ctx.clock.now())
            if incident.contained_at is None and incident.status != RESOLVED else None)
    return _State(incident, page is not None and page.paged_at is not None, clocks, mttc)


def plan(ctx: Services, n: int, *, replace: bool = True, session: Session | None = None,
         new_incident: bool = False) -> list[Msg]:
    """Create (or with replace=False, only add missing) every timer incident `n` needs. Returns what was
    planned, as parts of one sentence for the channel. With `session`, the incident is read in the caller's
    transaction and the timers are written once it commits; `new_incident`: it was created in that transaction
    (it opens), so it has no timers to cancel."""
    cfg = ctx.config.scheduler
    t = timers(ctx)
    replace = replace or new_incident

    def cancel(key: str) -> None:
        if not new_incident:
            t.cancel(key)

    if session is None:
        with ctx.db.session() as own:
            state = _read(own, ctx, n)
    else:
        state = _read(session, ctx, n, new_incident=new_incident)
    if state is None:
        t.cancel_prefix(incident_key(n, ""))
        return []
    existing = set() if replace else set(t.scheduled(incident_key(n, "")))
    now = ctx.clock.now()
    incident = state.incident
    said: list[Msg] = []
    with t.batch():  # every change below is written in one transaction
        if incident.status == RESOLVED:
            stop_response_timers(ctx, n)
        else:
            cadence = cfg.cadence(incident.severity)
            if cadence:
                due = (incident.last_status_at or incident.opened_at) + cadence
                if replace or incident_key(n, REMINDER) not in existing:
                    remind_at(ctx, n, due)
                said.append(Msg.of("status update reminders every {every} (next by {at})",
                                   every=format_duration(cadence), at=When(due)))
            else:
                cancel(incident_key(n, REMINDER))
                said.append(Msg.of("no status update reminders at SEV{sev}", sev=incident.severity))

            after = cfg.ack_after(incident.severity)
            if incident.acknowledged_at is None and not state.paged:
                if after:
                    due = incident.opened_at + after
                    if replace or incident_key(n, PAGE) not in existing:
                        t.at(incident_key(n, PAGE), due, PAGE_JOB, incident_id=n)
                    said.append(Msg.of("page on-call if no incident commander by {at}", at=When(due)))
                else:
                    cancel(incident_key(n, PAGE))

            if state.mttc is not None:
                said.append(_plan_sla(ctx, n, state.mttc, replace=replace, existing=existing,
                                      cancel=not new_incident))
        for clock in state.clocks:
            plan_report(ctx, n, clock, now=now, replace=replace, existing=existing)
    return said


def sla_points(ctx: Services, f: facts.IncidentFacts) -> list[tuple[int, datetime | None]]:
    """Each warning point (percent of the MTTC target) with the moment it falls: the target is the exercise
    scenario's or the rubric's, and paused exercise time does not count (None while a pause stops the clock)."""
    return [(pct, facts.deadline(f.mttc.start, f.target.duration * (pct / 100), f.pauses))
            for pct in ctx.config.scheduler.sla_warn_percent]


def _plan_sla(ctx: Services, n: int, f: facts.IncidentFacts, *, replace: bool, existing: set[str],
              cancel: bool = True) -> Msg:
    t = timers(ctx)
    if replace and cancel:
        t.cancel_prefix(incident_key(n, SLA))
    points: list[Msg] = []
    for pct, due in sla_points(ctx, f):
        if due is None:
            continue  # paused: the exercise's resumption plans it again
        key = incident_key(n, f"{SLA}{pct}")
        if replace or key not in existing:
            t.at(key, due, SLA_JOB, incident_id=n, percent=pct)
        points.append(Msg.of("{point} at {at}", point="breach" if pct == 100 else f"{pct}%", at=When(due)))
    head = Msg.of("MTTC target {target}", target=format_duration(f.target.duration))
    if not points:
        return head + Msg.of(": no warnings while the exercise is paused")
    return head + Msg.of(": warnings ") + Msg.join(points, sep=", ")


def plan_sla(ctx: Services, n: int) -> None:
    """Plan the SLA warnings again (an exercise's clock started or resumed: its target and pauses changed)."""
    with ctx.db.session() as session:
        state = _read(session, ctx, n)
    if state is None or state.mttc is None:
        return
    with timers(ctx).batch():
        _plan_sla(ctx, n, state.mttc, replace=True, existing=set())


def plan_report(ctx: Services, n: int, clock: ReportClock, *, now: datetime, replace: bool,
                existing: set[str] | None = None) -> None:
    """Reminders at the configured points before each open stage's deadline, and one at the deadline."""
    points = ctx.config.scheduler.report_reminders
    t = timers(ctx)

    def put(point: str, at: datetime, stage: str) -> None:
        key = report_key(n, clock.regime, stage, point)
        if replace or existing is None or key not in existing:
            t.at(key, at, REPORT_JOB, incident_id=n, regime=clock.regime, stage=stage, point=point)

    for stage in clock.stages:
        if stage.get("done_at") or stage.get("waived_at"):
            continue
        due = datetime.fromisoformat(stage["due"])
        start = clock.aware_at if clock.aware_at < due else now
        for label, at in reminder_times(points, start, due):
            if at > now or not replace:
                put(label, at, stage["stage"])
        put("due", due, stage["stage"])


def stop_response_timers(ctx: Services, n: int) -> None:
    """Resolution stops status reminders, the page and the SLA warnings; reporting clocks keep their reminders."""
    t = timers(ctx)
    with t.batch():
        t.cancel(incident_key(n, REMINDER))
        t.cancel(incident_key(n, PAGE))
        t.cancel_prefix(incident_key(n, SLA))


def cancel_all(ctx: Services, n: int) -> None:
    timers(ctx).cancel_prefix(incident_key(n, ""))


def reconcile(ctx: Services) -> tuple[int, int]:
    """Add missing timers of open incidents and of resolved ones with reporting obligations still open; drop
    every other timer of resolved or vanished incidents.

    Returns (incidents planned, incidents whose timers were dropped).
    """
    t = timers(ctx)
    pending = t.scheduled("inc-")
    keyed = {int(m.group(1)) for key in pending if (m := KEY.match(key))}
    with ctx.db.session() as session:
        open_ids = {i for i in session.exec(select(Incident.id).where(Incident.status != RESOLVED)) if i is not None}
        obligations = set(session.exec(
            select(ReportClock.incident_id).where(col(ReportClock.done_at).is_(None))))
    planned = sorted(open_ids | obligations)
    dropped = 0
    with t.batch():
        for n in sorted(keyed - open_ids):
            keep = incident_key(n, REPORT) if n in obligations else None
            gone = [k for k in pending if k.startswith(incident_key(n, "")) and not (keep and k.startswith(keep))]
            for key in gone:
                t.cancel(key)
            dropped += bool(gone)
    for n in planned:
        try:
            plan(ctx, n, replace=False)
        except Exception:  # noqa: BLE001 - one incident must not stop the others
            log.exception("reconciling INC-%s failed", n)
    log.info("scheduler reconciled: %d incident(s) planned, dropped timers of %d", len(planned), dropped)
    return len(planned), dropped


def after_status(ctx: Services, n: int) -> None:
    """A status update was posted: the next reminder is one interval from now."""
    with ctx.db.session() as session:
        incident = session.get(Incident, n)
        sev = incident.severity if incident is not None else None
    cadence = ctx.config.scheduler.cadence(sev) if sev is not None else None
    if cadence:
        remind_at(ctx, n, ctx.clock.now() + cadence)
