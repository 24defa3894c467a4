"""Which timers an incident needs, from its state: status reminders, the acknowledgement page, SLA warnings
and regulatory report reminders. `plan` is idempotent; `reconcile` makes the job table match reality.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime

from sqlmodel import select

from bot.core import incidents
from bot.core.durations import format_duration
from bot.core.timers import incident_key
from bot.slack import render
from bot.slack.context import AppContext
from bot.store.models import Incident, PageState, ReportClock
from bot.store.models.incident import RESOLVED

log = logging.getLogger(__name__)

REMINDER = "status-reminder"
PAGE = "ack-page"
SLA = "sla-"
REPORT = "report:"
PAGER = "pager-"
KEY = re.compile(r"^inc-(\d+):")


def timers(ctx: AppContext):
    return ctx.timers


def report_key(n: int, regime: str, stage: str, point: str) -> str:
    return incident_key(n, f"{REPORT}{regime}:{stage}:{point}")


def _set(ctx: AppContext, key: str, when: datetime, job: str, *, replace: bool, **kwargs) -> None:
    t = timers(ctx)
    if not replace and t.when(key) is not None:
        return
    t.at(key, when, job, **kwargs)


def plan(ctx: AppContext, n: int, *, replace: bool = True) -> list[str]:
    """Create (or with replace=False, only add missing) every timer incident `n` needs. Returns what was
    planned, as sentences for the channel."""
    cfg = ctx.config.scheduler
    t = timers(ctx)
    # Never touch the job store inside a session: on SQLite both take the one write lock.
    with ctx.db.session() as session:
        incident = session.get(Incident, n)
        gone = incident is None or incident.status == RESOLVED
        if gone:
            page, clocks = None, []
        else:
            page = session.get(PageState, n)
            clocks = list(session.exec(select(ReportClock).where(ReportClock.incident_id == n,
                                                                  ReportClock.done_at.is_(None))))  # type: ignore[union-attr]
    if gone:
        t.cancel_prefix(incident_key(n, ""))
        return []
    with t.batch():  # every change below is written in one transaction
        assert incident is not None
        sev, opened, last, detected = incident.severity, incident.opened_at, incident.last_status_at, incident.detected_at
        acknowledged, contained = incident.acknowledged_at, incident.contained_at
        said: list[str] = []

        cadence = cfg.cadence(sev)
        if cadence:
            due = (last or opened) + cadence
            _set(ctx, incident_key(n, REMINDER), due, "status_reminder", replace=replace, incident_id=n)
            said.append(f"status update reminders every {format_duration(cadence)} (next by {render.when(due)})")
        else:
            t.cancel(incident_key(n, REMINDER))
            said.append(f"no status update reminders at SEV{sev}")

        after = cfg.ack_after(sev)
        if acknowledged is None and (page is None or page.paged_at is None):
            if after:
                due = opened + after
                _set(ctx, incident_key(n, PAGE), due, "ack_page", replace=replace, incident_id=n)
                said.append(f"page on-call if no incident commander by {render.when(due)}")
            else:
                t.cancel(incident_key(n, PAGE))

        if contained is None:
            target = ctx.rules.mttc_target(sev)
            if replace:
                t.cancel_prefix(incident_key(n, SLA))
            points = []
            for pct in cfg.sla_warn_percent:
                due = detected + target * (pct / 100)
                _set(ctx, incident_key(n, f"{SLA}{pct}"), due, "sla_warning", replace=replace, incident_id=n,
                     percent=pct)
                points.append(f"{'breach' if pct == 100 else f'{pct}%'} at {render.when(due)}")
            said.append(f"MTTC target {format_duration(target)}: warnings " + ", ".join(points))

        now = ctx.clock.now()
        for clock in clocks:
            plan_report(ctx, n, clock, now=now, replace=replace)
        return said


def plan_report(ctx: AppContext, n: int, clock: ReportClock, *, now: datetime, replace: bool) -> None:
    """Reminders at the configured points before each open stage's deadline, and one at the deadline."""
    from bot.scheduler.regimes import reminder_times

    points = ctx.config.scheduler.report_reminders
    for stage in clock.stages:
        if stage.get("done_at"):
            continue
        due = datetime.fromisoformat(stage["due"])
        start = clock.aware_at if clock.aware_at < due else now
        for label, at in reminder_times(points, start, due):
            if at > now or not replace:
                _set(ctx, report_key(n, clock.regime, stage["stage"], label), at, "report_reminder",
                     replace=replace, incident_id=n, regime=clock.regime, stage=stage["stage"], point=label)
        _set(ctx, report_key(n, clock.regime, stage["stage"], "due"), due, "report_reminder", replace=replace,
             incident_id=n, regime=clock.regime, stage=stage["stage"], point="due")


def cancel_all(ctx: AppContext, n: int) -> None:
    timers(ctx).cancel_prefix(incident_key(n, ""))


def reconcile(ctx: AppContext) -> tuple[int, int]:
    """Add missing timers of open incidents; drop every timer of resolved or vanished incidents.

    Returns (open incidents planned, incidents whose timers were dropped).
    """
    pending = timers(ctx).pending("inc-")
    keyed = {int(m.group(1)) for tm in pending if (m := KEY.match(tm.key))}
    with ctx.db.session() as session:
        open_ids = [i.id for i in incidents.list_open(session, limit=10_000)]
        live = set(session.exec(select(Incident.id).where(Incident.id.in_(keyed),  # type: ignore[union-attr]
                                                          Incident.status != RESOLVED))) if keyed else set()
    dropped = 0
    for n in sorted(keyed - live):
        # A pending pager `resolve` outlives the incident: the pager must still hear that it is over.
        for tm in pending:
            if tm.key.startswith(incident_key(n, "")) and tm.key != incident_key(n, f"{PAGER}resolve"):
                timers(ctx).cancel(tm.key)
        dropped += 1
    for n in open_ids:
        try:
            plan(ctx, n, replace=False)
        except Exception:  # noqa: BLE001 - one incident must not stop the others
            log.exception("reconciling INC-%s failed", n)
    log.info("scheduler reconciled: %d open incident(s), dropped timers of %d", len(open_ids), dropped)
    return len(open_ids), dropped


def snooze(ctx: AppContext, n: int) -> datetime:
    until = ctx.clock.now() + ctx.config.scheduler.snooze_for()
    timers(ctx).at(incident_key(n, REMINDER), until, "status_reminder", incident_id=n)
    return until


def after_status(ctx: AppContext, n: int) -> None:
    """A status update was posted: the next reminder is one interval from now."""
    with ctx.db.session() as session:
        sev = incidents.get(session, n).severity
    cadence = ctx.config.scheduler.cadence(sev)
    if cadence:
        timers(ctx).at(incident_key(n, REMINDER), ctx.clock.now() + cadence, "status_reminder", incident_id=n)
