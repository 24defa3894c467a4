"""`/incident status [text]` and `/incident timeline [add <text>]`."""

from __future__ import annotations

from slack_bolt import App

from bot.core import hooks, incidents, timeline
from bot.core.errors import UsageError
from bot.core.policy import Action
from bot.slack import render
from bot.slack.commands import Invocation, split_first
from bot.slack.context import AppContext
from bot.slack.lifecycle import after_change
from bot.slack.summary import status_text

STATUS_USAGE = "/incident status [<update text>]"
TIMELINE_USAGE = "/incident timeline [add <text>]"
TIMELINE_SHOWN = 400  # events in the ephemeral view; the postmortem has them all


def status(inv: Invocation) -> None:
    ctx = inv.ctx
    number = inv.require_incident()
    text = inv.args.strip()
    if not text:
        with ctx.db.session() as session:
            incident = incidents.get(session, number)
            inv.reply(status_text(ctx, session, incident))
        return
    with ctx.db.session() as session:
        incident = incidents.get(session, number, lock=True)
        incidents.post_status(session, ctx.clock, incident, text, actor=inv.user_id)
        ref = incident.ref
    after_change(ctx, number, f":mega: *Status update* on {ref} from <@{inv.user_id}>:\n{text}")
    ctx.hooks.emit(hooks.STATUS_POSTED, ctx=ctx, incident_id=number, actor=inv.user_id)
    inv.reply(f"Status update posted to {ref}.")


def timeline_lines(session, incident_id: int) -> list[str]:
    return [f"`{e.at.strftime('%Y-%m-%d %H:%M:%S')}` {render.user(e.actor)} — *{e.kind}*: {e.text}"
            for e in timeline.events(session, incident_id)]


def show_timeline(inv: Invocation) -> None:
    ctx = inv.ctx
    number = inv.require_incident()
    sub, rest = split_first(inv.args)
    if sub.lower() == "add":
        if not rest:
            raise UsageError("Nothing to add: give the text of the timeline entry.", usage=TIMELINE_USAGE)
        with ctx.db.session() as session:
            incident = incidents.get(session, number)
            incidents.require_open(incident)
            incidents.add_note(session, ctx.clock, incident, rest, actor=inv.user_id)
        inv.reply(f"Added to the timeline of INC-{number}.")
        return
    if sub:
        raise UsageError(f"Unknown timeline action `{sub}`.", usage=TIMELINE_USAGE)
    with ctx.db.session() as session:
        incident = incidents.get(session, number)
        lines = timeline_lines(session, number)
        ref = incident.ref
    omitted = max(0, len(lines) - TIMELINE_SHOWN)
    lines = lines[-TIMELINE_SHOWN:]
    blocks = [render.header(f"Timeline of {ref}")]
    if omitted:
        blocks.append(render.context(f"{omitted} earlier events not shown; the postmortem draft has all of them."))
    blocks += [render.section(chunk) for chunk in render.chunk_lines(lines)]
    blocks = render.cap_blocks(blocks, note="Timeline cut at Slack's 50-block limit; the postmortem has it all.")
    inv.reply(f"Timeline of {ref} ({len(lines)} events)", blocks=blocks)


def register(app: App, ctx: AppContext) -> None:
    ctx.commands.add("status", status, usage=STATUS_USAGE, allow_resolved=True,
                     summary="post a status update; with no text, show the incident",
                     action=lambda inv: Action.POST_STATUS if inv.args.strip() else Action.VIEW)
    ctx.commands.add("timeline", show_timeline, usage=TIMELINE_USAGE, allow_resolved=True,
                     summary="show the timeline, or add an entry",
                     action=lambda inv: Action.ADD_TIMELINE if inv.args.strip().lower().startswith("add") else Action.VIEW)
