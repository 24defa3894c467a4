"""An exercise's transcript for people who never saw Slack: one entry per message, stamped with the exercise
clock (`+03:00` after the start), people and channels by name, emoji as characters or words, no markup.

Every message's text goes through the one plain-text renderer (`bot.core.text.plain_mrkdwn`); this module
only lays the messages out. A message of several lines starts on its stamped line and continues indented.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from bot.core.text import Channel, plain_mrkdwn

INDENT = " " * 8


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
            text = plain_mrkdwn(m.text, names, channel_name).strip() or "(no text)"
            first, *rest = text.splitlines()
            out.append(f"{clock(float(m.ts) - origin)}  {author}: {first}")
            out += [f"{INDENT}{line}" for line in rest if line.strip()]
        out.append("")
    return "\n".join(out)
