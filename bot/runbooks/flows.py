"""What happens to an incident's runbook, for every transport: attach, switch, finish, skip, hand off, tick off
by lever, re-evaluate on a severity change, close and reopen.

Each flow is one transaction that changes the steps, appends the timeline events and records what the world
must be told — the message in the incident channel, the checklist update, the pinned summary refresh — as
effects (bot.core.effects), so a fact and its messages commit or roll back together and each message goes out
exactly once. The nudge timers are re-planned after the commit (they live in another store). Nothing here knows
Slack: facts that live in Slack (is this person in the incident channel?) come from a `Directory`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlmodel import Session

from bot.core import effects, incidents
from bot.core.errors import ConfigError, NotAllowed, NotFound
from bot.core.policy import Action, Directory
from bot.core.text import Code, Msg, User
from bot.runbooks import checklist, nudges, service
from bot.runbooks.loader import Library, Runbook
from bot.runbooks.service import Change, codes
from bot.store.models.incident import Incident
from bot.store.models.runbook import PENDING, RunbookStep
from bot.store.models.timeline import BOT_ACTOR

if TYPE_CHECKING:
    from bot.app.services import Services

QUOTE = 160  # how much of a step's text a channel message quotes


def library(ctx: Services) -> Library:
    if ctx.runbooks is None:
        raise ConfigError("the runbooks were not loaded (bot.runbooks.wiring.setup)")
    return ctx.runbooks


def _quote(text: str) -> str:
    if len(text) <= QUOTE:
        return text
    cut = text[: QUOTE - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > QUOTE // 2 else cut).rstrip() + "…"


# ----- attaching -----------------------------------------------------------------------------------------
def attach_on_open(ctx: Services, session: Session, incident: Incident, *, actor: str = BOT_ACTOR) -> str | None:
    """As an incident opens, in the open's transaction (`hooks.OPENING`): attach the runbook for its category and
    severity, record its checklist post (which waits for the channel by itself) and queue its nudge timers
    (written when the open commits). The open's own summary, rendered once the channel exists, shows the
    runbook. Returns the runbook's key, None when none applies."""
    assert incident.id is not None
    n, now = incident.id, ctx.clock.now()
    runbook = library(ctx).match(incident.category, incident.severity)
    if runbook is None:
        effects.post(session, n, Msg.of(
            ":clipboard: No runbook applies to {category} at {sev}. {list} lists them; {use} attaches one.",
            category=Code(incident.category), sev=incident.sev, list=Code("/incident runbooks"),
            use=Code("/incident runbook use <key>")), created_at=now, key=f"inc-{n}:runbook:none")
        return None
    service.attach(session, ctx.clock, incident, runbook, actor=actor, auto=True, replace=False, current=[],
                   new_incident=True)
    checklist.first_post(session, n, created_at=now)
    nudges.schedule(ctx, n, session=session, incident=incident, new_incident=True)
    return runbook.key


def use_runbook(ctx: Services, incident_id: int, key: str, *, add: bool, actor: str) -> tuple[Runbook, Change]:
    """`runbook use <key> [--add]`: switch to another runbook (done and skipped steps stay; a shared pending step
    keeps its owner) or add one alongside."""
    runbook = library(ctx).get(key.strip().lower())
    if runbook is None:
        raise NotFound(Msg.of("There is no runbook {key}. Runbooks: {all}.", key=Code(key[:64]),
                              all=codes(library(ctx).runbooks)))
    now = ctx.clock.now()
    with ctx.db.session() as session:
        incident = incidents.get(session, incident_id, lock=True)
        incidents.require_open(incident)
        change = service.attach(session, ctx.clock, incident, runbook, actor=actor, auto=False, replace=not add)
        head = Msg.of(":clipboard: {who} {verb} runbook *{title}* ({key}).", who=User(actor),
                      verb="added" if add else "switched to", title=runbook.title, key=Code(runbook.key))
        effects.post(session, incident_id, Msg.join([head, *change.messages()]), created_at=now)
        checklist.publish(session, incident_id, created_at=now)
        effects.summary(session, incident_id, created_at=now)
    nudges.schedule(ctx, incident_id)
    return runbook, change


def reevaluate(ctx: Services, incident_id: int, old: int, new: int, actor: str, note_to: int | None = None,
               **_: Any) -> list[Change]:
    """After a severity change: another runbook may match, steps that apply only at some severities come and
    go, and due times move. The channel is told what changed; the checklist and the summary follow."""
    now = ctx.clock.now()
    with ctx.db.session() as session:
        incident = incidents.get(session, incident_id, lock=True)
        changes = service.reevaluate(session, ctx.clock, library(ctx), incident, old, actor=actor)
        if changes:
            head = Msg.of(":clipboard: Runbook re-evaluated for SEV{old} → SEV{new}:", old=old, new=new)
            effects.post(session, incident_id, Msg.join([head, *(m for c in changes for m in c.messages())]),
                         created_at=now, thread_of=note_to)
            effects.summary(session, incident_id, created_at=now)
        checklist.publish(session, incident_id, created_at=now)  # due times and overdue markers
    nudges.schedule(ctx, incident_id)
    return changes


