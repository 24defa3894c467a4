"""Reacting with :pushpin: to a message in an incident channel adds it to the timeline."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App
from sqlmodel import select

from bot.core import incidents, timeline
from bot.slack import ops
from bot.slack.context import AppContext
from bot.store.models import TimelineEvent

log = logging.getLogger(__name__)


def register(app: App, ctx: AppContext) -> None:
    @app.event("reaction_added")
    def on_reaction(event: dict[str, Any]) -> None:
        if event.get("reaction") != "pushpin" or (event.get("item") or {}).get("type") != "message":
            return
        channel = event["item"]["channel"]
        ts = event["item"]["ts"]
        with ctx.db.session() as session:
            incident = incidents.by_channel(session, channel)
            if incident is None or not incident.is_open:
                return
            number = incident.id
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
        with ctx.db.session() as session:
            already = session.exec(select(TimelineEvent.id, TimelineEvent.data).where(
                TimelineEvent.incident_id == number, TimelineEvent.kind == "pinned_message")).all()
            if any((data or {}).get("ts") == ts for _id, data in already):
                return
            author = message.get("user") or message.get("bot_id") or "unknown"
            timeline.record(session, ctx.clock, number, "pinned_message", message.get("text") or "(no text)",
                            actor=event.get("user", "unknown"), data={"ts": ts, "author": author})

    @app.event("reaction_removed")
    def ignore_removed() -> None:
        return None
