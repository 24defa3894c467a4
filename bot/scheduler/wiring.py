"""The scheduler's domain wiring: its timer jobs, the pager effect, and what it does when incidents change.

Nothing here touches Slack: the reminder's buttons and the reporting-deadlines section of the pinned summary
are the Slack transport's (`bot.slack.views.reminders`, `bot.slack.commands.report_clock`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.core import effects, hooks
from bot.core.text import Msg, User, When
from bot.core.timers import incident_key
from bot.scheduler import jobs, paging, planner
from bot.scheduler.clocks import open_obligations
from bot.scheduler.service import SchedulerService
from bot.store.models import Incident

if TYPE_CHECKING:
    from bot.app.services import Services

log = logging.getLogger(__name__)

JOBS: dict[str, Callable[..., Any]] = {
    planner.STATUS_JOB: jobs.status_reminder,
    planner.SLA_JOB: jobs.sla_warning,
    planner.REPORT_JOB: jobs.report_reminder,
    planner.PAGE_JOB: paging.ack_page,
    "pager_deliver": paging.pager_deliver,  # timers an earlier version stored
}


def on_opening(ctx: Services, session: Any, incident: Any, **_: Any) -> None:
    planner.plan(ctx, incident.id, session=session, new_incident=True)


def on_severity(ctx: Services, incident_id: int, old: int, new: int, note_to: int | None = None, **_: Any) -> None:
    said = planner.plan(ctx, incident_id, replace=True)
    if said:
        msg = Msg.of(":arrows_counterclockwise: Timers re-planned for SEV{new} (was SEV{old}): ", new=new, old=old)
        with ctx.db.session() as session:
            effects.post(session, incident_id, msg + Msg.join(said, sep="; ") + Msg.of("."),
                         created_at=ctx.clock.now(), thread_of=note_to)


def on_role(ctx: Services, incident_id: int, role: str, user_id: str, actor: str | None = None, **_: Any) -> None:
    if role == "ic":
        paging.resolve_page(ctx, incident_id, actor=actor or user_id,
                            reason=Msg.of("{who} is incident commander", who=User(user_id)))


def on_status(ctx: Services, incident_id: int, **_: Any) -> None:
    planner.after_status(ctx, incident_id)


def on_contained(ctx: Services, incident_id: int, **_: Any) -> None:
    planner.timers(ctx).cancel_prefix(incident_key(incident_id, planner.SLA))


def on_resolved(ctx: Services, incident_id: int, actor: str, **_: Any) -> None:
    """Reminders and warnings stop; the page is resolved; reporting obligations still open are listed, and
    their reminders continue until each is recorded or waived."""
    planner.stop_response_timers(ctx, incident_id)
    paging.resolve_page(ctx, incident_id, actor=actor, reason=Msg.of("the incident is resolved"))
    with ctx.db.session() as session:
        incident = session.get(Incident, incident_id)
        still = open_obligations(session, incident_id)
        if incident is None or not still:
            return
        items = [Msg.of("{regime} ({label}, due {due})", regime=row.regime, label=stage["label"],
                        due=When(datetime.fromisoformat(stage["due"]))) for row, stage in still]
        effects.post(session, incident_id, Msg.of(
            ":scales: {ref} is resolved, but these reporting obligations are not recorded as done: ",
            ref=incident.ref) + Msg.join(items, sep="; ") + Msg.of(
            ". Their reminders continue until each is recorded (`/incident report-clock done <regime> <reference>`) "
            "or waived with a reason (`/incident report-clock waive <regime> <reason>`)."), created_at=ctx.clock.now())


def on_reopened(ctx: Services, incident_id: int, **_: Any) -> None:
    planner.plan(ctx, incident_id)


def on_exercise_clock(ctx: Services, incident_id: int, **_: Any) -> None:
    """An exercise started or resumed: its MTTC target (the scenario's) and its pauses move the warnings."""
    planner.plan_sla(ctx, incident_id)


def setup(services: Services) -> None:
    timers = services.timers
    for name, fn in JOBS.items():
        timers.register(name, fn)
    services.scheduler = SchedulerService(services)
    on_leadership = getattr(timers, "on_leadership", None)
    if on_leadership is not None:
        on_leadership.append(lambda: planner.reconcile(services))
    services.effects.register(effects.PAGE, paging.Deliver(services))
    for signal, fn in ((hooks.OPENING, on_opening), (hooks.SEVERITY_CHANGED, on_severity),
                       (hooks.ROLE_ASSIGNED, on_role), (hooks.STATUS_POSTED, on_status),
                       (hooks.CONTAINED, on_contained), (hooks.RESOLVED, on_resolved),
                       (hooks.REOPENED, on_reopened), (hooks.EXERCISE_STARTED, on_exercise_clock),
                       (hooks.EXERCISE_RESUMED, on_exercise_clock)):
        services.hooks.on(signal, fn)
