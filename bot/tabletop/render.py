"""Render the scorecard from the Jinja template, for Slack (mrkdwn blocks) and as a Markdown file."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from bot.core.durations import format_duration
from bot.slack import render

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
BANNER = "> This was a tabletop exercise: a rehearsal, not a real incident. It is excluded from production metrics."


def _mark(value: Any) -> str:
    return "✅" if value is True else "❌" if value is False else "➖"


def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), undefined=StrictUndefined,
                      trim_blocks=False, lstrip_blocks=False, keep_trailing_newline=True, autoescape=False)
    env.filters["dur"] = lambda s: format_duration(s) if s is not None else "—"
    env.filters["mark"] = _mark
    return env


def scorecard_markdown(card: dict[str, Any]) -> str:
    text = environment().get_template("scorecard.md.j2").render(card=card, exercise_banner=BANNER)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def to_mrkdwn(markdown: str) -> str:
    """Markdown -> Slack mrkdwn: headings become bold lines, **bold** becomes *bold*, lists get bullets."""
    lines = []
    for line in markdown.splitlines():
        m = re.match(r"^#{1,6}\s+(.*)$", line)
        if m:
            line = f"*{m.group(1)}*"
        line = re.sub(r"\*\*(.+?)\*\*", r"*\1*", line)
        line = re.sub(r"^- ", "• ", line)
        line = re.sub(r"^  - ", "    ◦ ", line)
        lines.append(line)
    return "\n".join(lines)


def scorecard_blocks(markdown: str) -> list[dict]:
    mrkdwn = to_mrkdwn(markdown)
    head, _, body = mrkdwn.partition("\n")
    blocks = [render.header(head.strip("*")), render.context(":performing_arts: EXERCISE — not a real incident")]
    blocks += [render.section(chunk) for chunk in render.chunk_lines(body.strip().splitlines())]
    return render.cap_blocks(blocks, note="Scorecard cut at Slack's block limit; the stored copy has it all.")
