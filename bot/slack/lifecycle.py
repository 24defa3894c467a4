"""The Slack side of opening an incident (bot.app.opening records it): the reporter's answer, the views rendered
when the opening's messages are posted, and 'after a change' refreshes."""

from __future__ import annotations

from typing import Any

from slack_bolt import App
from sqlmodel import Session

from bot.app.opening import OPENED_VIEW, OUTCOME_VIEW, Opened
from bot.core import effects
from bot.core.incidents import exercise_tag
from bot.core.text import Channel, Msg, Raw, User
from bot.slack import ops
from bot.slack.context import AppContext
from bot.slack.provision import Provisioner
from bot.slack.text import mrkdwn
from bot.store.models import Incident


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
                     why=data.get("explanation") or incident.sev, where=Raw(where))
    return mrkdwn(msg), None


def outcome_view(ctx: AppContext, session: Session, data: dict[str, Any]) -> tuple[str, list[dict] | None]:
    incident = session.get(Incident, data["incident"])
    if incident is None:
        return "", None
    if incident.channel_id:
        return mrkdwn(Msg.of(":white_check_mark: {ref}'s channel is ready: {ch}.", ref=incident.ref,
                             ch=Channel(incident.channel_id))), None
    return mrkdwn(Msg.of(":warning: {ref} is saved, but its channel could not be created. "
                         "`/incident repair {ref}` tries again.", ref=incident.ref)), None


def after_change(ctx: AppContext, incident_id: int, channel_message: str | Msg | None) -> None:
    """Post what everyone needs to know in the incident channel, then refresh the summary and topic."""
    if channel_message:
        ops.post_in_incident(ctx, incident_id, channel_message)
    ops.refresh(ctx, incident_id)


def register(app: App, ctx: AppContext) -> None:
    assert ctx.slack_effects is not None
    ctx.slack_effects.views[OPENED_VIEW] = opened_view
    ctx.slack_effects.views[OUTCOME_VIEW] = outcome_view
    ctx.effects.register(effects.PROVISION, Provisioner(ctx))
