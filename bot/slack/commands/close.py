"""`/incident contained [note]`, `/incident resolve <summary>`, `/incident reopen <reason>`."""

from __future__ import annotations

from slack_bolt import App

from bot.core import hooks, incidents
from bot.core.durations import format_duration
from bot.core.errors import Conflict, UsageError
from bot.core.policy import Action
from bot.slack import ops, render
from bot.slack.commands import Invocation
from bot.slack.context import AppContext
from bot.slack.lifecycle import after_change

CONTAINED_USAGE = "/incident contained [<note>]"
RESOLVE_USAGE = "/incident resolve <summary>"
REOPEN_USAGE = "/incident reopen <reason>"


def contained(inv: Invocation) -> None:
    ctx = inv.ctx
    number = inv.require_incident()
    with ctx.db.session() as session:
        incident = incidents.get(session, number, lock=True)
        if not incidents.mark_contained(session, ctx.clock, incident, inv.args, actor=inv.user_id):
            raise Conflict(f"{incident.ref} was already contained at {render.when(incident.contained_at)}.")
        mttc = incidents.key_times(incident).mttc
        ref = incident.ref
    note = f" — {inv.args.strip()}" if inv.args.strip() else ""
    after_change(ctx, number, f":white_check_mark: {ref} *contained* (recorded by <@{inv.user_id}>){note}. "
                 f"MTTC: {format_duration(mttc)}")
    ctx.hooks.emit(hooks.CONTAINED, ctx=ctx, incident_id=number, actor=inv.user_id)
    inv.reply(f"{ref} marked contained. MTTC: {format_duration(mttc)}")


def resolve(inv: Invocation) -> None:
    ctx = inv.ctx
    summary = inv.args.strip()
    if not summary:
        raise UsageError("A resolution summary is required.", usage=RESOLVE_USAGE)
    number = inv.require_incident()
    with ctx.db.session() as session:
        incident = incidents.get(session, number, lock=True)
        incidents.resolve(session, ctx.clock, incident, summary, actor=inv.user_id)
        times = incidents.key_times(incident)
        ref, tag = incident.ref, "[EXERCISE] " if incident.is_exercise else ""
    uncontained = "" if times.contained else " No containment was recorded, so MTTC stays open."
    after_change(ctx, number, f":checkered_flag: {ref} *resolved* by <@{inv.user_id}>: {summary}\n"
                 f"MTTC: {format_duration(times.mttc)} · MTTR: {format_duration(times.mttr)}.{uncontained}")
    ops.announce(ctx, number, f"{tag}:checkered_flag: {ref} resolved: {summary} (MTTR {format_duration(times.mttr)})")
    ctx.hooks.emit(hooks.RESOLVED, ctx=ctx, incident_id=number, actor=inv.user_id)
    inv.reply(f"{ref} resolved.")


def reopen(inv: Invocation) -> None:
    ctx = inv.ctx
    reason = inv.args.strip()
    if not reason:
        raise UsageError("A reason is required to reopen an incident.", usage=REOPEN_USAGE)
    number = inv.require_incident()
    with ctx.db.session() as session:
        incident = incidents.get(session, number, lock=True)
        incidents.reopen(session, ctx.clock, incident, reason, actor=inv.user_id)
        ref = incident.ref
    after_change(ctx, number, f":leftwards_arrow_with_hook: {ref} *reopened* by <@{inv.user_id}>: {reason}")
    ctx.hooks.emit(hooks.REOPENED, ctx=ctx, incident_id=number, actor=inv.user_id)
    inv.reply(f"{ref} reopened.")


def register(app: App, ctx: AppContext) -> None:
    ctx.commands.add("contained", contained, usage=CONTAINED_USAGE,
                     summary="record containment by hand (sets contained_at; MTTC = contained − detected)",
                     action=Action.MARK_CONTAINED)
    ctx.commands.add("resolve", resolve, usage=RESOLVE_USAGE, summary="resolve with a summary",
                     action=Action.RESOLVE)
    ctx.commands.add("reopen", reopen, usage=REOPEN_USAGE, allow_resolved=True,
                     summary="reopen a resolved incident with a reason",
                     action=Action.REOPEN)
