"""`/incident open`: directly with a title and flags, or through a modal; and the message shortcut."""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.app.opening import open_and_provision
from bot.core import effects, incidents, limits
from bot.core.errors import FirebreakError, UsageError
from bot.core.incidents import OpenRequest
from bot.core.policy import Action
from bot.core.severity import Inputs, SeverityRules
from bot.core.text import Code, Msg, User, When
from bot.core.when import SPACED, join_spaced, parse_when
from bot.slack import ops, pending
from bot.slack.commands import Invocation
from bot.slack.commands.args import parse_flags, parse_severity
from bot.slack.context import AppContext
from bot.slack.lifecycle import opened_answer
from bot.slack.listen import after_ack
from bot.slack.text import clip, from_slack, mrkdwn

log = logging.getLogger(__name__)

USAGE = ("/incident open [<title> [--sev 1-4] [--category C] [--reach R] [--exposure E] [--data D] "
         "[--ongoing|--not-ongoing] [--domain D] [--detected-at <when>] [--private]]")
DETECTED_USAGE = "/incident detected <when> <reason>   (when: 2026-01-05T08:40Z, 08:40 (UTC today) or 45m ago)"
GLOBAL_SHORTCUT = "firebreak_declare"
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


def parse_open(rules: SeverityRules, text: str, reporter: str, now: datetime | None = None) -> OpenRequest:
    parsed = parse_flags(join_spaced(text, "detected-at"),
                         values={"sev", "category", "reach", "exposure", "data", "domain", "detected-at"},
                         switches={"private", "ongoing", "not-ongoing"}, usage=USAGE)
    title = " ".join(parsed.words)
    if not title:
        raise UsageError("An incident needs a title.", usage=USAGE)
    if len(title) > limits.TITLE:
        raise UsageError(f"The title is {len(title):,} characters; the limit is {limits.TITLE}.", usage=USAGE)
    flags = parsed.flags
    detected = None
    if "detected-at" in flags:
        detected = parse_when(str(flags["detected-at"]), now or datetime.now(UTC), "detection time", usage=USAGE)
    try:
        if "category" in flags:
            category, suggested = rules.check_category(str(flags["category"])), False
        else:
            category, suggested = rules.suggest_category(title), True
        inputs = Inputs(
            category=category,
            reach=rules.check_scale("reach", parsed.value("reach")),
            exposure=rules.check_scale("exposure", parsed.value("exposure")),
            data=rules.check_scale("data", parsed.value("data")),
            ongoing=_check_bool_conflict(flags),
            regulated_domain=rules.check_domain(parsed.value("domain")),
        )
    except UsageError as err:
        raise UsageError(err.message, usage=USAGE) from err
    sev = parse_severity(str(flags["sev"]), USAGE) if "sev" in flags else None
    return OpenRequest(title=title, reporter_id=reporter, inputs=inputs, category_suggested=suggested,
                       severity_override=sev, private=bool(flags.get("private")), detected_at=detected)


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
               token: str = "", detected: int | None = None) -> dict[str, Any]:
    cats = [(k, c.label) for k, c in rules.categories.items()]
    title_el: dict[str, Any] = {"type": "plain_text_input", "action_id": "value", "max_length": 200}
    if title:
        title_el["initial_value"] = clip(title, limits.TITLE)
    desc_el: dict[str, Any] = {"type": "plain_text_input", "action_id": "value", "multiline": True,
                               "max_length": limits.DESCRIPTION}
    if description:
        desc_el["initial_value"] = clip(description, limits.DESCRIPTION)
    return {
        "type": "modal",
        "callback_id": MODAL_CALLBACK,
        "private_metadata": token,
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
             "element": {"type": "datetimepicker", "action_id": "value",
                         **({"initial_date_time": detected} if detected else {})}},
            {"type": "input", "block_id": "private", "optional": True,
             "label": {"type": "plain_text", "text": "Visibility"},
             "element": {"type": "checkboxes", "action_id": "value",
                         "options": [_option("Private channel", "private")]}},
        ],
    }


