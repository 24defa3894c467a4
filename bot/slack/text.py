"""The one text boundary between firebreak and Slack.

In: Slack sends text with `&`, `<`, `>` escaped and people, channels, links and broadcasts as `<…>` tokens.
`from_slack` turns that into what the person typed, once, where it enters; the domain stores plain text.

Out: Slack reads `&`, `<`, `>` as control characters, so anything not written by firebreak's own code must be
escaped, or `<!channel>` in a title becomes a broadcast. `Mrkdwn` marks text that is safe to send as mrkdwn;
every Block Kit builder in `bot.slack.render` escapes a plain `str` and passes a `Mrkdwn` through, so the only
way to put markup into Slack is to build it here: from a `Msg` (`mrkdwn(msg)`) or with `md(template, **values)`.
Mentions, channel links and date tokens that firebreak builds itself stay live.
"""

from __future__ import annotations

import re
from datetime import UTC
from typing import Any

from bot.core.text import (
    BOT,
    Channel,
    Code,
    Group,
    Link,
    Msg,
    Raw,
    User,
    Value,
    When,
    when_utc,
)

_ESCAPES = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"))


class Mrkdwn(str):
    """Text that is safe to send to Slack as mrkdwn (escaped values, firebreak's own tokens)."""

    __slots__ = ()

    def __add__(self, other: str) -> Mrkdwn:
        return Mrkdwn(str.__add__(self, other if isinstance(other, Mrkdwn) else escape(other)))

    def __radd__(self, other: str) -> Mrkdwn:
        return Mrkdwn((other if isinstance(other, Mrkdwn) else escape(other)) + str(self))

    def join(self, parts: Any) -> Mrkdwn:
        return Mrkdwn(str.join(self, (p if isinstance(p, Mrkdwn) else escape(p) for p in parts)))


def escape(text: str) -> str:
    """Escape Slack's three control characters; nothing else changes."""
    for char, entity in _ESCAPES:
        text = text.replace(char, entity)
    return text


def safe(text: str | Mrkdwn) -> Mrkdwn:
    """Mrkdwn as it is, anything else escaped: the rule every builder applies."""
    return text if isinstance(text, Mrkdwn) else Mrkdwn(escape(str(text)))


def date_token(at: Any, style: str = "datetime") -> str:
    """`<!date^…>`: Slack shows the time in each reader's own zone; the fallback is UTC."""
    at = at.astimezone(UTC)
    fmt = {"time": "{time}", "date": "{date_short_pretty}"}.get(style, "{date_short_pretty} {time}")
    return f"<!date^{int(at.timestamp())}^{fmt}|{escape(when_utc(at, style))}>"


def _value(v: Value | Any) -> str:
    match v:
        case User(id=i):
            return "firebreak" if i in (BOT, "") else f"<@{i}>"
        case Group(id=i):
            return f"<!subteam^{i}>"
        case Channel(id=i):
            return f"<#{i}>"
        case When(at=at, style=s):
            return date_token(at, s)
        case Link(url=u, label=lb):
            url = u.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C")
            return f"<{escape(url)}|{escape(lb)}>" if lb else f"<{escape(url)}>"
        case Code(text=t):
            return "`" + escape(t.replace("`", "'")) + "`"
        case Raw(msg=m):
            return mrkdwn(m)
        case Mrkdwn():  # already rendered through this boundary (e.g. `render.when`): kept as it is
            return str(v)
        case None:
            return "—"
        case float():
            return f"{v:g}"
        case _:
            return escape(str(v))


def mrkdwn(msg: Msg) -> Mrkdwn:
    """A message as Slack mrkdwn: the template's markup kept, every value escaped or made a live token."""
    return Mrkdwn(msg.render(escape, _value))


def md(template: str, /, **values: Value) -> Mrkdwn:
    """Build mrkdwn in place: `md("*{title}* by {who}", title=t, who=User(u))`."""
    return mrkdwn(Msg.of(template, **values))


# ----- inbound -------------------------------------------------------------------------------------------
_TOKEN = re.compile(r"<([^<>]*)>")


def _token(match: re.Match[str]) -> str:
    inner = match.group(1)
    target, _, label = inner.partition("|")
    if target.startswith("@"):
        return "@" + (label or target[1:])
    if target.startswith("#"):
        return "#" + (label or target[1:])
    if target.startswith("!"):
        name = target[1:]
        if name.startswith("subteam^"):
            return label if label.startswith("@") else "@" + (label or name.split("^", 1)[1])
        if name.startswith("date^"):
            return label
        return "@" + (label or name).lstrip("@")
    if label and label != target:
        return f"{label} ({target})"
    return target


def from_slack(text: str | None) -> str:
    """What the person typed, from what Slack sent: tokens made readable, entities unescaped, once."""
    if not text:
        return ""
    text = _TOKEN.sub(_token, text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


_USER_TOKEN = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")


def mention_id(token: str) -> str | None:
    """The user id in a `<@U…>` token, else None."""
    m = _USER_TOKEN.match(token.strip())
    return m.group(1) if m else None


# ----- plain_text fields and lengths ---------------------------------------------------------------------
def plain_field(text: str) -> str:
    """Text for a plain_text object or a channel topic: Slack shows it literally, so no markup at all."""
    return " ".join(text.split()) if "\n" in text else text


def clip(text: str, limit: int, *, more: str = "…") -> str:
    """Cut to `limit` characters on a word boundary with an ellipsis (never mid-word, never an entity)."""
    if len(text) <= limit:
        return text
    room = max(limit - len(more), 1)
    cut = text[:room]
    space = cut.rfind(" ")
    if space >= room * 0.6:
        cut = cut[:space]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]  # never leave half an `&amp;`
    lt = cut.rfind("<")
    if lt != -1 and ">" not in cut[lt:]:
        cut = cut[:lt]  # never leave half a token
    return cut.rstrip() + more


def clip_mrkdwn(text: str | Mrkdwn, limit: int, *, more: str = "…") -> Mrkdwn:
    return Mrkdwn(clip(safe(text), limit, more=more))
