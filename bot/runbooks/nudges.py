"""Nudges for late runbook steps.

`nudge_overdue(ctx, incident_id)` is the one place that decides and acts: it finds required steps that are
pending past their due time and not yet nudged at the incident's current severity, records `step_nudged`,
posts in the incident channel and messages each owner. A step is nudged once, and once more each time the
incident is escalated while the step is still late. It is idempotent, so any scheduler (the in-memory
timers now, the durable scheduler later) may call it as often as it likes.

`schedule(ctx, incident_id)` (re)creates one timer per pending required step at its due time, job
`runbook_nudge` with kwargs {"incident_id": n}.
"""

from __future__ import annotations

import logging

from bot.core import incidents, timeline
from bot.core.durations import format_duration
from bot.core.timers import incident_key
from bot.runbooks import service
from bot.slack import ops
from bot.slack.context import AppContext
from bot.store.models.runbook import PENDING
from bot.store.models.timeline import BOT_ACTOR

log = logging.getLogger(__name__)

JOB = "runbook_nudge"


def timer_prefix(incident_id: int) -> str:
    return incident_key(incident_id, "runbook:")


def step_key(incident_id: int, step_id: str) -> str:
    return incident_key(incident_id, f"runbook:step:{step_id}")


def schedule(ctx: AppContext, incident_id: int) -> int:
    """One timer per pending required step with a due time (at the due time, or now if already late)."""
    timers = ctx.timers
    if timers is None:
        return 0
    now = ctx.clock.now()
    with ctx.db.session() as session:
        incident = incidents.get(session, incident_id)
        wanted = []
        if incident.is_open:
            for row in service.steps(session, incident_id):
                if row.state == PENDING and row.required and row.due_at is not None:
                    if row.nudged_severity is not None and row.nudged_severity <= incident.severity:
                        continue  # already nudged at this severity
                    wanted.append((row.step_id, max(row.due_at, now)))
    want = {step_key(incident_id, step_id): when for step_id, when in wanted}
    have = scheduled(timers, timer_prefix(incident_id))
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
    return len(wanted)


def scheduled(timers: object, prefix: str) -> dict[str, object]:
    """{key: run time} of the pending timers under `prefix` (the durable store reads just two columns)."""
    cheap = getattr(timers, "scheduled", None)
    if cheap is not None:
        return cheap(prefix)
    return {t.key: t.when for t in timers.pending(prefix)}  # type: ignore[attr-defined]


def cancel(ctx: AppContext, incident_id: int) -> None:
    timers = ctx.timers
    if timers is not None:
        timers.cancel_prefix(timer_prefix(incident_id))


def nudge_overdue(ctx: AppContext, incident_id: int, **_ignored: object) -> list[str]:
    """Nudge every late required step not yet nudged at the current severity. Returns the step ids nudged."""
    now = ctx.clock.now()
    with ctx.db.session() as session:
        incident = incidents.get(session, incident_id, lock=True)
        if not incident.is_open:
            return []
        roles = incidents.roles(session, incident_id)
        late = []
        for row in service.steps(session, incident_id):
            if row.state != PENDING or not row.required or row.due_at is None or row.due_at > now:
                continue
            if row.nudged_severity is not None and row.nudged_severity <= incident.severity:
                continue
            again = row.nudged_at is not None
            row.nudged_at, row.nudged_severity = now, incident.severity
            session.add(row)
            owner = service.owner_of(row, roles)
            overdue = format_duration(now - row.due_at)
            timeline.record(session, ctx.clock, incident_id, "step_nudged",
                            f"Nudged{' again (escalated)' if again else ''}: `{row.step_id}` is {overdue} late",
                            actor=BOT_ACTOR, data={"runbook": row.runbook_key, "step": row.step_id, "user": owner,
                                                   "overdue_seconds": int((now - row.due_at).total_seconds()),
                                                   "severity": incident.severity, "again": again})
            late.append((row.step_id, row.text, owner, service.owner_label(row, roles), overdue, again))
        ref, channel, sev = incident.ref, incident.channel_id, incident.sev
        tag = "[EXERCISE] " if incident.is_exercise else ""
    if not late:
        return []
    lines = [f"{tag}:alarm_clock: *{ref} ({sev}): required runbook steps are late*"]
    for step_id, text, _owner, label, overdue, again in late:
        lines.append(f"• `{step_id}` — {_short(text)} — {label}, {overdue} late" + (" _(escalated)_" if again else ""))
    lines.append("Finish them with the checklist buttons or `/incident step <id> done`.")
    ops.post(ctx, incident_id, channel, "\n".join(lines))
    by_owner: dict[str, list[str]] = {}
    for step_id, text, owner, _label, overdue, _again in late:
        if owner:
            by_owner.setdefault(owner, []).append(f"• `{step_id}` — {_short(text)} ({overdue} late)")
    for owner, items in by_owner.items():
        where = f" in <#{channel}>" if channel else ""
        ops.post(ctx, incident_id, owner, f"{tag}:alarm_clock: {ref}: you own late runbook steps{where}:\n"
                 + "\n".join(items), what="chat.postMessage (nudge DM)")
    from bot.runbooks import checklist

    checklist.publish(ctx, incident_id)
    ops.refresh(ctx, incident_id)  # the pinned summary counts overdue steps
    return [item[0] for item in late]


def _short(text: str, limit: int = 140) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
