"""bot/core/facts.py: the table of cases every renderer relies on — intervals, running clocks, exercise
pauses, reopening, the MTTC target rule, deadlines and runbook step states."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from bot.core import facts
from bot.core.facts import Metric, Pause, StepState, TargetSource
from bot.store.models import Incident

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


class Rubric:
    def mttc_target(self, severity: int) -> timedelta:
        return {1: timedelta(hours=1), 2: timedelta(hours=4)}[severity]


def incident(*, opened: float = 2, ack: float | None = None, contained: float | None = None,
             resolved: float | None = None, severity: int = 1, exercise: bool = False) -> Incident:
    status = "resolved" if resolved is not None else "contained" if contained is not None else "active"
    return Incident(title="t", category="jailbreak", severity=severity, reporter_id="U0A", detected_at=T0,
                    opened_at=at(opened), acknowledged_at=at(ack) if ack is not None else None,
                    contained_at=at(contained) if contained is not None else None,
                    resolved_at=at(resolved) if resolved is not None else None, status=status,
                    is_exercise=exercise)


def derive(row: Incident, now: float, paused: tuple[Pause, ...] = (), scenario: timedelta | None = None):
    return facts.derive(row, rules=Rubric(), now=at(now), paused=paused, scenario_target=scenario)


def test_finished_intervals_and_their_stored_seconds() -> None:
    row = incident(opened=2.5, ack=4, contained=47.99, resolved=240)
    f = derive(row, now=600)
    assert [i.metric for i in f.intervals] == [Metric.MTTD, Metric.MTTA, Metric.MTTC, Metric.MTTR]
    assert f.mttd.active == timedelta(minutes=2.5) and f.mtta.active == timedelta(minutes=1.5)
    assert not any(i.running for i in f.intervals) and all(i.done for i in f.intervals)
    assert f.mttc.seconds == 2879  # 47.99 minutes = 2879.4 s, truncated to whole seconds
    assert facts.stored_seconds(row) == {Metric.MTTD: 150, Metric.MTTA: 90, Metric.MTTC: 2879,
                                         Metric.MTTR: 14400}
    assert f.as_of == at(240)  # resolved: judged as of the resolution, however late it is read
    assert f.mttc_met is True and not f.mttc_over
    assert f.target == facts.Target(timedelta(hours=1), TargetSource.RUBRIC, 1)


def test_running_clocks_while_open() -> None:
    row = incident(opened=2)
    f = derive(row, now=75)
    assert f.mttd.done and not f.mttd.running
    for i in (f.mtta, f.mttc, f.mttr):
        assert i.running and not i.done and i.value is None and i.seconds is None
    assert f.mttc.start == T0 and f.mttc.active == timedelta(minutes=75)  # running since detection
    assert f.mtta.active == timedelta(minutes=73)  # since opening
    assert f.mttc_met is None and f.mttc_over is True  # past the 1h SEV1 target
    assert f.mttc_due == at(60)
    assert derive(row, now=30).mttc_over is False
    assert facts.stored_seconds(row) == {Metric.MTTD: 120, Metric.MTTA: None, Metric.MTTC: None,
                                         Metric.MTTR: None}


def test_resolved_without_containment_is_open_but_not_running() -> None:
    f = derive(incident(ack=3, resolved=90), now=5000)
    assert not f.mttc.done and not f.mttc.running and f.mttc.value is None
    assert f.mttc.active == timedelta(minutes=90)  # measured to the resolution, not to now
    assert f.mttc_met is None and f.mttc_over is True


def test_target_rule_scenario_for_exercises_rubric_otherwise() -> None:
    scenario = timedelta(minutes=45)
    assert derive(incident(exercise=True), now=10, scenario=scenario).target == facts.Target(
        scenario, TargetSource.SCENARIO, 1)
    assert derive(incident(exercise=True), now=10, scenario=scenario).target.label == "exercise target"
    # A real incident never takes a scenario's target; an exercise without a run falls back to the rubric.
    assert derive(incident(), now=10, scenario=scenario).target.source == TargetSource.RUBRIC
    assert derive(incident(exercise=True, severity=2), now=10).target == facts.Target(
        timedelta(hours=4), TargetSource.RUBRIC, 2)
    assert derive(incident(severity=2), now=10).target.label == "SEV2 target"
    # The target follows the current severity.
    met = derive(incident(contained=90, severity=2), now=100)
    assert met.mttc_met is True and derive(incident(contained=90, severity=1), now=100).mttc_met is False


def test_pauses_are_taken_out_of_every_interval_they_overlap() -> None:
    paused = (Pause(at(10), at(30)), Pause(at(200), at(210)))  # the second is after containment
    row = incident(exercise=True, ack=40, contained=50, resolved=220)
    f = derive(row, now=300, paused=paused)
    assert f.mttc.wall == timedelta(minutes=50) and f.mttc.paused == timedelta(minutes=20)
    assert f.mttc.active == timedelta(minutes=30) and f.mttc.seconds == 30 * 60
    assert f.mtta.active == timedelta(minutes=18)  # 2 → 40, less 20 paused
    assert f.mttd.active == timedelta(minutes=2)  # before any pause
    assert f.mttr.active == timedelta(minutes=190)  # both pauses
    assert f.paused == timedelta(minutes=30)
    assert facts.stored_seconds(row, paused)[Metric.MTTC] == 30 * 60
    assert facts.stored_seconds(row)[Metric.MTTC] == 50 * 60  # the wall-clock value, for comparison


def test_an_open_pause_stops_the_running_clock() -> None:
    paused = (Pause(at(20), None),)
    row = incident(exercise=True)
    assert derive(row, now=25, paused=paused).mttc.active == timedelta(minutes=20)
    assert derive(row, now=95, paused=paused).mttc.active == timedelta(minutes=20)
    assert derive(row, now=95, paused=paused).mttc_due is None  # no deadline while the clock is stopped


def test_pauses_from_timeline_events() -> None:
    @dataclass
    class E:
        at: datetime
        kind: str

    events = [E(at(5), "note"), E(at(10), "exercise_paused"), E(at(12), "exercise_paused"),
              E(at(20), "exercise_resumed"), E(at(25), "exercise_resumed"), E(at(30), "exercise_paused")]
    assert facts.pauses(reversed(events)) == (Pause(at(10), at(20)), Pause(at(30), None))


@pytest.mark.parametrize(("start", "allowed", "paused", "due"), [
    (0, 60, (), 60),
    (0, 60, ((10, 20),), 70),
    (0, 60, ((10, 20), (65, 75)), 80),        # the first pause pushes the deadline past the second's start
    (0, 60, ((90, 100),), 60),                # after the deadline: no effect
    (30, 60, ((10, 40),), 100),               # straddling the start: only the part after it counts
    (30, 60, ((0, 20),), 90),                 # before the start: no effect
    (0, 60, ((50, None),), None),             # still paused before the deadline: no deadline yet
    (0, 60, ((70, None),), 60),               # paused only after it
])
def test_deadline(start: int, allowed: int, paused: tuple, due: int | None) -> None:
    pauses = tuple(Pause(at(a), at(b) if b is not None else None) for a, b in paused)
    got = facts.deadline(at(start), timedelta(minutes=allowed), pauses)
    assert got == (at(due) if due is not None else None)


@pytest.mark.parametrize(("state", "required", "due", "finished", "as_of", "expected"), [
    ("done", True, 20, 19, 60, StepState.DONE_ON_TIME),
    ("done", True, 20, 20, 60, StepState.DONE_ON_TIME),   # at the due time is on time
    ("done", True, 20, 21, 60, StepState.DONE_LATE),
    ("done", False, 20, 21, 60, StepState.DONE_LATE),    # optional steps can be late too
    ("done", True, None, 500, 600, StepState.DONE_ON_TIME),
    ("skipped", True, 20, 30, 60, StepState.SKIPPED),
    ("pending", True, 20, None, 19, StepState.PENDING),
    ("pending", True, 20, None, 20, StepState.OVERDUE),   # the moment a nudge may fire
    ("pending", True, None, None, 999, StepState.PENDING),
    ("pending", False, 20, None, 60, StepState.NOT_REQUIRED),
])
def test_step_states(state: str, required: bool, due: float | None, finished: float | None, as_of: float,
                     expected: StepState) -> None:
    got = facts.step_state(state=state, required=required, due_at=at(due) if due is not None else None,
                           finished_at=at(finished) if finished is not None else None, as_of=at(as_of))
    assert got == expected


def test_a_dropped_step_is_not_judged() -> None:
    with pytest.raises(ValueError, match="not on the checklist"):
        facts.step_state(state="dropped", required=True, due_at=None, finished_at=None, as_of=T0)


@dataclass
class Row:
    step_id: str
    state: str
    due_at: datetime | None
    finished_at: datetime | None = None
    required: bool = True
    runbook_key: str = "rb"
    phase: str = "triage"
    text: str = "do it"
    finished_by: str | None = None
    reason: str | None = None
    owner_role: str = "ic"
    owner_id: str | None = None


def test_step_facts_with_pauses_owners_and_the_tally() -> None:
    rows = [Row("a", "done", at(20), at(36)), Row("b", "pending", at(30)), Row("c", "pending", at(60)),
            Row("d", "skipped", at(10), at(11), reason="not needed", owner_id="U0X"),
            Row("e", "pending", at(5), required=False)]
    plain = facts.step_facts(rows, opened_at=T0, as_of=at(45), roles={"ic": "U0IC"})
    assert [s.state for s in plain] == [StepState.DONE_LATE, StepState.OVERDUE, StepState.PENDING,
                                        StepState.SKIPPED, StepState.NOT_REQUIRED]
    assert [s.owner for s in plain] == ["U0IC", "U0IC", "U0IC", "U0X", "U0IC"]
    assert plain[0].late_by == timedelta(minutes=16) and plain[0].name == "rb/a"
    # Paused from 10 to 30: due times move 20 minutes later.
    paused = facts.step_facts(rows, opened_at=T0, as_of=at(45), paused=(Pause(at(10), at(30)),))
    assert [s.state for s in paused][:3] == [StepState.DONE_ON_TIME, StepState.PENDING, StepState.PENDING]
    assert paused[1].due_at == at(50)
    t = facts.tally(plain)
    assert (t.total, t.done, t.required_open, t.open, t[StepState.SKIPPED]) == (5, 1, 2, 3, 1)
    assert t.open_sentence(by="by the resolution") == (
        "2 required runbook step(s) were not done by the resolution: 1 overdue, 1 not yet due.")
    assert facts.tally(paused).open_sentence(by="then") == (
        "2 required runbook step(s) were not done then: 2 not yet due.")
    assert facts.tally([]).open_sentence(by="then") is None


def test_week_of_is_the_utc_monday() -> None:
    assert facts.week_of(datetime(2026, 1, 11, 23, 59, tzinfo=UTC)).isoformat() == "2026-01-05"  # a Sunday
    assert facts.week_of(datetime(2026, 1, 12, 0, 0, tzinfo=UTC)).isoformat() == "2026-01-12"
