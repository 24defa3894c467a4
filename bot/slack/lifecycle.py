"""Flows shared by several transports (slash command, modal, shortcut, tabletop): opening an incident as a
sequence that always finishes, escalation notices, and 'after a change' refreshes.

Opening is one transaction that records the incident, its timeline and every side effect the open calls for
(create the channel, invite the reporter, post and pin the summary, announce it, link the source message);
the effects runner then does them in order where Slack needs an order (the channel before anything in it,
the summary before it is pinned) and side by side otherwise, retrying within a budget and resuming after a
crash. The reporter is told what actually happened: the channel if it is there in time, or that it is on its
way (and a direct message when it is, or when it finally could not be made).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slack_bolt import App
from sqlmodel import Session, select

from bot.core import effects, hooks, incidents, timeline
from bot.core.escalation import targets
from bot.core.incidents import OpenRequest
from bot.core.text import Channel, Group, Link, Msg, User
from bot.slack import ops
from bot.slack.context import AppContext
from bot.slack.provision import Provisioner
from bot.slack.summary import exercise_tag
from bot.slack.text import mrkdwn
from bot.store.models import Effect, Incident
from bot.store.models.effects import DONE, FAILED
from bot.store.models.tabletop import ExerciseRun
from bot.store.models.timeline import BOT_ACTOR

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


def open_and_provision(ctx: AppContext, req: OpenRequest, *, pages_allowed: bool | None = None,
                       wait: float = OPEN_WAIT) -> Opened:
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
    states = ctx.effects.wait([provision, summary], timeout=wait)
    with ctx.db.session() as session:
        row = incidents.get(session, number)
        channel = row.channel_id
        failure = session.get(Effect, provision)
        error = failure.error if failure is not None and failure.state == FAILED else None
    state = "ready" if channel else ("failed" if states.get(provision) == FAILED else "waiting")
    if state == "waiting" and req.reporter_id and req.reporter_id != BOT_ACTOR:
        with ctx.db.session() as session:  # tell the reporter when the channel is there (or could not be made)
            effects.post(session, number, to=effects.user(req.reporter_id), view=OUTCOME_VIEW,
                         data={"incident": number}, after=provision, created_at=ctx.clock.now(),
                         key=f"inc-{number}:open-outcome")
    ctx.hooks.emit(hooks.OPENED, ctx=ctx, incident_id=number, actor=req.reporter_id, channel_id=channel)
    return Opened(number, channel, explanation, state, error)


def opened_answer(result: Opened) -> Msg:
    """What the reporter is told, true to what happened."""
    head = Msg.of(":white_check_mark: Opened *INC-{n}* — {why}.", n=result.number, why=result.explanation)
    if result.state == "ready":
        return Msg.join([head, Msg.of(" Channel: {ch}.", ch=Channel(result.channel_id or ""))], sep="")
    if result.state == "failed":
        return Msg.join([head, Msg.of(" The incident is saved, but its channel could not be created ({error}). "
                                      "`/incident repair INC-{n}` tries again.", error=result.error or "Slack refused",
                                      n=result.number)], sep="")
    return Msg.join([head, Msg.of(" Slack is slow to answer: its channel is being created and you will get a "
                                  "message when it is ready.")], sep="")


# ----- views rendered when the effect runs (the channel is known by then) ------------------------------------
def opened_view(ctx: AppContext, session: Session, data: dict[str, Any]) -> tuple[str, list[dict] | None]:
    incident = session.get(Incident, data["incident"])
    if incident is None:
        return "", None
    tag = exercise_tag(incident)
    if incident.private:  # the announcements channel is public: a private incident's details stay in its channel
        msg = Msg.of(tag + ":rotating_light: A private {sev} incident {ref} was opened (details for its members "
                     "only).", sev=incident.sev, ref=incident.ref)
    else:
        where = Msg.of("{ch}", ch=Channel(incident.channel_id)) if incident.channel_id else Msg.of("no channel")
        msg = Msg.of(tag + ":rotating_light: {ref} opened by {who}: *{title}* — {why}. Channel: {where}.",
                     ref=incident.ref, who=User(incident.reporter_id), title=incident.title,
                     why=data.get("explanation") or incident.sev, where=where_value(where))
    return mrkdwn(msg), None


def where_value(msg: Msg) -> Any:
    from bot.core.text import Raw

    return Raw(msg)


def outcome_view(ctx: AppContext, session: Session, data: dict[str, Any]) -> tuple[str, list[dict] | None]:
    incident = session.get(Incident, data["incident"])
    if incident is None:
        return "", None
    if incident.channel_id:
        return mrkdwn(Msg.of(":white_check_mark: {ref}'s channel is ready: {ch}.", ref=incident.ref,
                             ch=Channel(incident.channel_id))), None
    return mrkdwn(Msg.of(":warning: {ref} is saved, but its channel could not be created. "
                         "`/incident repair {ref}` tries again.", ref=incident.ref)), None


# ----- escalation ---------------------------------------------------------------------------------------------
def may_page(session: Session, incident_id: int) -> bool:
    """May this incident invite, mention or page real people? Real incidents: yes. Tabletop exercises: only
    when their scenario set `page_real_people: true` (stored on the exercise run)."""
    incident = session.get(Incident, incident_id)
    if incident is None or not incident.is_exercise:
        return True
    run = session.exec(select(ExerciseRun).where(ExerciseRun.incident_id == incident_id)).first()
    return bool(run and run.page_real_people)


def _escalate(ctx: AppContext, session: Session, incident: Incident, *, actor: str, initial: bool,
              pages_allowed: bool | None) -> list[str]:
    """Record the notices for the escalation targets of the incident's current severity and category, in the
    caller's transaction. In an exercise that does not opt in to paging (scenario `page_real_people`, or the
    organization's `scheduler.page_exercises`), nobody is invited or mentioned: the channel is told who the
    path would reach (by rule, without pinging anyone) and `escalation_suppressed` is recorded."""
    assert incident.id is not None
    n, now, tag = incident.id, ctx.clock.now(), exercise_tag(incident)
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
    if notified:
        timeline.record(session, ctx.clock, n, "escalation_notified",
                        f"Notified {', '.join(notified)}" + (" on open" if initial else ""),
                        actor=actor, data={"targets": notified})
    return notified


def notify_escalation(ctx: AppContext, incident_id: int, *, actor: str, initial: bool = False,
                      pages_allowed: bool | None = None) -> list[str]:
    with ctx.db.session() as session:
        incident = incidents.get(session, incident_id)
        return _escalate(ctx, session, incident, actor=actor, initial=initial, pages_allowed=pages_allowed)


def after_change(ctx: AppContext, incident_id: int, channel_message: str | Msg | None) -> None:
    """Post what everyone needs to know in the incident channel, then refresh the summary and topic."""
    if channel_message:
        ops.post_in_incident(ctx, incident_id, channel_message)
    ops.refresh(ctx, incident_id)


def open_done(ctx: AppContext, effect_id: int) -> bool:
    with ctx.db.session() as session:
        row = session.get(Effect, effect_id)
        return row is not None and row.state == DONE


def register(app: App, ctx: AppContext) -> None:
    assert ctx.slack_effects is not None
    ctx.slack_effects.views[OPENED_VIEW] = opened_view
    ctx.slack_effects.views[OUTCOME_VIEW] = outcome_view
    ctx.effects.register(effects.PROVISION, Provisioner(ctx))
