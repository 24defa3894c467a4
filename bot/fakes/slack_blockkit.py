"""Block Kit as Slack checks it: the stand-in refuses what Slack refuses, naming the field that broke a rule.

Limits are Slack's own, from its Block Kit reference (docs.slack.dev/reference/block-kit/: blocks,
block-elements, composition-objects) and its surfaces reference (docs.slack.dev/surfaces/modals and
/surfaces/app-home), as also encoded in slack_sdk.models. Each refusal is one line in Slack's style,
"[ERROR] <what> [json-pointer:/blocks/3/text/text]", so a failing test says exactly where the bot went wrong.

What Slack answers: chat.postMessage / chat.update / chat.postEphemeral refuse with `invalid_blocks` and
these lines in `response_metadata.messages`; views.* refuse with `invalid_arguments` the same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

MESSAGE_BLOCKS = 50  # blocks in one message
VIEW_BLOCKS = 100  # blocks in one modal or Home tab
MESSAGE_TEXT = 40_000  # chat.postMessage `text`; longer is `msg_too_long`
PRIVATE_METADATA = 3000  # view private_metadata
VIEW_TITLE = 24  # modal title, submit and close texts (plain_text)
VIEW_BYTES = 250_000  # views.*: a view over 250 kB is `view_too_large`
ID = 255  # block_id, action_id, callback_id, external_id
SECTION_TEXT = 3000
SECTION_FIELD = 2000
SECTION_FIELDS = 10
HEADER_TEXT = 150
CONTEXT_ELEMENTS = 10
ACTIONS_ELEMENTS = 25
INPUT_LABEL = 2000
INPUT_HINT = 2000
BUTTON_TEXT = 75
BUTTON_VALUE = 2000
URL = 3000
OPTION_TEXT = 75
OPTION_VALUE = 150
OPTION_DESCRIPTION = 75
SELECT_OPTIONS = 100
CHOICE_OPTIONS = 10  # checkboxes, radio_buttons
OVERFLOW_OPTIONS = (2, 5)
PLACEHOLDER = 150
TEXT_INPUT_LENGTH = 3000  # plain_text_input min_length / max_length
CONFIRM_TITLE, CONFIRM_TEXT, CONFIRM_BUTTON = 100, 300, 30
IMAGE_ALT = 2000
IMAGE_TITLE = 2000
GENERIC_TEXT = 3000  # any text object not given a tighter limit

Errors = list[str]


class Checker:
    """Walks one message's or view's blocks, collecting every rule broken (not only the first)."""

    def __init__(self) -> None:
        self.errors: Errors = []
        self.block_ids: set[str] = set()

    def error(self, pointer: str, what: str) -> None:
        self.errors.append(f"[ERROR] {what} [json-pointer:{pointer}]")

    # ----- primitives ----------------------------------------------------------------------------------
    def string(self, value: Any, pointer: str, limit: int, *, required: bool = False) -> None:
        if value is None:
            if required:
                self.error(pointer, "missing required field")
            return
        if not isinstance(value, str):
            self.error(pointer, "must be a string")
        elif len(value) > limit:
            self.error(pointer, f"must be less than {limit + 1} characters")

    def text(self, obj: Any, pointer: str, limit: int = GENERIC_TEXT, *, plain_only: bool = False,
             required: bool = True) -> None:
        """A text composition object: plain_text or mrkdwn, 1..limit characters."""
        if obj is None:
            if required:
                self.error(pointer, "missing required field")
            return
        if not isinstance(obj, dict):
            self.error(pointer, "must be a text object")
            return
        kind = obj.get("type")
        if kind not in ("plain_text", "mrkdwn") or (plain_only and kind != "plain_text"):
            self.error(pointer + "/type", "must be plain_text" if plain_only else "must be plain_text or mrkdwn")
        text = obj.get("text")
        if not isinstance(text, str):
            self.error(pointer + "/text", "must be a string")
        elif not text:
            self.error(pointer + "/text", "must be more than 0 characters")
        elif len(text) > limit:
            self.error(pointer + "/text", f"must be less than {limit + 1} characters")

    def block_id(self, block: dict, pointer: str) -> None:
        bid = block.get("block_id")
        if bid is None:
            return
        self.string(bid, pointer + "/block_id", ID)
        if isinstance(bid, str):
            if bid in self.block_ids:
                self.error(pointer + "/block_id", f"duplicate block_id {bid!r}")
            self.block_ids.add(bid)

    def action_ids(self, elements: list[tuple[dict, str]]) -> None:
        """action_id at most 255 characters and unique among the elements of one block."""
        seen: set[str] = set()
        for el, pointer in elements:
            aid = el.get("action_id")
            if aid is None:
                continue
            self.string(aid, pointer + "/action_id", ID)
            if isinstance(aid, str):
                if aid in seen:
                    self.error(pointer + "/action_id", f"duplicate action_id {aid!r} in one block")
                seen.add(aid)

    def count(self, items: Any, pointer: str, most: int, least: int = 0) -> list:
        if items is None:
            if least:
                self.error(pointer, "missing required field")
            return []
        if not isinstance(items, list):
            self.error(pointer, "must be an array")
            return []
        if len(items) > most:
            self.error(pointer, f"must have at most {most} items")
        if len(items) < least:
            self.error(pointer, f"must have at least {least} items")
        return items

    # ----- composition objects -------------------------------------------------------------------------
    def option(self, opt: Any, pointer: str, *, plain_only: bool) -> None:
        if not isinstance(opt, dict):
            self.error(pointer, "must be an option object")
            return
        self.text(opt.get("text"), pointer + "/text", OPTION_TEXT, plain_only=plain_only)
        self.string(opt.get("value"), pointer + "/value", OPTION_VALUE, required=True)
        self.text(opt.get("description"), pointer + "/description", OPTION_DESCRIPTION, plain_only=plain_only,
                  required=False)
        self.string(opt.get("url"), pointer + "/url", URL)

    def options(self, el: dict, pointer: str, most: int, least: int = 0, *, plain_only: bool = True) -> None:
        for i, opt in enumerate(self.count(el.get("options"), pointer + "/options", most, least)):
            self.option(opt, f"{pointer}/options/{i}", plain_only=plain_only)

    def confirm(self, obj: Any, pointer: str) -> None:
        if obj is None:
            return
        if not isinstance(obj, dict):
            self.error(pointer, "must be a confirmation object")
            return
        self.text(obj.get("title"), pointer + "/title", CONFIRM_TITLE, plain_only=True)
        self.text(obj.get("text"), pointer + "/text", CONFIRM_TEXT)
        self.text(obj.get("confirm"), pointer + "/confirm", CONFIRM_BUTTON, plain_only=True)
        self.text(obj.get("deny"), pointer + "/deny", CONFIRM_BUTTON, plain_only=True)

    # ----- elements ------------------------------------------------------------------------------------
    def element(self, el: Any, pointer: str) -> None:
        if not isinstance(el, dict):
            self.error(pointer, "must be an element object")
            return
        check = ELEMENTS.get(str(el.get("type")))
        if check is None:
            self.error(pointer + "/type", f"unsupported element type {el.get('type')!r}")
            return
        check(self, el, pointer)
        self.confirm(el.get("confirm"), pointer + "/confirm")

    def placeholder(self, el: dict, pointer: str) -> None:
        self.text(el.get("placeholder"), pointer + "/placeholder", PLACEHOLDER, plain_only=True, required=False)


def _button(c: Checker, el: dict, p: str) -> None:
    c.text(el.get("text"), p + "/text", BUTTON_TEXT, plain_only=True)
    c.string(el.get("value"), p + "/value", BUTTON_VALUE)
    c.string(el.get("url"), p + "/url", URL)
    if el.get("style") not in (None, "primary", "danger"):
        c.error(p + "/style", "must be primary or danger")


def _select(c: Checker, el: dict, p: str) -> None:
    c.placeholder(el, p)
    if el.get("type") in ("static_select", "multi_static_select"):
        if el.get("options") is None and el.get("option_groups") is None:
            c.error(p, "must provide options or option_groups")
        c.options(el, p, SELECT_OPTIONS)
        for g, group in enumerate(c.count(el.get("option_groups"), p + "/option_groups", SELECT_OPTIONS)):
            gp = f"{p}/option_groups/{g}"
            if isinstance(group, dict):
                c.text(group.get("label"), gp + "/label", OPTION_TEXT, plain_only=True)
                c.options(group, gp, SELECT_OPTIONS)


def _choices(c: Checker, el: dict, p: str) -> None:
    c.options(el, p, CHOICE_OPTIONS, 1, plain_only=False)


def _overflow(c: Checker, el: dict, p: str) -> None:
    c.options(el, p, OVERFLOW_OPTIONS[1], OVERFLOW_OPTIONS[0])


def _text_input(c: Checker, el: dict, p: str) -> None:
    c.placeholder(el, p)
    for key in ("min_length", "max_length"):
        value = el.get(key)
        if value is not None and (not isinstance(value, int) or not 0 <= value <= TEXT_INPUT_LENGTH):
            c.error(f"{p}/{key}", f"must be an integer from 0 to {TEXT_INPUT_LENGTH}")


def _image_element(c: Checker, el: dict, p: str) -> None:
    c.string(el.get("alt_text"), p + "/alt_text", IMAGE_ALT, required=True)
    c.string(el.get("image_url"), p + "/image_url", URL)


ELEMENTS: dict[str, Callable[[Checker, dict, str], None]] = {
    "button": _button,
    "static_select": _select, "multi_static_select": _select, "users_select": _select,
    "multi_users_select": _select, "conversations_select": _select, "multi_conversations_select": _select,
    "channels_select": _select, "multi_channels_select": _select, "external_select": _select,
    "checkboxes": _choices, "radio_buttons": _choices, "overflow": _overflow,
    "plain_text_input": _text_input, "email_text_input": _text_input, "url_text_input": _text_input,
    "number_input": _text_input,
    "datepicker": lambda c, el, p: c.placeholder(el, p), "timepicker": lambda c, el, p: c.placeholder(el, p),
    "datetimepicker": lambda c, el, p: None, "image": _image_element,
}


# ----- blocks ------------------------------------------------------------------------------------------
def _section(c: Checker, b: dict, p: str) -> None:
    if b.get("text") is None and b.get("fields") is None:
        c.error(p, "must provide text or fields")
    c.text(b.get("text"), p + "/text", SECTION_TEXT, required=False)
    for i, f in enumerate(c.count(b.get("fields"), p + "/fields", SECTION_FIELDS)):
        c.text(f, f"{p}/fields/{i}", SECTION_FIELD)
    if b.get("accessory") is not None:
        c.element(b["accessory"], p + "/accessory")
        if isinstance(b["accessory"], dict):
            c.action_ids([(b["accessory"], p + "/accessory")])


def _header(c: Checker, b: dict, p: str) -> None:
    c.text(b.get("text"), p + "/text", HEADER_TEXT, plain_only=True)


def _context(c: Checker, b: dict, p: str) -> None:
    for i, el in enumerate(c.count(b.get("elements"), p + "/elements", CONTEXT_ELEMENTS, 1)):
        ep = f"{p}/elements/{i}"
        if isinstance(el, dict) and el.get("type") == "image":
            _image_element(c, el, ep)
        else:
            c.text(el, ep)


def _actions(c: Checker, b: dict, p: str) -> None:
    elements = c.count(b.get("elements"), p + "/elements", ACTIONS_ELEMENTS, 1)
    for i, el in enumerate(elements):
        c.element(el, f"{p}/elements/{i}")
    c.action_ids([(el, f"{p}/elements/{i}") for i, el in enumerate(elements) if isinstance(el, dict)])


def _input(c: Checker, b: dict, p: str) -> None:
    c.text(b.get("label"), p + "/label", INPUT_LABEL, plain_only=True)
    c.text(b.get("hint"), p + "/hint", INPUT_HINT, plain_only=True, required=False)
    if b.get("element") is None:
        c.error(p + "/element", "missing required field")
    else:
        c.element(b["element"], p + "/element")
        if isinstance(b["element"], dict):
            c.action_ids([(b["element"], p + "/element")])


def _image(c: Checker, b: dict, p: str) -> None:
    _image_element(c, b, p)
    c.text(b.get("title"), p + "/title", IMAGE_TITLE, plain_only=True, required=False)


BLOCKS: dict[str, Callable[[Checker, dict, str], None]] = {
    "section": _section, "header": _header, "context": _context, "actions": _actions, "input": _input,
    "image": _image, "divider": lambda c, b, p: None, "rich_text": lambda c, b, p: None,
    "file": lambda c, b, p: None,
}


def _walk(c: Checker, blocks: Any, pointer: str, most: int) -> None:
    for i, block in enumerate(c.count(blocks, pointer, most)):
        bp = f"{pointer}/{i}"
        if not isinstance(block, dict):
            c.error(bp, "must be a block object")
            continue
        check = BLOCKS.get(str(block.get("type")))
        if check is None:
            c.error(bp + "/type", f"unsupported block type {block.get('type')!r}")
            continue
        c.block_id(block, bp)
        check(c, block, bp)


def check_message_blocks(blocks: Any) -> Errors:
    """Every rule a message's `blocks` break (empty when Slack would accept them)."""
    c = Checker()
    _walk(c, blocks, "/blocks", MESSAGE_BLOCKS)
    return c.errors