def _value(values: dict, block: str) -> Any:
    el = (values.get(block) or {}).get("value") or {}
    if not isinstance(el, dict):
        return None
    kind = el.get("type")
    if kind == "static_select":
        opt = el.get("selected_option")
        return opt["value"] if opt else None
    if kind == "datetimepicker":
        return el.get("selected_date_time")
    if kind == "checkboxes":
        return [o["value"] for o in el.get("selected_options") or []]
    return el.get("value")


def parse_modal(rules: SeverityRules, view: dict[str, Any], reporter: str, now: datetime,
                meta: dict[str, Any]) -> OpenRequest:
    """Turn a submitted modal into an OpenRequest; raise a dict of {block_id: error} via ModalErrors."""
    values = (view.get("state") or {}).get("values") or {}
    errors: dict[str, str] = {}
    title = " ".join(str(_value(values, "title") or "").split())
    if not title:
        errors["title"] = "A title is required."
    elif len(title) > limits.TITLE:
        errors["title"] = f"Keep the title under {limits.TITLE} characters."
    description = str(_value(values, "description") or "")
    if len(description) > limits.DESCRIPTION:
        errors["description"] = f"Keep the description under {limits.DESCRIPTION:,} characters."
    detected = None
    stamp = _value(values, "detected_at")
    if stamp:
        try:
            detected = datetime.fromtimestamp(int(stamp), UTC)
        except (TypeError, ValueError, OverflowError, OSError):
            errors["detected_at"] = "That is not a time."
        else:
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
                       description=description,
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
        token = pending.stash(ctx, MODAL_CALLBACK, {"channel": inv.channel_id}, user_id=inv.user_id)
        inv.client.views_open(trigger_id=inv.trigger_id, view=open_modal(ctx.rules, token=token))
        return
    req = parse_open(ctx.rules, inv.args, inv.user_id, ctx.clock.now())
    result = open_and_provision(ctx, req)
    note = (Msg.of("\nCategory {cat} was suggested from the title; `/incident sev` or the summary can correct it.",
                   cat=Code(req.inputs.category)) if req.category_suggested else None)
    inv.reply(Msg.join([opened_answer(result), note], sep=""))


def message_time(ts: Any, now: datetime) -> int | None:
    """When a message was posted (its ts), as the form's default detection time; never in the future."""
    try:
        seconds = int(float(str(ts)))
    except (TypeError, ValueError):
        return None
    return seconds if 0 < seconds <= int(now.timestamp()) else None


def split_when(text: str) -> tuple[str, str]:
    """`45m ago <reason>`, `2026-01-05 08:40 <reason>`, `08:40 <reason>` -> (when, reason)."""
    text = " ".join(text.split())
    m = re.match(rf"^{SPACED}(?:\s+(.*))?$", text)
    if m:
        return m.group(1), m.group(2) or ""
    head, _, rest = text.partition(" ")
    return head, rest


def detected(inv: Invocation) -> None:
    """`/incident detected <when> <reason>`: correct when the harm was first detected (MTTD and MTTC follow)."""
    ctx = inv.ctx
    when_text, reason = split_when(inv.args)
    if not when_text or not reason:
        raise UsageError("Give the time the harm was first detected and why it changes.", usage=DETECTED_USAGE)
    when = parse_when(when_text, ctx.clock.now(), "detection time", usage=DETECTED_USAGE)
    reason = limits.clean(reason, limits.REASON, "reason", usage=DETECTED_USAGE,
                          required="Say why the detection time changes.")
    number = inv.require_incident()
    with ctx.db.session() as session:
        incident = incidents.get(session, number, lock=True)
        previous = incidents.correct_detected(session, ctx.clock, incident, when, reason, actor=inv.user_id)
        now = ctx.clock.now()
        effects.post(session, number, Msg.of(":clock1: {who} corrected when {ref} was first detected: {at} "
                                             "(was {was}): {reason}", who=User(inv.user_id), ref=incident.ref,
                                             at=When(when), was=When(previous), reason=reason), created_at=now)
        effects.summary(session, number, created_at=now)
    inv.reply(Msg.of("INC-{n} detected at {at}; MTTD and MTTC now count from then.", n=number, at=When(when)))


