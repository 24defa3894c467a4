"""Small Block Kit and text helpers shared by every view. Respects Block Kit's limits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.slack.text import Mrkdwn, date_token, escape

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150


def user(user_id: str | None) -> Mrkdwn:
    """A person as a live mention (firebreak itself by name)."""
    if not user_id:
        return Mrkdwn("—")
    if user_id == "firebreak":
        return Mrkdwn("firebreak")
    return Mrkdwn(f"<@{escape(user_id)}>")


def when(dt: datetime | None, style: str = "datetime") -> Mrkdwn:
    """A time each reader sees in their own zone (a Slack date token), with UTC as the fallback."""
    return Mrkdwn(date_token(dt, style)) if dt else Mrkdwn("—")


def clip(text: str, limit: int = MAX_SECTION_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": clip(text, MAX_HEADER_TEXT), "emoji": True}}


def section(text: str, *, fields: list[str] | None = None, accessory: dict | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": clip(text or " ")}}
    if fields:
        block["fields"] = [{"type": "mrkdwn", "text": clip(f, 2000)} for f in fields[:10]]
    if accessory:
        block["accessory"] = accessory
    return block


def fields_section(fields: Sequence[str]) -> dict[str, Any]:
    return {"type": "section", "fields": [{"type": "mrkdwn", "text": clip(f, 2000)} for f in fields[:10]]}


def context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(text)}]}


def divider() -> dict[str, Any]:
    return {"type": "divider"}


def button(text: str, action_id: str, value: str, *, style: str | None = None) -> dict[str, Any]:
    b: dict[str, Any] = {"type": "button", "text": {"type": "plain_text", "text": clip(text, 75)},
                         "action_id": action_id, "value": value}
    if style:
        b["style"] = style
    return b


def chunk_lines(lines: Sequence[str], limit: int = MAX_SECTION_TEXT) -> list[str]:
    """Pack lines into texts no longer than a section allows."""
    chunks: list[str] = []
    current = ""
    for line in lines:
        line = clip(line, limit)
        if current and len(current) + 1 + len(line) > limit:
            chunks.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        chunks.append(current)
    return chunks


def cap_blocks(blocks: list[dict], note: str = "…more in the full view") -> list[dict]:
    if len(blocks) <= MAX_BLOCKS:
        return blocks
    return blocks[: MAX_BLOCKS - 1] + [context(note)]
