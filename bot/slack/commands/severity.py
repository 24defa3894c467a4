"""`/incident sev <1-4> <reason>`: the IC (or configured commanders) change severity; escalation notifies."""

from __future__ import annotations

from slack_bolt import App

from bot.core import hooks, incidents
from bot.core.errors import NotAllowed, UsageError
from bot.slack import ops
from bot.slack.commands import Invocation, split_first
from bot.slack.commands.args import parse_severity
from bot.slack.context import AppContext
from bot.slack.lifecycle import after_change, notify_escalation
from bot.slack.usergroups import commanders_description, is_commander

USAGE = "/incident sev <1-4> <reason>"


def change(inv: Invocation) -> None:
    ctx = inv.ctx
    sev_text, reason = split_first(inv.args)
    if not sev_text:
        raise UsageError("Give the new severity and a reason.", usage=USAGE)
    new = parse_severity(sev_text, USAGE)
    if not reason:
        raise UsageError("A reason is required when changing severity.", usage=USAGE)
    number = inv.require_incident()
    with ctx.db.session() as session:
        incident = incidents.get(session, number, lock=True)
        ic = incidents.roles(session, number).get("ic")
        if not is_commander(ctx, inv.user_id, ic):
            raise NotAllowed(f"Only {commanders_description(ctx)} may change the severity of {incident.ref}.")
        old = incidents.change_severity(session, ctx.clock, incident, new, reason, actor=inv.user_id)
        ref, tag = incident.ref, "[EXERCISE] " if incident.is_exercise else ""
    verb = "escalated" if new < old else "downgraded"
    emoji = ":arrow_double_up:" if new < old else ":arrow_down:"
    after_change(ctx, number, f"{emoji} <@{inv.user_id}> {verb} {ref} SEV{old} → *SEV{new}*: {reason}")
    if new < old:
        if new <= 2:
            ops.announce(ctx, number, f"{tag}{emoji} {ref} {verb} to SEV{new} by <@{inv.user_id}>: {reason}")
        notify_escalation(ctx, number, actor=inv.user_id)
    ctx.hooks.emit(hooks.SEVERITY_CHANGED, ctx=ctx, incident_id=number, actor=inv.user_id, old=old, new=new)
    inv.reply(f"{ref} is now SEV{new} (was SEV{old}).")


def register(app: App, ctx: AppContext) -> None:
    ctx.commands.add("sev", change, usage=USAGE, order=10, aliases=("severity",),
                     summary="change severity with a reason (IC or commanders); escalation notifies its targets")
