"""The `/incident` listener: ack at once, then parse, find the incident, run the subcommand, answer."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.core import incidents
from bot.core.errors import FirebreakError
from bot.slack.commands import Invocation, error_text, split_first
from bot.slack.context import AppContext

log = logging.getLogger(__name__)

INTERNAL_ERROR = (":x: Something went wrong on firebreak's side while handling that command; it has been "
                  "logged. Check `/incident status` before retrying.")


def run_command(ctx: AppContext, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
    text = (body.get("text") or "").strip()
    name, rest = split_first(text)
    ref: int | None = None
    # `/incident INC-42 status` and `/incident status INC-42` both name the incident.
    if name and incidents.INC_REF.match(name) and name.lower().startswith("inc"):
        ref = incidents.parse_ref(name)
        name, rest = split_first(rest)
    name = name.lower() or "help"
    sub = ctx.commands.get(name)
    if sub is None:
        respond(text=f":warning: Unknown subcommand `{name}`.\n" + ctx.commands.help_text(),
                response_type="ephemeral")
        return
    if ref is None and sub.incident != "none":
        first, remainder = split_first(rest)
        if first and first.lower().startswith("inc") and incidents.INC_REF.match(first):
            ref = incidents.parse_ref(first)
            rest = remainder
    inv = Invocation(
        ctx=ctx, sub=sub, args=rest, user_id=body.get("user_id", ""), channel_id=body.get("channel_id", ""),
        channel_name=body.get("channel_name", ""), trigger_id=body.get("trigger_id"), client=client,
        respond=respond,
    )
    try:
        if sub.incident != "none":
            with ctx.db.session() as session:
                if ref is not None:
                    incident = incidents.get(session, ref)
                else:
                    incident = incidents.by_channel(session, inv.channel_id)
                    inv.incident_from_channel = incident is not None
                if incident is not None:
                    inv.incident_id = incident.id
                    if not sub.allow_resolved:
                        incidents.require_open(incident)
            if sub.incident == "required":
                inv.require_incident()
        sub.handler(inv)
    except FirebreakError as err:
        respond(text=error_text(err, sub.usage), response_type="ephemeral")
    except Exception:  # noqa: BLE001 - the one place unexpected errors become an answer
        log.exception("/incident %s failed", name)
        respond(text=INTERNAL_ERROR, response_type="ephemeral")


def register(app: App, ctx: AppContext) -> None:
    @app.command("/incident")
    def incident_command(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        # The work goes to the work lane so this listener thread is free at once for the next ack.
        ctx.lanes.submit_work(run_command, ctx, body, client, respond)

    def help_handler(inv: Invocation) -> None:
        inv.reply(ctx.commands.help_text())

    ctx.commands.add("help", help_handler, usage="/incident help", summary="this list", incident="none",
                     order=999)

