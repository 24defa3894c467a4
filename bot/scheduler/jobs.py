"""The timer jobs. Each is a module-level function `fn(ctx, **json_kwargs)` that reloads the incident and
acts only if still relevant, so a job restored after a restart, re-queued after a crash, or fired late
(coalesced misfire) does the right thing once. A job whose incident vanished is dropped.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlmodel import select

from bot.core import incidents, timeline
from bot.core.durations import format_duration
from bot.core.errors import NotFound
from bot.core.timers import incident_key
from bot.scheduler import planner
from bot.scheduler.regimes import reminder_times
from bot.slack import ops, render
from bot.slack.context import AppContext
from bot.store.models import Incident, ReportClock
from bot.store.models.incident import RESOLVED
from bot.store.models.timeline import BOT_ACTOR

log = logging.getLogger(__name__)

POST_UPDATE = "scheduler_post_update"
SNOOZE = "scheduler_snooze"


def load_open(ctx: AppContext, session, n: int) -> Incident | None:
    try:
        incident = incidents.get(session, n)
    except NotFound:
        log.warning("timer for INC-%s dropped: the incident no longer exists", n)
        return None
    return None if incident.status == RESOLVED else incident


def ic_mention(session, n: int) -> str:
    ic = incidents.roles(session, n).get("ic")
    return f"<@{ic}>" if ic else "No incident commander yet"


def status_reminder(ctx: AppContext, *, incident_id: int) -> None:
    n = incident_id
    with ctx.db.session() as session:
        incident = load_open(ctx, session, n)
        if incident is None:
            return
        cadence = ctx.config.scheduler.cadence(incident.severity)
        if cadence is None:
            return
        now = ctx.clock.now()
        last = incident.last_status_at or incident.opened_at
        early = now - last < cadence  # someone posted an update meanwhile: remind one interval after it
        if not early:
            who, ref, sev = ic_mention(session, n), incident.ref, incident.sev
            since = "since it opened" if incident.last_status_at is None else "in"
            text = (f":hourglass: {who}: no status update on {ref} {since} {format_duration(now - last)} "
                    f"({sev} cadence: every {format_duration(cadence)}).")
            timeline.record(session, ctx.clock, n, "reminder_posted", f"Status update reminder ({sev})",
                            actor=BOT_ACTOR,
                            data={"purpose": "status", "cadence_seconds": int(cadence.total_seconds())})
    # The job store is touched only outside the session (on SQLite both need the one write lock).
    if early:
        planner.timers(ctx).at(incident_key(n, planner.REMINDER), last + cadence, "status_reminder",
                               incident_id=n)
        return
    snooze = format_duration(ctx.config.scheduler.snooze_for())
    blocks = [render.section(text),
              {"type": "actions", "block_id": f"reminder-{n}", "elements": [
                  render.button("Post update", POST_UPDATE, str(n), style="primary"),
                  render.button(f"Snooze {snooze}", SNOOZE, str(n))]}]
    # Re-arm first: a Slack failure must not end the reminders.
    planner.timers(ctx).at(incident_key(n, planner.REMINDER), ctx.clock.now() + cadence, "status_reminder",
                           incident_id=n)
    ops.post_in_incident(ctx, n, text, blocks)


def sla_warning(ctx: AppContext, *, incident_id: int, percent: int) -> None:
    n = incident_id
    cfg = ctx.config.scheduler
    with ctx.db.session() as session:
        incident = load_open(ctx, session, n)
        if incident is None or incident.contained_at is not None:
            return
        target = ctx.rules.mttc_target(incident.severity)
        now = ctx.clock.now()
        at = incident.detected_at + target * (percent / 100)
        if now < at:  # the target grew (downgrade) since this was planned
            postpone = at
        else:
            postpone = None
    if postpone is not None:
        planner.timers(ctx).at(incident_key(n, f"{planner.SLA}{percent}"), postpone, "sla_warning",
                               incident_id=n, percent=percent)
        return
    with ctx.db.session() as session:
        incident = load_open(ctx, session, n)
        if incident is None:
            return
        later = [p for p in cfg.sla_warn_percent if p > percent and incident.detected_at + target * (p / 100) <= now]
        if later:  # coalesce: a later warning is also due and says more
            return
        target_s = int(target.total_seconds())
        for e in timeline.events(session, n, kinds=["sla_warning"]):
            if e.data.get("percent") == percent and e.data.get("target_seconds") == target_s:
                return
        ic = incidents.roles(session, n).get("ic")
        elapsed = now - incident.detected_at
        ref, sev = incident.ref, incident.sev
        if percent >= 100:
            text = (f":rotating_light: {ref} has breached its {sev} MTTC target of {format_duration(target)}: "
                    f"{format_duration(elapsed)} since detection and not contained.")
        else:
            text = (f":warning: {ref} is at {percent}% of its {sev} MTTC target ({format_duration(elapsed)} of "
                    f"{format_duration(target)}); contain by {render.when(incident.detected_at + target)}.")
        timeline.record(session, ctx.clock, n, "sla_warning", text, actor=BOT_ACTOR,
                        data={"percent": percent, "target_seconds": target_s, "severity": incident.severity})
    ops.post_in_incident(ctx, n, (f"<@{ic}> " if ic else "") + text)
    if ic:
        prefix = "[EXERCISE] " if incident.is_exercise else ""
        ops.post(ctx, n, ic, prefix + text, what="chat.postMessage (SLA warning to the IC)")


def report_reminder(ctx: AppContext, *, incident_id: int, regime: str, stage: str, point: str) -> None:
    n = incident_id
    with ctx.db.session() as session:
        incident = load_open(ctx, session, n)
        if incident is None:
            return
        clock = session.exec(select(ReportClock).where(ReportClock.incident_id == n,
                                                       ReportClock.regime == regime)).first()
        if clock is None or clock.done_at is not None:
            return
        entry = next((s for s in clock.stages if s["stage"] == stage), None)
        if entry is None or entry.get("done_at"):
            return
        due = datetime.fromisoformat(entry["due"])
        now = ctx.clock.now()
        if point != "due":
            if now >= due:
                return  # the deadline notice speaks instead
            start = clock.aware_at if clock.aware_at < due else clock.started_at
            later = [label for label, at in reminder_times(ctx.config.scheduler.report_reminders, start, due)
                     if label != point and at <= now and at > _point_time(ctx, start, due, point)]
            if later:
                return  # coalesce missed points into the latest one
        for e in timeline.events(session, n, kinds=["reminder_posted"]):
            d = e.data
            if d.get("purpose") == "report" and (d.get("regime"), d.get("stage"), d.get("point")) == (regime, stage, point):
                return
        who = ic_mention(session, n)
        label = entry.get("label") or stage
        done = f"`/incident report-clock done {regime} <reference>`"
        if point == "due":
            text = (f":alarm_clock: {who}: the {clock_title(ctx, regime)} deadline ({label}) for {incident.ref} "
                    f"passed at {render.when(due)} with no report recorded. Report now, then record it: {done}.")
        else:
            text = (f":alarm_clock: {who}: {clock_title(ctx, regime)} — {label} for {incident.ref} is due "
                    f"{render.when(due)} (in {format_duration(due - now)}). When sent, record it: {done}.")
        timeline.record(session, ctx.clock, n, "reminder_posted", text, actor=BOT_ACTOR,
                        data={"purpose": "report", "regime": regime, "stage": stage, "point": point})
    ops.post_in_incident(ctx, n, text)
    if point == "due":
        ops.refresh(ctx, n)  # the pinned summary now shows the deadline as overdue


def _point_time(ctx: AppContext, start: datetime, due: datetime, point: str) -> datetime:
    for label, at in reminder_times(ctx.config.scheduler.report_reminders, start, due):
        if label == point:
            return at
    return start


def clock_title(ctx: AppContext, regime: str) -> str:
    from bot.scheduler.regimes import regimes

    found = regimes(ctx.config).get(regime)
    return found.label if found else regime
