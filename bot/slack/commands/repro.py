"""`/incident repro add|list`, the repro form, the Reveal button and the "Add as repro case" message shortcut.

Text comes in once, as typed: the dispatcher unescapes a command's text (`inv.args`), the shortcut unescapes
the message's text here (`from_slack`), and a form's values arrive as typed. So a case has the same bytes and
the same hash whichever way it was added, and the model endpoint receives exactly those bytes.

Who may add a case (ADD_EVIDENCE) or reveal one (REVEAL_EVIDENCE) is the permission policy's answer for the
person acting, asked when they act. The form carries an opaque token and the Reveal button only the case's id;
what they act on is looked up here, so a crafted value reaches nothing its sender may not see.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.core import incidents, limits
from bot.core.errors import FirebreakError, NotFound, UsageError
from bot.core.policy import Action
from bot.core.text import Code, Msg
from bot.evidence import cases, store
from bot.evidence.store import CaseInput, CaseProblems
from bot.slack import interactions, ops, pending
from bot.slack.commands import Invocation, error_text, require
from bot.slack.context import AppContext
from bot.slack.interactions import Click
from bot.slack.listen import after_ack
from bot.slack.text import Mrkdwn, from_slack, mrkdwn
from bot.slack.views import evidence as views
from bot.store.models import PendingAction

log = logging.getLogger(__name__)

USAGE = "/incident repro add [<prompt>] | /incident repro list"
MODAL_CALLBACK = "firebreak_repro_add"
SHORTCUT_CALLBACK = "firebreak_add_repro_from_message"
INPUT_MAX = 3000  # Slack's limit for one text input
_FIRST_WORD = re.compile(r"\s*(\S*)\s*(.*)", re.DOTALL)


def split(args: str) -> tuple[str, str]:
    """(action, the rest as typed): a prompt may span lines, so any whitespace ends the action word."""
    m = _FIRST_WORD.match(args)
    assert m is not None
    return m.group(1).lower(), m.group(2)


# ----- the form ------------------------------------------------------------------------------------------
def _text_input(block_id: str, label: str, *, multiline: bool = False, optional: bool = True,
                hint: str | None = None, max_length: int = INPUT_MAX) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "input", "block_id": block_id, "optional": optional,
        "label": {"type": "plain_text", "text": label},
        "element": {"type": "plain_text_input", "action_id": "value", "multiline": multiline,
                    "max_length": max_length}}
    if hint:
        block["hint"] = {"type": "plain_text", "text": hint[:2000]}
    return block


def repro_modal(ctx: AppContext, token: str) -> dict[str, Any]:
    names = ", ".join(ctx.config.evidence.endpoints) or "none configured"
    return {
        "type": "modal", "callback_id": MODAL_CALLBACK, "private_metadata": token,
        "title": {"type": "plain_text", "text": "Add repro case"},
        "submit": {"type": "plain_text", "text": "Save as evidence"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            _text_input("prompt", "Prompt or conversation", multiline=True, optional=False,
                        hint="Plain text is sent as one user message; a JSON list of {role, content} is sent as "
                             "a conversation. Stored unredacted, shown redacted."),
            _text_input("harmful_output", "Harmful output seen", multiline=True),
            _text_input("marker", "Marker (a string from the harmful output that must disappear)",
                        max_length=store.SHORT_LIMITS["marker"]),
            _text_input("endpoint", "Model or endpoint", max_length=store.SHORT_LIMITS["endpoint"],
                        hint=f"A configured endpoint name is used for probes ({names})"[:1900]
                        + "; anything else is recorded and probes use the default endpoint."),
            _text_input("system_prompt_version", "System prompt version",
                        max_length=store.SHORT_LIMITS["system_prompt_version"]),
            _text_input("filter_setting", "Filter setting", max_length=store.SHORT_LIMITS["filter_setting"]),
            _text_input("tool_call", "Tool call (if any)", multiline=True),
            {"type": "input", "block_id": "checks", "optional": True,
             "label": {"type": "plain_text", "text": "Judge this case with (default: the category's checks)"},
             "element": {"type": "checkboxes", "action_id": "value", "options": [
                 {"text": {"type": "plain_text", "text": t}, "value": v} for v, t in (
                     ("gateway", "Gateway blocked it"), ("refusal", "Reply is a refusal"),
                     ("marker", "Marker is gone"), ("moderation", "Moderation score below threshold"))]}},
        ],
    }


def _value(values: Any, block: str) -> Any:
    """One answer from a submitted form's state, whatever shape a malformed payload gives it."""
    el = values.get(block) if isinstance(values, dict) else None
    el = el.get("value") if isinstance(el, dict) else None
    if not isinstance(el, dict):
        return None
    if el.get("type") == "checkboxes":
        chosen = el.get("selected_options")
        return [o.get("value") for o in chosen if isinstance(o, dict)] if isinstance(chosen, list) else None
    value = el.get("value")
    return value if isinstance(value, str) else None


