"""`/incident status [text] [--next <in>]` and `/incident timeline [add <text>]`.

A status update is posted in the incident channel with, when given, when the next one is due ("next update by
10:45", in each reader's own zone); the scheduler's reminder follows that promise. With no text, `status` shows
the incident privately. The timeline view reads as words, times in each reader's zone.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from slack_bolt import App

from bot.core import effects, hooks, incidents, limits, timeline
from bot.core.durations import parse_duration
from bot.core.errors import UsageError
from bot.core.policy import Action
from bot.core.text import Msg, User, When
from bot.slack import render
from bot.slack.commands import Invocation, split_first
from bot.slack.commands.args import parse_flags
from bot.slack.context import AppContext
from bot.slack.summary import status_text
from bot.slack.text import Mrkdwn, clip, escape

STATUS_USAGE = "/incident status [<update text> [--next <15m|1h|…>]]"
TIMELINE_USAGE = "/incident timeline [add <text>]"
TIMELINE_SHOWN = 400  # events in the ephemeral view; the postmortem has them all
NEXT_MAX = timedelta(days=2)


def record_status(ctx: AppContext, number: int, text: str, user_id: str, next_in: timedelta | None) -> Msg:
    """Post a status update (one transaction with its post and the summary refresh); the answer to the person."""
    with ctx.db.session() as session:
        incident = incidents.get(session, number, lock=True)
        incidents.post_status(session, ctx.clock, incident, text, actor=user_id)
        now, ref = ctx.clock.now(), incident.ref
        next_at: datetime | None = now + next_in if next_in else None
        promise = Msg.of("\n_Next update by {at}_", at=When(next_at, "time")) if next_at else None
        effects.post(session, number, Msg.join([
            Msg.of(":mega: *Status update* on {ref} from {who}:\n{text}", ref=ref, who=User(user_id), text=text),
            promise], sep=""), created_at=now)
        effects.summary(session, number, created_at=now)
    ctx.hooks.emit(hooks.STATUS_POSTED, ctx=ctx, incident_id=number, actor=user_id, next_update=next_at)
    return Msg.of("Status update posted to {ref}.", ref=ref)


def parse_next(value: str | bool | None, usage: str = STATUS_USAGE) -> timedelta | None:
    if value is None:
        return None
    delta = parse_duration(str(value))
    if delta > NEXT_MAX:
        raise UsageError("Promise the next update within 2 days.", usage=usage)
    return delta


def status(inv: Invocation) -> None:
    ctx = inv.ctx
    number = inv.require_incident()
    if not inv.args.strip():
        with ctx.db.session() as session:
            incident = incidents.get(session, number)
            inv.reply(status_text(ctx, session, incident))
        return
    parsed = parse_flags(inv.args, values={"next"}, switches=set(), usage=STATUS_USAGE)
    text = limits.clean(" ".join(parsed.words), limits.STATUS, "status update", usage=STATUS_USAGE,
                        required="Write the update to post.")
    try:
        next_in = parse_next(parsed.flags.get("next"))
    except UsageError as err:
        raise UsageError(err.msg, usage=STATUS_USAGE) from err
    inv.reply(record_status(ctx, number, text, inv.user_id, next_in))


def timeline_lines(session, incident_id: int) -> list[Mrkdwn]:
    return [Mrkdwn(f"{render.when(e.at)} {render.user(e.actor)} — *{escape(timeline.label(e.kind))}*: "
                   f"{timeline.shown(e, _mention, escape(clip(timeline.detail(e.kind, e.text), 600)))}")
            for e in timeline.events(session, incident_id)]


def _mention(user_id: str) -> str:
    return f"<@{user_id}>"


def show_timeline(inv: Invocation) -> None:
    ctx = inv.ctx
    number = inv.require_incident()
    sub, rest = split_first(inv.args)
    if sub.lower() == "add":
        text = limits.clean(rest, limits.NOTE, "timeline entry", usage=TIMELINE_USAGE,
                            required="Nothing to add: give the text of the timeline entry.")
        with ctx.db.session() as session:
            incident = incidents.get(session, number)
            incidents.require_open(incident)
            incidents.add_note(session, ctx.clock, incident, text, actor=inv.user_id)
        inv.reply(f"Added to the timeline of INC-{number}.")
        return
    if sub:
        raise UsageError(f"Unknown timeline action `{limits.shown(sub, 30)}`.", usage=TIMELINE_USAGE)
    with ctx.db.session() as session:
        incident = incidents.get(session, number)
        lines = timeline_lines(session, number)
        ref = incident.ref
    omitted = max(0, len(lines) - TIMELINE_SHOWN)
    lines = lines[-TIMELINE_SHOWN:]
    blocks = [render.header(f"Timeline of {ref}")]
    if omitted:
        blocks.append(render.context(f"{omitted} earlier events not shown; the postmortem draft has all of them."))
    blocks += [render.section(Mrkdwn(chunk)) for chunk in render.chunk_lines(lines)]
    blocks = render.cap_blocks(blocks, note="Timeline cut at Slack's 50-block limit; the postmortem has it all.")
    inv.reply(f"Timeline of {ref} ({len(lines)} events)", blocks=blocks)


def register(app: App, ctx: AppContext) -> None:
    ctx.commands.add("status", status, usage=STATUS_USAGE, allow_resolved=True,
                     action=lambda inv: Action.POST_STATUS if inv.args.strip() else Action.VIEW,
                     summary="post a status update (optionally when the next one is due); with no text, show it")
    ctx.commands.add("timeline", show_timeline, usage=TIMELINE_USAGE, allow_resolved=True,
                     action=lambda inv: Action.ADD_TIMELINE if inv.args.strip().lower().startswith("add")
                     else Action.VIEW,
                     summary="show the timeline, or add an entry")
