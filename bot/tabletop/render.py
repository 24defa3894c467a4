"""Render the scorecard from its template (`bot/templates/scorecard.md.j2`) as Markdown, and that Markdown
in Slack's mrkdwn dialect; the Block Kit layout is the Slack transport's (`bot.slack.views.tabletop`)."""

from __future__ import annotations

import re
from pathlib import Path

from bot.tabletop.scorecard import Card
from bot.templates import render as render_template

TEMPLATE = "scorecard.md.j2"
BANNER = "> This was a tabletop exercise: a rehearsal, not a real incident. It is excluded from production metrics."


def scorecard_markdown(card: Card, *, org_dir: Path | None = None) -> str:
    """The scorecard as Markdown; `org_dir` is FIREBREAK_TEMPLATES_DIR (an organization's own template).
    Runs of blank lines collapse to one, so a template need not count its newlines."""
    text = render_template(TEMPLATE, {"card": card, "exercise_banner": BANNER}, org_dir=org_dir)
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
