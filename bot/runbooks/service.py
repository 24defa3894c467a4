"""The runbook domain: attach, re-evaluate on severity change, finish / skip / assign steps.

Plain functions over a session and a clock; they raise FirebreakError with a user-facing message and know
nothing about Slack. Every state change writes its timeline event in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, select

from bot.core import timeline
from bot.core.clock import Clock
from bot.core.durations import format_duration
from bot.core.errors import Conflict, NotFound, UsageError
from bot.core.incidents import ROLES
from bot.core.text import Code, Msg, User
from bot.runbooks.loader import PHASE_ORDER, Library, Runbook, StepDef
from bot.store.models import Incident
from bot.store.models.runbook import DONE, DROPPED, PENDING, SKIPPED, RunbookAttachment, RunbookStep


@dataclass
class Change:
    """What an attach or a re-evaluation did, for the channel message and the timeline."""

    runbook: str
    added: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    due_changed: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = []
        if self.replaced:
            out.append(f"Runbook `{self.runbook}` replaces {', '.join(f'`{k}`' for k in self.replaced)}.")
        if self.added:
            out.append(f"Steps added: {', '.join(f'`{s}`' for s in self.added)}.")
        if self.kept:
            out.append(f"Kept as they were: {', '.join(f'`{s}`' for s in self.kept)}.")
        if self.dropped:
            out.append(f"No longer apply: {', '.join(f'`{s}`' for s in self.dropped)}.")
        out += self.due_changed
        return out

    def __bool__(self) -> bool:
        return bool(self.added or self.dropped or self.due_changed or self.replaced)


def active_attachments(session: Session, incident_id: int) -> list[RunbookAttachment]:
    query = (select(RunbookAttachment)
             .where(RunbookAttachment.incident_id == incident_id, RunbookAttachment.detached_at.is_(None))  # type: ignore[union-attr]
             .order_by(RunbookAttachment.id))
    return list(session.exec(query))


def active_titles(session: Session, incident_id: int) -> list[str]:
    """The titles of the runbooks in use, in attachment order (what `active_attachments` gives, one column)."""
    query = (select(RunbookAttachment.title)
             .where(RunbookAttachment.incident_id == incident_id, RunbookAttachment.detached_at.is_(None))  # type: ignore[union-attr]
             .order_by(RunbookAttachment.id))
    return list(session.exec(query))


def step_counts(session: Session, incident_id: int, now: datetime) -> dict[str, int]:
    """`progress(steps(...), now)` from four columns, without building the step objects."""
    query = (select(RunbookStep.state, RunbookStep.required, RunbookStep.due_at)
             .where(RunbookStep.incident_id == incident_id, RunbookStep.state != DROPPED))
    out = {"total": 0, "done": 0, "skipped": 0, "pending": 0, "overdue": 0}
    for state, required, due_at in session.exec(query):
        out["total"] += 1
        if state == DONE:
            out["done"] += 1
        elif state == SKIPPED:
            out["skipped"] += 1
        elif state == PENDING:
            out["pending"] += 1
            if required and due_at is not None and now >= due_at:
                out["overdue"] += 1
    return out


def all_steps(session: Session, incident_id: int) -> list[RunbookStep]:
    rows = session.exec(select(RunbookStep).where(RunbookStep.incident_id == incident_id))
    return sorted(rows, key=lambda s: (PHASE_ORDER.get(s.phase, 99), s.position, s.id or 0))


def steps(session: Session, incident_id: int) -> list[RunbookStep]:
    """The checklist: every step that applies (pending, done or skipped), in phase order."""
    return [s for s in all_steps(session, incident_id) if s.state != DROPPED]


def _due(incident: Incident, step: StepDef, severity: int) -> datetime | None:
    after = step.due_after(severity)
    return incident.opened_at + after if after is not None else None


def attach(session: Session, clock: Clock, incident: Incident, runbook: Runbook, *, actor: str,
           auto: bool, replace: bool) -> Change:
    """Attach `runbook`. With `replace`, the runbooks in use are detached and their pending steps that the
    new runbook does not share are dropped; done and skipped steps are always kept."""
    assert incident.id is not None
    current = active_attachments(session, incident.id)
    return _attach(session, clock, incident, runbook, actor=actor, auto=auto,
                   detach=current if replace else [])


def _attach(session: Session, clock: Clock, incident: Incident, runbook: Runbook, *, actor: str, auto: bool,
            detach: list[RunbookAttachment]) -> Change:
    assert incident.id is not None
    if any(a.runbook_key == runbook.key for a in active_attachments(session, incident.id)):
        raise Conflict(f"Runbook `{runbook.key}` is already in use on {incident.ref}.")
    now = clock.now()
    change = Change(runbook.key)
    existing = {s.step_id: s for s in all_steps(session, incident.id)}
    wanted = {s.id: s for s in runbook.steps_for(incident.severity)}
    detached_keys = {a.runbook_key for a in detach}
    staying = {a.runbook_key for a in active_attachments(session, incident.id)} - detached_keys
    for att in detach:
        att.detached_at, att.detached_by = now, actor
        session.add(att)
        change.replaced.append(att.runbook_key)
    for row in existing.values():
        if row.state == PENDING and row.runbook_key in detached_keys and row.step_id not in wanted:
            row.state = DROPPED
            session.add(row)
            change.dropped.append(row.step_id)
    seq = (len(session.exec(select(RunbookAttachment.id).where(
        RunbookAttachment.incident_id == incident.id)).all()) + 1) * 1000
    for index, step in enumerate(runbook.steps_for(incident.severity)):
        row = existing.get(step.id)
        if row is not None and (row.state in (DONE, SKIPPED) or (row.state == PENDING and row.runbook_key in staying)):
            change.kept.append(step.id)  # finished, or pending under a runbook that stays attached
            continue
        if row is None:
            row = RunbookStep(incident_id=incident.id, step_id=step.id, started_at=now, owner_role=step.owner)
            change.added.append(step.id)
        elif row.state == DROPPED:
            row.started_at = now
            change.added.append(step.id)
        _apply_def(row, runbook.key, step, seq + index, _due(incident, step, incident.severity))
        session.add(row)
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
                                      owner_role=step.owner)
                    rows[step.id] = row
                else:
                    row.started_at = clock.now()
                _apply_def(row, key, step, _position(session, incident.id, key) + index, _due(incident, step, new))
                session.add(row)
                change.added.append(step.id)
            elif not applies and row is not None and row.state == PENDING:
                row.state = DROPPED
                session.add(row)
                change.dropped.append(step.id)
            elif applies and row is not None and row.state == PENDING:
                due = _due(incident, step, new)
                if due != row.due_at:
                    change.due_changed.append(
                        f"`{step.id}` now due {_hm(due, opened)} (was {_hm(row.due_at, opened)}).")
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
                        .order_by(RunbookAttachment.id)).all()
    return (keys.index(key) + 1) * 1000 if key in keys else 0


def _hm(due: datetime | None, opened: datetime) -> str:
    if due is None:
        return "no due time"
    return f"{due.strftime('%H:%M')} UTC (+{format_duration(due - opened)})"


# ----- one step -----------------------------------------------------------------------------------------

def find_step(session: Session, incident_id: int, step_id: str) -> RunbookStep:
    row = session.exec(select(RunbookStep).where(RunbookStep.incident_id == incident_id,
                                                 RunbookStep.step_id == step_id.strip().lower())).first()
    if row is None or row.state == DROPPED:
        ids = [s.step_id for s in steps(session, incident_id)]
        if not ids:
            raise NotFound(f"INC-{incident_id} has no runbook attached. `/incident runbooks` lists them; "
                           "`/incident runbook use <key>` attaches one.")
        pending = [s.step_id for s in steps(session, incident_id) if s.state == PENDING]
        hint = f" Pending steps: {', '.join(f'`{i}`' for i in pending[:25])}." if pending else ""
        raise NotFound(f"INC-{incident_id} has no step `{step_id}`.{hint}")
    return row


def finished_text(row: RunbookStep) -> str:
    verb = "done" if row.state == DONE else "skipped"
    at = row.finished_at.strftime("%Y-%m-%d %H:%M:%S UTC") if row.finished_at else "an unknown time"
    return f"Step `{row.step_id}` was already {verb} by <@{row.finished_by}> at {at}."


def finish(session: Session, clock: Clock, incident_id: int, step_id: str, *, actor: str, skip: bool = False,
           reason: str | None = None) -> RunbookStep:
    """Mark a step done (or skipped, with a reason). Exactly one of two concurrent calls wins: the update is
    conditional on the step still being pending; the loser gets Conflict naming who finished it."""
    reason = (reason or "").strip() or None
    if skip and not reason:
        raise UsageError(f"Say why `{step_id}` is skipped: the postmortem will ask.")
    row = find_step(session, incident_id, step_id)
    if row.state != PENDING:
        raise Conflict(finished_text(row))
    now = clock.now()
    state = SKIPPED if skip else DONE
    result = session.execute(
        update(RunbookStep)
        .where(RunbookStep.id == row.id, RunbookStep.state == PENDING)
        .values(state=state, finished_at=now, finished_by=actor, reason=reason)
    )
    if result.rowcount != 1:
        session.expire(row)
        session.refresh(row)
        raise Conflict(finished_text(row))
    session.expire(row)
    session.refresh(row)
    kind = "step_skipped" if skip else "step_done"
    verb = "Skipped" if skip else "Done"
    text = f"{verb}: `{row.step_id}` {row.text[:120]}" + (f" — {reason}" if reason else "")
    data: dict[str, Any] = {"runbook": row.runbook_key, "step": row.step_id, "user": actor,
                            "started_at": row.started_at.isoformat(),
                            "due_at": row.due_at.isoformat() if row.due_at else None}
    if reason:
        data["reason"] = reason
    timeline.record(session, clock, incident_id, kind, text, actor=actor, data=data)
    return row


def assign(session: Session, clock: Clock, incident_id: int, step_id: str, user_id: str, *,
           actor: str) -> tuple[RunbookStep, str | None]:
    """Hand a pending step to someone. Returns (step, the previous explicit owner)."""
    row = find_step(session, incident_id, step_id)
    if row.state != PENDING:
        raise Conflict(finished_text(row) + " Only pending steps can be handed off.")
    if row.owner_id == user_id:
        raise Conflict(Msg.of("{who} already owns {step}.", who=User(user_id), step=Code(row.step_id)))
    previous = row.owner_id
    result = session.execute(
        update(RunbookStep).where(RunbookStep.id == row.id, RunbookStep.state == PENDING)
        .values(owner_id=user_id))
    if result.rowcount != 1:
        session.refresh(row)
        raise Conflict(finished_text(row))
    session.expire(row)
    session.refresh(row)
    timeline.record(session, clock, incident_id, "step_assigned", f"`{row.step_id}` assigned to <@{user_id}>",
                    actor=actor, data={"runbook": row.runbook_key, "step": row.step_id, "user": user_id,
                                       "previous": previous})
    return row, previous


def owner_of(row: RunbookStep, roles: dict[str, str]) -> str | None:
    return row.owner_id or roles.get(row.owner_role)


def owner_label(row: RunbookStep, roles: dict[str, str]) -> str:
    user = owner_of(row, roles)
    role = ROLES.get(row.owner_role, row.owner_role).lower()
    if row.owner_id:
        return f"<@{user}>"
    return f"<@{user}> ({role})" if user else f"_{role} — unassigned_"


def is_late(row: RunbookStep, now: datetime) -> bool:
    """Finished after its due time, or still pending at or after it (the moment a nudge may fire)."""
    if row.due_at is None:
        return False
    if row.state == PENDING:
        return now >= row.due_at
    return row.finished_at is not None and row.finished_at > row.due_at


def progress(rows: list[RunbookStep], now: datetime) -> dict[str, int]:
    return {
        "total": len(rows),
        "done": sum(1 for r in rows if r.state == DONE),
        "skipped": sum(1 for r in rows if r.state == SKIPPED),
        "pending": sum(1 for r in rows if r.state == PENDING),
        "overdue": sum(1 for r in rows if r.state == PENDING and r.required and is_late(r, now)),
    }


def postmortem_rows(session: Session, clock: Clock, incident: Incident, roles: dict[str, str]) -> list[dict]:
    """The "runbook" postmortem provider's shape (bot/postmortem/providers.py), plus `started_at`.

    `late`: finished after the due time, or still pending past it."""
    now = clock.now()
    out = []
    for row in steps(session, incident.id):
        out.append({
            "runbook": row.runbook_key, "phase": row.phase, "id": row.step_id, "text": row.text,
            "owner_role": row.owner_role, "owner": owner_of(row, roles), "required": row.required,
            "state": row.state, "reason": row.reason, "due_at": row.due_at,
            "done_at": row.finished_at, "late": is_late(row, now), "by": row.finished_by,
            "started_at": row.started_at,  # beyond the contract's keys: when the step joined the checklist
        })
    return out
