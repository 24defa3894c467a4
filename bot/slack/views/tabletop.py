"""The tabletop scorecard as Slack blocks: the Markdown the domain renders, in mrkdwn, within Block Kit's limits."""

from __future__ import annotations

from bot.slack import render
from bot.tabletop.render import to_mrkdwn


def scorecard_blocks(markdown: str) -> list[dict]:
    mrkdwn = to_mrkdwn(markdown)
    head, _, body = mrkdwn.partition("\n")
    blocks = [render.header(head.strip("*")), render.context(":performing_arts: EXERCISE — not a real incident")]
    blocks += [render.section(chunk) for chunk in render.chunk_lines(body.strip().splitlines())]
    return render.cap_blocks(blocks, note="Scorecard cut at Slack's block limit; the stored copy has it all.")
