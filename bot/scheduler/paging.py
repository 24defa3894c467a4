"""Acknowledgement paging: no incident commander within N minutes (per severity) -> post in the incident
channel and the announcements channel and call the pager; resolve the page when an IC is assigned or the
incident is resolved.

The page is one fact (`PageState.paged_at`) recorded together with everything it tells the world: the two
posts and the pager event are effects in the same transaction, so a crash at any point neither loses the page
nor sends it twice. The pager event is an effect of its own kind (`effects.PAGE`), performed by `deliver`: one
call per attempt with the incident's dedup key (so a re-sent event is the same alert at the pager), retried
with doubling backoff and reported in the incident channel, never blocking a reminder or a Slack handler.

A private incident's page in the announcements channel (and at the pager) carries no title. Exercises never
page people unless the scenario opts in (`allow_exercise_pages`) or the organization sets
`scheduler.page_exercises: true`.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlmodel import Session

from bot.app.effects import Failed, Job, Retry
from bot.core import effects, incidents, timeline
from bot.core.durations import format_duration
from bot.core.text import Channel, Msg, Raw, plain
from bot.core.timers import incident_key
from bot.scheduler import planner
from bot.scheduler.config import PagerConfig
from bot.scheduler.pager import PageEvent, PagerError, dedup_key, send
from bot.store.models import Incident, PageState
from bot.store.models.incident import RESOLVED
from bot.store.models.timeline import BOT_ACTOR

if TYPE_CHECKING:
    from bot.app.services import Services

log = logging.getLogger(__name__)

TRIGGER, RESOLVE = "trigger", "resolve"
# PageState.pager_status: whether the trigger may have reached the pager decides whether a resolve is sent.
PENDING, SENDING, TRIGGERED, FAILED, CANCELLED, RESOLVED_AT_PAGER = (
    "pending", "sending", "triggered", "failed", "cancelled", "resolved")
MAY_HAVE_REACHED = (SENDING, TRIGGERED, FAILED)


def allow_exercise_pages(ctx: Services, incident_id: int, allowed: bool = True) -> None:
    """Let this exercise incident page real people (the tabletop scenario opted in)."""
    with ctx.db.session() as session:
        state = session.get(PageState, incident_id) or PageState(incident_id=incident_id)
        state.exercise_pages_allowed = allowed
        session.add(state)


def pages_people(ctx: Services, incident: Incident, state: PageState | None) -> bool:
    """Whether a page for this incident may reach real people."""
    if not incident.is_exercise:
        return True
    return ctx.config.scheduler.page_exercises or bool(state and state.exercise_pages_allowed)


def pager_budget(cfg: PagerConfig) -> timedelta:
    """How long the pager event keeps being retried: every backoff and every call's timeout, with room."""
    waits = sum(cfg.backoff_seconds * 2 ** i for i in range(cfg.max_attempts))
    return timedelta(seconds=waits + cfg.max_attempts * cfg.timeout_seconds + 300)


def record_event(ctx: Services, session: Session, n: int, action: str) -> int:
    """The pager event as an effect; the incident's pager lane keeps a resolve after its trigger."""
    return effects.record(session, kind=effects.PAGE, lane=f"pager:{n}", payload={"action": action},
                          incident_id=n, key=incident_key(n, f"pager:{action}"), created_at=ctx.clock.now(),
                          budget=pager_budget(ctx.config.scheduler.pager))