def _submitted(ctx: AppContext, client: WebClient, user: str, req: OpenRequest, origin: str | None) -> None:
    result = open_and_provision(ctx, req)
    if origin:
        ops.safe_call(ctx, result.number, "chat.postEphemeral", client.chat_postEphemeral, channel=origin,
                      user=user, text=mrkdwn(opened_answer(result)))
    else:  # declared from the global shortcut: no channel to answer in, so a direct message
        ops.safe_call(ctx, result.number, "chat.postMessage", client.chat_postMessage, channel=user,
                      text=mrkdwn(opened_answer(result)))


def register(app: App, ctx: AppContext) -> None:
    ctx.commands.add("open", _open_direct, usage=USAGE, incident="none",
                     summary="open an incident (no text: a form); severity is classified with reasons")
    ctx.commands.add("detected", detected, usage=DETECTED_USAGE, allow_resolved=True, action=Action.ADD_TIMELINE,
                     summary="correct when the harm was first detected (MTTD and MTTC follow)")

    @app.view(MODAL_CALLBACK)
    def on_submit(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient,
                  context: dict[str, Any]) -> None:
        user = (body.get("user") or {}).get("id") or ""
        try:
            req = parse_modal(ctx.rules, view, user, ctx.clock.now(), {})
        except ModalErrors as err:
            ack(response_action="errors", errors=err.errors)
            return
        except FirebreakError as err:
            ack(response_action="errors", errors={"title": err.message})
            return
        ack()
        after_ack(ctx, context, _from_form, ctx, client, user, req, view.get("private_metadata"))

    def _from_form(ctx: AppContext, client: WebClient, user: str, req: OpenRequest, token: Any) -> None:
        try:
            state = pending.take(ctx, token, MODAL_CALLBACK, user_id=user)
        except FirebreakError as err:
            ops.safe_call(ctx, None, "chat.postEphemeral", client.chat_postEphemeral, channel=user, user=user,
                          text=mrkdwn(err.msg))
            return
        if state.payload.get("permalink"):
            req = replace(req, source_permalink=str(state.payload["permalink"]))
        _submitted(ctx, client, user, req, state.payload.get("channel"))

    def shortcut_work(body: dict[str, Any], client: WebClient) -> None:
        message = body.get("message", {})
        text = from_slack(message.get("text") or "")
        channel = (body.get("channel") or {}).get("id")
        permalink = None
        if channel and message.get("ts"):
            resp = ops.safe_call(ctx, None, "chat.getPermalink", client.chat_getPermalink, channel=channel,
                                 message_ts=message["ts"])
            permalink = resp.get("permalink") if resp else None
        first_line = text.strip().splitlines()[0] if text.strip() else ""
        token = pending.stash(ctx, MODAL_CALLBACK, {"channel": channel, "permalink": permalink},
                              user_id=body.get("user", {}).get("id"))
        ops.safe_call(ctx, None, "views.open", client.views_open, trigger_id=body["trigger_id"], view=open_modal(
            ctx.rules, title=first_line, description=text, category=ctx.rules.suggest_category(text), token=token,
            detected=message_time(message.get("ts"), ctx.clock.now())))

    def declare_work(body: dict[str, Any], client: WebClient) -> None:
        user = (body.get("user") or {}).get("id")
        token = pending.stash(ctx, MODAL_CALLBACK, {"channel": None}, user_id=user)
        ops.safe_call(ctx, None, "views.open", client.views_open, trigger_id=body.get("trigger_id"),
                      view=open_modal(ctx.rules, token=token))

    @app.shortcut(GLOBAL_SHORTCUT)
    def on_declare(ack: Ack, body: dict[str, Any], client: WebClient, context: dict[str, Any]) -> None:
        ack()  # "Declare AI-safety incident", from anywhere in Slack
        after_ack(ctx, context, declare_work, body, client)

    @app.shortcut(SHORTCUT_CALLBACK)
    def on_shortcut(ack: Ack, body: dict[str, Any], client: WebClient, context: dict[str, Any]) -> None:
        ack()
        after_ack(ctx, context, shortcut_work, body, client)
