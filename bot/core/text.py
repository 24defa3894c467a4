"""Messages firebreak writes, kept apart from how each place shows them.

A `Msg` is a trusted template in firebreak's own small markup (`*bold*`, `_italic_`, `` `code` ``, `:emoji:`,
line breaks) plus typed values. Templates come only from this code base; every value — a title someone typed,
a model's output, a detector's label — is data, never markup. Transports render a `Msg`:
- Slack (`bot.slack.text.mrkdwn`): values escaped, people and channels as live mentions, times in each
  reader's own zone;
- files and terminals (`plain` here): no markup, people by display name, times in UTC.

Messages serialize to JSON so the effects ledger and the timeline can keep them and render them later.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.core.durations import format_duration


@dataclass(frozen=True)
class User:
    """A person, by Slack user id (or firebreak itself)."""

    id: str


@dataclass(frozen=True)
class Group:
    """A Slack user group (S…), mentioned on purpose (escalation paths)."""

    id: str


@dataclass(frozen=True)
class Channel:
    id: str
    name: str | None = None


@dataclass(frozen=True)
class When:
    """A point in time; Slack shows it in each reader's zone, files in UTC."""

    at: datetime
    style: str = "datetime"  # "datetime" | "time" | "date"


@dataclass(frozen=True)
class Link:
    url: str
    label: str | None = None


@dataclass(frozen=True)
class Code:
    """Text shown as code (`like this`): an id, a command, a lever name someone typed."""

    text: str


@dataclass(frozen=True)
class Raw:
    """Firebreak's own markup built by trusted code (a nested message rendered elsewhere). Never user text."""

    msg: Msg


Value = str | int | float | User | Group | Channel | When | Link | Code | Raw | None
_FORMATTER = string.Formatter()
BOT = "firebreak"


@dataclass(frozen=True)
class Msg:
    template: str
    values: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(cls, template: str, /, **values: Value) -> Msg:
        unknown = {f for _, f, _, _ in _FORMATTER.parse(template) if f} - set(values)
        if unknown:
            raise KeyError(f"message template names {sorted(unknown)} but no value was given")
        return cls(template, tuple(sorted(values.items())))

    @classmethod
    def text(cls, text: str) -> Msg:
        """Plain text (someone's words) as a message of its own."""
        return cls.of("{text}", text=text)

    @classmethod
    def join(cls, parts: Iterable[Msg | None], sep: str = "\n") -> Msg:
        """Messages one after another (a line each by default)."""
        items = [p for p in parts if p is not None]
        glue = sep.replace("{", "{{").replace("}", "}}")
        template = glue.join(f"{{p{i}}}" for i in range(len(items)))
        return cls.of(template, **{f"p{i}": Raw(m) for i, m in enumerate(items)})

    def __add__(self, other: Msg) -> Msg:
        return Msg.join([self, other], sep="")

    def render(self, literal: Callable[[str], str], value: Callable[[Any], str]) -> str:
        """Render literal template text with `literal` and each value with `value`."""
        out: list[str] = []
        values = dict(self.values)
        for text, field, _spec, _conv in _FORMATTER.parse(self.template):
            if text:
                out.append(literal(text))
            if field:
                out.append(value(values[field]))
        return "".join(out)

    # ----- JSON (the effects ledger and the timeline keep messages) -------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {"t": self.template, "v": {k: _value_json(v) for k, v in self.values}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Msg:
        return cls(data["t"], tuple(sorted((k, _value_from_json(v)) for k, v in (data.get("v") or {}).items())))


def _value_json(v: Any) -> Any:
    match v:
        case User(id=i):
            return {"user": i}
        case Group(id=i):
            return {"group": i}
        case Channel(id=i, name=n):
            return {"channel": i, "name": n}
        case When(at=at, style=s):
            return {"when": at.isoformat(), "style": s}
        case Link(url=u, label=lb):
            return {"link": u, "label": lb}
        case Code(text=t):
            return {"code": t}
        case Raw(msg=m):
            return {"msg": m.to_json()}
        case None:
            return None
        case _:
            return v if isinstance(v, int | float) else str(v)


def _value_from_json(v: Any) -> Any:
    if not isinstance(v, dict):
        return v
    if "user" in v:
        return User(v["user"])
    if "group" in v:
        return Group(v["group"])
    if "channel" in v:
        return Channel(v["channel"], v.get("name"))
    if "when" in v:
        return When(datetime.fromisoformat(v["when"]), v.get("style", "datetime"))
    if "link" in v:
        return Link(v["link"], v.get("label"))
    if "code" in v:
        return Code(v["code"])
    if "msg" in v:
        return Raw(Msg.from_json(v["msg"]))
    return str(v)


# ----- plain text (files, terminals, the timeline's text column) ----------------------------------------
Names = Callable[[str], str]