def _text(values: Any, block: str) -> str:
    """A text answer; "" when missing, empty or not text (validation then says what is required)."""
    value = _value(values, block)
    return value if isinstance(value, str) else ""


def case_from_values(values: Any) -> CaseInput:
    """A form's answers, exactly as typed (Slack sends form values unescaped)."""
    checks = _value(values, "checks") or None
    return CaseInput(prompt=_text(values, "prompt"), harmful_output=_text(values, "harmful_output"),
                     endpoint=_text(values, "endpoint"),
                     system_prompt_version=_text(values, "system_prompt_version"),
                     filter_setting=_text(values, "filter_setting"), tool_call=_text(values, "tool_call"),
                     marker=_text(values, "marker"), checks=checks, source="modal")


def _problems(values: dict[str, Any]) -> dict[str, str] | None:
    try:
        store.validate(case_from_values(values))
    except CaseProblems as err:
        return err.problems
    return None


def _submitted(click: Click) -> None:
    assert click.state is not None and click.incident_id is not None
    added = cases.add(click.ctx, click.incident_id, case_from_values(click.value), actor=click.user_id)
    click.reply(Msg.of("Repro case #{id} saved as evidence on {ref}.", id=added.case_id, ref=added.ref))


# ----- the command ---------------------------------------------------------------------------------------
def _add(inv: Invocation, rest: str) -> None:
    number = inv.require_incident()
    if rest.strip():
        added = cases.add(inv.ctx, number, CaseInput(prompt=rest, source="command"), actor=inv.user_id)
        inv.reply(Msg.of("Repro case #{id} saved as evidence on {ref}.", id=added.case_id, ref=added.ref))
        return
    if not inv.trigger_id:
        raise UsageError("Give the prompt, or run it from Slack to get the form.", usage=USAGE)
    token = pending.stash(inv.ctx, MODAL_CALLBACK, {"channel": inv.channel_id}, incident_id=number,
                          user_id=inv.user_id)
    inv.client.views_open(trigger_id=inv.trigger_id, view=repro_modal(inv.ctx, token))


def _list(inv: Invocation) -> None:
    number = inv.require_incident()
    with inv.ctx.db.session() as session:
        incident = incidents.get(session, number)
        rows = store.cases(session, number)
        blocks = views.case_list(rows, category=incident.category, ref=incident.ref)
        ref = incident.ref
    inv.reply(Msg.of("{n} repro case(s) on {ref}", n=len(rows), ref=ref), blocks=blocks)


def repro(inv: Invocation) -> None:
    sub, rest = split(inv.args)
    if sub == "add":
        _add(inv, rest)
    elif sub in ("list", ""):
        if rest.strip():
            raise UsageError(Msg.of("`repro list` takes no arguments (got {rest}).", rest=Code(limits.shown(rest))),
                             usage=USAGE)
        _list(inv)
    else:
        raise UsageError(Msg.of("Unknown repro action {sub}.", sub=Code(limits.shown(sub, 30))), usage=USAGE)


