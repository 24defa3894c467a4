"""The exercise scorecard: the incident's facts (bot.core.facts) plus what only an exercise has.

The time to acknowledge, the MTTC, its target (the scenario's), whether it was met, the paused time and
every runbook step's state come from bot.core.facts, so the scorecard and the exercise's postmortem agree
on every number and step state. This module adds the exercise's own measures from the timeline: injects
and the responses they expected, reaching the expected severity, the status-update cadence and the levers.

Event kinds read (written by the lifecycle and the other features): severity_classified {severity},
severity_changed {old,new}, acknowledged, status_update, step_done {runbook, step},
lever_applied/lever_verified {lever, dry_run}, contained, report_clock_started {regime}, and this feature's
inject_posted {inject}. Times are reported in seconds of exercise time (paused time not counted).

`compute()` returns a `Card` (frozen dataclasses, read by attribute: `card.containment.mttc`); the scorecard
template reads the same names (`card.severity.expected`). `Card.to_json()` is the dict stored in
`exercise_scorecard.data` and `Card.from_json()` reads a stored row back.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from bot.core import facts
from bot.core.durations import format_duration
from bot.core.facts import IncidentFacts, StepFact, StepState
from bot.tabletop.scenario import Expectation, Scenario

ACK_GOOD = timedelta(minutes=5)


@dataclass(frozen=True)
class Fact:
    """The slice of a timeline event the scorecard needs (so tests can build facts directly)."""

    at: datetime
    kind: str
    data: dict[str, Any]


def _matches(exp: Expectation, fact: Fact) -> bool:
    d = fact.data or {}
    match exp.kind:
        case "step":
            return (fact.kind == "step_done" and d.get("step") == exp.step
                    and (exp.runbook is None or d.get("runbook") == exp.runbook))
        case "lever":
            return fact.kind in ("lever_applied", "lever_verified") and d.get("lever") == exp.lever
        case "status_update":
            return fact.kind == "status_update"
        case "report_clock":
            return fact.kind == "report_clock_started" and d.get("regime") == exp.report_clock
        case "acknowledge":
            return fact.kind == "acknowledged"
        case "contained":
            return fact.kind == "contained"
    return False


def severity_track(events: list[Fact], current: int) -> list[tuple[datetime | None, int]]:
    """[(time, severity)] starting with (None, initial); `current` stands in when no classification shows."""
    initial = next((int(f.data["severity"]) for f in events if f.kind == "severity_classified"
                    and "severity" in (f.data or {})), current)
    track: list[tuple[datetime | None, int]] = [(None, initial)]
    track += [(f.at, int(f.data["new"])) for f in events if f.kind == "severity_changed" and "new" in f.data]
    return track


def _severity_at(track: list[tuple[datetime | None, int]], when: datetime) -> int:
    current = track[0][1]
    for at, sev in track[1:]:
        if at is not None and at <= when:
            current = sev
    return current


def _answer(exp: Expectation, posted: datetime, events: list[Fact],
            track: list[tuple[datetime | None, int]]) -> tuple[datetime | None, bool]:
    """(time the expectation was met, whether it was met before the inject arrived)."""
    if exp.kind == "severity":
        assert exp.severity is not None
        if _severity_at(track, posted) <= exp.severity:
            return posted, True
        hit = next((at for at, sev in track[1:] if at and at > posted and sev <= exp.severity), None)
        return hit, False
    after = next((f.at for f in events if f.at >= posted and _matches(exp, f)), None)
    if after is not None:
        return after, False
    before = next((f.at for f in events if f.at < posted and _matches(exp, f)), None)
    return (posted, True) if before is not None else (None, False)


def _secs(delta: timedelta | None) -> int | None:
    return None if delta is None else int(delta.total_seconds())


def _s(delta: timedelta) -> int:
    return int(delta.total_seconds())


# ----- the card ------------------------------------------------------------------------------------------
# Frozen dataclasses, read by attribute everywhere (the template's `card.severity.expected` reads them too).
# `Card.to_json()` is the shape stored in `exercise_scorecard.data`; `Card.from_json()` reads it back.


@dataclass(frozen=True)
class ScenarioRef:
    key: str
    title: str
    category: str


@dataclass(frozen=True)
class AcknowledgeScore:
    seconds: int | None  # time to the first IC; None: nobody took the role


@dataclass(frozen=True)
class SeverityScore:
    expected: int
    initial: int
    final: int
    reached_seconds: int | None  # when the expected severity (or a worse one) was reached; None: never


@dataclass(frozen=True)
class ContainmentScore:
    mttc: int | None  # None: not contained before the end
    target: int
    met: bool


@dataclass(frozen=True)
class StatusScore:
    count: int
    cadence: int
    longest_gap: int
    gaps_over: int
    kept: bool


@dataclass(frozen=True)
class AnswerScore:
    """One response an inject expected."""

    expects: str
    kind: str
    answered: bool
    ahead: bool  # done before the inject arrived
    seconds: int | None
    on_time: bool


@dataclass(frozen=True)
class InjectScore:
    id: str
    offset: int
    text: str
    posted: int | None  # None: not delivered
    within: int
    answers: tuple[AnswerScore, ...]


@dataclass(frozen=True)
class LeverScore:
    lever: str | None
    at: int | None
    dry_run: bool
    verified: bool


@dataclass(frozen=True)
class AnswersTally:
    expected: int
    answered: int
    on_time: int


@dataclass(frozen=True)
class RunbookStates:
    """Step names by state (bot.core.facts' StepState, `done late` as `done_late`), in checklist order; a
    skipped step's name carries its reason."""

    done_on_time: tuple[str, ...] = ()
    done_late: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    overdue: tuple[str, ...] = ()
    pending: tuple[str, ...] = ()
    not_required: tuple[str, ...] = ()


@dataclass(frozen=True)
class Card:
    scenario: ScenarioRef
    incident: str
    started: datetime
    ended: datetime
    duration: int
    paused: int
    acknowledge: AcknowledgeScore
    severity: SeverityScore
    containment: ContainmentScore
    runbook: RunbookStates
    status: StatusScore
    injects: tuple[InjectScore, ...]
    answers: AnswersTally
    levers: tuple[LeverScore, ...]
    went_well: tuple[str, ...] = ()
    practise: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The JSON-safe dict stored in `exercise_scorecard.data` (times as ISO 8601, tuples as lists)."""
        out = _json(self)
        assert isinstance(out, dict)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Card:
        """A stored card back (`levers`, `paused` and a lever's `verified` may be missing in older rows)."""
        rb = data.get("runbook") or {}
        rb = {_LEGACY_RUNBOOK.get(k, k): v for k, v in rb.items()}
        return cls(
            scenario=ScenarioRef(**data["scenario"]), incident=data["incident"],
            started=datetime.fromisoformat(data["started"]), ended=datetime.fromisoformat(data["ended"]),
            duration=data["duration"], paused=data.get("paused") or 0,
            acknowledge=AcknowledgeScore(**data["acknowledge"]), severity=SeverityScore(**data["severity"]),
            containment=ContainmentScore(**data["containment"]),
            runbook=RunbookStates(**{f.name: tuple(rb.get(f.name) or ()) for f in fields(RunbookStates)}),
            status=StatusScore(**data["status"]),
            injects=tuple(InjectScore(**{**i, "answers": tuple(AnswerScore(**a) for a in i["answers"])})
                          for i in data["injects"]),
            answers=AnswersTally(**data["answers"]),
            levers=tuple(LeverScore(lever=lv.get("lever"), at=lv.get("at"), dry_run=bool(lv.get("dry_run")),
                                    verified=bool(lv.get("verified"))) for lv in data.get("levers") or ()),
            went_well=tuple(data.get("went_well") or ()), practise=tuple(data.get("practise") or ()))


# The runbook keys of the first stored cards, read as today's states.
_LEGACY_RUNBOOK = {"on_time": "done_on_time", "late": "done_late", "missed": "overdue", "open": "pending"}


def _json(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _json(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple | list):
        return [_json(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def compute(scenario: Scenario, *, ref: str, started: datetime, ended: datetime, incident: IncidentFacts,
            events: list[Fact], steps: tuple[StepFact, ...] = ()) -> Card:
    """Every number of the scorecard (stored as `Card.to_json()`, rendered by the template).

    `incident`: the exercise incident's facts as of the end; `steps`: its runbook steps judged by
    bot.core.facts (empty when no runbook was attached)."""
    events = sorted(events, key=lambda f: f.at)

    def span(a: datetime, b: datetime) -> timedelta:
        return facts.active_between(a, b, incident.pauses)

    def rel(t: datetime | None) -> int | None:
        return _secs(span(started, t)) if t else None

    track = severity_track(events, incident.target.severity)
    reached = (started if track[0][1] <= scenario.expected_severity else
               next((at for at, sev in track[1:] if sev <= scenario.expected_severity), None))

    # Injects and their expected responses.
    posted = {str(f.data.get("inject")): f.at for f in events if f.kind == "inject_posted"}
    injects: list[InjectScore] = []
    expected_answers: list[AnswerScore] = []
    for inj in scenario.injects:
        at = posted.get(inj.id)
        answers: list[AnswerScore] = []
        for exp in inj.expects:
            hit, ahead = _answer(exp, at, events, track) if at else (None, False)
            delay = span(at, hit) if (hit and at) else None
            answers.append(AnswerScore(expects=exp.describe(), kind=exp.kind, answered=hit is not None,
                                       ahead=ahead, seconds=_secs(delay),
                                       on_time=delay is not None and delay <= inj.within))
        injects.append(InjectScore(id=inj.id, offset=_s(inj.at), text=inj.text, posted=rel(at),
                                   within=_s(inj.within), answers=tuple(answers)))
        if at is not None:  # only the injects that were posted expect answers
            expected_answers += answers

    # Status-update cadence: every gap (start → first update → … → end) within the cadence.
    updates = [f.at for f in events if f.kind == "status_update" and started <= f.at <= ended]
    points = [started, *updates, ended]
    gaps = [span(a, b) for a, b in zip(points, points[1:], strict=False)]
    over = [g for g in gaps if g > scenario.status_cadence]
    status = StatusScore(count=len(updates), cadence=_s(scenario.status_cadence),
                         longest_gap=_s(max(gaps)) if gaps else 0, gaps_over=len(over), kept=not over)

    # Levers pulled: the containment layer's lever_applied events (dry_run true in every exercise), and
    # whether the pull was also verified (a live pull only; a dry run never is).
    verified = {f.data.get("action_id") for f in events if f.kind == "lever_verified"}
    levers = tuple(LeverScore(lever=f.data.get("lever"), at=rel(f.at), dry_run=bool(f.data.get("dry_run")),
                              verified=f.data.get("action_id") in verified)
                   for f in events if f.kind == "lever_applied")
    card = Card(
        scenario=ScenarioRef(key=scenario.key, title=scenario.title, category=scenario.category),
        incident=ref, started=started, ended=ended, duration=_s(span(started, ended)),
        paused=_s(facts.paused_between(started, ended, incident.pauses)),
        acknowledge=AcknowledgeScore(seconds=incident.mtta.seconds),
        severity=SeverityScore(expected=scenario.expected_severity, initial=track[0][1], final=track[-1][1],
                               reached_seconds=rel(reached)),
        containment=ContainmentScore(mttc=incident.mttc.seconds, target=_s(incident.target.duration),
                                     met=bool(incident.mttc_met)),
        runbook=_runbook(steps),
        status=status,
        injects=tuple(injects),
        answers=AnswersTally(expected=len(expected_answers),
                             answered=sum(a.answered for a in expected_answers),
                             on_time=sum(a.on_time or a.ahead for a in expected_answers)),
        levers=levers,
    )
    well, practise = _verdicts(card, steps)
    return replace(card, went_well=tuple(well), practise=tuple(practise))


RUNBOOK_KEYS = {state: state.name.lower() for state in StepState}  # e.g. StepState.DONE_LATE -> "done_late"


def step_id(name: str) -> str:
    """A step as people read it (its id, `notify-dpo`), not the checklist's internal `runbook/step` name."""
    return name.split("/", 1)[-1]


def _runbook(steps: tuple[StepFact, ...]) -> RunbookStates:
    """Step names by state, in checklist order (a skipped step with its reason)."""
    out: dict[str, list[str]] = {key: [] for key in RUNBOOK_KEYS.values()}
    for s in steps:
        name = s.name + (f" ({s.reason})" if s.state == StepState.SKIPPED and s.reason else "")
        out[RUNBOOK_KEYS[s.state]].append(name)
    return RunbookStates(**{key: tuple(names) for key, names in out.items()})


def _verdicts(card: Card, steps: tuple[StepFact, ...]) -> tuple[list[str], list[str]]:
    well: list[str] = []
    practise: list[str] = []
    d = format_duration
    ack = card.acknowledge.seconds
    if ack is None:
        practise.append("Nobody took the incident commander role: assign an IC first, it is the acknowledgement.")
    elif ack <= ACK_GOOD.total_seconds():
        well.append(f"An incident commander took charge {d(ack)} in.")
    else:
        practise.append(f"Assigning an IC took {d(ack)}; aim for under {d(ACK_GOOD)}.")
    sev = card.severity
    if sev.reached_seconds is None:
        practise.append(f"The team never reached SEV{sev.expected}; re-assess severity as facts arrive "
                        f"(ended at SEV{sev.final}).")
    else:
        well.append(f"Reached SEV{sev.expected} {d(sev.reached_seconds)} in.")
    c = card.containment
    if c.mttc is None:
        practise.append(f"Not contained before the end (target MTTC {d(c.target)}).")
    elif c.met:
        well.append(f"Contained in {d(c.mttc)}, inside the {d(c.target)} target.")
    else:
        practise.append(f"Containment took {d(c.mttc)}, over the {d(c.target)} target.")
    st = card.status
    if st.kept:
        well.append(f"Status updates kept the {d(st.cadence)} cadence ({st.count} updates).")
    else:
        practise.append(f"Status cadence slipped: longest gap {d(st.longest_gap)} against {d(st.cadence)} "
                        f"({st.count} updates).")
    for inj in card.injects:
        if inj.posted is None:
            continue
        for a in inj.answers:
            if not a.answered:
                practise.append(f"Inject `{inj.id}` (+{d(inj.offset)}): no {a.expects}.")
            elif not (a.on_time or a.ahead):
                practise.append(f"Inject `{inj.id}`: {a.expects} took {d(a.seconds)} "
                                f"(within {d(inj.within)} expected).")
    rb, tally = card.runbook, facts.tally(steps)
    unfinished = tally.open_sentence(by="when the exercise ended")
    if unfinished:
        practise.append(unfinished + (" Overdue: " + ", ".join(f"`{step_id(s)}`" for s in rb.overdue) + "."
                                      if rb.overdue else ""))
    if rb.done_late:
        practise.append("Runbook steps done late: " + ", ".join(f"`{step_id(s)}`" for s in rb.done_late) + ".")
    if rb.done_on_time and not rb.done_late and not unfinished:
        well.append(f"Runbook steps done on time: {len(rb.done_on_time)}.")
    ans = card.answers
    if ans.expected and ans.on_time == ans.expected:
        well.append(f"Every inject was answered on time ({ans.expected} responses).")
    return well, practise
