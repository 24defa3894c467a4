"""Wires the scheduler into the app: job functions, lifecycle hooks, reminder buttons, summary section."""

from __future__ import annotations

import logging

from slack_bolt import App

from bot.core import hooks
from bot.core.timers import incident_key
from bot.scheduler import buttons, jobs, paging, planner
from bot.scheduler.clocks import clocks_of, describe
from bot.scheduler.regimes import regimes
from bot.slack import ops, render
from bot.slack.context import AppContext

log = logging.getLogger(__name__)

JOBS = {
    "status_reminder": jobs.status_reminder,
    "sla_warning": jobs.sla_warning,
    "report_reminder": jobs.report_reminder,
    "ack_page": paging.ack_page,
    "pager_deliver": paging.pager_deliver,
}


class SchedulerService:
    """`ctx.scheduler`: what other features (tabletop, console) may ask of the scheduler."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def allow_exercise_pages(self, incident_id: int, allowed: bool = True) -> None:
        """An exercise scenario opts in to paging real people for this incident."""
        paging.allow_exercise_pages(self.ctx, incident_id, allowed)

    def plan(self, incident_id: int) -> list[str]:
        return planner.plan(self.ctx, incident_id)

    def reconcile(self) -> tuple[int, int]:
        return planner.reconcile(self.ctx)


def on_opened(ctx: AppContext, incident_id: int, **_: object) -> None:
    planner.plan(ctx, incident_id)


def on_severity(ctx: AppContext, incident_id: int, old: int, new: int, **_: object) -> None:
    said = planner.plan(ctx, incident_id, replace=True)
    if said:
        ops.post_in_incident(ctx, incident_id, f":arrows_counterclockwise: Timers re-planned for SEV{new} "
                             f"(was SEV{old}): " + "; ".join(said) + ".")


def on_role(ctx: AppContext, incident_id: int, role: str, user_id: str, **_: object) -> None:
    if role == "ic":
        paging.resolve_page(ctx, incident_id, user_id=user_id, reason=f"<@{user_id}> is incident commander")


def on_status(ctx: AppContext, incident_id: int, **_: object) -> None:
    planner.after_status(ctx, incident_id)


def on_contained(ctx: AppContext, incident_id: int, **_: object) -> None:
    planner.timers(ctx).cancel_prefix(incident_key(incident_id, planner.SLA))


def on_resolved(ctx: AppContext, incident_id: int, actor: str, **_: object) -> None:
    planner.cancel_all(ctx, incident_id)
    paging.resolve_page(ctx, incident_id, user_id=actor, reason="the incident is resolved")
    with ctx.db.session() as session:
        open_clocks = [c.regime for c in clocks_of(session, incident_id) if c.done_at is None]
    if open_clocks:
        ops.post_in_incident(ctx, incident_id, ":scales: Reminders stop with the resolution, but these reporting "
                             f"obligations are not recorded as done: {', '.join(open_clocks)}. Record each with "
                             "`/incident report-clock done <regime> <reference>`.")


def on_reopened(ctx: AppContext, incident_id: int, **_: object) -> None:
    planner.plan(ctx, incident_id)


def summary_section(ctx: AppContext, session, incident) -> list[dict]:
    rows = clocks_of(session, incident.id)
    if not rows:
        return []
    known = regimes(ctx.config)
    lines = [":scales: *Reporting deadlines (UTC)*"]
    now = ctx.clock.now()
    for row in rows:
        regime = known.get(row.regime)
        lines += describe(row, regime.label if regime else row.regime, now)
    return [render.section(chunk) for chunk in render.chunk_lines(lines)]


def register(app: App, ctx: AppContext) -> None:
    timers = ctx.timers
    for name, fn in JOBS.items():
        timers.register(name, fn)
    ctx.scheduler = SchedulerService(ctx)
    if hasattr(timers, "on_leadership"):
        timers.on_leadership.append(lambda: planner.reconcile(ctx))
    ctx.hooks.on(hooks.OPENED, on_opened)
    ctx.hooks.on(hooks.SEVERITY_CHANGED, on_severity)
    ctx.hooks.on(hooks.ROLE_ASSIGNED, on_role)
    ctx.hooks.on(hooks.STATUS_POSTED, on_status)
    ctx.hooks.on(hooks.CONTAINED, on_contained)
    ctx.hooks.on(hooks.RESOLVED, on_resolved)
    ctx.hooks.on(hooks.REOPENED, on_reopened)
    ctx.summary_sections.append(summary_section)
    buttons.register(app, ctx)
