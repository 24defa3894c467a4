"""The runbook domain: attach, re-evaluate on severity change, finish / skip / assign steps.

Plain functions over a session and a clock; they raise FirebreakError with a user-facing message and know
nothing about Slack. Every state change writes its timeline event in the same transaction. The timeline keeps
plain text and user ids; what is said in Slack is built as `Msg` (people and times as typed values) and rendered
by the transport.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlmodel import Session, col, select

from bot.core import facts, limits, timeline
from bot.core.clock import Clock
from bot.core.errors import Conflict, NotFound
from bot.core.facts import StepFact, StepState
from bot.core.incidents import ROLES
from bot.core.text import Code, Msg, Raw, User, When, duration, plain
from bot.runbooks.loader import PHASE_ORDER, Library, Runbook, StepDef
from bot.store.db import rowcount
from bot.store.models import Incident
from bot.store.models.runbook import DONE, DROPPED, PENDING, SKIPPED, RunbookAttachment, RunbookStep


@dataclass(frozen=True)
class DueChange:
    """A pending step's due time moved (a severity change)."""

    step: str
    new: datetime | None
    old: datetime | None
    opened: datetime

    def msg(self) -> Msg:
        return Msg.of("{step} now due {new} (was {old}).", step=Code(self.step), new=Raw(_due(self.new, self.opened)),
                      old=Raw(_due(self.old, self.opened)))


def _due(due: datetime | None, opened: datetime) -> Msg:
    """A due time as a moment (each reader's zone in Slack) and as time after the opening."""
    if due is None:
        return Msg.of("no due time")
    style = "time" if due.date() == opened.date() else "datetime"
    return Msg.of("{at} (+{after})", at=When(due, style), after=duration(due - opened))


def codes(ids: Iterable[str]) -> Raw:
    """Step ids or runbook keys as a list of code spans (`a`, `b`)."""
    return Raw(Msg.join([Msg.of("{c}", c=Code(i)) for i in ids], sep=", "))


@dataclass
class Change:
    """What an attach or a re-evaluation did, for the channel message and the timeline."""

    runbook: str
    added: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    due_changed: list[DueChange] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)

    def messages(self) -> list[Msg]:
        """One sentence per kind of change, for the incident channel."""
        out = []
        if self.replaced:
            out.append(Msg.of("Runbook {new} replaces {old}.", new=Code(self.runbook), old=codes(self.replaced)))
        if self.added:
            out.append(Msg.of("Steps added: {steps}.", steps=codes(self.added)))
        if self.kept:
            out.append(Msg.of("Kept as they were: {steps}.", steps=codes(self.kept)))
        if self.dropped:
            out.append(Msg.of("No longer apply: {steps}.", steps=codes(self.dropped)))
        out += [d.msg() for d in self.due_changed]
        return out

    def lines(self) -> list[str]:
        """The same sentences as plain text (the timeline keeps these)."""
        return [plain(m) for m in self.messages()]

    def __bool__(self) -> bool:
        return bool(self.added or self.dropped or self.due_changed or self.replaced)


# Read on every checklist and summary render: built once.
_ACTIVE = (select(RunbookAttachment)
           .where(col(RunbookAttachment.incident_id) == bindparam("n"), col(RunbookAttachment.detached_at).is_(None))
           .order_by(col(RunbookAttachment.id)))
_ACTIVE_TITLES = (select(RunbookAttachment.title)
                  .where(col(RunbookAttachment.incident_id) == bindparam("n"),
                         col(RunbookAttachment.detached_at).is_(None))
                  .order_by(col(RunbookAttachment.id)))
_STEPS = select(RunbookStep).where(col(RunbookStep.incident_id) == bindparam("n"))


def active_attachments(session: Session, incident_id: int) -> list[RunbookAttachment]:
    return list(session.exec(_ACTIVE, params={"n": incident_id}))


def active_titles(session: Session, incident_id: int) -> list[str]:
    """The titles of the runbooks in use, in attachment order (what `active_attachments` gives, one column)."""
    return list(session.exec(_ACTIVE_TITLES, params={"n": incident_id}))


