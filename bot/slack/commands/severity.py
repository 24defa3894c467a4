"""`/incident sev <1-4> <reason>`: any member may raise severity (escalation is never blocked, and always on
the timeline with who and why); lowering it needs the IC or a commander. Escalation notifies its targets."""

from __future__ import annotations

from typing import Any

from slack_bolt import App

from bot.app.opening import notify_escalation
from bot.core import effects, hooks, incidents, limits
from bot.core.errors import UsageError
from bot.core.policy import Action
from bot.core.text import Msg, User
from bot.slack.commands import Invocation, split_first
from bot.slack.commands.args import parse_severity
from bot.slack.context import AppContext

USAGE = "/incident sev <1-4> <reason>"


def change(inv: Invocation) -> None:
    ctx = inv.ctx
    sev_text, reason = split_first(inv.args)
    if not sev_text:
        raise UsageError("Give the new severity and a reason.", usage=USAGE)
    new = parse_severity(sev_text, USAGE)
    reason = limits.clean(reason, limits.REASON, "reason", usage=USAGE,
                          required="A reason is required when changing severity.")
    number = inv.require_incident()
    with ctx.db.session() as session:
        current = incidents.get(session, number).severity
    inv.require(Action.RAISE_SEVERITY if new < current else Action.LOWER_SEVERITY)
    with ctx.db.session() as session:
        incident = incidents.get(session, number, lock=True)
        old = incidents.change_severity(session, ctx.clock, incident, new, reason, actor=inv.user_id)
        ref = incident.ref
        note = record_change(session, ctx, incident, old, new, reason, inv.user_id)
    after_change(ctx, number, old, new, inv.user_id, note)
    inv.reply(f"{ref} is now SEV{new} (was SEV{old}).")


def record_change(session: Any, ctx: AppContext, incident: Any, old: int, new: int, reason: str, actor: str) -> int:
    """What a severity change says, wherever it was made (command or summary button), in the transaction that
    changed it: the channel's post (returned: other features' notes thread under it), the summary, and for an
    escalation to SEV1/SEV2 the announcement (a private incident's without its reason)."""
    now, ref, number = ctx.clock.now(), incident.ref, incident.id
    up = new < old
    verb, emoji = ("escalated", ":arrow_double_up:") if up else ("downgraded", ":arrow_down:")
    note = effects.post(session, number, Msg.of(emoji + " {who} {verb} {ref} SEV{old} → *SEV{new}*: {reason}",
                                                who=User(actor), verb=verb, ref=ref, old=old, new=new,
                                                reason=reason), created_at=now)
    effects.summary(session, number, created_at=now)
    if up and new <= 2:
        announcement = (Msg.of(emoji + " {ref} (a private incident) was escalated to SEV{new}. Details are in its "
                                       "channel, for members only.", ref=ref, new=new) if incident.private else
                        Msg.of(emoji + " {ref} escalated to SEV{new} by {who}: {reason}", ref=ref, new=new,
                               who=User(actor), reason=reason))
        effects.post(session, number, announcement, to=effects.ANNOUNCE, created_at=now)
    return note


def after_change(ctx: AppContext, number: int, old: int, new: int, actor: str, note: int) -> None:
    """After the commit: escalation's pages, then every feature's reaction (threaded under `note`)."""
    if new < old:
        notify_escalation(ctx, number, actor=actor)
    ctx.hooks.emit(hooks.SEVERITY_CHANGED, ctx=ctx, incident_id=number, actor=actor, old=old, new=new, note_to=note)


def register(app: App, ctx: AppContext) -> None:
    ctx.commands.add("sev", change, usage=USAGE, aliases=("severity",),
                     summary="change severity with a reason (any member may raise it; the IC or a commander "
                             "lowers it); escalation notifies its targets")
