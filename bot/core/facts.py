"""The derived facts of an incident, computed in one place and read by every renderer.

MTTD, MTTA, MTTC and MTTR; the MTTC target that applies and whether it was met; running clocks; each
runbook step's state. The pinned summary, `/incident status`, App Home, the metrics, the tabletop scorecard,
the postmortem and the regulator summary all read these values, so they cannot disagree.

Rules decided here, once:
- **Intervals** (README, "Times and metrics"): MTTD = opened − detected, MTTA = acknowledged − opened,
  MTTC = contained − detected, MTTR = resolved − detected. An interval whose end has not happened is open;
  while the incident is open it is a running clock ("running since <start>").
- **Exercise pauses**: a facilitator may pause a tabletop exercise (`exercise_paused` … `exercise_resumed`
  on the timeline). Paused time does not count against the team: every interval has a wall-clock length
  and an active length (wall minus the pauses inside it). The active length is the headline number
  everywhere; real incidents are never paused, so for them the two are equal.
- **The MTTC target**: a tabletop exercise is judged against its scenario's `target_mttc` (the target the
  players were briefed with); every other incident against the severity rubric's target for its current
  severity.
- **Runbook steps**: done on time, done late (finished after its due time), skipped (with the reason),
  overdue (required, pending, past its due time), pending (required, not yet due) or not required
  (optional and still pending). Due times move later by paused exercise time, like the MTTC deadline.
  A resolved incident is judged as of its resolution, so its postmortem does not change as days pass.
- **Stored intervals**: the active intervals in whole seconds (truncated) are written on the incident
  row by `stamp`, which the lifecycle functions call whenever a timestamp changes; the metrics aggregate
  those columns in SQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Protocol

from sqlmodel import Session, col, select

from bot.core.durations import parse_duration
from bot.core.errors import UsageError
from bot.store.models import ExerciseRun, Incident, TimelineEvent
from bot.store.models.incident import RESOLVED
from bot.store.models.runbook import DONE, PENDING, SKIPPED

PAUSED = "exercise_paused"
RESUMED = "exercise_resumed"


# ----- intervals ---------------------------------------------------------------------------------------------
class Metric(StrEnum):
    """The four response intervals; the value is the column prefix and the CSV name."""

    MTTD = "mttd"
    MTTA = "mtta"
    MTTC = "mttc"
    MTTR = "mttr"

    @property
    def label(self) -> str:
        return self.value.upper()

    @property
    def definition(self) -> str:
        return DEFINITIONS[self]

    @property
    def column(self) -> str:
        """The incident column holding the stored active interval in seconds."""
        return f"{self.value}_seconds"


DEFINITIONS: Mapping[Metric, str] = {
    Metric.MTTD: "opened − detected",
    Metric.MTTA: "acknowledged − opened",
    Metric.MTTC: "contained − detected",
    Metric.MTTR: "resolved − detected",
}
# metric -> (start timestamp attribute, end timestamp attribute) of the incident row
ENDPOINTS: Mapping[Metric, tuple[str, str]] = {
    Metric.MTTD: ("detected_at", "opened_at"),
    Metric.MTTA: ("opened_at", "acknowledged_at"),
    Metric.MTTC: ("detected_at", "contained_at"),
    Metric.MTTR: ("detected_at", "resolved_at"),
}


@dataclass(frozen=True)
class Pause:
    """A paused stretch of an exercise; `end` is None while it is still paused."""

    start: datetime
    end: datetime | None


class EventLike(Protocol):
    """What pause detection reads from a timeline event (a TimelineEvent, or a test's plain record)."""

    @property
    def at(self) -> datetime: ...

    @property
    def kind(self) -> str: ...


class Timestamps(Protocol):
    """The incident columns the intervals are computed from and stored in (an Incident row, or a
    generator's record)."""

    detected_at: datetime
    opened_at: datetime
    acknowledged_at: datetime | None
    contained_at: datetime | None
    resolved_at: datetime | None
    mttd_seconds: int | None
    mtta_seconds: int | None
    mttc_seconds: int | None
    mttr_seconds: int | None
    opened_week: date | None

    @property
    def is_open(self) -> bool: ...


def pauses(events: Iterable[EventLike]) -> tuple[Pause, ...]:
    """The exercise's pauses, from its `exercise_paused` / `exercise_resumed` events in time order."""
    out: list[Pause] = []
    since: datetime | None = None
    for e in sorted((e for e in events if e.kind in (PAUSED, RESUMED)), key=lambda e: e.at):
        if e.kind == PAUSED and since is None:
            since = e.at
        elif e.kind == RESUMED and since is not None:
            out.append(Pause(since, e.at))
            since = None
    if since is not None:
        out.append(Pause(since, None))
    return tuple(out)


def paused_between(start: datetime, end: datetime, paused: Iterable[Pause]) -> timedelta:
    """How much of [start, end] was paused (a pause still open counts up to `end`)."""
    total = timedelta(0)
    for p in paused:
        lo, hi = max(start, p.start), min(end, p.end or end)
        if hi > lo:
            total += hi - lo
    return total


def active_between(start: datetime, end: datetime, paused: Iterable[Pause]) -> timedelta:
    """end − start without the paused time in between: a pause for lunch does not count against the team."""
    return (end - start) - paused_between(start, end, paused)


def deadline(start: datetime, allowed: timedelta, paused: Iterable[Pause]) -> datetime | None:
    """The wall-clock moment `allowed` active time after `start`; None while a pause has stopped the clock
    before it is reached."""
    due = start + allowed
    for p in sorted(paused, key=lambda p: p.start):
        end = p.end
        if end is None:
            return None if p.start < due else due
        if p.start < due and end > start:
            due += end - max(p.start, start)
    return due


@dataclass(frozen=True)
class Interval:
    """One interval of one incident, as of `as_of`."""

    metric: Metric
    start: datetime
    end: datetime | None  # None: the end has not happened (yet)
    as_of: datetime
    paused: timedelta  # paused time inside the interval (so far, while it runs)
    running: bool  # the end has not happened and the incident is still open: a clock to show as running

    @property
    def done(self) -> bool:
        return self.end is not None

    @property
    def wall(self) -> timedelta:
        """Wall-clock length: to the end, or to `as_of` while it has not ended."""
        return (self.end or self.as_of) - self.start

    @property
    def active(self) -> timedelta:
        """The headline length: wall-clock minus exercise pauses."""
        return self.wall - self.paused

    @property
    def value(self) -> timedelta | None:
        """The finished interval's active length; None while it is open."""
        return self.active if self.done else None

    @property
    def seconds(self) -> int | None:
        """The stored form: whole seconds of the finished active interval (truncated), else None."""
        return int(self.active.total_seconds()) if self.done else None


# ----- the MTTC target ---------------------------------------------------------------------------------------
class TargetSource(StrEnum):
    RUBRIC = "rubric"  # the severity rubric's target for the incident's current severity
    SCENARIO = "scenario"  # a tabletop scenario's target_mttc


@dataclass(frozen=True)
class Target:
    duration: timedelta
    source: TargetSource
    severity: int

    @property
    def label(self) -> str:
        """Whose target it is, for sentences: "SEV1 target" or "exercise target"."""
        return "exercise target" if self.source == TargetSource.SCENARIO else f"SEV{self.severity} target"


class TargetRules(Protocol):
    def mttc_target(self, severity: int) -> timedelta: ...


def target(incident: Incident, rules: TargetRules, scenario_target: timedelta | None = None) -> Target:
    """The MTTC target that applies: the scenario's for an exercise that has one, else the rubric's."""
    if incident.is_exercise and scenario_target is not None:
        return Target(scenario_target, TargetSource.SCENARIO, incident.severity)
    return Target(rules.mttc_target(incident.severity), TargetSource.RUBRIC, incident.severity)


# ----- runbook steps -----------------------------------------------------------------------------------------
class StepState(StrEnum):
    DONE_ON_TIME = "done on time"
    DONE_LATE = "done late"
    SKIPPED = "skipped"
    OVERDUE = "overdue"
    PENDING = "pending"
    NOT_REQUIRED = "not required"

    @property
    def finished(self) -> bool:
        return self in (StepState.DONE_ON_TIME, StepState.DONE_LATE, StepState.SKIPPED)


def step_state(*, state: str, required: bool, due_at: datetime | None, finished_at: datetime | None,
               as_of: datetime) -> StepState:
    """Judge one step from its stored state (`done`, `skipped`, `pending`) and its (effective) due time."""
    if state == DONE:
        late = due_at is not None and finished_at is not None and finished_at > due_at
        return StepState.DONE_LATE if late else StepState.DONE_ON_TIME
    if state == SKIPPED:
        return StepState.SKIPPED
    if state != PENDING:
        raise ValueError(f"a step in state {state!r} is not on the checklist")
    if not required:
        return StepState.NOT_REQUIRED
    if due_at is not None and as_of >= due_at:
        return StepState.OVERDUE
    return StepState.PENDING


class StepRow(Protocol):
    """The runbook step columns step facts read (bot.store.models.runbook.RunbookStep has them all)."""

    runbook_key: str
    step_id: str
    phase: str
    text: str
    required: bool
    state: str
    due_at: datetime | None
    finished_at: datetime | None
    finished_by: str | None
    reason: str | None
    owner_role: str
    owner_id: str | None


@dataclass(frozen=True)
class StepFact:
    runbook: str
    step_id: str
    phase: str
    text: str
    required: bool
    state: StepState
    due_at: datetime | None  # effective: exercise pauses push it later; None while a pause stops its clock
    finished_at: datetime | None
    finished_by: str | None
    reason: str | None  # why it was skipped
    owner_role: str
    owner: str | None  # the user who owns it: the explicit owner, else whoever holds owner_role

    @property
    def name(self) -> str:
        return f"{self.runbook}/{self.step_id}"

    @property
    def late_by(self) -> timedelta | None:
        """How long after its due time a step done late was finished."""
        if self.state == StepState.DONE_LATE and self.due_at is not None and self.finished_at is not None:
            return self.finished_at - self.due_at
        return None


@dataclass(frozen=True)
class StepTally:
    """How many steps are in each state; the numbers every renderer quotes."""

    counts: Mapping[StepState, int]

    def __getitem__(self, state: StepState) -> int:
        return self.counts.get(state, 0)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def done(self) -> int:
        return self[StepState.DONE_ON_TIME] + self[StepState.DONE_LATE]

    @property
    def required_open(self) -> int:
        """Required steps not done or skipped: overdue plus not yet due."""
        return self[StepState.OVERDUE] + self[StepState.PENDING]

    @property
    def open(self) -> int:
        return self.required_open + self[StepState.NOT_REQUIRED]

    def open_sentence(self, *, by: str) -> str | None:
        """The required steps not done `by` a moment ("by the resolution", "when the exercise ended"), in
        the one sentence the postmortem and the tabletop scorecard both print; None when there are none."""
        if not self.required_open:
            return None
        overdue, pending = self[StepState.OVERDUE], self[StepState.PENDING]
        parts = ([f"{overdue} overdue"] if overdue else []) + ([f"{pending} not yet due"] if pending else [])
        return f"{self.required_open} required runbook step(s) were not done {by}: {', '.join(parts)}."


def tally(steps: Iterable[StepFact]) -> StepTally:
    counts: dict[StepState, int] = {}
    for s in steps:
        counts[s.state] = counts.get(s.state, 0) + 1
    return StepTally(counts)


def step_facts(rows: Iterable[StepRow], *, opened_at: datetime, as_of: datetime, paused: tuple[Pause, ...] = (),
               roles: Mapping[str, str] | None = None) -> tuple[StepFact, ...]:
    """Judge the checklist's step rows (not dropped ones) as of `as_of`. A step's due time is counted from
    the opening, so exercise pauses push it later; `roles` (role -> user) names who owns each step."""
    out = []
    for row in rows:
        due = row.due_at
        if due is not None and paused:
            due = deadline(opened_at, due - opened_at, paused)  # None: a pause stopped its clock
        state = step_state(state=row.state, required=row.required, due_at=due, finished_at=row.finished_at,
                           as_of=as_of)
        out.append(StepFact(runbook=row.runbook_key, step_id=row.step_id, phase=row.phase, text=row.text,
                            required=row.required, state=state, due_at=due, finished_at=row.finished_at,
                            finished_by=row.finished_by, reason=row.reason, owner_role=row.owner_role,
                            owner=row.owner_id or (roles or {}).get(row.owner_role)))
    return tuple(out)


# ----- everything about one incident ------------------------------------------------------------------------
@dataclass(frozen=True)
class IncidentFacts:
    as_of: datetime  # the resolution time of a resolved incident, else now
    is_open: bool
    pauses: tuple[Pause, ...]
    mttd: Interval
    mtta: Interval
    mttc: Interval
    mttr: Interval
    target: Target

    @property
    def intervals(self) -> tuple[Interval, ...]:
        return (self.mttd, self.mtta, self.mttc, self.mttr)

    def interval(self, metric: Metric) -> Interval:
        return {Metric.MTTD: self.mttd, Metric.MTTA: self.mtta, Metric.MTTC: self.mttc,
                Metric.MTTR: self.mttr}[metric]

    @property
    def paused(self) -> timedelta:
        return paused_between(self.mttd.start, self.as_of, self.pauses)

    @property
    def mttc_met(self) -> bool | None:
        """Contained within the target; None while not contained."""
        return None if not self.mttc.done else self.mttc.active <= self.target.duration

    @property
    def mttc_over(self) -> bool:
        """Past the target: contained late, or not contained and the clock is beyond it."""
        return self.mttc.active > self.target.duration

    @property
    def mttc_due(self) -> datetime | None:
        """When containment stops meeting the target (wall clock); None while a pause stops the clock."""
        return deadline(self.mttc.start, self.target.duration, self.pauses)


def as_of(incident: Incident, now: datetime) -> datetime:
    """The moment an incident is judged at: its resolution once resolved, else now."""
    if incident.status == RESOLVED and incident.resolved_at is not None:
        return incident.resolved_at
    return now


def _interval(incident: Timestamps, metric: Metric, when: datetime, paused: tuple[Pause, ...]) -> Interval:
    start_attr, end_attr = ENDPOINTS[metric]
    start: datetime = getattr(incident, start_attr)
    end: datetime | None = getattr(incident, end_attr)
    stop = end if end is not None else max(when, start)
    return Interval(metric=metric, start=start, end=end, as_of=when,
                    paused=paused_between(start, stop, paused), running=end is None and incident.is_open)


def derive(incident: Incident, *, rules: TargetRules, now: datetime, paused: tuple[Pause, ...] = (),
           scenario_target: timedelta | None = None) -> IncidentFacts:
    """The facts of one incident from its row, its pauses and (for an exercise) its scenario's target."""
    when = as_of(incident, now)
    return IncidentFacts(
        as_of=when, is_open=incident.is_open, pauses=paused,
        mttd=_interval(incident, Metric.MTTD, when, paused), mtta=_interval(incident, Metric.MTTA, when, paused),
        mttc=_interval(incident, Metric.MTTC, when, paused), mttr=_interval(incident, Metric.MTTR, when, paused),
        target=target(incident, rules, scenario_target),
    )


# ----- reading what the facts need ---------------------------------------------------------------------------
def load_pauses(session: Session, incident: Incident) -> tuple[Pause, ...]:
    """An exercise's pauses from its timeline; nothing to read for a real incident."""
    if not incident.is_exercise or incident.id is None:
        return ()
    query = (select(TimelineEvent).where(TimelineEvent.incident_id == incident.id,
                                         col(TimelineEvent.kind).in_((PAUSED, RESUMED)))
             .order_by(col(TimelineEvent.at), col(TimelineEvent.id)))
    events: list[TimelineEvent] = list(session.exec(query))
    return pauses(events)


def scenario_target(session: Session, incident: Incident) -> timedelta | None:
    """The exercise's scenario target (stored with the run as `target_mttc`, e.g. "2700s"); None otherwise."""
    if not incident.is_exercise or incident.id is None:
        return None
    run = session.exec(select(ExerciseRun).where(ExerciseRun.incident_id == incident.id)).first()
    raw = (run.scenario or {}).get("target_mttc") if run is not None else None
    if not isinstance(raw, str):
        return None
    try:
        return parse_duration(raw)
    except UsageError:
        return None


def load(session: Session, incident: Incident, rules: TargetRules, now: datetime) -> IncidentFacts:
    """`derive` with what it needs read from the database (two small reads, for exercises only)."""
    return derive(incident, rules=rules, now=now, paused=load_pauses(session, incident),
                  scenario_target=scenario_target(session, incident))


def load_steps(session: Session, incident: Incident, rows: Iterable[StepRow], now: datetime,
               roles: Mapping[str, str] | None = None) -> tuple[StepFact, ...]:
    """`step_facts` for one incident's rows, judged as of its resolution (or now), pauses read."""
    return step_facts(rows, opened_at=incident.opened_at, as_of=as_of(incident, now),
                      paused=load_pauses(session, incident), roles=roles)


# ----- the stored intervals ----------------------------------------------------------------------------------
def stored_seconds(incident: Timestamps, paused: tuple[Pause, ...] = ()) -> dict[Metric, int | None]:
    """The four interval columns' values: finished active intervals in whole seconds, else None."""
    # The same Interval every renderer reads (as_of does not matter for a finished interval).
    return {metric: _interval(incident, metric, incident.opened_at, paused).seconds for metric in Metric}


def week_of(ts: datetime) -> date:
    """The Monday (UTC) of the week holding `ts`: the weekly metrics series groups incidents by it."""
    return (ts.astimezone(UTC) - timedelta(days=ts.astimezone(UTC).weekday())).date()


def fill(incident: Timestamps, paused: tuple[Pause, ...] = ()) -> None:
    """Set the stored interval columns (and the opening week) from the incident's timestamps and an
    exercise's pauses: the one writer of those columns, so the SQL aggregates read what this module says."""
    for metric, seconds in stored_seconds(incident, paused).items():
        setattr(incident, metric.column, seconds)
    incident.opened_week = week_of(incident.opened_at)


def stamp(session: Session, incident: Incident) -> None:
    """`fill` after a lifecycle function changed a timestamp (it reads an exercise's pauses first)."""
    fill(incident, load_pauses(session, incident))
    session.add(incident)