def judge(session: Session, incident: Incident, now: datetime, roles: Mapping[str, str] | None = None,
          rows: Iterable[RunbookStep] | None = None) -> tuple[StepFact, ...]:
    """Every live step judged by bot.core.facts (the one rule for overdue: required, pending, past its due time
    moved later by exercise pauses; a resolved incident as of its resolution), in checklist order."""
    assert incident.id is not None
    return facts.load_steps(session, incident, steps(session, incident.id) if rows is None else rows, now, roles)


def counts(judged: Iterable[StepFact]) -> dict[str, int]:
    """The checklist's counts: total, done, skipped, pending and, of the pending, overdue."""
    out = {"total": 0, "done": 0, "skipped": 0, "pending": 0, "overdue": 0}
    for fact in judged:
        out["total"] += 1
        if fact.state in (StepState.DONE_ON_TIME, StepState.DONE_LATE):
            out["done"] += 1
        elif fact.state == StepState.SKIPPED:
            out["skipped"] += 1
        else:
            out["pending"] += 1
            out["overdue"] += fact.state == StepState.OVERDUE
    return out


def all_steps(session: Session, incident_id: int) -> list[RunbookStep]:
    rows = session.exec(_STEPS, params={"n": incident_id})
    return sorted(rows, key=lambda s: (PHASE_ORDER.get(s.phase, 99), s.position, s.id or 0))


def steps(session: Session, incident_id: int) -> list[RunbookStep]:
    """The checklist: every step that applies (pending, done or skipped), in phase order."""
    return [s for s in all_steps(session, incident_id) if s.state != DROPPED]


def _due_at(incident: Incident, step: StepDef, severity: int) -> datetime | None:
    after = step.due_after(severity)
    return incident.opened_at + after if after is not None else None


def attach(session: Session, clock: Clock, incident: Incident, runbook: Runbook, *, actor: str,
           auto: bool, replace: bool, current: list[RunbookAttachment] | None = None,
           new_incident: bool = False) -> Change:
    """Attach `runbook`. With `replace`, the runbooks in use are detached and their pending steps that the
    new runbook does not share are dropped; done and skipped steps are always kept. `current`: the active
    attachments when the caller has just read them in this transaction. `new_incident`: the incident was
    created in this transaction, so it has no steps and no runbook yet (nothing to read)."""
    assert incident.id is not None
    if current is None:
        current = active_attachments(session, incident.id)
    return _attach(session, clock, incident, runbook, actor=actor, auto=auto,
                   detach=current if replace else [], active=current, new_incident=new_incident)


