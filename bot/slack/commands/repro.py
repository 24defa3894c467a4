"""`/incident repro add|list`, the repro modal, the reveal button and the "Add as repro case" shortcut.

Who may reveal redacted evidence: members of the incident's channel (conversations.members), checked at the
moment of the click; every reveal is recorded on the timeline.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.core import incidents, timeline
from bot.core.errors import FirebreakError, NotAllowed, UsageError
from bot.core.policy import Action
from bot.core.text import Channel, Msg
from bot.evidence import store, views
from bot.evidence.store import CaseInput, CaseProblems
from bot.slack import ops
from bot.slack.commands import Invocation, split_first
from bot.slack.context import AppContext

log = logging.getLogger(__name__)

USAGE = "/incident repro add [<prompt>] | /incident repro list"
MODAL_CALLBACK = "firebreak_repro_add"
SHORTCUT_CALLBACK = "firebreak_add_repro_from_message"
INPUT_MAX = 3000  # Slack's limit for one text input


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


def repro_modal(ctx: AppContext, incident_id: int, origin: str | None) -> dict[str, Any]:
    names = ", ".join(ctx.config.evidence.endpoints) or "none configured"
    return {
        "type": "modal", "callback_id": MODAL_CALLBACK,
        "private_metadata": json.dumps({"incident": incident_id, "channel": origin}),
        "title": {"type": "plain_text", "text": "Add repro case"},
        "submit": {"type": "plain_text", "text": "Save as evidence"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            _text_input("prompt", "Prompt or conversation", multiline=True, optional=False,
                        hint="Plain text is sent as one user message; a JSON list of {role, content} is sent as "
                             "a conversation. Stored unredacted, shown redacted."),
            _text_input("harmful_output", "Harmful output seen", multiline=True),
            _text_input("marker", "Marker (a string from the harmful output that must disappear)", max_length=500),
            _text_input("endpoint", "Model or endpoint", max_length=200,
                        hint=f"A configured endpoint name is used for probes ({names}); anything else is recorded "
                             "and probes use the default endpoint."),
            _text_input("system_prompt_version", "System prompt version", max_length=200),
            _text_input("filter_setting", "Filter setting", max_length=500),
            _text_input("tool_call", "Tool call (if any)", multiline=True),
            {"type": "input", "block_id": "checks", "optional": True,
             "label": {"type": "plain_text", "text": "Judge this case with (default: the category's checks)"},
             "element": {"type": "checkboxes", "action_id": "value", "options": [
                 {"text": {"type": "plain_text", "text": t}, "value": v} for v, t in (
                     ("gateway", "Gateway blocked it"), ("refusal", "Reply is a refusal"),
                     ("marker", "Marker is gone"), ("moderation", "Moderation score below threshold"))]}},
        ],
    }


def _value(values: dict, block: str) -> Any:
    el = values.get(block, {}).get("value", {})
    if el.get("type") == "checkboxes":
        return [o["value"] for o in el.get("selected_options") or []]
    return el.get("value")


def case_from_view(view: dict[str, Any]) -> CaseInput:
    values = view["state"]["values"]
    checks = _value(values, "checks") or None
    return CaseInput(**{f: _value(values, f) or "" for f in store.TEXT_FIELDS}, checks=checks, source="modal")


def add_and_announce(ctx: AppContext, incident_id: int, case: CaseInput, *, actor: str) -> int:
    """Store the case (nothing is written if it is invalid), then show it, redacted, in the channel."""
    with ctx.db.session() as session:
        incident = incidents.get(session, incident_id, lock=True)
        incidents.require_open(incident)
        row = store.add_case(session, ctx.clock, incident, case, actor=actor)
        text, blocks = views.case_added_text(row), views.case_blocks(row, heading=views.case_added_text(row))
        case_id = row.id
    assert case_id is not None
    ops.post_in_incident(ctx, incident_id, text, blocks)
    ops.refresh(ctx, incident_id)
    return case_id


def _add(inv: Invocation, rest: str) -> None:
    number = inv.require_incident()
    if rest:
        case_id = add_and_announce(inv.ctx, number, CaseInput(prompt=rest, source="command"), actor=inv.user_id)
        inv.reply(f"Repro case #{case_id} saved as evidence on INC-{number}.")
        return
    if not inv.trigger_id:
        raise UsageError("Give the prompt, or run it from Slack to get the form.", usage=USAGE)
    inv.client.views_open(trigger_id=inv.trigger_id, view=repro_modal(inv.ctx, number, inv.channel_id))


def _list(inv: Invocation) -> None:
    number = inv.require_incident()
    if not inv.incident_from_channel:
        # Even redacted, evidence stays within the incident: outside its channel, members only.
        with inv.ctx.db.session() as session:
            channel = incidents.get(session, number).channel_id
        if not channel or not _member_or_unknown(inv.ctx, channel, inv.user_id):
            raise NotAllowed(f"Only members of INC-{number}'s channel can list its evidence.")
    with inv.ctx.db.session() as session:
        rows = store.cases(session, number)
        blocks = views.case_list(rows, f"INC-{number}")
    inv.reply(f"{len(rows)} repro case(s) on INC-{number}", blocks=blocks)


def repro(inv: Invocation) -> None:
    sub, rest = split_first(inv.args)
    sub = sub.lower()
    if sub == "add":
        _add(inv, rest)
    elif sub in ("list", ""):
        if rest:
            raise UsageError(f"`repro list` takes no arguments (got `{rest}`).", usage=USAGE)
        _list(inv)
    else:
        raise UsageError(f"Unknown repro action `{sub}`.", usage=USAGE)


def is_member(ctx: AppContext, channel: str, user: str) -> bool:
    """Whether `user` is in `channel` now (all pages of conversations.members)."""
    cursor = None
    for _ in range(100):  # 100 pages of 1000: far beyond any incident channel
        kwargs: dict[str, Any] = {"channel": channel, "limit": 1000}
        if cursor:
            kwargs["cursor"] = cursor
        resp = ctx.client.conversations_members(**kwargs)
        if user in (resp.get("members") or []):
            return True
        cursor = (resp.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            return False
    return False


def _member_or_unknown(ctx: AppContext, channel: str, user: str) -> bool:
    try:
        return is_member(ctx, channel, user)
    except Exception as err:  # noqa: BLE001 - a Slack fault fails closed
        log.warning("membership check failed: %s", ops.slack_error_text(err))
        return False


def reveal(ctx: AppContext, case_id: int, user: str) -> str:
    with ctx.db.session() as session:
        row = store.get_case(session, case_id)
        incident = incidents.get(session, row.incident_id)
        channel = incident.channel_id
    if not channel:
        raise NotAllowed("This incident has no channel, so there is no membership to check; nothing revealed.")
    try:
        member = is_member(ctx, channel, user)
    except Exception as err:  # noqa: BLE001 - a Slack fault must never reveal anything
        log.warning("membership check failed: %s", ops.slack_error_text(err))
        raise NotAllowed("Could not check the incident channel's membership; nothing revealed. "
                         "Try again.") from err
    if not member:
        with ctx.db.session() as session:
            timeline.record(session, ctx.clock, row.incident_id, "evidence_reveal_denied",
                            f"Reveal of repro case #{case_id} refused: not a channel member", actor=user,
                            data={"case_id": case_id})
        raise NotAllowed(Msg.of("Only members of the incident channel {channel} can reveal redacted evidence.",
                                channel=Channel(channel)))
    with ctx.db.session() as session:
        timeline.record(session, ctx.clock, row.incident_id, "evidence_revealed",
                        f"Repro case #{case_id} revealed to {user}", actor=user, data={"case_id": case_id})
    return views.reveal_text(row)


def register(app: App, ctx: AppContext) -> None:
    ctx.commands.add("repro", repro, usage=USAGE,
                     summary="record a reproducing case as hashed evidence (a form), or list the cases",
                     action=lambda inv: Action.ADD_EVIDENCE if inv.args.strip().lower().startswith("add") else Action.VIEW)

    @app.view(MODAL_CALLBACK)
    def on_submit(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        user = body["user"]["id"]
        meta = json.loads(view.get("private_metadata") or "{}")
        case = case_from_view(view)
        try:
            store.validate(case)
        except CaseProblems as err:
            ack(response_action="errors", errors=err.problems)
            return
        ack()
        number = int(meta["incident"])
        try:
            case_id = add_and_announce(ctx, number, case, actor=user)
            text = f"Repro case #{case_id} saved as evidence on INC-{number}."
        except FirebreakError as err:
            text = f":warning: {err.message}"
        if meta.get("channel"):
            ops.safe_call(ctx, number, "chat.postEphemeral", client.chat_postEphemeral, channel=meta["channel"],
                          user=user, text=text)

    @app.action(views.REVEAL_ACTION)
    def on_reveal(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        user = body["user"]["id"]
        channel = (body.get("channel") or {}).get("id")
        try:
            text = reveal(ctx, int(body["actions"][0]["value"]), user)
        except FirebreakError as err:
            text = f":warning: {err.message}"
        if channel:
            ops.safe_call(ctx, None, "chat.postEphemeral", client.chat_postEphemeral, channel=channel, user=user,
                          text=text)

    @app.shortcut(SHORTCUT_CALLBACK)
    def on_shortcut(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        user = body["user"]["id"]
        channel = (body.get("channel") or {}).get("id")
        message = body.get("message") or {}
        with ctx.db.session() as session:
            incident = incidents.by_channel(session, channel) if channel else None
            number = incident.id if incident else None
        if number is None:
            text = (":warning: Use *Add as repro case* on a message in an incident channel; this channel is not "
                    "one.")
        else:
            permalink = None
            if message.get("ts"):
                resp = ops.safe_call(ctx, number, "chat.getPermalink", client.chat_getPermalink, channel=channel,
                                     message_ts=message["ts"])
                permalink = resp.get("permalink") if resp else None
            case = CaseInput(prompt=message.get("text") or "", source="shortcut", source_permalink=permalink)
            try:
                case_id = add_and_announce(ctx, number, case, actor=user)
                text = f"Repro case #{case_id} saved as evidence on INC-{number} from that message."
            except FirebreakError as err:
                text = f":warning: {err.message}"
        if channel:
            ops.safe_call(ctx, number, "chat.postEphemeral", client.chat_postEphemeral, channel=channel, user=user,
                          text=text)


