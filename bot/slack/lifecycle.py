"""Slack-facing flows shared by several transports (slash command, modal, shortcut, tabletop):
open-and-provision, escalation notices, and 'after a change' refreshes. Handlers call these after the
domain transaction has committed."""

from __future__ import annotations

from sqlmodel import Session, select

from bot.core import hooks, incidents, timeline
from bot.core.escalation import targets
from bot.core.incidents import OpenRequest
from bot.core.text import Msg
from bot.slack import ops
from bot.slack.context import AppContext
from bot.slack.summary import exercise_tag
from bot.store.models import Incident
from bot.store.models.tabletop import ExerciseRun
from bot.store.models.timeline import BOT_ACTOR


def open_and_provision(ctx: AppContext, req: OpenRequest, *, pages_allowed: bool | None = None
                       ) -> tuple[int, str | None, str]:
    """Open the incident (committed first), then create its channel, pin the summary, announce it.

    `pages_allowed`: whether the escalation path may be told (None: decided from the incident, see
    `may_page()`); a tabletop passes its scenario's opt-in, as its run row does not exist yet.
    Returns (number, channel id or None, the classification sentence).
    """
    with ctx.db.session() as session:
        incident = incidents.open_incident(session, ctx.clock, ctx.rules, req)
        number = incident.id
        explanation = f"{incident.sev} because " + " and ".join(incident.reasons)
        tag = exercise_tag(incident)
        title, private, exercise = incident.title, incident.private, incident.is_exercise
    assert number is not None
    created = ops.create_incident_channel(ctx, number, title, private=private, exercise=exercise)
    channel_id = None
    if created:
        channel_id, name = created
        with ctx.db.session() as session:
            incident = incidents.get(session, number, lock=True)
            incident.channel_id, incident.channel_name = channel_id, name
            session.add(incident)
            timeline.record(session, ctx.clock, number, "channel_created", f"Channel #{name} created",
                            actor=BOT_ACTOR, data={"channel": channel_id, "name": name, "private": private})
        if req.reporter_id and req.reporter_id != BOT_ACTOR:
            ops.safe_call(ctx, number, "conversations.invite", ctx.client.conversations_invite,
                          channel=channel_id, users=req.reporter_id)
        ops.refresh(ctx, number)
        if req.source_permalink:
            ops.post(ctx, number, channel_id, f"{tag}Opened from this message: {req.source_permalink}")
    visibility = "private channel" if private else f"<#{channel_id}>" if channel_id else "no channel"
    ops.announce(ctx, number, f"{tag}:rotating_light: INC-{number} opened by <@{req.reporter_id}>: *{title}* — "
                 f"{explanation}. Channel: {visibility}.")
    notify_escalation(ctx, number, actor=req.reporter_id, initial=True, pages_allowed=pages_allowed)
    ctx.hooks.emit(hooks.OPENED, ctx=ctx, incident_id=number, actor=req.reporter_id, channel_id=channel_id)
    return number, channel_id, explanation


def may_page(session: Session, incident_id: int) -> bool:
    """May this incident invite, mention or page real people? Real incidents: yes. Tabletop exercises: only
    when their scenario set `page_real_people: true` (stored on the exercise run)."""
    incident = session.get(Incident, incident_id)
    if incident is None or not incident.is_exercise:
        return True
    run = session.exec(select(ExerciseRun).where(ExerciseRun.incident_id == incident_id)).first()
    return bool(run and run.page_real_people)


def notify_escalation(ctx: AppContext, incident_id: int, *, actor: str, initial: bool = False,
                      pages_allowed: bool | None = None) -> list[str]:
    """Tell the configured escalation targets for the incident's current severity and category.

    In an exercise that does not opt in to paging (scenario `page_real_people`, or the organization's
    `scheduler.page_exercises`), nobody is invited or mentioned: the channel is told who the path would
    reach (by rule, without pinging anyone) and `escalation_suppressed` is recorded."""
    with ctx.db.session() as session:
        incident = incidents.get(session, incident_id)
        found = targets(ctx.config, ctx.rules, incident)
        channel, sev, tag = incident.channel_id, incident.sev, exercise_tag(incident)
        allowed = may_page(session, incident_id) if pages_allowed is None else pages_allowed
        allowed = allowed or (incident.is_exercise and ctx.config.scheduler.page_exercises)
    if found and not allowed:
        reasons = [t.reason for t in found]
        people = len(set().union(*(t.users for t in found))) + len(set().union(*(t.usergroups for t in found)))
        ops.post(ctx, incident_id, channel,
                 f"{tag}:loudspeaker: In a real {sev} incident the escalation path ({'; '.join(reasons)}) would "
                 f"now notify {people} {'person or group' if people == 1 else 'people or groups'}. This exercise "
                 "pages nobody real (its scenario does not set `page_real_people: true`).")
        with ctx.db.session() as session:
            timeline.record(session, ctx.clock, incident_id, "escalation_suppressed",
                            f"Exercise: escalation not sent ({'; '.join(reasons)})", actor=actor,
                            data={"reasons": reasons, "count": people, "initial": initial})
        return []
    notified = []
    for target in found:
        if channel and target.users:
            ops.safe_call(ctx, incident_id, "conversations.invite (escalation)", ctx.client.conversations_invite,
                          channel=channel, users=",".join(sorted(target.users)))
        mentions = target.mentions()
        if mentions:
            ops.post(ctx, incident_id, channel,
                     f"{tag}:loudspeaker: {mentions} — you are on the escalation path for this {sev} incident "
                     f"({target.reason}).")
            notified.append(mentions)
    if notified:
        with ctx.db.session() as session:
            timeline.record(session, ctx.clock, incident_id, "escalation_notified",
                            f"Notified {', '.join(notified)}" + (" on open" if initial else ""),
                            actor=actor, data={"targets": notified})
    return notified


def after_change(ctx: AppContext, incident_id: int, channel_message: str | Msg | None) -> None:
    """Post what everyone needs to know in the incident channel, then refresh the summary and topic."""
    if channel_message:
        ops.post_in_incident(ctx, incident_id, channel_message)
    ops.refresh(ctx, incident_id)
