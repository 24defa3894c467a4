"""What a text sent to Slack would do to its readers: broadcasts, broken markup, markup shown raw.

Slack parses `<...>` in mrkdwn and message text (docs.slack.dev/messaging/formatting-message-text):
`<@U…>` user, `<#C…>` channel, `<!subteam^S…>` user group, `<!here>` / `<!channel>` / `<!everyone>`
broadcasts, `<!date^…|…>` dates and `<https://…|label>` links. Text that should be shown as typed must
have `&`, `<` and `>` escaped (`&amp;`, `&lt;`, `&gt;`); a `<` that starts none of Slack's tokens breaks
the formatting around it. Plain-text fields (plain_text objects, channel topics and purposes) are not
parsed: there a token is shown raw, which only matters for topics and purposes, where the bot's own
mentions (`<@U…>`) would read as gibberish.

`scan(call)` turns one recorded call into findings; FakeSlack.broadcasts() runs it over every call.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

TOKEN = re.compile(r"<([^<>\n]*)>")
USER = re.compile(r"@[UW][A-Z0-9]+(\|[^>]*)?")
CHANNEL = re.compile(r"#[CG][A-Z0-9]+(\|[^>]*)?")
LINK = re.compile(r"(https?://|mailto:|slack://)[^\s|>]+(\|[^>]*)?")
DATE = re.compile(r"!date\^\d+\^[^|>]+(\^[^|>]+)?\|[^>]+")
BROADCAST = re.compile(r"!(channel|here|everyone|group)(\|[^>]*)?|!subteam\^[A-Z0-9]+(\|[^>]*)?")
# Where each method carries text, and whether Slack parses it (mrkdwn) or shows it as typed (plain).
PLAIN_FIELDS = {"conversations.setTopic": "topic", "conversations.setPurpose": "purpose"}
MESSAGE_METHODS = ("chat.postMessage", "chat.update", "chat.postEphemeral", "response_url")
VIEW_METHODS = ("views.open", "views.push", "views.update", "views.publish")


@dataclass(frozen=True)
class Finding:
    """One problem in one sent text. kind: `broadcast` (notifies a channel or group), `stray_lt` (a `<`
    that is none of Slack's tokens: broken formatting), `raw_markup` (a token in a field Slack does not
    format, shown to people as raw text)."""

    method: str
    where: str  # the field, as a JSON pointer into the call's parameters
    kind: str
    token: str
    text: str  # the whole text, clipped to 300 characters

    @property
    def key(self) -> str:
        """The token without its label: `<!subteam^S1|@privacy>` -> `<!subteam^S1>`."""
        return normalize(self.token)


def normalize(token: str) -> str:
    return token.split("|", 1)[0].rstrip(">") + ">" if "|" in token else token


def classify(token_body: str) -> str | None:
    """None for a live token Slack renders; else the kind of finding it is in parsed text."""
    if BROADCAST.fullmatch(token_body):
        return "broadcast"
    if any(p.fullmatch(token_body) for p in (USER, CHANNEL, LINK, DATE)):
        return None
    return "stray_lt"


def parsed_findings(method: str, where: str, text: str) -> Iterator[Finding]:
    """Findings in text Slack parses (mrkdwn, message text)."""
    i = 0
    while (at := text.find("<", i)) != -1:
        m = TOKEN.match(text, at)
        if m is None:
            yield Finding(method, where, "stray_lt", text[at:at + 20], text[:300])
            i = at + 1
            continue
        kind = classify(m.group(1))
        if kind:
            yield Finding(method, where, kind, m.group(0), text[:300])
        i = m.end()


def plain_findings(method: str, where: str, text: str) -> Iterator[Finding]:
    """Findings in text Slack shows as typed: any of Slack's own tokens is shown raw."""
    for m in TOKEN.finditer(text):
        if classify(m.group(1)) != "stray_lt":
            yield Finding(method, where, "raw_markup", m.group(0), text[:300])


def _texts(node: Any, pointer: str) -> Iterator[tuple[str, str, bool]]:
    """(pointer, text, parsed?) for every text object inside blocks or a view."""
    if isinstance(node, dict):
        if node.get("type") in ("mrkdwn", "plain_text") and isinstance(node.get("text"), str):
            yield pointer + "/text", node["text"], node["type"] == "mrkdwn"
            return
        for key, value in node.items():
            yield from _texts(value, f"{pointer}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _texts(value, f"{pointer}/{i}")


def scan(method: str, params: dict[str, Any]) -> list[Finding]:
    """The findings in what one call asked Slack to show."""
    out: list[Finding] = []
    if method in PLAIN_FIELDS:
        field = PLAIN_FIELDS[method]
        out += plain_findings(method, "/" + field, str(params.get(field) or ""))
    elif method in MESSAGE_METHODS or method in VIEW_METHODS:
        if method in MESSAGE_METHODS and isinstance(params.get("text"), str):
            out += parsed_findings(method, "/text", params["text"])
        root = "blocks" if method in MESSAGE_METHODS else "view"
        for pointer, text, parsed in _texts(params.get(root), "/" + root):
            if parsed:
                out += parsed_findings(method, pointer, text)
    return out