# ----- one step ------------------------------------------------------------------------------------------
def finish_step(ctx: Services, incident_id: int, step_id: str, *, actor: str, skip: bool = False,
                reason: str | None = None) -> RunbookStep:
    """Done, or skipped with a reason (said in the channel). Nothing is written when it is refused."""
    now = ctx.clock.now()
    with ctx.db.session() as session:
        incidents.require_open(incidents.get(session, incident_id, lock=True))
        row = service.finish(session, ctx.clock, incident_id, step_id, actor=actor, skip=skip, reason=reason)
        if skip:
            effects.post(session, incident_id, Msg.of(":fast_forward: {who} skipped {step} ({text}): {reason}",
                                                      who=User(actor), step=Code(row.step_id),
                                                      text=_quote(row.text), reason=row.reason or ""),
                         created_at=now)
        checklist.publish(session, incident_id, created_at=now)
        effects.summary(session, incident_id, created_at=now)
    nudges.schedule(ctx, incident_id)
    return row


def may_own(ctx: Services, incident_id: int, user_id: str, directory: Directory | None) -> None:
    """A step is handed only to someone in the incident: whom the policy lets work its runbook (a member of its
    channel or a role holder, by default). Nobody is invited by a hand-off. Asks Slack's facts through
    `directory`: call it outside any transaction."""
    with ctx.db.session() as session:
        access = incidents.access(session, incidents.get(session, incident_id))
    decision = ctx.policy.decide(Action.RUNBOOK_STEP, user_id, access, directory)
    if decision.allowed:
        return
    if decision.unverified:
        raise NotAllowed(Msg.of("firebreak could not verify that {who} is in {ref}: Slack did not answer a "
                                "membership question. Try again in a moment.", who=User(user_id), ref=access.ref))
    raise NotAllowed(Msg.of("{who} is not in {ref}: invite them to the incident channel or give them a role first "
                            "(a step is handed only to someone in the incident).", who=User(user_id), ref=access.ref))


def assign_step(ctx: Services, incident_id: int, step_id: str, user_id: str, *, actor: str,
                directory: Directory | None) -> RunbookStep:
    """Hand a pending step to someone in the incident."""
    with ctx.db.session() as session:  # the clearest refusal first: no such step, or not pending
        incidents.require_open(incidents.get(session, incident_id))
        service.find_step(session, incident_id, step_id)
    may_own(ctx, incident_id, user_id, directory)
    now = ctx.clock.now()
    with ctx.db.session() as session:
        incidents.require_open(incidents.get(session, incident_id, lock=True))
        row, _previous = service.assign(session, ctx.clock, incident_id, step_id, user_id, actor=actor)
        effects.post(session, incident_id, Msg.of(":bust_in_silhouette: {who} now owns {step} ({text}) — handed off "
                                                  "by {actor}.", who=User(user_id), step=Code(row.step_id),
                                                  text=_quote(row.text), actor=User(actor)), created_at=now)
        checklist.publish(session, incident_id, created_at=now)
    return row


def tick_lever_steps(ctx: Services, incident_id: int, actor: str, lever: str, dry_run: bool = False,
                     **_: Any) -> list[str]:
    """A lever was pulled: the pending steps that offer it are done, so nobody is asked for them again. A dry run
    counts only in an exercise (there it is what pulling a lever means); on a real incident it changed nothing."""
    now = ctx.clock.now()
    name = lever.strip().lower()
    with ctx.db.session() as session:
        incident = incidents.get(session, incident_id, lock=True)
        if not incident.is_open or (dry_run and not incident.is_exercise):
            return []
        offering = [r.step_id for r in service.steps(session, incident_id)
                    if r.state == PENDING and (r.lever or "").lower() == name]
        for step_id in offering:
            service.finish(session, ctx.clock, incident_id, step_id, actor=actor, lever=name)
        if offering:
            checklist.publish(session, incident_id, created_at=now)
            effects.summary(session, incident_id, created_at=now)
    if offering:
        nudges.schedule(ctx, incident_id)
    return offering


# ----- the incident's other changes -------------------------------------------------------------------------
def refresh(ctx: Services, incident_id: int, **_: Any) -> None:
    """Something the checklist shows changed (a role holder owns its steps): bring it up to date."""
    with ctx.db.session() as session:
        checklist.publish(session, incident_id, created_at=ctx.clock.now())


def on_resolved(ctx: Services, incident_id: int, **_: Any) -> None:
    """No more nudges; the checklist loses its menus and lists what was left undone."""
    nudges.cancel(ctx, incident_id)
    refresh(ctx, incident_id)


def on_reopened(ctx: Services, incident_id: int, **_: Any) -> None:
    refresh(ctx, incident_id)
    nudges.schedule(ctx, incident_id)

