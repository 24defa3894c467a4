"""`/incident repair`: re-run the Slack steps of an incident that failed for good (the channel that could not be
created after every retry, a summary Slack refused, an announcement lost to an outage). The IC or a commander
may; the steps run again in their original order, exactly once each."""

from __future__ import annotations

from slack_bolt import App

from bot.core import effects
from bot.core.policy import Action
from bot.core.text import Msg
from bot.slack.commands import Invocation
from bot.slack.context import AppContext
from bot.store.models.effects import FAILED

USAGE = "/incident repair"
WAIT = 8.0
KINDS = {effects.PROVISION: "create the channel", effects.SUMMARY: "post the pinned summary", effects.POST: "post a message",
         effects.INVITE: "invite people", "pin": "pin the summary", "topic": "set the topic",
         effects.EPHEMERAL: "answer someone privately", effects.PAGE: "page"}


def repair(inv: Invocation) -> None:
    ctx = inv.ctx
    if inv.args.strip():
        raise inv.usage_error("`/incident repair` takes no arguments.")
    number = inv.require_incident()
    with ctx.db.session() as session:
        failed = [e for e in effects.unfinished(session, number) if e.state == FAILED]
    if not failed:
        inv.reply(Msg.of("Nothing to repair on INC-{n}: every Slack step it needed is done or under way.", n=number))
        return
    ids = [e.id for e in failed if e.id is not None]
    what = sorted({KINDS.get(e.kind, e.kind) for e in failed})
    ctx.effects.retry_failed(number)
    states = ctx.effects.wait(ids, timeout=WAIT)
    still = [i for i, s in states.items() if s == FAILED]
    if still:
        inv.reply(Msg.of("Tried again to {what} on INC-{n}; {count} step(s) failed again and are on the timeline.",
                         what=", ".join(what), n=number, count=len(still)))
    else:
        inv.reply(Msg.of("Repaired INC-{n}: {what} ({count} step(s)).", n=number, what=", ".join(what),
                         count=len(ids)))


def register(app: App, ctx: AppContext) -> None:
    ctx.commands.add("repair", repair, usage=USAGE, allow_resolved=True, action=Action.REPAIR,
                     summary="re-run the Slack steps of this incident that failed (IC or commanders)")
