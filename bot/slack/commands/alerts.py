"""Alerts in Slack: the opener the alert service declares with (the same open as `/incident open`),
`/incident alerts`, and the triage message's buttons.

A triage button carries only the alert group's id (or `group:incident` for the attach menu); what it acts on
is looked up here and every decision is the permission policy's: declaring and dismissing are what `open`
allows (anyone, by default), attaching needs `add_timeline` on the incident attached to (so a crafted value
naming a private incident reaches nothing its sender may not touch). A group already decided answers so.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App

from bot.app.opening import open_and_provision
from bot.core import incidents, limits
from bot.core.errors import Conflict, UsageError
from bot.core.incidents import OpenRequest
from bot.core.policy import Action
from bot.core.text import Msg
from bot.slack import interactions, pending
from bot.slack.commands import Invocation, require
from bot.slack.context import AppContext
from bot.slack.interactions import Click
from bot.slack.views import alerts as views

log = logging.getLogger(__name__)

USAGE = "/incident alerts"
DISMISS_CALLBACK = "firebreak_alert_dismiss"
REASON_MAX = 500


def list_alerts(inv: Invocation) -> None:
    if inv.args.strip():
        raise UsageError("`/incident alerts` takes no arguments (run it in the incident's channel).", usage=USAGE)
    number = inv.require_incident()
    with inv.ctx.db.session() as session:
        text, blocks = views.list_blocks(session, incidents.get(session, number))
    inv.reply(text, blocks=blocks or None)


def _group_id(value: Any) -> int:
    text = str(value or "")
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        raise pending.Stale()
    return int(text)


def _declare(click: Click) -> None:
    svc = click.ctx.alerts
    assert svc is not None
    number = svc.triage_declare(_group_id(click.value), click.user_id)
    click.reply(Msg.of(":white_check_mark: Declared INC-{n} from these alerts.", n=number))


def _attach(click: Click) -> None:
    svc = click.ctx.alerts
    assert svc is not None
    group_text, _, number_text = str(click.value or "").partition(":")
    group_id = _group_id(group_text)
    number = incidents.parse_ref(number_text) if number_text else 0
    if not number:
        raise pending.Stale()
    with click.ctx.db.session() as session:
        access = incidents.access(session, incidents.get(session, number))
    require(click.ctx, Action.ADD_TIMELINE, click.user_id, number, access, channel_id=click.channel_id)
    svc.triage_attach(group_id, number, click.user_id)
    click.reply(Msg.of(":link: Attached to INC-{n}.", n=number))


def _dismiss_form(click: Click) -> None:
    group_id = _group_id(click.value)
    if not click.trigger_id:
        raise Conflict("Slack did not send what is needed to open the form; click again.")
    token = pending.stash(click.ctx, DISMISS_CALLBACK, {"group": group_id, "channel": click.channel_id},
                          user_id=click.user_id)
    click.client.views_open(trigger_id=click.trigger_id, view={
        "type": "modal", "callback_id": DISMISS_CALLBACK, "private_metadata": token,
        "title": {"type": "plain_text", "text": "Dismiss alerts"},
        "submit": {"type": "plain_text", "text": "Dismiss"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [{"type": "input", "block_id": "reason", "label": {"type": "plain_text", "text": "Why is this not "
                                                                                                   "an incident?"},
                    "element": {"type": "plain_text_input", "action_id": "value", "multiline": True,
                                "max_length": REASON_MAX}}]})


def _reason(values: dict[str, Any]) -> str:
    raw = ((values.get("reason") or {}).get("value") or {}).get("value") or ""
    return raw if isinstance(raw, str) else ""


def _validate(values: dict[str, Any]) -> dict[str, str] | None:
    reason = _reason(values)
    if not reason.strip():
        return {"reason": "Say why these alerts are not an incident (it is kept with them)."}
    if len(reason) > REASON_MAX or any(ch in limits.CONTROL for ch in reason):
        return {"reason": f"Plain text, at most {REASON_MAX} characters."}
    return None


def _dismissed(click: Click) -> None:
    svc = click.ctx.alerts
    assert svc is not None and click.state is not None
    reason = limits.clean(_reason(click.value), REASON_MAX, "reason", required="Give a reason.")
    svc.triage_dismiss(int(click.state.payload["group"]), reason, click.user_id)
    click.reply(":wastebasket: Dismissed; the reason is kept with the alerts.")


def register(app: App, ctx: AppContext) -> None:
    views.register(ctx)
    if ctx.alerts is not None:
        def opener(req: OpenRequest) -> int:
            return open_and_provision(ctx, req, wait=0).number

        ctx.alerts.opener = opener
    ctx.commands.add("alerts", list_alerts, usage=USAGE, action=Action.VIEW, allow_resolved=True,
                     summary="the alerts attached to this incident (first signal, count, resolved)")
    interactions.button(app, ctx, views.DECLARE_ACTION, _declare, resolve=None, action=Action.OPEN)
    interactions.button(app, ctx, views.ATTACH_ACTION, _attach, resolve=None, action=None)
    interactions.button(app, ctx, views.DISMISS_ACTION, _dismiss_form, resolve=None, action=Action.OPEN)
    interactions.modal(app, ctx, DISMISS_CALLBACK, _dismissed, kind=DISMISS_CALLBACK, validate=_validate,
                       action=Action.OPEN)