def ack_page(ctx: Services, *, incident_id: int) -> None:
    n = incident_id
    cfg = ctx.config.scheduler
    with ctx.db.session() as session:
        incident = session.get(Incident, n)
        if (incident is None or incident.status == RESOLVED or incident.acknowledged_at is not None
                or "ic" in incidents.roles(session, n)):
            return
        state = session.get(PageState, n) or PageState(incident_id=n)
        if state.paged_at is not None:
            return  # paged already (one page per incident); what it recorded is being, or was, done
        real = pages_people(ctx, incident, state)
        pager = cfg.pager.kind if real else "none"
        now = ctx.clock.now()
        waited = format_duration(now - incident.opened_at)
        state.paged_at, state.dedup_key = now, dedup_key(n)
        state.pager_status = PENDING if pager != "none" else ("simulated" if not real else "not-configured")
        session.add(state)
        note = ("Exercise: the pager was not called (the scenario did not opt in)." if not real
                else "" if pager != "none" else "No pager is configured; announced in Slack only.")
        timeline.record(session, ctx.clock, n, "page_sent", f"Paged: no IC after {waited}. {note}".strip(),
                        actor=BOT_ACTOR, data={"dedup_key": state.dedup_key, "pager": pager, "simulated": not real})
        here = Msg.of(":pager: {ref} ({sev}) has had no incident commander for {waited}: paging on-call. *{title}* "
                      "— take it with `/incident ic @you`.", ref=incident.ref, sev=incident.sev, waited=waited,
                      title=incident.title)
        if note:
            here = Msg.join([here, Msg.of("_{note}_", note=note)])
        effects.post(session, n, here, key=incident_key(n, "page:channel"), created_at=now)
        if real and ctx.settings.announce_channel:
            effects.post(session, n, announcement(incident, waited), to=effects.ANNOUNCE,
                         key=incident_key(n, "page:announce"), created_at=now)
        if pager != "none":
            record_event(ctx, session, n, TRIGGER)


def announcement(incident: Incident, waited: str) -> Msg:
    """The page in the announcements channel. A private incident's says only what anyone may know."""
    if incident.private:
        return Msg.of(":pager: A private {sev} incident, {ref}, has had no incident commander for {waited}: paging "
                      "on-call. Its details are for the members of its channel only.", sev=incident.sev,
                      ref=incident.ref, waited=waited)
    where = Msg.of(" in {ch}", ch=Channel(incident.channel_id)) if incident.channel_id else Msg.of("")
    return Msg.of(":pager: {ref} ({sev}) has had no incident commander for {waited}: paging on-call. *{title}* — "
                  "take it with `/incident ic @you`{where}.", ref=incident.ref, sev=incident.sev, waited=waited,
                  title=incident.title, where=Raw(where))


def resolve_page(ctx: Services, n: int, *, actor: str, reason: Msg) -> None:
    """An IC took the incident (or it was resolved): no page any more, and the pager hears it is over."""
    t = planner.timers(ctx)
    t.cancel(incident_key(n, planner.PAGE))
    t.cancel(incident_key(n, f"{planner.PAGER}{TRIGGER}"))
    with ctx.db.session() as session:
        state = session.get(PageState, n)
        if state is None or state.paged_at is None or state.resolved_at is not None:
            return
        now = ctx.clock.now()
        state.resolved_at = now
        session.add(state)
        timeline.record(session, ctx.clock, n, "page_resolved", f"Page resolved: {plain(reason)}", actor=actor,
                        data={"dedup_key": state.dedup_key})
        effects.post(session, n, Msg.of(":white_check_mark: Page resolved: {reason}.", reason=Raw(reason)),
                     key=incident_key(n, "page:resolved"), created_at=now)
        if state.pager_status in (PENDING, *MAY_HAVE_REACHED):
            record_event(ctx, session, n, RESOLVE)  # after the trigger in the pager lane; it checks then


# ----- the pager effect -----------------------------------------------------------------------------------
def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None


def summary_of(incident: Incident) -> str:
    """What the pager shows. A private incident's title stays in its channel."""
    if incident.private:
        return f"{incident.ref} {incident.sev}: a private incident (details for its members) — no incident commander"
    return f"{incident.ref} {incident.sev}: {incident.title} — no incident commander"


