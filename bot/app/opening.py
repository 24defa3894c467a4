"""Opening an incident, shared by every way one is opened (slash command, modal, shortcut, alert, tabletop), and
the escalation notices a severity calls for.

Opening is one transaction that records the incident, its timeline and every side effect the open calls for
(create the channel, invite the reporter, post and pin the summary, announce it, link the source message);
the effects runner then does them in order where the transport needs an order (the channel before anything in
it, the summary before it is pinned) and side by side otherwise, retrying within a budget and resuming after a
crash. The reporter is told what actually happened: the channel if it is there in time, or that it is on its
way (and a direct message when it is, or when it finally could not be made). The messages named by a view
(`OPENED_VIEW`, `OUTCOME_VIEW`) are rendered by the transport when they are posted, when the channel is known.
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlmodel import Session, select

from bot.core import effects, hooks, incidents, timeline
from bot.core.escalation import targets
from bot.core.incidents import OpenRequest
from bot.core.text import Group, Link, Msg, Raw, User
from bot.store.models import Effect, Incident
from bot.store.models.effects import DONE, FAILED
from bot.store.models.tabletop import ExerciseRun
from bot.store.models.timeline import BOT_ACTOR

if TYPE_CHECKING:
    from bot.app.services import Services

log = logging.getLogger(__name__)

# How long an open waits for its channel before answering the reporter anyway (the rest follows by message).
OPEN_WAIT = 8.0
OPENED_VIEW = "incident_opened"
OUTCOME_VIEW = "open_outcome"


@dataclass(frozen=True)
class Opened:
    number: int
    channel_id: str | None
    explanation: str
    state: str          # "ready" (the channel exists), "waiting" (still being made), "failed"
    error: str | None = None

    def __iter__(self):  # (number, channel, explanation), as callers unpack it
        return iter((self.number, self.channel_id, self.explanation))


def open_and_provision(ctx: Services, req: OpenRequest, *, pages_allowed: bool | None = None,
                       wait: float | None = None) -> Opened:
    """Open the incident and record its opening sequence; wait (bounded) for its channel; say what happened."""
    with ctx.db.session() as session:
        incident = incidents.open_incident(session, ctx.clock, ctx.rules, req)
        number, now = incident.id, ctx.clock.now()
        assert number is not None
        explanation = f"{incident.sev} because " + " and ".join(incident.reasons)
        provision = effects.provision(session, number, created_at=now)
        summary = effects.summary(session, number, created_at=now)
        if req.reporter_id and req.reporter_id != BOT_ACTOR:
            effects.invite(session, number, [req.reporter_id], created_at=now, key=f"inc-{number}:invite-reporter")
        if req.source_permalink:
            effects.post(session, number, Msg.of("Opened from this message: {link}", link=Link(req.source_permalink)),
                         created_at=now, key=f"inc-{number}:source")
        effects.post(session, number, to=effects.ANNOUNCE, view=OPENED_VIEW,
                     data={"incident": number, "explanation": explanation}, created_at=now,
                     key=f"inc-{number}:announce-open")
        _escalate(ctx, session, incident, actor=req.reporter_id, initial=True, pages_allowed=pages_allowed)
        _opening(ctx, session, incident, actor=req.reporter_id)
    states = ctx.effects.wait([provision, summary], timeout=OPEN_WAIT if wait is None else wait)
    made = ctx.effects.outcome(provision)  # made here: its result names the channel (nothing to read back)
    if made is not None and made[0] == DONE and made[1].get("channel"):
        channel: str | None = str(made[1]["channel"])
        error = None
    else:
        with ctx.db.session() as session:
            channel = incidents.get(session, number).channel_id
            failure = session.get(Effect, provision) if states.get(provision) == FAILED else None
            error = failure.error if failure is not None else None
    state = "ready" if channel else ("failed" if states.get(provision) == FAILED else "waiting")
    if state == "waiting" and req.reporter_id and req.reporter_id != BOT_ACTOR:
        with ctx.db.session() as session:  # tell the reporter when the channel is there (or could not be made)
            effects.post(session, number, to=effects.user(req.reporter_id), view=OUTCOME_VIEW,
                         data={"incident": number}, after=provision, created_at=ctx.clock.now(),
                         key=f"inc-{number}:open-outcome")
    ctx.hooks.emit(hooks.OPENED, ctx=ctx, incident_id=number, actor=req.reporter_id, channel_id=channel)
    return Opened(number, channel, explanation, state, error)


def _timer_batch(ctx: Services) -> AbstractContextManager[None]:
    return ctx.timers.batch() if ctx.timers is not None else nullcontext()


def _opening(ctx: Services, session: Session, incident: Incident, *, actor: str) -> None:
    """What the features give every new incident (`hooks.OPENING`: its runbook, its timers), in the open's
    transaction. A subscriber that fails is rolled back alone (its timer changes too) and logged, and the
    incident opens without it: they run in one savepoint, and when one fails, again each in a savepoint of its
    own. Every timer change goes in one write after the commit."""
    subscribers = ctx.hooks.subscribers(hooks.OPENING)
    with _timer_batch(ctx):
        try:
            with session.begin_nested(), _timer_batch(ctx):
                for fn in subscribers:
                    fn(ctx=ctx, session=session, incident=incident, actor=actor)
            return
        except Exception:  # noqa: BLE001 - found again, and logged, below
            pass
        for fn in subscribers:
            try:
                with session.begin_nested(), _timer_batch(ctx):
                    fn(ctx=ctx, session=session, incident=incident, actor=actor)
            except Exception:  # noqa: BLE001 - a feature's failure must not stop an incident from opening
                log.exception("subscriber %s of %s failed", getattr(fn, "__qualname__", fn), hooks.OPENING)


# ----- escalation ---------------------------------------------------------------------------------------------
def may_page(session: Session, incident_id: int) -> bool:
    """May this incident invite, mention or page real people? Real incidents: yes. Tabletop exercises: only
    when their scenario set `page_real_people: true` (stored on the exercise run)."""
    incident = session.get(Incident, incident_id)
    if incident is None or not incident.is_exercise:
        return True
    run = session.exec(select(ExerciseRun).where(ExerciseRun.incident_id == incident_id)).first()
    return bool(run and run.page_real_people)


def _escalate(ctx: Services, session: Session, incident: Incident, *, actor: str, initial: bool,
              pages_allowed: bool | None) -> list[str]:
    """Record the notices for the escalation targets of the incident's current severity and category, in the
    caller's transaction. In an exercise that does not opt in to paging (scenario `page_real_people`, or the
    organization's `scheduler.page_exercises`), nobody is invited or mentioned: the channel is told who the
    path would reach (by rule, without pinging anyone) and `escalation_suppressed` is recorded."""
    assert incident.id is not None
    n, now, tag = incident.id, ctx.clock.now(), incidents.exercise_tag(incident)
    found = targets(ctx.config, ctx.rules, incident)
    if not found:
        return []
    allowed = may_page(session, n) if pages_allowed is None else pages_allowed
    allowed = allowed or (incident.is_exercise and ctx.config.scheduler.page_exercises)
    if not allowed:
        reasons = [t.reason for t in found]
        people = len(set().union(*(t.users for t in found))) + len(set().union(*(t.usergroups for t in found)))
        effects.post(session, n, Msg.of(
            tag + ":loudspeaker: In a real {sev} incident the escalation path ({why}) would now notify {count} "
            "{whom}. This exercise pages nobody real (its scenario does not set `page_real_people: true`).",
            sev=incident.sev, why="; ".join(reasons), count=people,
            whom="person or group" if people == 1 else "people or groups"), created_at=now)
        timeline.record(session, ctx.clock, n, "escalation_suppressed",
                        f"Exercise: escalation not sent ({'; '.join(reasons)})", actor=actor,
                        data={"reasons": reasons, "count": people, "initial": initial})
        return []
    notified: list[str] = []
    said: list[Msg] = []
    for target in found:
        if target.users:
            effects.invite(session, n, sorted(target.users), created_at=now)
        mentioned = [User(u) for u in sorted(target.users)] + [Group(g) for g in sorted(target.usergroups)]
        if mentioned:
            names = {f"p{i}": p for i, p in enumerate(mentioned)}
            mentions = " ".join("{" + k + "}" for k in names)
            effects.post(session, n, Msg.of(tag + ":loudspeaker: " + mentions + " — you are on the escalation path "
                                            "for this {sev} incident ({why}).", sev=incident.sev, why=target.reason,
                                            **names), created_at=now)
            notified.append(" ".join(f"@{p.id}" for p in mentioned))
            said.append(Msg.of(mentions, **names))
    if notified:
        timeline.record(session, ctx.clock, n, "escalation_notified",
                        Msg.of("Notified {who}" + (" on open" if initial else ""), who=Raw(Msg.join(said, sep=", "))),
                        actor=actor, data={"targets": notified})
    return notified


def notify_escalation(ctx: Services, incident_id: int, *, actor: str, initial: bool = False,
                      pages_allowed: bool | None = None) -> list[str]:
    with ctx.db.session() as session:
        incident = incidents.get(session, incident_id)
        return _escalate(ctx, session, incident, actor=actor, initial=initial, pages_allowed=pages_allowed)


