"""The reminder's buttons: Post update (a modal that posts a status update) and Snooze."""

from __future__ import annotations

import json
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.core import hooks, incidents
from bot.core.errors import FirebreakError, UsageError
from bot.scheduler import planner
from bot.scheduler.jobs import POST_UPDATE, SNOOZE
from bot.slack import ops, render
from bot.slack.context import AppContext
from bot.slack.lifecycle import after_change

STATUS_MODAL = "scheduler_status_update"
STATUS_BLOCK = "status_text"


def _tell(ctx: AppContext, client: WebClient, channel: str | None, user: str, text: str) -> None:
    if channel:
        ops.safe_call(ctx, None, "chat.postEphemeral", client.chat_postEphemeral, channel=channel, user=user,
                      text=text)


def _incident_id(value: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise UsageError("This button does not name an incident.") from None


def _open_incident(ctx: AppContext, body: dict[str, Any]) -> tuple[int, str]:
    """The open incident a reminder button names: (number, `INC-n`)."""
    n = _incident_id(body["actions"][0].get("value"))
    with ctx.db.session() as session:
        incident = incidents.get(session, n)
        incidents.require_open(incident)
        return n, incident.ref


def status_modal(incident_id: int, ref: str, channel: str | None) -> dict[str, Any]:
    return {
        "type": "modal", "callback_id": STATUS_MODAL,
        "private_metadata": json.dumps({"incident": incident_id, "channel": channel}),
        "title": {"type": "plain_text", "text": "Status update"},
        "submit": {"type": "plain_text", "text": "Post"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [{"type": "input", "block_id": STATUS_BLOCK, "label": {"type": "plain_text",
                                                                          "text": f"What is the status of {ref}?"},
                    "element": {"type": "plain_text_input", "action_id": "value", "multiline": True}}],
    }


def register(app: App, ctx: AppContext) -> None:
    @app.action(POST_UPDATE)
    def post_update(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        user = body["user"]["id"]
        channel = (body.get("channel") or {}).get("id")
        try:
            n, ref = _open_incident(ctx, body)
            ops.safe_call(ctx, n, "views.open", client.views_open, trigger_id=body["trigger_id"],
                          view=status_modal(n, ref, channel))
        except FirebreakError as err:
            _tell(ctx, client, channel, user, f":warning: {err.message}")

    @app.action(SNOOZE)
    def snooze(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        user = body["user"]["id"]
        channel = (body.get("channel") or {}).get("id")
        try:
            n, ref = _open_incident(ctx, body)
            until = planner.snooze(ctx, n)
            with ctx.db.session() as session:
                incidents.add_note(session, ctx.clock, incidents.get(session, n),
                                   f"Status reminder snoozed until {render.when(until)}", actor=user,
                                   kind="reminder_snoozed", data={"until": until.isoformat()})
            ops.post_in_incident(ctx, n, f":zzz: <@{user}> snoozed the status reminder of {ref} until "
                                 f"{render.when(until)}.")
        except FirebreakError as err:
            _tell(ctx, client, channel, user, f":warning: {err.message}")

    @app.view(STATUS_MODAL)
    def submit(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        values = view.get("state", {}).get("values", {})
        text = ((values.get(STATUS_BLOCK) or {}).get("value") or {}).get("value") or ""
        if not text.strip():
            ack(response_action="errors", errors={STATUS_BLOCK: "Write the update to post."})
            return
        meta = json.loads(view.get("private_metadata") or "{}")
        n = int(meta.get("incident", 0))
        user = body["user"]["id"]
        try:
            with ctx.db.session() as session:
                incident = incidents.get(session, n, lock=True)
                incidents.post_status(session, ctx.clock, incident, text.strip(), actor=user)
                ref = incident.ref
        except FirebreakError as err:
            ack(response_action="errors", errors={STATUS_BLOCK: err.message})
            return
        ack()
        after_change(ctx, n, f":mega: *Status update* on {ref} from <@{user}>:\n{text.strip()}")
        ctx.hooks.emit(hooks.STATUS_POSTED, ctx=ctx, incident_id=n, actor=user)
