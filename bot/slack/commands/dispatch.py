"""The `/incident` listener: ack at once, then parse, find the incident, ask the policy, run, answer."""

from __future__ import annotations

import difflib
import logging
import re
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.core import incidents, limits
from bot.core.errors import FirebreakError
from bot.slack.commands import Invocation, error_text, split_first
from bot.slack.context import AppContext
from bot.slack.listen import DB_DOWN, DatabaseUnavailable, after_ack
from bot.slack.text import Mrkdwn, escape, from_slack
from bot.store.models import Incident

log = logging.getLogger(__name__)

INTERNAL_ERROR = (":x: Something went wrong on firebreak's side while handling that command; it has been "
                  "logged. Check `/incident status` before retrying.")
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|([^>]*))?>")


def mentions_in(raw: str) -> dict[str, str]:
    """`@label` (as the plain text will read) -> user id, for every person mentioned in Slack's text."""
    return {"@" + (label or uid): uid for uid, label in _MENTION.findall(raw)}


def _is_ref(word: str) -> bool:
    return bool(word) and word.lower().startswith("inc") and incidents.INC_REF.match(word) is not None


def unknown_subcommand(ctx: AppContext, name: str) -> Mrkdwn:
    close = difflib.get_close_matches(name, ctx.commands.names(), n=1, cutoff=0.6)
    hint = f" Did you mean `{close[0]}`?" if close else ""
    sub = ctx.commands.get(close[0]) if close else None
    usage = f"\nUsage: `{escape(sub.usage)}`" if sub else " `/incident help` lists them all."
    return Mrkdwn(f":warning: Unknown subcommand `{escape(limits.shown(name, 30))}`.{hint}{usage}")


def run_command(ctx: AppContext, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
    raw = body.get("text") or ""
    if len(raw) > limits.COMMAND:
        respond(text=f":warning: That command is {len(raw):,} characters; the limit is {limits.COMMAND:,}. Put long "
                     "text in a file or the incident's form instead.", response_type="ephemeral")
        return
    text = from_slack(raw).strip()
    if any(ch in limits.CONTROL for ch in text):
        respond(text=":warning: That command contains control characters; type it as plain text.",
                response_type="ephemeral")
        return
    name, rest = split_first(text)
    sub = None
    try:
        ref: int | None = None
        # `/incident INC-42 status` and `/incident status INC-42` both name the incident.
        if _is_ref(name):
            ref = incidents.parse_ref(name)
            name, rest = split_first(rest)
        name = name.lower() or "help"
        sub = ctx.commands.get(name)
        if sub is None:
            respond(text=unknown_subcommand(ctx, name), response_type="ephemeral")
            return
        if ref is None and sub.incident != "none":
            first, remainder = split_first(rest)
            if _is_ref(first):
                ref = incidents.parse_ref(first)
                rest = remainder
        inv = Invocation(
            ctx=ctx, sub=sub, args=rest, user_id=body.get("user_id", ""), channel_id=body.get("channel_id", ""),
            channel_name=body.get("channel_name", ""), trigger_id=body.get("trigger_id"), client=client,
            respond=respond, mentions=mentions_in(raw),
        )
        if sub.incident != "none":
            with ctx.db.session() as session:
                incident: Incident | None
                if ref is not None:
                    incident = incidents.get(session, ref)
                else:
                    incident = incidents.by_channel(session, inv.channel_id)
                    inv.incident_from_channel = incident is not None
                if incident is not None:
                    inv.incident_id = incident.id
                    inv.access = incidents.access(session, incident)
            if sub.incident == "required":
                inv.require_incident()
        action = sub.action(inv) if callable(sub.action) else sub.action
        if action is not None and inv.incident_id is not None:
            inv.require(action)  # asked before anything else: a refusal says who may, and nothing is written
        if inv.incident_id is not None and not sub.allow_resolved:
            with ctx.db.session() as session:
                incidents.require_open(incidents.get(session, inv.incident_id))
        sub.handler(inv)
    except FirebreakError as err:
        respond(text=error_text(err, sub.usage if sub else None), response_type="ephemeral")
    except DatabaseUnavailable:
        log.warning("/incident %s: the database is unreachable", name, exc_info=True)
        respond(text=DB_DOWN, response_type="ephemeral")
    except Exception:  # noqa: BLE001 - the one place unexpected errors become an answer
        log.exception("/incident %s failed", name)
        respond(text=INTERNAL_ERROR, response_type="ephemeral")


def register(app: App, ctx: AppContext) -> None:
    @app.command("/incident")
    def incident_command(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond,
                         context: dict[str, Any]) -> None:
        ack()
        # The work goes to a work lane, once per request, so this listener is free at once for the next ack.
        after_ack(ctx, context, run_command, ctx, body, client, respond,
                  tell=lambda text: respond(text=text, response_type="ephemeral"))

    def help_handler(inv: Invocation) -> None:
        inv.reply(ctx.commands.help_text())

    ctx.commands.add("help", help_handler, usage="/incident help", summary="this list", incident="none")
