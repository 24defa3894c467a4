"""`/incident list`: open incidents, most severe first; works in any channel."""

from __future__ import annotations

from slack_bolt import App

from bot.core import incidents
from bot.core.durations import format_duration
from bot.core.errors import UsageError
from bot.core.text import Channel
from bot.slack import render
from bot.slack.commands import Invocation
from bot.slack.context import AppContext
from bot.slack.summary import SEV_EMOJI, STATUS_LABEL
from bot.slack.text import Mrkdwn, clip, md
from bot.slack.visibility import may_see

USAGE = "/incident list"
SHOWN = 200


def list_open(inv: Invocation) -> None:
    if inv.args.strip():
        raise UsageError("`/incident list` takes no arguments.", usage=USAGE)
    ctx = inv.ctx
    now = ctx.clock.now()
    with ctx.db.session() as session:
        total = incidents.count_open(session)
        rows = incidents.list_open_rows(session, limit=SHOWN)
    lines = []
    for inc in rows:  # membership checks are network calls: made after the transaction, cached
        tag = "[EXERCISE] " if inc.is_exercise else ""
        head = Mrkdwn(f"{SEV_EMOJI[inc.severity]} *{inc.ref}* {tag}{inc.sev} · {STATUS_LABEL[inc.status]} · ")
        opened = md(" · open {d}", d=format_duration(now - inc.opened_at))
        if not may_see(ctx, inv.user_id, private=inc.private, channel_id=inc.channel_id):
            lines.append(head + Mrkdwn(":lock: _a private incident (members only)_") + opened)
            continue
        where = (md(" · {c}", c=Channel(inc.channel_id)) if inc.channel_id and not inc.private
                 else Mrkdwn(" · :lock: private") if inc.private else Mrkdwn(" · —"))
        lines.append(head + md("{t}", t=clip(inc.title, 80)) + opened + where)
    if not lines:
        inv.reply("No open incidents. :sunny:")
        return
    blocks = [render.header(f"Open incidents ({total})")]
    blocks += [render.section(Mrkdwn(chunk)) for chunk in render.chunk_lines(lines)]
    if total > len(rows):
        blocks.append(render.context(f"Showing the {len(rows)} most severe of {total}."))
    inv.reply(f"{total} open incidents", blocks=render.cap_blocks(blocks))


def register(app: App, ctx: AppContext) -> None:
    ctx.commands.add("list", list_open, usage=USAGE, incident="none",
                     summary="open incidents, most severe first (any channel)")
