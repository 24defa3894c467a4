"""Acknowledgement paging: no incident commander within N minutes (per severity) -> post in the
announcements channel and call the pager; resolve the page when an IC is assigned.

Pager calls run as their own timers (`pager_deliver`), one attempt each, retried with doubling backoff
and reported in the incident channel; the page announcement and every reminder go out regardless.
Exercises never page people unless the scenario opts in (`allow_exercise_pages`) or the organization
sets `scheduler.page_exercises: true`.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from bot.core import incidents, timeline
from bot.core.durations import format_duration
from bot.core.timers import incident_key
from bot.scheduler import planner
from bot.scheduler.jobs import load_open
from bot.scheduler.pager import PageEvent, PagerError, dedup_key, send
from bot.slack import ops
from bot.slack.context import AppContext
from bot.store.models import Incident, PageState
from bot.store.models.timeline import BOT_ACTOR

log = logging.getLogger(__name__)


def allow_exercise_pages(ctx: AppContext, incident_id: int, allowed: bool = True) -> None:
    """Let this exercise incident page real people (the tabletop scenario opted in)."""
    with ctx.db.session() as session:
        state = session.get(PageState, incident_id) or PageState(incident_id=incident_id)
        state.exercise_pages_allowed = allowed
        session.add(state)


def pages_people(ctx: AppContext, incident: Incident, state: PageState | None) -> bool:
    """Whether a page for this incident may reach real people."""
    if not incident.is_exercise:
        return True
    return ctx.config.scheduler.page_exercises or bool(state and state.exercise_pages_allowed)


def ack_page(ctx: AppContext, *, incident_id: int) -> None:
    n = incident_id
    cfg = ctx.config.scheduler
    with ctx.db.session() as session:
        incident = load_open(ctx, session, n)
        if incident is None or incident.acknowledged_at is not None or "ic" in incidents.roles(session, n):
            return
        state = session.get(PageState, n) or PageState(incident_id=n)
        if state.paged_at is not None:
            return  # already paged once: exactly one page per incident
        real = pages_people(ctx, incident, state)
        pager = cfg.pager.kind if real else "none"
        waited = ctx.clock.now() - incident.opened_at
        state.paged_at, state.dedup_key = ctx.clock.now(), dedup_key(n)
        state.pager_status = "pending" if pager != "none" else ("simulated" if not real else "not-configured")
        session.add(state)
        ref, sev, title, channel = incident.ref, incident.sev, incident.title, incident.channel_id
        where = f" in <#{channel}>" if channel and not incident.private else ""
        text = (f":pager: {ref} ({sev}) has had no incident commander for {format_duration(waited)}: paging on-call. "
                f"*{title}* — take it with `/incident ic @you`{where}.")
        note = ("Exercise: the pager was not called (the scenario did not opt in)." if not real
                else "" if pager != "none" else "No pager is configured; announced in Slack only.")
        timeline.record(session, ctx.clock, n, "page_sent", f"Paged: no IC after {format_duration(waited)}. {note}".strip(),
                        actor=BOT_ACTOR, data={"dedup_key": state.dedup_key, "pager": pager, "simulated": not real})
    if real:
        ops.announce(ctx, n, text)
    ops.post_in_incident(ctx, n, text + (f"\n_{note}_" if note else ""))
    if pager != "none":
        planner.timers(ctx).at(incident_key(n, f"{planner.PAGER}trigger"), ctx.clock.now(), "pager_deliver",
                               incident_id=n, action="trigger", attempt=1)


def pager_deliver(ctx: AppContext, *, incident_id: int, action: str, attempt: int) -> None:
    """One attempt to deliver a trigger or resolve event; schedules the next attempt on failure."""
    n = incident_id
    cfg = ctx.config.scheduler.pager
    with ctx.db.session() as session:
        incident = session.get(Incident, n)
        state = session.get(PageState, n)
        if incident is None or state is None or state.dedup_key is None:
            return
        if action == "trigger" and state.pager_status not in ("pending", "failed"):
            return  # resolved or cancelled meanwhile
        if action == "resolve" and state.pager_status not in ("triggered", "resolving"):
            return
        event = PageEvent(action, state.dedup_key, f"{incident.ref} {incident.sev}: {incident.title} — no incident "
                          "commander", incident.severity, incident.ref, incident.channel_id)
    settings = ctx.settings
    try:
        answer = send(cfg, event, routing_key=_secret(settings.pager_routing_key),
                      token=_secret(settings.pager_webhook_token))
    except PagerError as err:
        _failed(ctx, n, action, attempt, str(err))
        return
    with ctx.db.session() as session:
        state = session.get(PageState, n)
        if state is not None:
            state.pager_status = "triggered" if action == "trigger" else "resolved"
            state.attempts = attempt
            session.add(state)
        timeline.record(session, ctx.clock, n, "pager_" + action, f"Pager {action} delivered ({answer}, attempt {attempt})",
                        actor=BOT_ACTOR, data={"action": action, "attempt": attempt, "dedup_key": event.dedup_key})
    if attempt > 1:
        ops.post_in_incident(ctx, n, f":white_check_mark: The pager accepted the {action} on attempt {attempt}.")


def _failed(ctx: AppContext, n: int, action: str, attempt: int, error: str) -> None:
    cfg = ctx.config.scheduler.pager
    last = attempt >= cfg.max_attempts
    wait = timedelta(seconds=cfg.backoff_seconds * (2 ** (attempt - 1)))
    with ctx.db.session() as session:
        state = session.get(PageState, n)
        if state is not None:
            if action == "trigger":
                state.pager_status = "failed"
            state.attempts = attempt
            session.add(state)
        timeline.record(session, ctx.clock, n, "pager_failed", f"Pager {action} failed: {error} (attempt {attempt})",
                        actor=BOT_ACTOR, data={"action": action, "attempt": attempt, "error": error, "final": last})
    if last:
        times = "once" if attempt == 1 else f"{attempt} times"
        text = (f":x: The pager {action} failed {times} ({error}); firebreak gave up. "
                + ("Page the on-call by hand." if action == "trigger" else "Resolve the page in the pager by hand."))
    else:
        text = (f":warning: The pager {action} failed: {error}. Retrying in {format_duration(wait)} "
                f"(attempt {attempt} of {cfg.max_attempts}).")
        planner.timers(ctx).at(incident_key(n, f"{planner.PAGER}{action}"), ctx.clock.now() + wait, "pager_deliver",
                               incident_id=n, action=action, attempt=attempt + 1)
    ops.post_in_incident(ctx, n, text)


def _secret(value) -> str | None:
    return value.get_secret_value() if value is not None else None


def resolve_page(ctx: AppContext, n: int, *, user_id: str | None, reason: str) -> None:
    """An IC took the incident (or it was resolved): stop paging and resolve the pager incident."""
    t = planner.timers(ctx)
    t.cancel(incident_key(n, planner.PAGE))
    t.cancel(incident_key(n, f"{planner.PAGER}trigger"))
    with ctx.db.session() as session:
        state = session.get(PageState, n)
        if state is None or state.paged_at is None or state.resolved_at is not None:
            return
        state.resolved_at = ctx.clock.now()
        delivered = state.pager_status == "triggered"
        state.pager_status = "resolving" if delivered else "cancelled"
        session.add(state)
        timeline.record(session, ctx.clock, n, "page_resolved", f"Page resolved: {reason}", actor=user_id or BOT_ACTOR,
                        data={"dedup_key": state.dedup_key})
    if delivered:
        t.at(incident_key(n, f"{planner.PAGER}resolve"), ctx.clock.now(), "pager_deliver", incident_id=n,
             action="resolve", attempt=1)
    ops.post_in_incident(ctx, n, f":white_check_mark: Page resolved: {reason}.")
