"""`/incident action add <text> [@owner] [due]`, `/incident action done <n>`, `/incident actions`."""

from __future__ import annotations

from slack_bolt import App

from bot.core import incidents
from bot.core.errors import UsageError
from bot.core.policy import Action
from bot.postmortem import actions as items
from bot.slack import render
from bot.slack.commands import Invocation, split_first
from bot.slack.context import AppContext
from bot.slack.ops import post_in_incident

ACTION_USAGE = f"{items.ADD_USAGE} | {items.DONE_USAGE}"
LIST_USAGE = "/incident actions"


def action(inv: Invocation) -> None:
    ctx = inv.ctx
    number = inv.require_incident()
    verb, rest = split_first(inv.args)
    verb = verb.lower()
    if verb == "add":
        text, owner, due = items.parse_add(rest, ctx.clock.now().date(), inv.mentions)
        with ctx.db.session() as session:
            incident = incidents.get(session, number, lock=True)
            item = items.add(session, ctx.clock, incident, text, owner=owner, due=due, actor=inv.user_id)
            ref, n = incident.ref, item.number
        extra = (f" · owner {render.user(owner)}" if owner else " · no owner yet") + \
            (f" · due {due.isoformat()}" if due else "")
        post_in_incident(ctx, number, f":memo: Action item #{n} on {ref}: {text}{extra} "
                                      f"(added by <@{inv.user_id}>)")
        inv.reply(f"Added action item #{n} to {ref}. It will appear in the postmortem.")
    elif verb == "done":
        if not rest.strip() or len(rest.split()) != 1:
            raise UsageError("Name one action item by its number, e.g. `/incident action done 2`.",
                             usage=items.DONE_USAGE)
        n = items.parse_number(rest)
        with ctx.db.session() as session:
            incident = incidents.get(session, number, lock=True)
            item = items.complete(session, ctx.clock, incident, n, actor=inv.user_id)
            ref, text = incident.ref, item.text
        post_in_incident(ctx, number, f":white_check_mark: Action item #{n} on {ref} done: {text} "
                                      f"(<@{inv.user_id}>)")
        inv.reply(f"Marked action item #{n} of {ref} done.")
    else:
        what = f"`{verb}` is not an action verb; " if verb else "Say what to do: "
        raise UsageError(what + "use `add` or `done` (or `/incident actions` to list them).", usage=ACTION_USAGE)


def list_actions(inv: Invocation) -> None:
    ctx = inv.ctx
    number = inv.require_incident()
    if inv.args.strip():
        raise UsageError("`/incident actions` takes no arguments.", usage=LIST_USAGE)
    now = ctx.clock.now()
    with ctx.db.session() as session:
        ref = incidents.get(session, number).ref
        rows = items.items(session, number)
        lines = []
        for a in rows:
            state = ("done" if a.done_at else ("*overdue*" if items.overdue(a, now) else "open"))
            lines.append(f"*#{a.number}* {a.text} · {render.user(a.owner) if a.owner else 'no owner'} · "
                         f"due {a.due.isoformat() if a.due else '—'} · {state}")
    if not lines:
        inv.reply(f"{ref} has no action items. Add one with `{items.ADD_USAGE}`.")
        return
    blocks = [render.header(f"Action items of {ref}")]
    blocks += [render.section(chunk) for chunk in render.chunk_lines(lines)]
    inv.reply(f"{len(lines)} action items on {ref}", blocks=render.cap_blocks(blocks))


def register(app: App, ctx: AppContext) -> None:
    ctx.commands.add("action", action, usage=ACTION_USAGE, allow_resolved=True,
                     summary="add a follow-up item (owner, due date) or mark one done",
                     action=Action.ACTION_ITEMS)
    ctx.commands.add("actions", list_actions, usage=LIST_USAGE, allow_resolved=True,
                     summary="list the incident's follow-up items",
                     action=Action.VIEW)
