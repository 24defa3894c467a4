"""Slack side effects of the lifecycle. A failed Slack call never loses the incident or its timeline:
the failure is recorded on the timeline (without secrets) and the flow carries on."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from slack_sdk.errors import SlackApiError, SlackClientError

from bot.core import effects, timeline
from bot.core.text import Msg
from bot.slack.context import AppContext
from bot.store.models import Incident
from bot.store.models.timeline import BOT_ACTOR

log = logging.getLogger(__name__)

MAX_CHANNEL_NAME = 80
# Answers that mean "it is already as you want it": not failures worth recording.
ALREADY_DONE = {"already_in_channel", "already_pinned", "cant_invite_self"}
_SLUG_BAD = re.compile(r"[^a-z0-9_-]+")


def slugify(title: str, max_len: int) -> str:
    slug = _SLUG_BAD.sub("-", title.lower()).strip("-_")
    slug = re.sub(r"-{2,}", "-", slug)
    return slug[:max_len].rstrip("-_") or "incident"


def channel_name(number: int, title: str, *, exercise: bool = False, suffix: str = "") -> str:
    """`inc-<n>-<slug>`: lowercase letters, digits, hyphens and underscores, at most 80 characters."""
    prefix = f"inc-{number}-" + ("exercise-" if exercise else "")
    room = MAX_CHANNEL_NAME - len(prefix) - len(suffix)
    return prefix + slugify(title, max(room, 1)) + suffix


def slack_error_text(err: Exception) -> str:
    if isinstance(err, SlackApiError):
        return str(err.response.get("error") or "unknown_error")
    return type(err).__name__


def safe_call(ctx: AppContext, incident_id: int | None, what: str, fn: Callable[..., Any], /,
              **kwargs: Any) -> Any | None:
    """Call a Slack method; on failure (after the client's own retries) record it and return None."""
    try:
        return fn(**kwargs)
    except (SlackApiError, SlackClientError, OSError) as err:
        error = slack_error_text(err)
        if error in ALREADY_DONE:
            return None
        log.warning("Slack %s failed for INC-%s: %s", what, incident_id, error)
        if incident_id is not None:
            with ctx.db.session() as session:
                timeline.record(session, ctx.clock, incident_id, "slack_error", f"Slack {what} failed: {error}",
                                actor=BOT_ACTOR, data={"what": what, "error": error})
        return None


def create_incident_channel(ctx: AppContext, incident_id: int, title: str, *, private: bool,
                            exercise: bool) -> tuple[str, str] | None:
    """Create the channel, adding a suffix when the name is taken. Returns (id, name) or None."""
    last_error = ""
    for attempt in range(6):
        suffix = "" if attempt == 0 else f"-{attempt + 1}"
        name = channel_name(incident_id, title, exercise=exercise, suffix=suffix)
        try:
            resp = ctx.client.conversations_create(name=name, is_private=private)
            channel = resp["channel"]
            return channel["id"], channel["name"]
        except SlackApiError as err:
            last_error = slack_error_text(err)
            if last_error != "name_taken":
                break
        except (SlackClientError, OSError) as err:
            last_error = slack_error_text(err)
            break
    with ctx.db.session() as session:
        timeline.record(session, ctx.clock, incident_id, "slack_error",
                        f"Slack conversations.create failed: {last_error}", actor=BOT_ACTOR,
                        data={"what": "conversations.create", "error": last_error})
    return None


def post_now(ctx: AppContext, incident_id: int | None, channel: str | None, text: str,
             blocks: list[dict] | None = None, what: str = "chat.postMessage") -> str | None:
    """Post at once and return the ts (callers that must keep the message's ts before they go on)."""
    if not channel:
        return None
    kwargs: dict[str, Any] = {"channel": channel, "text": text}
    if blocks:
        kwargs["blocks"] = blocks
    resp = safe_call(ctx, incident_id, what, ctx.client.chat_postMessage, **kwargs)
    return resp["ts"] if resp else None


def _record(ctx: AppContext, incident_id: int | None, to: str, text: str | Msg, blocks: list[dict] | None) -> None:
    """Record a message in the effects ledger; the runner posts it after the commit. A `Msg` is rendered by the
    boundary; a `str` is taken as already-safe mrkdwn built by firebreak's own code."""
    with ctx.db.session() as session:
        if isinstance(text, Msg):
            effects.post(session, incident_id, text, to=to, created_at=ctx.clock.now())
            return
        effects.record(session, kind=effects.POST, lane=effects.lane_of(to, incident_id),
                       payload={"to": to, "text": text, **({"blocks": blocks} if blocks else {})},
                       incident_id=incident_id, created_at=ctx.clock.now())


def post(ctx: AppContext, incident_id: int | None, channel: str | None, text: str,
         blocks: list[dict] | None = None, what: str = "chat.postMessage") -> None:
    """Post a message in a channel (through the effects ledger: exactly once, in order, retried)."""
    if not channel:
        return
    to = effects.channel(channel)
    if incident_id is not None:
        with ctx.db.session() as session:
            incident = session.get(Incident, incident_id)
            if incident is not None and incident.channel_id == channel:
                to = effects.INCIDENT  # in the incident's own lane, in order with its other messages
    _record(ctx, incident_id, to, text, blocks)


def post_in_incident(ctx: AppContext, incident_id: int, text: str | Msg, blocks: list[dict] | None = None) -> None:
    _record(ctx, incident_id, effects.INCIDENT, text, blocks)


def announce(ctx: AppContext, incident_id: int, text: str | Msg, blocks: list[dict] | None = None) -> None:
    if ctx.settings.announce_channel:
        _record(ctx, incident_id, effects.ANNOUNCE, text, blocks)


def refresh(ctx: AppContext, incident_id: int) -> None:
    """Bring the pinned summary and the channel topic up to date with the database (after the commit)."""
    with ctx.db.session() as session:
        effects.summary(session, incident_id, created_at=ctx.clock.now())