def _attach(session: Session, clock: Clock, incident: Incident, runbook: Runbook, *, actor: str, auto: bool,
            detach: list[RunbookAttachment], active: list[RunbookAttachment] | None = None,
            new_incident: bool = False) -> Change:
    assert incident.id is not None
    if active is None:
        active = active_attachments(session, incident.id)
    if any(a.runbook_key == runbook.key for a in active):
        raise Conflict(f"Runbook `{runbook.key}` is already in use on {incident.ref}.")
    now = clock.now()
    change = Change(runbook.key)
    existing = {} if new_incident else {s.step_id: s for s in all_steps(session, incident.id)}
    wanted = {s.id: s for s in runbook.steps_for(incident.severity)}
    detached_keys = {a.runbook_key for a in detach}
    staying = {a.runbook_key for a in active} - detached_keys
    for att in detach:
        att.detached_at, att.detached_by = now, actor
        session.add(att)
        change.replaced.append(att.runbook_key)
    for prev in existing.values():
        if prev.state == PENDING and prev.runbook_key in detached_keys and prev.step_id not in wanted:
            prev.state = DROPPED
            session.add(prev)
            change.dropped.append(prev.step_id)
    attached_before = 0 if new_incident else len(session.exec(select(RunbookAttachment.id).where(
        RunbookAttachment.incident_id == incident.id)).all())
    seq = (attached_before + 1) * 1000
    fresh: list[dict[str, Any]] = []
    for index, step in enumerate(runbook.steps_for(incident.severity)):
        row = existing.get(step.id)
        if row is not None and (row.state in (DONE, SKIPPED) or (row.state == PENDING and row.runbook_key in staying)):
            change.kept.append(step.id)  # finished, or pending under a runbook that stays attached
            continue
        due = _due_at(incident, step, incident.severity)
        if row is None:  # a new step: written with the others in one statement below
            fresh.append(_new_step(incident.id, runbook.key, step, seq + index, due, now))
            change.added.append(step.id)
            continue
        if row.state == DROPPED:
            row.started_at = now
            change.added.append(step.id)
        _apply_def(row, runbook.key, step, seq + index, due)
        session.add(row)
    if fresh:
        session.execute(insert(RunbookStep.__table__), fresh)  # type: ignore[attr-defined]  # SQLModel's table
    session.add(RunbookAttachment(incident_id=incident.id, runbook_key=runbook.key, title=runbook.title,
                                  auto=auto, attached_at=now, attached_by=actor))
    verb = "Switched to" if change.replaced else "Attached"
    timeline.record(session, clock, incident.id, "runbook_attached", f"{verb} runbook: {runbook.title}",
                    actor=actor, data={"runbook": runbook.key, "auto": auto, "severity": incident.severity,
                                       "steps": [s.id for s in runbook.steps_for(incident.severity)],
                                       "added": change.added, "kept": change.kept, "dropped": change.dropped,
                                       "replaced": change.replaced})
    session.flush()
    return change


def _new_step(incident_id: int, key: str, step: StepDef, position: int, due_at: datetime | None,
              now: datetime) -> dict[str, Any]:
    """A new step's row, every column given (what `_apply_def` sets on a RunbookStep, and its defaults)."""
    return {"incident_id": incident_id, "runbook_key": key, "step_id": step.id, "phase": step.phase,
            "position": position, "text": step.text, "owner_role": step.owner, "owner_id": None,
            "required": step.required, "lever": step.lever, "state": PENDING, "reason": None, "due_at": due_at,
            "started_at": now, "finished_at": None, "finished_by": None, "nudged_at": None, "nudged_severity": None}


def _apply_def(row: RunbookStep, key: str, step: StepDef, position: int, due_at: datetime | None) -> None:
    row.runbook_key, row.phase, row.position, row.text = key, step.phase, position, step.text
    row.owner_role, row.required, row.lever, row.due_at = step.owner, step.required, step.lever, due_at
    row.state = PENDING


def reevaluate(session: Session, clock: Clock, library: Library, incident: Incident, old: int, *,
               actor: str) -> list[Change]:
    """After a severity change: switch the automatic runbook if another one now matches, add or drop steps
    that apply only at some severities, and recompute due times. Returns what changed."""
    assert incident.id is not None
    new = incident.severity
    changes: list[Change] = []
    current = active_attachments(session, incident.id)
    auto_atts = [a for a in current if a.auto]
    match = library.match(incident.category, new)
    if match is not None and match.key not in {a.runbook_key for a in current} and (auto_atts or not current):
        # Switch the automatic runbook; runbooks a responder chose with `runbook use` stay.
        changes.append(_attach(session, clock, incident, match, actor=actor, auto=True, detach=auto_atts))
        current = active_attachments(session, incident.id)
    opened = incident.opened_at
    by_key = {a.runbook_key: library.get(a.runbook_key) for a in current}
    rows = {s.step_id: s for s in all_steps(session, incident.id)}
    for key, runbook in by_key.items():
        if runbook is None:
            continue
        change = Change(key)
        for index, step in enumerate(runbook.steps):
            row = rows.get(step.id)
            applies = step.applies(new)
            if row is not None and row.runbook_key != key and row.state != DROPPED:
                continue  # owned by another attached runbook
            if applies and (row is None or row.state == DROPPED):
                if row is None:
                    row = RunbookStep(incident_id=incident.id, step_id=step.id, started_at=clock.now(),
                                      owner_role=step.owner, runbook_key=key, phase=step.phase)
                    rows[step.id] = row
                else:
                    row.started_at = clock.now()
                _apply_def(row, key, step, _position(session, incident.id, key) + index, _due_at(incident, step, new))
                session.add(row)
                change.added.append(step.id)
            elif not applies and row is not None and row.state == PENDING:
                row.state = DROPPED
                session.add(row)
                change.dropped.append(step.id)
            elif applies and row is not None and row.state == PENDING:
                due = _due_at(incident, step, new)
                if due != row.due_at:
                    change.due_changed.append(DueChange(step.id, due, row.due_at, opened))
                    row.due_at = due
                    session.add(row)
        if change:
            changes.append(change)
    if changes:
        timeline.record(session, clock, incident.id, "runbook_updated",
                        f"Runbook re-evaluated for SEV{old} → SEV{new}", actor=actor,
                        data={"old": old, "new": new, "runbooks": [c.runbook for c in changes],
                              "added": [s for c in changes for s in c.added],
                              "dropped": [s for c in changes for s in c.dropped],
                              "changes": [line for c in changes for line in c.lines()]})
    session.flush()
    return changes