def _needs(inv: Invocation) -> Action:
    return Action.ADD_EVIDENCE if split(inv.args)[0] == "add" else Action.VIEW


# ----- Reveal --------------------------------------------------------------------------------------------
def _case(ctx: AppContext, value: Any) -> tuple[PendingAction | None, int | None]:
    """The button's value is a case id; its incident is looked up here, never taken from the payload."""
    if not isinstance(value, str) or not value.isascii() or not value.isdigit() or len(value) > 10:
        raise pending.Stale()
    try:
        return None, cases.incident_of(ctx, int(value))
    except NotFound:
        raise pending.Stale() from None


def _reveal(click: Click) -> None:
    case_id = int(click.value)
    click.require(Action.REVEAL_EVIDENCE, what=f"repro case #{case_id}")
    row = cases.reveal(click.ctx, case_id, user=click.user_id)
    assert click.access is not None
    for part in views.reveal_parts(row, click.access.ref):
        click.reply(part)


# ----- the message shortcut ------------------------------------------------------------------------------
def _from_message(ctx: AppContext, body: dict[str, Any], client: WebClient, respond: Any) -> None:
    sender, where, found = body.get("user"), body.get("channel"), body.get("message")
    user = sender.get("id") if isinstance(sender, dict) else None
    channel = where.get("id") if isinstance(where, dict) else None
    message = found if isinstance(found, dict) else {}
    if not isinstance(user, str):
        return  # nobody to answer

    def answer(text: Mrkdwn | Msg) -> None:
        interactions.tell(ctx, client, body, text if isinstance(text, Mrkdwn) else mrkdwn(text),
                          respond=respond)

    try:
        with ctx.db.session() as session:
            incident = incidents.by_channel(session, channel) if isinstance(channel, str) else None
            access = incidents.access(session, incident) if incident is not None else None
        if incident is None or access is None:
            answer(Mrkdwn(":warning: Use *Add as repro case* on a message in an incident channel; this channel "
                          "is not one. Nothing was saved."))
            return
        assert incident.id is not None
        require(ctx, Action.ADD_EVIDENCE, user, incident.id, access, channel_id=channel)
        text = message.get("text")
        case = CaseInput(prompt=from_slack(text if isinstance(text, str) else ""), source="shortcut")
        store.validate(case)  # a bad case costs no Slack call
        ts = message.get("ts")
        if isinstance(ts, str) and isinstance(channel, str):
            resp = ops.safe_call(ctx, incident.id, "chat.getPermalink", client.chat_getPermalink, channel=channel,
                                 message_ts=ts)
            case.source_permalink = resp.get("permalink") if resp else None
        added = cases.add(ctx, incident.id, case, actor=user)
        answer(Msg.of("Repro case #{id} saved as evidence on {ref} from that message.", id=added.case_id,
                      ref=added.ref))
    except FirebreakError as err:
        answer(error_text(err))
    except Exception:  # noqa: BLE001 - the one place this shortcut's unexpected error becomes an answer
        log.exception("adding a repro case from a message failed")
        answer(Mrkdwn(":x: Something went wrong on firebreak's side; nothing was saved. It has been logged."))


def register(app: App, ctx: AppContext) -> None:
    ctx.commands.add("repro", repro, usage=USAGE, action=_needs,
                     summary="record a reproducing case as hashed evidence (a form), or list the cases")
    views.register(ctx)
    interactions.modal(app, ctx, MODAL_CALLBACK, _submitted, kind=MODAL_CALLBACK, validate=_problems,
                       action=Action.ADD_EVIDENCE)
    interactions.button(app, ctx, views.REVEAL_ACTION, _reveal, resolve=_case, action=None)

    @app.shortcut(SHORTCUT_CALLBACK)
    def on_shortcut(ack: Ack, body: dict[str, Any], client: WebClient, context: dict[str, Any], respond: Any) -> None:
        ack()
        after_ack(ctx, context, _from_message, ctx, body, client, respond)
