"""`/incident contained [note]`, `/incident resolve <summary>`, `/incident reopen <reason>`.

Any member may record containment; resolving and reopening are the IC's or a commander's (the policy).
Each change records its channel post, the summary refresh and (for a resolution) the announcement in the
transaction that makes it; a private incident's announcement names no title and no summary.
"""

from __future__ import annotations

from slack_bolt import App

from bot.core import effects, facts, hooks, incidents, limits
from bot.core.durations import format_duration
from bot.core.errors import Conflict
from bot.core.incidents import exercise_tag
from bot.core.policy import Action
from bot.core.text import Msg, User, When
from bot.slack.commands import Invocation
from bot.slack.context import AppContext

CONTAINED_USAGE = "/incident contained [<note>]"
RESOLVE_USAGE = "/incident resolve <summary>"
REOPEN_USAGE = "/incident reopen <reason>"


def record_contained(ctx: AppContext, number: int, note: str, user_id: str) -> Msg:
    """Mark contained (one transaction with its post and the summary refresh); the answer to the person."""
    with ctx.db.session() as session:
        incident = incidents.get(session, number, lock=True)
        if not incidents.mark_contained(session, ctx.clock, incident, note, actor=user_id):
            contained_at = incident.contained_at
            assert contained_at is not None  # it declines only an incident contained before
            raise Conflict(Msg.of("{ref} was already contained at {at}.", ref=incident.ref, at=When(contained_at)))
        mttc = format_duration(facts.load(session, incident, ctx.rules, ctx.clock.now()).mttc.active)
        now, ref = ctx.clock.now(), incident.ref
        suffix = Msg.of(" — {note}", note=note) if note else None
        effects.post(session, number, Msg.join([
            Msg.of(":white_check_mark: {ref} *contained* (recorded by {who})", ref=ref, who=User(user_id)), suffix,
            Msg.of(". MTTC: {mttc}", mttc=mttc)], sep=""), created_at=now)
        effects.summary(session, number, created_at=now)
    ctx.hooks.emit(hooks.CONTAINED, ctx=ctx, incident_id=number, actor=user_id)
    return Msg.of("{ref} marked contained. MTTC: {mttc}", ref=ref, mttc=mttc)


def contained(inv: Invocation) -> None:
    note = limits.clean(inv.args, limits.NOTE, "note", usage=CONTAINED_USAGE)
    inv.reply(record_contained(inv.ctx, inv.require_incident(), note, inv.user_id))


def record_resolved(ctx: AppContext, number: int, summary: str, user_id: str) -> Msg:
    with ctx.db.session() as session:
        incident = incidents.get(session, number, lock=True)
        incidents.resolve(session, ctx.clock, incident, summary, actor=user_id)
        f = facts.load(session, incident, ctx.rules, ctx.clock.now())
        mttc = format_duration(f.mttc.active) if f.mttc.done else "—"
        mttr = format_duration(f.mttr.active)
        now, ref, tag = ctx.clock.now(), incident.ref, exercise_tag(incident)
        uncontained = None if f.mttc.done else Msg.of(" No containment was recorded, so MTTC stays open.")
        effects.post(session, number, Msg.join([
            Msg.of(":checkered_flag: {ref} *resolved* by {who}: {summary}\nMTTC: {mttc} · MTTR: {mttr}.", ref=ref,
                   who=User(user_id), summary=summary, mttc=mttc, mttr=mttr), uncontained], sep=""), created_at=now)
        effects.summary(session, number, created_at=now)
        if incident.private:
            announcement = Msg.of(tag + ":checkered_flag: {ref} (a private incident) was resolved (MTTR {mttr}).",
                                  ref=ref, mttr=mttr)
        else:
            announcement = Msg.of(tag + ":checkered_flag: {ref} resolved: {summary} (MTTR {mttr})", ref=ref,
                                  summary=summary, mttr=mttr)
        effects.post(session, number, announcement, to=effects.ANNOUNCE, created_at=now)
    ctx.hooks.emit(hooks.RESOLVED, ctx=ctx, incident_id=number, actor=user_id)
    return Msg.of("{ref} resolved.", ref=ref)


def resolve(inv: Invocation) -> None:
    summary = limits.clean(inv.args, limits.SUMMARY, "resolution summary", usage=RESOLVE_USAGE,
                           required="A resolution summary is required.")
    inv.reply(record_resolved(inv.ctx, inv.require_incident(), summary, inv.user_id))


def reopen(inv: Invocation) -> None:
    ctx = inv.ctx
    reason = limits.clean(inv.args, limits.REASON, "reason", usage=REOPEN_USAGE,
                          required="A reason is required to reopen an incident.")
    number = inv.require_incident()
    with ctx.db.session() as session:
        incident = incidents.get(session, number, lock=True)
        incidents.reopen(session, ctx.clock, incident, reason, actor=inv.user_id)
        now, ref = ctx.clock.now(), incident.ref
        effects.post(session, number, Msg.of(":leftwards_arrow_with_hook: {ref} *reopened* by {who}: {reason}",
                                             ref=ref, who=User(inv.user_id), reason=reason), created_at=now)
        effects.summary(session, number, created_at=now)
    ctx.hooks.emit(hooks.REOPENED, ctx=ctx, incident_id=number, actor=inv.user_id)
    inv.reply(Msg.of("{ref} reopened.", ref=ref))


def register(app: App, ctx: AppContext) -> None:
    ctx.commands.add("contained", contained, usage=CONTAINED_USAGE, action=Action.MARK_CONTAINED,
                     summary="record containment by hand (sets contained_at; MTTC = contained − detected)")
    ctx.commands.add("resolve", resolve, usage=RESOLVE_USAGE, action=Action.RESOLVE,
                     summary="resolve with a summary (the IC or a commander)")
    ctx.commands.add("reopen", reopen, usage=REOPEN_USAGE, allow_resolved=True, action=Action.REOPEN,
                     summary="reopen a resolved incident with a reason (the IC or a commander)")