def _position(session: Session, incident_id: int, key: str) -> int:
    """Steps of the n-th runbook attached sort after those of earlier ones within a phase."""
    keys = session.exec(select(RunbookAttachment.runbook_key).where(RunbookAttachment.incident_id == incident_id)
                        .order_by(col(RunbookAttachment.id))).all()
    return (keys.index(key) + 1) * 1000 if key in keys else 0




# ----- one step -----------------------------------------------------------------------------------------

MAX_STEP_ID = 64  # step ids are YAML keys of at most 64 characters; anything longer names no step


def find_step(session: Session, incident_id: int, step_id: str) -> RunbookStep:
    """The live step `step_id` of an incident; NotFound (listing the pending steps) otherwise."""
    wanted = step_id.strip().lower()
    row = None
    if 0 < len(wanted) <= MAX_STEP_ID:
        row = session.exec(select(RunbookStep).where(RunbookStep.incident_id == incident_id,
                                                     RunbookStep.step_id == wanted)).first()
    if row is None or row.state == DROPPED:
        live = steps(session, incident_id)
        if not live:
            raise NotFound(Msg.of("INC-{n} has no runbook attached. {list} lists them; {use} attaches one.",
                                  n=incident_id, list=Code("/incident runbooks"),
                                  use=Code("/incident runbook use <key>")))
        pending = [s.step_id for s in live if s.state == PENDING]
        hint = Msg.of(" Pending steps: {steps}.", steps=codes(pending[:25])) if pending else None
        raise NotFound(Msg.join([Msg.of("INC-{n} has no step {step}.", n=incident_id,
                                        step=Code(limits.shown(step_id, MAX_STEP_ID))), hint], sep=""))
    return row


def step_by_row(session: Session, row_id: int) -> RunbookStep | None:
    """A live step by its row id (what checklist buttons carry); None for a dropped or unknown one."""
    row = session.get(RunbookStep, row_id)
    return row if row is not None and row.state != DROPPED else None


def finished_text(row: RunbookStep) -> Msg:
    verb = "done" if row.state == DONE else "skipped"
    at: Any = When(row.finished_at) if row.finished_at else "an unknown time"
    return Msg.of("Step {step} was already {verb} by {who} at {at}.", step=Code(row.step_id), verb=verb,
                  who=User(row.finished_by or ""), at=at)


