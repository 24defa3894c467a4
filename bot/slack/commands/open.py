"""`/incident open`: directly with a title and flags, or through a modal; and the message shortcut."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.core.errors import FirebreakError, UsageError
from bot.core.incidents import OpenRequest
from bot.core.severity import Inputs, SeverityRules
from bot.slack import ops
from bot.slack.commands import Invocation
from bot.slack.commands.args import parse_flags, parse_severity
from bot.slack.context import AppContext
from bot.slack.lifecycle import open_and_provision

log = logging.getLogger(__name__)

USAGE = ("/incident open [<title> [--sev 1-4] [--category C] [--reach R] [--exposure E] [--data D] "
         "[--ongoing|--not-ongoing] [--domain D] [--private]]")
MODAL_CALLBACK = "firebreak_open_incident"
SHORTCUT_CALLBACK = "firebreak_open_from_message"
YES_NO = {"yes": True, "no": False}


def _check_bool_conflict(flags: dict) -> bool | None:
    if flags.get("ongoing") and flags.get("not-ongoing"):
        raise UsageError("Give either --ongoing or --not-ongoing, not both.", usage=USAGE)
    if flags.get("ongoing"):
        return True
    if flags.get("not-ongoing"):
        return False
    return None


def parse_open(rules: SeverityRules, text: str, reporter: str) -> OpenRequest:
    parsed = parse_flags(text, values={"sev", "category", "reach", "exposure", "data", "domain"},
                         switches={"private", "ongoing", "not-ongoing"}, usage=USAGE)
    title = " ".join(parsed.words)
    if not title:
        raise UsageError("An incident needs a title.", usage=USAGE)
    flags = parsed.flags
    try:
        if "category" in flags:
            category, suggested = rules.check_category(str(flags["category"])), False
        else:
            category, suggested = rules.suggest_category(title), True
        inputs = Inputs(
            category=category,
            reach=rules.check_scale("reach", flags.get("reach")),  # type: ignore[arg-type]
            exposure=rules.check_scale("exposure", flags.get("exposure")),  # type: ignore[arg-type]
            data=rules.check_scale("data", flags.get("data")),  # type: ignore[arg-type]
            ongoing=_check_bool_conflict(flags),
            regulated_domain=rules.check_domain(flags.get("domain")),  # type: ignore[arg-type]
        )
    except UsageError as err:
        raise UsageError(err.message, usage=USAGE) from err
    sev = parse_severity(str(flags["sev"]), USAGE) if "sev" in flags else None
    return OpenRequest(title=title, reporter_id=reporter, inputs=inputs, category_suggested=suggested,
                       severity_override=sev, private=bool(flags.get("private")))


def _option(text: str, value: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": text[:75]}, "value": value}


def _select(block_id: str, label: str, options: list[tuple[str, str]], *, initial: str | None = None,
            optional: bool = True) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "static_select", "action_id": "value",
                               "options": [_option(t, v) for v, t in options]}
    if initial:
        element["initial_option"] = next(_option(t, v) for v, t in options if v == initial)
    return {"type": "input", "block_id": block_id, "optional": optional,
            "label": {"type": "plain_text", "text": label}, "element": element}


def open_modal(rules: SeverityRules, *, title: str = "", description: str = "", category: str | None = None,
               metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    cats = [(k, c.label) for k, c in rules.categories.items()]
    title_el: dict[str, Any] = {"type": "plain_text_input", "action_id": "value", "max_length": 200}
    if title:
        title_el["initial_value"] = title[:200]
    desc_el: dict[str, Any] = {"type": "plain_text_input", "action_id": "value", "multiline": True}
    if description:
        desc_el["initial_value"] = description[:3000]
    return {
        "type": "modal",
        "callback_id": MODAL_CALLBACK,
        "private_metadata": json.dumps(metadata or {}),
        "title": {"type": "plain_text", "text": "Open AI-safety incident"[:24]},
        "submit": {"type": "plain_text", "text": "Open incident"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {"type": "input", "block_id": "title", "label": {"type": "plain_text", "text": "Title"},
             "element": title_el},
            {"type": "input", "block_id": "description", "optional": True,
             "label": {"type": "plain_text", "text": "What happened?"}, "element": desc_el},
            _select("category", "Category", cats, initial=category, optional=False),
            _select("reach", "Reach", list(rules.scale("reach").items())),
            _select("exposure", "Exposure", list(rules.scale("exposure").items())),
            _select("data", "Data involved", list(rules.scale("data").items())),
            _select("ongoing", "Is the harm ongoing?", [("yes", "Yes, still happening"), ("no", "No, it stopped")]),
            _select("domain", "Regulated domain", [("none", "None")] +
                    [(d, d.replace("_", " ").capitalize()) for d in rules.rubric.regulated_domains]),
            {"type": "input", "block_id": "detected_at", "optional": True,
             "label": {"type": "plain_text", "text": "First detected at (defaults to now)"},
             "element": {"type": "datetimepicker", "action_id": "value"}},
            {"type": "input", "block_id": "private", "optional": True,
             "label": {"type": "plain_text", "text": "Visibility"},
             "element": {"type": "checkboxes", "action_id": "value",
                         "options": [_option("Private channel", "private")]}},
        ],
    }


def _value(values: dict, block: str) -> Any:
    el = values.get(block, {}).get("value", {})
    kind = el.get("type")
    if kind == "static_select":
        opt = el.get("selected_option")
        return opt["value"] if opt else None
    if kind == "datetimepicker":
        return el.get("selected_date_time")
    if kind == "checkboxes":
        return [o["value"] for o in el.get("selected_options") or []]
    return el.get("value")


def parse_modal(rules: SeverityRules, view: dict[str, Any], reporter: str, now: datetime) -> OpenRequest:
    """Turn a submitted modal into an OpenRequest; raise a dict of {block_id: error} via ModalErrors."""
    values = view["state"]["values"]
    meta = json.loads(view.get("private_metadata") or "{}")
    errors: dict[str, str] = {}
    title = (_value(values, "title") or "").strip()
    if not title:
        errors["title"] = "A title is required."
    detected = None
    stamp = _value(values, "detected_at")
    if stamp:
        detected = datetime.fromtimestamp(int(stamp), UTC)
        if detected > now:
            errors["detected_at"] = "That time is in the future."
    category = _value(values, "category") or "other"
    if errors:
        raise ModalErrors(errors)
    ongoing_raw = _value(values, "ongoing")
    inputs = Inputs(
        category=rules.check_category(category),
        reach=rules.check_scale("reach", _value(values, "reach")),
        exposure=rules.check_scale("exposure", _value(values, "exposure")),
        data=rules.check_scale("data", _value(values, "data")),
        ongoing=YES_NO.get(ongoing_raw) if ongoing_raw else None,
        regulated_domain=rules.check_domain(_value(values, "domain")),
    )
    return OpenRequest(title=title, reporter_id=reporter, inputs=inputs,
                       description=_value(values, "description") or "",
                       private="private" in (_value(values, "private") or []), detected_at=detected,
                       source_permalink=meta.get("permalink"))


class ModalErrors(Exception):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(errors)
        self.errors = errors


def _open_direct(inv: Invocation) -> None:
    ctx = inv.ctx
    if not inv.args.strip():
        if not inv.trigger_id:
            raise UsageError("Give the incident a title.", usage=USAGE)
        inv.client.views_open(trigger_id=inv.trigger_id,
                              view=open_modal(ctx.rules, metadata={"channel": inv.channel_id}))
        return
    req = parse_open(ctx.rules, inv.args, inv.user_id)
    number, channel, explanation = open_and_provision(ctx, req)
    where = f"<#{channel}>" if channel else "(the channel could not be created; the incident is saved)"
    note = (f"\nCategory `{req.inputs.category}` was suggested from the title; `/incident sev` or the summary "
            "can correct it." if req.category_suggested else "")
    inv.reply(f":white_check_mark: Opened *INC-{number}* — {explanation}. Channel: {where}.{note}")


def register(app: App, ctx: AppContext) -> None:
    ctx.commands.add("open", _open_direct, usage=USAGE, incident="none",
                     summary="open an incident (no text: a form); severity is classified with reasons")

    @app.view(MODAL_CALLBACK)
    def on_submit(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        user = body["user"]["id"]
        try:
            req = parse_modal(ctx.rules, view, user, ctx.clock.now())
        except ModalErrors as err:
            ack(response_action="errors", errors=err.errors)
            return
        except FirebreakError as err:
            ack(response_action="errors", errors={"category": err.message})
            return
        ack()
        number, channel, explanation = open_and_provision(ctx, req)
        origin = json.loads(view.get("private_metadata") or "{}").get("channel")
        if origin:
            ops.safe_call(ctx, number, "chat.postEphemeral", client.chat_postEphemeral, channel=origin, user=user,
                          text=f":white_check_mark: Opened *INC-{number}* — {explanation}. Channel: <#{channel}>.")

    @app.shortcut(SHORTCUT_CALLBACK)
    def on_shortcut(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        message = body.get("message", {})
        text = message.get("text") or ""
        channel = (body.get("channel") or {}).get("id")
        permalink = None
        if channel and message.get("ts"):
            resp = ops.safe_call(ctx, None, "chat.getPermalink", client.chat_getPermalink, channel=channel,
                                 message_ts=message["ts"])
            permalink = resp.get("permalink") if resp else None
        first_line = text.strip().splitlines()[0] if text.strip() else ""
        client.views_open(trigger_id=body["trigger_id"], view=open_modal(
            ctx.rules, title=first_line[:200], description=text, category=ctx.rules.suggest_category(text),
            metadata={"channel": channel, "permalink": permalink}))
