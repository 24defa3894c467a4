"""The reminder jobs: status-update reminders, SLA warnings and report-clock reminders.

Each is a module-level function `fn(ctx, **json_kwargs)` that reloads the incident and acts only if still
relevant, so a job restored after a restart or fired late (a coalesced misfire) does the right thing once.
What a job tells the world — a post, a direct message, a refreshed pinned summary — it records with
`bot.core.effects` in the transaction that records its fact on the timeline, under a key derived from what
it reminds of (`inc-7:status-reminder:<due>`, `inc-7:sla-75:<target>`, `inc-7:report:gdpr-72h:…`). A job run
again after a crash finds its key recorded and records nothing new; the effects runner performs what was
recorded exactly once, also across a crash. A job whose incident vanished is dropped.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from sqlmodel import Session, select

from bot.core import effects, facts, incidents, timeline
from bot.core.durations import format_duration
from bot.core.text import Msg, Raw, User, When, plain, when_utc
from bot.core.timers import incident_key
from bot.scheduler import planner
from bot.scheduler.regimes import regimes, reminder_times
from bot.store.models import Effect, Incident, ReportClock
from bot.store.models.incident import RESOLVED
from bot.store.models.timeline import BOT_ACTOR

if TYPE_CHECKING:
    from bot.app.services import Services

log = logging.getLogger(__name__)

# The named layout a transport renders the status reminder with (its buttons: post an update, snooze).
REMINDER_VIEW = "scheduler_status_reminder"


def recorded(session: Session, key: str) -> bool:
    """Whether an effect with this idempotency key was recorded already (this job ran before)."""
    return session.exec(select(Effect.id).where(Effect.key == key)).first() is not None


def load(session: Session, n: int) -> Incident | None:
    incident = session.get(Incident, n)
    if incident is None:
        log.warning("timer for INC-%s dropped: the incident no longer exists", n)
    return incident


def commander(session: Session, n: int) -> str | None:
    return incidents.roles(session, n).get("ic")


def addressee(ic: str | None) -> Msg:
    return Msg.of("{ic}", ic=User(ic)) if ic else Msg.of("No incident commander yet")


# ----- status-update reminders --------------------------------------------------------------------------------
def status_reminder(ctx: Services, *, incident_id: int, due: str | None = None) -> None:
    n = incident_id
    if due is None:  # stored by an earlier version: fire again at once, with the key this version needs
        planner.remind_at(ctx, n, ctx.clock.now())
        return
    with ctx.db.session() as session:
        incident = load(session, n)
        if incident is None or incident.status == RESOLVED:
            return  # resolution stops status reminders
        cadence = ctx.config.scheduler.cadence(incident.severity)
        if cadence is None:
            return
        now = ctx.clock.now()
        last = incident.last_status_at or incident.opened_at
        if now - last < cadence:  # someone posted an update meanwhile: remind one interval after it
            planner.remind_at(ctx, n, last + cadence)
            return
        planner.remind_at(ctx, n, now + cadence)  # written when this transaction commits
        key = incident_key(n, f"{planner.REMINDER}:{due}")
        if recorded(session, key):
            return  # this firing already reminded (it ran before a crash)
        since = "since it opened" if incident.last_status_at is None else "in"
        msg = Msg.of(":hourglass: {who}: no status update on {ref} " + since + " {waited} ({sev} cadence: every "
                     "{every}).", who=Raw(addressee(commander(session, n))), ref=incident.ref,
                     waited=format_duration(now - last), sev=incident.sev, every=format_duration(cadence))
        timeline.record(session, ctx.clock, n, "reminder_posted", f"Status update reminder ({incident.sev})",
                        actor=BOT_ACTOR, data={"purpose": "status", "cadence_seconds": int(cadence.total_seconds()),
                                               "due": due})
        effects.post(session, n, view=REMINDER_VIEW, key=key, created_at=now,
                     data={"incident": n, "msg": msg.to_json(),
                           "snooze": format_duration(ctx.config.scheduler.snooze_for())})
        effects.summary(session, n, created_at=now)  # the running clocks in the pinned summary


def snooze(ctx: Services, n: int, *, actor: str) -> datetime:
    """Move the next status reminder by the configured snooze; said in the channel and on the timeline."""
    with ctx.db.session() as session:
        incident = incidents.get(session, n, lock=True)
        incidents.require_open(incident)
        now = ctx.clock.now()
        until = now + ctx.config.scheduler.snooze_for()
        planner.remind_at(ctx, n, until)
        timeline.record(session, ctx.clock, n, "reminder_snoozed",
                        f"Status reminder snoozed until {when_utc(until)}", actor=actor,
                        data={"until": until.isoformat()})
        effects.post(session, n, Msg.of(":zzz: {who} snoozed the status reminder of {ref} until {at}.",
                                        who=User(actor), ref=incident.ref, at=When(until)), created_at=now)
    return until


# ----- SLA warnings -------------------------------------------------------------------------------------------
def sla_warning(ctx: Services, *, incident_id: int, percent: int) -> None:
    n = incident_id
    with ctx.db.session() as session:
        incident = load(session, n)
        if incident is None or incident.status == RESOLVED or incident.contained_at is not None:
            return
        f = facts.load(session, incident, ctx.rules, ctx.clock.now())
        points = dict(planner.sla_points(ctx, f))
        at = points.get(percent, facts.deadline(f.mttc.start, f.target.duration * (percent / 100), f.pauses))
        now = ctx.clock.now()
        if at is None:
            return  # an exercise paused: its resumption plans the warnings again
        if now < at:  # the target grew (a downgrade) or a pause moved it since this was planned
            ctx.timers.at(incident_key(n, f"{planner.SLA}{percent}"), at, planner.SLA_JOB, incident_id=n,
                          percent=percent)
            return
        if any(p > percent and when is not None and when <= now for p, when in points.items()):
            return  # coalesce: a later warning is also due and says more
        target_s = int(f.target.duration.total_seconds())
        key = incident_key(n, f"{planner.SLA}{percent}:{target_s}")
        if recorded(session, key + ":channel"):
            return  # warned already for this point of this target
        whose = "exercise" if f.target.source == facts.TargetSource.SCENARIO else incident.sev
        target, elapsed = format_duration(f.target.duration), format_duration(f.mttc.active)
        if percent >= 100:
            msg = Msg.of(":rotating_light: {ref} has breached its {whose} MTTC target of {target}: {elapsed} since "
                         "detection and not contained.", ref=incident.ref, whose=whose, target=target, elapsed=elapsed)
        else:
            msg = Msg.of(":warning: {ref} is at {pct}% of its {whose} MTTC target ({elapsed} of {target}); contain by "
                         "{by}.", ref=incident.ref, pct=percent, whose=whose, elapsed=elapsed, target=target,
                         by=When(f.mttc_due) if f.mttc_due is not None else None)
        timeline.record(session, ctx.clock, n, "sla_warning", plain(msg), actor=BOT_ACTOR,
                        data={"percent": percent, "target_seconds": target_s, "severity": incident.severity,
                              "target_source": f.target.source.value})
        ic = commander(session, n)
        effects.post(session, n, Msg.of("{ic} ", ic=User(ic)) + msg if ic else msg, key=key + ":channel",
                     created_at=now)
        if ic:
            effects.post(session, n, msg, to=effects.user(ic), key=key + ":dm", created_at=now)
        effects.summary(session, n, created_at=now)


# ----- report-clock reminders ---------------------------------------------------------------------------------
def clock_title(ctx: Services, regime: str) -> str:
    found = regimes(ctx.config).get(regime)
    return found.label if found else regime


def _point_time(ctx: Services, start: datetime, due: datetime, point: str) -> datetime:
    for label, at in reminder_times(ctx.config.scheduler.report_reminders, start, due):
        if label == point:
            return at
    return start


def how_to_close(regime: str) -> Msg:
    return Msg.of("record it with `/incident report-clock done {regime} <reference>`, or waive it with a reason: "
                  "`/incident report-clock waive {regime} <reason>`", regime=regime)


def report_reminder(ctx: Services, *, incident_id: int, regime: str, stage: str, point: str) -> None:
    """A reminder before a reporting deadline, or the notice that it passed. Resolution does not stop these:
    an obligation ends when it is recorded as done or waived."""
    n = incident_id
    with ctx.db.session() as session:
        incident = load(session, n)
        if incident is None:
            return
        clock = session.exec(select(ReportClock).where(ReportClock.incident_id == n,
                                                       ReportClock.regime == regime)).first()
        if clock is None or clock.done_at is not None:
            return
        entry = next((s for s in clock.stages if s["stage"] == stage), None)
        if entry is None or entry.get("done_at") or entry.get("waived_at"):
            return
        due = datetime.fromisoformat(entry["due"])
        now = ctx.clock.now()
        if point != "due":
            if now >= due:
                return  # the deadline notice speaks instead
            start = clock.aware_at if clock.aware_at < due else clock.started_at
            later = [label for label, at in reminder_times(ctx.config.scheduler.report_reminders, start, due)
                     if label != point and now >= at > _point_time(ctx, start, due, point)]
            if later:
                return  # coalesce missed points into the latest one
        key = planner.report_key(n, regime, stage, point)
        if recorded(session, key):
            return
        who = Raw(addressee(commander(session, n)))
        label = entry.get("label") or stage
        if point == "due":
            msg = Msg.of(":alarm_clock: {who}: the {title} deadline ({label}) for {ref} passed at {due} with no report "
                         "recorded. Report now, then {close}.", who=who, title=clock_title(ctx, regime), label=label,
                         ref=incident.ref, due=When(due), close=Raw(how_to_close(regime)))
        else:
            msg = Msg.of(":alarm_clock: {who}: {title} — {label} for {ref} is due {due} (in {left}). When sent, "
                         "{close}.", who=who, title=clock_title(ctx, regime), label=label, ref=incident.ref,
                         due=When(due), left=format_duration(due - now), close=Raw(how_to_close(regime)))
        timeline.record(session, ctx.clock, n, "reminder_posted", plain(msg), actor=BOT_ACTOR,
                        data={"purpose": "report", "regime": regime, "stage": stage, "point": point})
        effects.post(session, n, msg, key=key, created_at=now)
        effects.summary(session, n, created_at=now)  # the deadline's state in the pinned summary
