"""Buttons, menus and modals: one way to register them, so every click is checked the same way.

`button(...)` and `modal(...)` register a listener that acknowledges at once and does the work on a lane,
once per request. What the click acts on is looked up on the server — from a pending-action token
(`bot.slack.pending`) or a row id the feature resolves — never taken from the payload; the permission policy
is asked again about the person who clicked, against the incident found on the server. A payload with missing
keys, wrong types, or an id that names nothing current gets "this button is out of date" (never a 5xx, never
a held ack); a refusal says who may and how.

`catch_all(app, ctx)` is registered last: an action, a view or a shortcut nobody handles is acknowledged and
answered the same way, and an event nobody subscribes to is acknowledged.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.app.lanes import COMMANDS
from bot.core import incidents
from bot.core.errors import FirebreakError, NotFound
from bot.core.policy import AccessFacts, Action
from bot.core.text import Msg
from bot.slack import pending
from bot.slack.commands import error_text, require
from bot.slack.context import AppContext
from bot.slack.listen import DB_DOWN, DatabaseUnavailable, after_ack
from bot.slack.text import Mrkdwn, mrkdwn
from bot.store.models import PendingAction

log = logging.getLogger(__name__)

OUT_OF_DATE = Mrkdwn(":warning: " + pending.OUT_OF_DATE)


@dataclass
class Click:
    """One click or submission, after the lookup and the policy check."""

    ctx: AppContext
    body: dict[str, Any]
    client: WebClient
    user_id: str
    channel_id: str | None
    trigger_id: str | None
    value: Any
    state: PendingAction | None = None
    incident_id: int | None = None
    access: AccessFacts | None = None
    respond: Callable[..., Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def reply(self, text: str | Msg | Mrkdwn, blocks: list[dict] | None = None, *, replace: bool = False) -> None:
        """An answer only the clicker sees (or, with `replace`, a new text for the message clicked)."""
        tell(self.ctx, self.client, self.body, mrkdwn(text) if isinstance(text, Msg) else text, blocks,
             respond=self.respond, replace=replace, channel=self.channel_id, user=self.user_id)

    def require(self, action: Action, **kwargs: Any) -> None:
        require(self.ctx, action, self.user_id, self.incident_id, self.access, channel_id=self.channel_id, **kwargs)


def _user(body: dict[str, Any]) -> str | None:
    user = body.get("user")
    if isinstance(user, dict) and isinstance(user.get("id"), str):
        return user["id"]
    return None


def _channel(body: dict[str, Any]) -> str | None:
    channel = body.get("channel")
    if isinstance(channel, dict) and isinstance(channel.get("id"), str):
        return channel["id"]
    container = body.get("container")
    if isinstance(container, dict) and isinstance(container.get("channel_id"), str):
        return container["channel_id"]
    return None


def tell(ctx: AppContext, client: WebClient, body: dict[str, Any], text: str, blocks: list[dict] | None = None, *,
         respond: Callable[..., Any] | None = None, replace: bool = False, channel: str | None = None,
         user: str | None = None) -> None:
    """Answer the person privately, as well as the payload allows: its response_url, else an ephemeral in the
    channel, else (a form opened from a shortcut) a direct message."""
    try:
        if respond is not None and body.get("response_url"):
            respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=replace)
            return
        user, channel = user or _user(body), channel or _channel(body)
        if user and channel:  # (no blocks: the client leaves out a None argument)
            client.chat_postEphemeral(channel=channel, user=user, text=text, blocks=blocks or None)
        elif user:
            client.chat_postMessage(channel=user, text=text, blocks=blocks or None)
    except Exception:  # noqa: BLE001 - an answer that cannot be delivered is logged, never raised
        log.warning("could not answer %s privately", _user(body))


def _action_value(body: dict[str, Any]) -> Any:
    actions = body.get("actions")
    if isinstance(actions, list) and actions and isinstance(actions[0], dict):
        action = actions[0]
        if "value" in action:
            return action.get("value")
        selected = action.get("selected_option")
        if isinstance(selected, dict):
            return selected.get("value")
    return None


# A resolver turns the click's value into (pending state or None, incident id): e.g. a checklist step's row id.
Resolver = Callable[[AppContext, Any], tuple[PendingAction | None, int | None]]


def by_token(kind: str) -> Resolver:
    """The value is a pending-action token of this kind."""

    def resolve(ctx: AppContext, value: Any) -> tuple[PendingAction | None, int | None]:
        state = pending.peek(ctx, value, kind)
        return state, state.incident_id

    return resolve


def _run(ctx: AppContext, click: Click, resolve: Resolver | None, action: Action | Callable[[Click], Action | None] | None,
         handler: Callable[[Click], None]) -> None:
    try:
        if resolve is not None:
            click.state, click.incident_id = resolve(ctx, click.value)
        if click.incident_id is not None:
            with ctx.db.session() as session:
                try:
                    incident = incidents.get(session, click.incident_id)
                except NotFound:
                    raise pending.Stale() from None
                click.access = incidents.access(session, incident)
        needed = action(click) if callable(action) else action
        if needed is not None:
            click.require(needed)
        handler(click)
    except FirebreakError as err:
        click.reply(error_text(err))
    except DatabaseUnavailable:
        click.reply(DB_DOWN)
    except Exception:  # noqa: BLE001 - the one place a click's unexpected error becomes an answer
        log.exception("interaction failed")
        click.reply(":x: Something went wrong on firebreak's side with that click; it has been logged.")


def button(app: App, ctx: AppContext, action_id: str | re.Pattern[str], handler: Callable[[Click], None], *,
           resolve: Resolver | None, action: Action | Callable[[Click], Action | None] | None,
           lane: str = COMMANDS) -> None:
    """A button (or menu) whose click runs `handler(click)` on `lane`, once, after the lookup and the policy."""

    @app.action(action_id)
    def listener(ack: Ack, body: dict[str, Any], client: WebClient, context: dict[str, Any], respond: Any) -> None:
        ack()
        user = _user(body)
        if user is None:
            return  # nobody to answer: a malformed payload is acknowledged and dropped
        click = Click(ctx=ctx, body=body, client=client, user_id=user, channel_id=_channel(body),
                      trigger_id=body.get("trigger_id") if isinstance(body.get("trigger_id"), str) else None,
                      value=_action_value(body), respond=respond)
        after_ack(ctx, context, _run, ctx, click, resolve, action, handler, lane=lane,
                  tell=lambda text: click.reply(text))


def modal(app: App, ctx: AppContext, callback_id: str, handler: Callable[[Click], None], *, kind: str,
          validate: Callable[[dict[str, Any]], dict[str, str] | None] | None = None,
          action: Action | Callable[[Click], Action | None] | None = None, lane: str = COMMANDS) -> None:
    """A modal whose private_metadata is a pending-action token of `kind`. `validate(values)` runs before the ack
    (quick: no database, no network) and returns {block_id: error} to show in the form; after the ack, on a
    lane, the token is taken (a stale or reused one is answered "out of date") and the work runs."""

    @app.view(callback_id)
    def listener(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient,
                 context: dict[str, Any]) -> None:
        values = ((view or {}).get("state") or {}).get("values") or {}
        errors = validate(values) if validate is not None else None
        if errors:
            ack(response_action="errors", errors=errors)
            return
        ack()
        user = _user(body)
        if user is None:
            return
        click = Click(ctx=ctx, body=body, client=client, user_id=user, channel_id=None, trigger_id=None,
                      value=values)
        token = (view or {}).get("private_metadata")

        def resolve(ctx: AppContext, _value: Any) -> tuple[PendingAction | None, int | None]:
            state = pending.peek(ctx, token, kind, user_id=user)
            click.channel_id = state.payload.get("channel")
            return state, state.incident_id

        def once(click: Click) -> None:
            """The form does its work once: used up when the work succeeded (a refusal leaves it usable)."""
            assert click.state is not None
            handler(click)
            try:
                pending.take(ctx, click.state.id, kind, user_id=user)
            except FirebreakError:
                pass  # a second submission raced this one; the work itself refuses to be done twice

        after_ack(ctx, context, _run, ctx, click, resolve, action, once, lane=lane,
                  tell=lambda text: click.reply(text))


def _first_block(view: dict[str, Any] | None) -> str:
    for block in (view or {}).get("blocks") or []:
        if isinstance(block, dict) and block.get("type") == "input" and block.get("block_id"):
            return str(block["block_id"])
    return "value"


def catch_all(app: App, ctx: AppContext) -> None:
    """Registered after every feature: whatever nobody handles is acknowledged and, where possible, answered."""

    @app.action(re.compile(".*"))
    def stale_action(ack: Ack, body: dict[str, Any], client: WebClient, respond: Any) -> None:
        ack()
        if _user(body):
            ctx.lanes.run(COMMANDS, tell, ctx, client, body, OUT_OF_DATE, respond=respond)

    @app.view(re.compile(".*"))
    def stale_view(ack: Ack) -> None:
        ack()

    @app.shortcut(re.compile(".*"))
    def stale_shortcut(ack: Ack) -> None:
        ack()

    @app.event(re.compile(".*"))
    def other_event() -> None:  # events are acknowledged automatically; nothing to do
        return None