def finish(session: Session, clock: Clock, incident_id: int, step_id: str, *, actor: str, skip: bool = False,
           reason: str | None = None, lever: str | None = None) -> RunbookStep:
    """Mark a step done (or skipped, with a reason). Exactly one of two concurrent calls wins: the update is
    conditional on the step still being pending; the loser gets Conflict naming who finished it. `lever`: the
    step was ticked off because that containment lever was pulled."""
    if skip:
        reason = limits.clean(reason or "", limits.REASON, "skip reason",
                              required=f"Say why `{limits.shown(step_id, MAX_STEP_ID)}` is skipped: the postmortem "
                                       "will ask.")
    else:
        reason = None
    row = find_step(session, incident_id, step_id)
    if row.state != PENDING:
        raise Conflict(finished_text(row))
    now = clock.now()
    state = SKIPPED if skip else DONE
    result = session.execute(
        update(RunbookStep)
        .where(col(RunbookStep.id) == row.id, col(RunbookStep.state) == PENDING)
        .values(state=state, finished_at=now, finished_by=actor, reason=reason)
    )
    if rowcount(result) != 1:
        session.expire(row)
        session.refresh(row)
        raise Conflict(finished_text(row))
    session.expire(row)
    session.refresh(row)
    kind = "step_skipped" if skip else "step_done"
    verb = "Skipped" if skip else "Done"
    how = f" (lever {lever} pulled)" if lever else ""
    text = f"{verb}: `{row.step_id}` {row.text[:120]}{how}" + (f" — {reason}" if reason else "")
    data: dict[str, Any] = {"runbook": row.runbook_key, "step": row.step_id, "user": actor,
                            "started_at": row.started_at.isoformat(),
                            "due_at": row.due_at.isoformat() if row.due_at else None}
    if reason:
        data["reason"] = reason
    if lever:
        data["lever"] = lever
    timeline.record(session, clock, incident_id, kind, text, actor=actor, data=data)
    return row


def assign(session: Session, clock: Clock, incident_id: int, step_id: str, user_id: str, *,
           actor: str) -> tuple[RunbookStep, str | None]:
    """Hand a pending step to someone (the caller has checked they may own it). Returns (step, the previous
    explicit owner)."""
    row = find_step(session, incident_id, step_id)
    if row.state != PENDING:
        raise Conflict(Msg.join([finished_text(row), Msg.of(" Only pending steps can be handed off.")], sep=""))
    if row.owner_id == user_id:
        raise Conflict(Msg.of("{who} already owns {step}.", who=User(user_id), step=Code(row.step_id)))
    previous = row.owner_id
    result = session.execute(
        update(RunbookStep).where(col(RunbookStep.id) == row.id, col(RunbookStep.state) == PENDING)
        .values(owner_id=user_id))
    if rowcount(result) != 1:
        session.refresh(row)
        raise Conflict(finished_text(row))
    session.expire(row)
    session.refresh(row)
    timeline.record(session, clock, incident_id, "step_assigned",
                    plain(Msg.of("{step} assigned to {who}", step=Code(row.step_id), who=User(user_id))),
                    actor=actor, data={"runbook": row.runbook_key, "step": row.step_id, "user": user_id,
                                       "previous": previous})
    return row, previous


def owner_of(row: RunbookStep | StepFact, roles: Mapping[str, str]) -> str | None:
    """Who owns a step: the person it was handed to, else whoever holds its role."""
    return (row.owner_id if isinstance(row, RunbookStep) else row.owner) or roles.get(row.owner_role)


def owner(row: RunbookStep, roles: Mapping[str, str]) -> Msg:
    """The owner as people read it: "@bob (incident commander)", "@dana", or "incident commander — unassigned"."""
    user = owner_of(row, roles)
    role = ROLES.get(row.owner_role, row.owner_role).lower()
    if row.owner_id:
        return Msg.of("{who}", who=User(row.owner_id))
    if user:
        return Msg.of("{who} ({role})", who=User(user), role=role)
    return Msg.of("_{role} — unassigned_", role=role)


def postmortem_rows(session: Session, clock: Clock, incident: Incident,
                    roles: Mapping[str, str]) -> tuple[StepFact, ...]:
    """The "runbook" postmortem provider: every checklist step judged by bot.core.facts (as of the
    resolution once resolved, exercise pauses counted), with its owner resolved through `roles`."""
    return judge(session, incident, clock.now(), roles)