def check_view(view: Any) -> Errors:
    """Every rule a modal or Home tab view breaks (views.open / push / update / publish)."""
    c = Checker()
    if not isinstance(view, dict):
        return ["[ERROR] must be a view object [json-pointer:/view]"]
    kind = view.get("type")
    if kind not in ("modal", "home"):
        c.error("/view/type", "must be modal or home")
    if kind == "modal":
        c.text(view.get("title"), "/view/title", VIEW_TITLE, plain_only=True)
        c.text(view.get("submit"), "/view/submit", VIEW_TITLE, plain_only=True, required=False)
        c.text(view.get("close"), "/view/close", VIEW_TITLE, plain_only=True, required=False)
        has_input = any(isinstance(b, dict) and b.get("type") == "input" for b in view.get("blocks") or [])
        if has_input and view.get("submit") is None:
            c.error("/view/submit", "a modal with input blocks must have a submit button")
    c.string(view.get("private_metadata"), "/view/private_metadata", PRIVATE_METADATA)
    c.string(view.get("callback_id"), "/view/callback_id", ID)
    c.string(view.get("external_id"), "/view/external_id", ID)
    _walk(c, view.get("blocks"), "/view/blocks", VIEW_BLOCKS)
    return c.errors


def view_too_large(view: Any) -> bool:
    return len(json.dumps(view, ensure_ascii=False).encode()) > VIEW_BYTES