# The emoji firebreak's own templates use, as characters for readers outside Slack.
EMOJI = {
    "rotating_light": "🚨", "white_check_mark": "✅", "warning": "⚠️", "x": "❌", "red_circle": "🔴",
    "large_orange_circle": "🟠", "large_yellow_circle": "🟡", "large_green_circle": "🟢", "white_circle": "⚪",
    "arrow_double_up": "⏫", "arrow_down": "⬇️", "checkered_flag": "🏁", "leftwards_arrow_with_hook": "↩️",
    "mega": "📣", "loudspeaker": "📢", "bust_in_silhouette": "👤", "hourglass": "⌛", "alarm_clock": "⏰",
    "scales": "⚖️", "zzz": "💤", "test_tube": "🧪", "performing_arts": "🎭", "pushpin": "📌", "sunny": "☀️",
    "arrows_counterclockwise": "🔄", "lock": "🔒", "eyes": "👀", "star": "⭐", "clipboard": "📋",
    "heavy_check_mark": "✔️", "no_entry": "⛔", "bell": "🔔", "memo": "📝", "mag": "🔍", "shield": "🛡️",
    "fire": "🔥", "speech_balloon": "💬", "information_source": "ℹ️", "link": "🔗", "repeat": "🔁",
    "incoming_envelope": "📨", "page_facing_up": "📄", "arrow_forward": "▶️", "double_vertical_bar": "⏸️",
    "stopwatch": "⏱️", "calendar": "📅", "construction": "🚧", "pager": "📟", "busts_in_silhouette": "👥",
    "raised_hand": "✋", "thumbsup": "👍", "+1": "👍", "tada": "🎉", "heavy_plus_sign": "➕", "key": "🔑",
}
_EMOJI = re.compile(r"(?<![\w:]):([a-z0-9_+-]*[a-z_][a-z0-9_+-]*):(?![\w:])")  # not `04:21:00`
_MARKUP = re.compile(r"(?<![\w*{])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*}])|(?<![\w_{])_(?=\S)([^_\n{}]+?)(?<=\S)_(?![\w_}])")


def default_name(user_id: str) -> str:
    return user_id if user_id in (BOT, "") else f"@{user_id}"


def when_utc(at: datetime, style: str = "datetime") -> str:
    at = at.astimezone(UTC)
    if style == "time":
        return at.strftime("%H:%M UTC")
    if style == "date":
        return at.strftime("%Y-%m-%d")
    return at.strftime("%Y-%m-%d %H:%M:%S UTC")


def plain_literal(text: str) -> str:
    """Firebreak's markup as plain text: emoji as characters, bold and italic markers dropped."""
    text = _EMOJI.sub(lambda m: EMOJI.get(m.group(1), ""), text)
    return _MARKUP.sub(lambda m: m.group(1) or m.group(2), text)


_SLACK_TOKEN = re.compile(r"<([^<>]*)>")
_CODE = re.compile(r"```\n?(.*?)\n?```|`([^`\n]+)`", re.DOTALL)
_STRIKE = re.compile(r"(?<![\w~])~(?=\S)([^~\n]+?)(?<=\S)~(?![\w~])")


def emoji_words(name: str) -> str:
    """An emoji code as a character when firebreak knows it, else as words (`:thinking_face:` -> thinking face)."""
    return EMOJI.get(name) or name.replace("_", " ")


def plain_tokens(text: str, names: Names = default_name, channels: Callable[[Channel], str] | None = None) -> str:
    """Slack's `<…>` tokens as words: people by name, channels by name, dates by their UTC fallback, links as
    `label (url)`, broadcasts as `@here`. Nothing else changes (for text that is otherwise Markdown)."""

    def token(m: re.Match[str]) -> str:
        body = m.group(1)
        inner, _, label = body.partition("|")
        if inner.startswith("@"):
            return names(inner[1:])
        if inner.startswith("#"):
            channel = Channel(inner[1:], label or None)
            return channels(channel) if channels else f"#{label or inner[1:]}"
        if inner.startswith("!date^"):
            return label or inner
        if inner.startswith("!subteam^"):
            return label or names(inner.removeprefix("!subteam^"))
        if inner.startswith("!"):
            return "@" + (label or inner[1:])
        return f"{label} ({inner})" if label and label != inner else inner

    return _SLACK_TOKEN.sub(token, text)


def plain_mrkdwn(text: str, names: Names = default_name, channels: Callable[[Channel], str] | None = None) -> str:
    """Slack mrkdwn as Slack sent or showed it (a posted message, a channel's history) as plain text for people
    outside Slack: `<…>` tokens as words (`plain_tokens`), emoji as characters or words, no `*bold*`,
    `_italic_`, `~strike~` or backticks, entities unescaped once."""
    out = plain_tokens(text, names, channels)
    out = _CODE.sub(lambda m: m.group(1) if m.group(1) is not None else m.group(2), out)
    out = _EMOJI.sub(lambda m: emoji_words(m.group(1)), out)
    out = _MARKUP.sub(lambda m: m.group(1) or m.group(2), out)
    out = _STRIKE.sub(lambda m: m.group(1), out)
    return out.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def cut(text: str, limit: int) -> str:
    """Text shortened to `limit` characters at a word boundary, with an ellipsis; whole when it fits."""
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return text
    head = text[: max(limit - 1, 1)]
    space = head.rfind(" ")
    if space > limit // 2:
        head = head[:space]
    return head.rstrip(" ,;:.-—") + "…"


def plain(msg: Msg, names: Names = default_name, channels: Callable[[Channel], str] | None = None) -> str:
    """The message as plain text: no markup, people by name (`names`), times in UTC."""

    def value(v: Any) -> str:
        match v:
            case User(id=i):
                return names(i)
            case Group(id=i):
                return names(i)
            case Channel() as c:
                return channels(c) if channels else f"#{c.name or c.id}"
            case When(at=at, style=s):
                return when_utc(at, s)
            case Link(url=u, label=lb):
                return f"{lb} ({u})" if lb and lb != u else u
            case Code(text=t):
                return t
            case Raw(msg=m):
                return plain(m, names, channels)
            case None:
                return "—"
            case float():
                return f"{v:g}"
            case _:
                return str(v)

    # Markup is stripped from the template as a whole (a marker pair may enclose a value), never from values.
    return Msg(plain_literal(msg.template), msg.values).render(lambda s: s, value).strip()


def duration(value: Any) -> str:
    """A duration as people read it (`4m 12s`); re-exported so message builders need one import."""
    return format_duration(value)