class Deliver:
    """The handler of `effects.PAGE`: send one trigger or resolve event, or say why not."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def __call__(self, job: Job) -> dict[str, Any]:
        ctx = self.services
        n, action = job.incident_id, str(job.payload.get("action"))
        if n is None or action not in (TRIGGER, RESOLVE):
            raise Failed(f"not a pager event: {action!r}", quiet=True)
        with ctx.db.session() as session:
            incident = session.get(Incident, n)
            state = session.get(PageState, n)
            if incident is None or state is None or state.dedup_key is None:
                return {"skipped": "no page"}
            if action == TRIGGER:
                if state.resolved_at is not None:  # an IC came (or it was resolved) before this attempt
                    if state.pager_status == PENDING:
                        state.pager_status = CANCELLED  # the pager never heard of it: nothing to resolve
                        session.add(state)
                    return {"skipped": "resolved before delivery"}
                if state.pager_status in (PENDING, FAILED):
                    state.pager_status = SENDING  # from now on a resolve must follow
                    session.add(state)
            elif state.pager_status not in MAY_HAVE_REACHED:
                return {"skipped": "the trigger never reached the pager"}
            event = PageEvent(action, state.dedup_key, summary_of(incident), incident.severity, incident.ref,
                              None if incident.private else incident.channel_id)
        settings = ctx.settings
        try:  # outside any transaction: a slow pager holds no lock
            answer = send(ctx.config.scheduler.pager, event, routing_key=_secret(settings.pager_routing_key),
                          token=_secret(settings.pager_webhook_token))
        except PagerError as err:
            raise self.failed(n, action, job.attempts, str(err)) from None
        with ctx.db.session() as session:
            state = session.get(PageState, n)
            if state is not None:
                state.pager_status = TRIGGERED if action == TRIGGER else RESOLVED_AT_PAGER
                state.attempts = job.attempts
                session.add(state)
            timeline.record(session, ctx.clock, n, "pager_" + action,
                            f"Pager {action} delivered ({answer}, attempt {job.attempts})", actor=BOT_ACTOR,
                            data={"action": action, "attempt": job.attempts, "dedup_key": event.dedup_key})
            if job.attempts > 1:
                effects.post(session, n, Msg.of(":white_check_mark: The pager accepted the {action} on attempt "
                                                "{attempt}.", action=action, attempt=job.attempts),
                             key=incident_key(n, f"pager:{action}:accepted"), created_at=ctx.clock.now())
        return {"answer": answer}

    def failed(self, n: int, action: str, attempt: int, error: str) -> Retry | Failed:
        """Record the failed attempt and say so in the channel; returns what to raise: retry after the
        backoff, or give up."""
        ctx = self.services
        cfg = ctx.config.scheduler.pager
        last = attempt >= cfg.max_attempts
        wait = timedelta(seconds=cfg.backoff_seconds * (2 ** (attempt - 1)))
        with ctx.db.session() as session:
            state = session.get(PageState, n)
            if state is not None:
                state.attempts = attempt
                if last and action == TRIGGER:
                    state.pager_status = FAILED
                session.add(state)
            timeline.record(session, ctx.clock, n, "pager_failed", f"Pager {action} failed: {error} (attempt {attempt})",
                            actor=BOT_ACTOR, data={"action": action, "attempt": attempt, "error": error, "final": last})
            if last:
                times = "once" if attempt == 1 else f"{attempt} times"
                then = "Page the on-call by hand." if action == TRIGGER else "Resolve the page in the pager by hand."
                msg = Msg.of(":x: The pager {action} failed {times} ({error}); firebreak gave up. {then}",
                             action=action, times=times, error=error, then=then)
            else:
                msg = Msg.of(":warning: The pager {action} failed: {error}. Retrying in {wait} (attempt {attempt} of "
                             "{max}).", action=action, error=error, wait=format_duration(wait), attempt=attempt,
                             max=cfg.max_attempts)
            effects.post(session, n, msg, key=incident_key(n, f"pager:{action}:failed:{attempt}"),
                         created_at=ctx.clock.now())
        if last:
            return Failed(f"the pager {action} failed {attempt} time(s): {error}", quiet=True)
        return Retry(f"the pager {action} failed: {error}", after=wait.total_seconds())


def pager_deliver(ctx: Services, *, incident_id: int, action: str, attempt: int = 1) -> None:
    """A pager timer stored by an earlier version: the event becomes the effect this version performs."""
    del attempt  # the effect counts its own attempts
    if action not in (TRIGGER, RESOLVE):
        return
    with ctx.db.session() as session:
        if session.get(PageState, incident_id) is not None:
            record_event(ctx, session, incident_id, action)
