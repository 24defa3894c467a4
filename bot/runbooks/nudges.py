"""Nudges for late runbook steps.

`nudge_overdue(ctx, incident_id)` is the one place that decides: in one transaction it finds the steps
bot.core.facts calls overdue (required, pending, past their due time, exercise pauses counted; optional steps
never are) and not yet nudged at the incident's current severity, records `step_nudged` for each, and records
the messages — one in the incident channel listing them, one direct message per owner — as effects with
idempotency keys (`inc-<n>:nudge:sev<s>:<steps>`). A step is nudged once, and once more each time the incident
is escalated while the step is still late. A re-run (the durable scheduler re-queues a job a crash interrupted,
or anything calls it twice) finds the steps already marked and records nothing: every nudge reaches Slack once.

`schedule(ctx, incident_id)` (re)creates one timer per pending required step at its due time, job
`runbook_nudge` with kwargs {"incident_id": n}, key `inc-<n>:runbook:step:<id>`. It reads the database and
writes the timer store, so it is called after the transaction that changed the steps; or inside it with that transaction's
session, and the timer store is written once it commits (an incident's first runbook, as it opens).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlmodel import Session

from bot.core import effects, incidents, timeline
from bot.core.facts import StepFact, StepState
from bot.core.text import Channel, Code, Msg, Raw, duration
from bot.core.timers import incident_key
from bot.runbooks import checklist, service
from bot.store.models.incident import Incident
from bot.store.models.runbook import PENDING, RunbookStep
from bot.store.models.timeline import BOT_ACTOR

if TYPE_CHECKING:
    from bot.app.services import Services

JOB = "runbook_nudge"
# While an exercise is paused a step's due time is unknown (its clock is stopped): look again this often.
PAUSED_RECHECK = timedelta(minutes=5)
SHORT = 140  # how much of a step's text a nudge quotes


def timer_prefix(incident_id: int) -> str:
    return incident_key(incident_id, "runbook:")


def step_key(incident_id: int, step_id: str) -> str:
    return incident_key(incident_id, f"runbook:step:{step_id}")


def _waiting(row: RunbookStep, severity: int) -> bool:
    """Still to be nudged at this severity (never nudged, or nudged at a less severe level)."""
    return row.nudged_severity is None or row.nudged_severity > severity


def wanted(ctx: Services, incident_id: int, *, session: Session | None = None,
           incident: Incident | None = None) -> dict[str, datetime]:
    """{timer key: when} for every required pending step that may still need a nudge. Read in the caller's
    `session` (and its `incident`) when given, else in a transaction of its own."""
    if session is None:
        with ctx.db.session() as own:
            return wanted(ctx, incident_id, session=own)
    now = ctx.clock.now()
    if incident is None:
        incident = incidents.get(session, incident_id)
    if not incident.is_open:
        return {}
    rows = service.steps(session, incident_id)
    judged = service.judge(session, incident, now, rows=rows)
    out: dict[str, datetime] = {}
    for row, fact in zip(rows, judged, strict=True):
        if row.state != PENDING or not row.required or row.due_at is None or not _waiting(row, incident.severity):
            continue
        when = fact.due_at if fact.due_at is not None else now + PAUSED_RECHECK  # None: a pause stops its clock
        out[step_key(incident_id, row.step_id)] = max(when, now)
    return out


def schedule(ctx: Services, incident_id: int, *, session: Session | None = None, incident: Incident | None = None,
             new_incident: bool = False) -> int:
    """One timer per step still to be nudged (at its due time, or now if already late). Returns how many.

    With `session`, the steps are read in the caller's transaction and the timers are written once it commits;
    `new_incident`: the incident was created in that transaction, so it has no timers yet to compare with."""
    timers = ctx.timers
    if timers is None:
        return 0
    want = wanted(ctx, incident_id, session=session, incident=incident)
    now = ctx.clock.now()
    have = {} if new_incident else scheduled(timers, timer_prefix(incident_id))
    # Only what differs is written (each write is a transaction on the durable job table). A timer already
    # due stands for one wanted "now": both fire on the next run.
    with timers.batch():  # one transaction for all of the incident's nudge timers
        for key in have.keys() - want.keys():
            timers.cancel(key)
        for key, when in want.items():
            current = have.get(key)
            if current is not None and (abs((current - when).total_seconds()) < 0.001
                                        or (when <= now and current <= now)):
                continue
            timers.at(key, when, JOB, incident_id=incident_id)
    return len(want)


def scheduled(timers: Any, prefix: str) -> dict[str, datetime]:
    """{key: run time} of the pending timers under `prefix` (the durable store reads just two columns)."""
    cheap = getattr(timers, "scheduled", None)
    if cheap is not None:
        return dict(cheap(prefix))
    return {t.key: t.when for t in timers.pending(prefix)}


def cancel(ctx: Services, incident_id: int) -> None:
    if ctx.timers is not None:
        ctx.timers.cancel_prefix(timer_prefix(incident_id))


def nudge_overdue(ctx: Services, incident_id: int, **_ignored: object) -> list[str]:
    """Nudge every overdue required step not yet nudged at the current severity. Returns the step ids nudged."""
    now = ctx.clock.now()
    with ctx.db.session() as session:
        incident = incidents.get(session, incident_id, lock=True)
        if not incident.is_open:
            return []
        roles = incidents.roles(session, incident_id)
        rows = service.steps(session, incident_id)
        late: list[tuple[RunbookStep, StepFact, bool]] = []
        for row, fact in zip(rows, service.judge(session, incident, now, roles, rows=rows), strict=True):
            if fact.state != StepState.OVERDUE or not _waiting(row, incident.severity):
                continue
            assert fact.due_at is not None
            again = row.nudged_at is not None
            row.nudged_at, row.nudged_severity = now, incident.severity
            session.add(row)
            overdue = now - fact.due_at
            timeline.record(session, ctx.clock, incident_id, "step_nudged",
                            f"Nudged{' again (escalated)' if again else ''}: `{row.step_id}` is "
                            f"{duration(overdue)} late",
                            actor=BOT_ACTOR, data={"runbook": row.runbook_key, "step": row.step_id,
                                                   "user": service.owner_of(row, roles),
                                                   "overdue_seconds": int(overdue.total_seconds()),
                                                   "severity": incident.severity, "again": again})
            late.append((row, fact, again))
        if late:
            _record_messages(session, incident_id, incident.ref, incident.sev, incident.severity, incident.channel_id,
                             roles, late, now)
            checklist.publish(session, incident_id, created_at=now)  # the overdue markers
            effects.summary(session, incident_id, created_at=now)    # the summary counts overdue steps
    schedule(ctx, incident_id)
    return [row.step_id for row, _fact, _again in late]


def _record_messages(session: Any, incident_id: int, ref: str, sev: str, severity: int, channel_id: str | None,
                     roles: Mapping[str, str], late: list[tuple[RunbookStep, StepFact, bool]], now: datetime) -> None:
    """The channel message and one direct message per owner, each recorded once for this set of steps."""
    ids = sorted(row.step_id for row, _fact, _again in late)
    key = f"inc-{incident_id}:nudge:sev{severity}:{_digest(ids)}"
    lines = [Msg.of(":alarm_clock: *{ref} ({sev}): required runbook steps are late*", ref=ref, sev=sev)]
    for row, fact, again in late:
        assert fact.due_at is not None
        lines.append(Msg.of("• {step} — {text} — {owner}, {late} late{again}", step=Code(row.step_id),
                            text=_short(row.text), owner=Raw(service.owner(row, roles)),
                            late=duration(now - fact.due_at),
                            again=Raw(Msg.of(" _(escalated)_")) if again else ""))
    lines.append(Msg.of("Finish them from the checklist's menu or with {cmd}.",
                        cmd=Code("/incident step <id> done")))
    effects.post(session, incident_id, Msg.join(lines), created_at=now, key=key)
    by_owner: dict[str, list[Msg]] = {}
    for row, fact, _again in late:
        owner = service.owner_of(row, roles)
        if owner and owner != BOT_ACTOR and fact.due_at is not None:
            by_owner.setdefault(owner, []).append(Msg.of("• {step} — {text} ({late} late)", step=Code(row.step_id),
                                                         text=_short(row.text), late=duration(now - fact.due_at)))
    where = Msg.of(" in {ch}", ch=Channel(channel_id)) if channel_id else None
    for owner, items in sorted(by_owner.items()):
        head = Msg.join([Msg.of(":alarm_clock: {ref}: you own late runbook steps", ref=ref), where, Msg.of(":")], sep="")
        effects.post(session, incident_id, Msg.join([head, *items]), to=effects.user(owner), created_at=now,
                     key=f"{key}:dm:{owner}")


def _digest(ids: list[str]) -> str:
    """A short, stable name for a set of step ids (keys are capped at 200 characters)."""
    return hashlib.sha256(",".join(ids).encode()).hexdigest()[:16]


def _short(text: str, limit: int = SHORT) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip() + "…"
