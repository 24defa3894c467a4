"""An exercise's transcript for people who never saw Slack: one entry per message, stamped with the exercise
clock (`+03:00` after the start), people and channels by name, emoji as characters or words, no markup.

Every message's text goes through the one plain-text renderer (`bot.core.text.plain_mrkdwn`); this module
only lays the messages out: one line per message (a message of several lines is joined, see `one_line`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from bot.core.text import Channel, plain_mrkdwn


@dataclass(frozen=True)
class Posted:
    """A message as a channel's history holds it: Slack's `ts` (seconds since the epoch), author id, mrkdwn."""

    ts: str
    user: str
    text: str


def clock(seconds: float) -> str:
    """Exercise time as `+MM:SS`, or `+H:MM:SS` past the first hour; before the start counts as +00:00."""
    total = max(int(seconds), 0)
    hours, rest = divmod(total, 3600)
    return f"+{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"+{rest // 60:02d}:{rest % 60:02d}"


def one_line(text: str) -> str:
    """A message of several lines on one: a line ending in a colon runs on, others are joined with ` · `."""
    out = ""
    for line in (ln.strip() for ln in text.splitlines()):
        if not line:
            continue
        out = line if not out else f"{out} {line}" if out.endswith(":") else f"{out} · {line}"
    return out


def render(channels: Iterable[tuple[str, Iterable[Posted]]], *, started: datetime,
           names: Callable[[str], str], channel_name: Callable[[Channel], str]) -> str:
    """The transcript of each `(channel name, messages)` in turn. `names`: user id -> how the person reads
    (`@Maya`); `channel_name`: a channel -> `#name`."""
    origin = started.timestamp()
    out: list[str] = []
    for name, messages in channels:
        out.append(f"== #{name} ==")
        for m in messages:
            author = names(m.user).lstrip("@")
            text = one_line(plain_mrkdwn(m.text, names, channel_name)) or "(no text)"
            out.append(f"{clock(float(m.ts) - origin)}  {author}: {text}")
        out.append("")
    return "\n".join(out)
