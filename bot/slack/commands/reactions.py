"""Reacting with :pushpin: to a message in an incident channel adds it to the timeline."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App
from sqlmodel import select

from bot.core import incidents, limits, timeline
from bot.core.policy import Action
from bot.slack import ops
from bot.slack.context import AppContext
from bot.slack.listen import after_ack
from bot.slack.text import from_slack
from bot.store.models import TimelineEvent

log = logging.getLogger(__name__)


def pin_message(ctx: AppContext, event: dict[str, Any]) -> None:
    """A :pushpin: on a message in an incident channel: the message joins the timeline, once, as it reads."""
    channel = event["item"]["channel"]
    ts = event["item"]["ts"]
    sender = event.get("user")
    user = sender if isinstance(sender, str) else "unknown"
    with ctx.db.session() as session:
        incident = incidents.by_channel(session, channel)
        if incident is None or not incident.is_open:
            return
        number = incident.id
        assert number is not None
        access = incidents.access(session, incident)
    if not ctx.policy.decide(Action.ADD_TIMELINE, user, access, ctx.directory):
        return  # a reaction is no request for an answer: nothing is added, nothing said
    resp = ops.safe_call(ctx, number, "conversations.history", ctx.client.conversations_history,
                         channel=channel, latest=ts, inclusive=True, limit=1)
    messages = (resp or {}).get("messages") or []
    message = next((m for m in messages if m.get("ts") == ts), None)
    if message is None:
        resp = ops.safe_call(ctx, number, "conversations.replies", ctx.client.conversations_replies,
                             channel=channel, ts=ts, latest=ts, inclusive=True, limit=1)
        message = next((m for m in (resp or {}).get("messages") or [] if m.get("ts") == ts), None)
    if message is None:
        return
    text = limits.shown(from_slack(message.get("text") or ""), limits.NOTE) or "(no text)"
    with ctx.db.session() as session:
        already = session.exec(select(TimelineEvent.id, TimelineEvent.data).where(
            TimelineEvent.incident_id == number, TimelineEvent.kind == "pinned_message")).all()
        if any((data or {}).get("ts") == ts for _id, data in already):
            return
        author = message.get("user") or message.get("bot_id") or "unknown"
        timeline.record(session, ctx.clock, number, "pinned_message", text, actor=user,
                        data={"ts": ts, "author": author})


def register(app: App, ctx: AppContext) -> None:
    @app.event("reaction_added")
    def on_reaction(event: dict[str, Any], context: dict[str, Any]) -> None:
        found = event.get("item")
        item = found if isinstance(found, dict) else {}
        if event.get("reaction") != "pushpin" or item.get("type") != "message":
            return
        if not isinstance(item.get("channel"), str) or not isinstance(item.get("ts"), str):
            return
        after_ack(ctx, context, pin_message, ctx, event)

    @app.event("reaction_removed")
    def ignore_removed() -> None:
        return None
