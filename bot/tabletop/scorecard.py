"""The exercise scorecard, computed from timeline facts only (plus runbook provider data when present).

Event kinds read (written by the lifecycle and the other features): severity_classified {severity},
severity_changed {old,new}, acknowledged, status_update, step_done/step_skipped {runbook, step},
lever_applied/lever_verified {lever, dry_run}, contained, report_clock_started {regime}, and this feature's
inject_posted {inject}. All times are reported in seconds from the start of the exercise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.core.durations import format_duration
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


def severity_track(facts: list[Fact], opening: int) -> list[tuple[datetime | None, int]]:
    """[(time, severity)] starting with (None, initial)."""
    initial = next((int(f.data["severity"]) for f in facts if f.kind == "severity_classified"
                    and "severity" in (f.data or {})), opening)
    track: list[tuple[datetime | None, int]] = [(None, initial)]
    track += [(f.at, int(f.data["new"])) for f in facts if f.kind == "severity_changed" and "new" in f.data]
    return track


def _severity_at(track: list[tuple[datetime | None, int]], when: datetime) -> int:
    current = track[0][1]
    for at, sev in track[1:]:
        if at is not None and at <= when:
            current = sev
    return current


def _answer(exp: Expectation, posted: datetime, facts: list[Fact],
            track: list[tuple[datetime | None, int]]) -> tuple[datetime | None, bool]:
    """(time the expectation was met, whether it was met before the inject arrived)."""
    if exp.kind == "severity":
        assert exp.severity is not None
        if _severity_at(track, posted) <= exp.severity:
            return posted, True
        hit = next((at for at, sev in track[1:] if at and at > posted and sev <= exp.severity), None)
        return hit, False
    after = next((f.at for f in facts if f.at >= posted and _matches(exp, f)), None)
    if after is not None:
        return after, False
    before = next((f.at for f in facts if f.at < posted and _matches(exp, f)), None)
    return (posted, True) if before is not None else (None, False)


def _secs(delta: timedelta | None) -> int | None:
    return None if delta is None else int(delta.total_seconds())


def pauses(facts: list[Fact], ended: datetime) -> list[tuple[datetime, datetime]]:
    """Intervals the facilitator paused the exercise (exercise_paused … exercise_resumed)."""
    out, since = [], None
    for f in facts:
        if f.kind == "exercise_paused" and since is None:
            since = f.at
        elif f.kind == "exercise_resumed" and since is not None:
            out.append((since, f.at))
            since = None
    if since is not None:
        out.append((since, ended))
    return out


def active_span(paused: list[tuple[datetime, datetime]]):
    """b - a, not counting paused time: a pause for lunch does not count against the team."""

    def span(a: datetime, b: datetime) -> timedelta:
        overlap = sum((min(b, e) - max(a, s) for s, e in paused if min(b, e) > max(a, s)), timedelta(0))
        return (b - a) - overlap

    return span


def compute(scenario: Scenario, *, ref: str, started: datetime, detected: datetime, ended: datetime,
            facts: list[Fact], opening_severity: int, runbook_steps: list[dict] | None = None) -> dict[str, Any]:
    """Every number of the scorecard as a JSON-safe dict (stored, rendered by the template)."""
    facts = sorted(facts, key=lambda f: f.at)
    paused = pauses(facts, ended)
    span = active_span(paused)
    rel = lambda t: _secs(span(started, t)) if t else None  # noqa: E731
    track = severity_track(facts, opening_severity)
    ack = next((f.at for f in facts if f.kind == "acknowledged"), None)
    reached = (started if track[0][1] <= scenario.expected_severity else
               next((at for at, sev in track[1:] if sev <= scenario.expected_severity), None))
    contained = next((f.at for f in facts if f.kind == "contained"), None)
    mttc = span(detected, contained) if contained else None
    target = scenario.target_mttc

    # Injects and their expected responses.
    posted = {str(f.data.get("inject")): f.at for f in facts if f.kind == "inject_posted"}
    injects = []
    for inj in scenario.injects:
        at = posted.get(inj.id)
        answers = []
        for exp in inj.expects:
            hit, ahead = _answer(exp, at, facts, track) if at else (None, False)
            delay = span(at, hit) if (hit and at) else None
            answers.append({"expects": exp.describe(), "kind": exp.kind, "answered": hit is not None,
                            "ahead": ahead, "seconds": _secs(delay),
                            "on_time": delay is not None and delay <= inj.within})
        injects.append({"id": inj.id, "offset": _secs(inj.at), "text": inj.text, "posted": rel(at),
                        "within": _secs(inj.within), "answers": answers})
    expected_answers = [a for i in injects if i["posted"] is not None for a in i["answers"]]

    # Runbook steps: from the runbook provider when it is present, else from the timeline.
    runbook = _runbook(scenario, facts, posted, runbook_steps, span)

    # Status-update cadence: every gap (start → first update → … → end) within the cadence.
    updates = [f.at for f in facts if f.kind == "status_update" and started <= f.at <= ended]
    points = [started, *updates, ended]
    gaps = [span(a, b) for a, b in zip(points, points[1:], strict=False)]
    over = [g for g in gaps if g > scenario.status_cadence]
    status = {"count": len(updates), "cadence": _secs(scenario.status_cadence),
              "longest_gap": _secs(max(gaps)) if gaps else 0, "gaps_over": len(over), "kept": not over}

    # Levers pulled: the containment layer's lever_applied events (dry_run true in every exercise), and
    # whether the pull was also verified (a live pull only; a dry run never is).
    verified = {f.data.get("action_id") for f in facts if f.kind == "lever_verified"}
    levers = [{"lever": f.data.get("lever"), "at": rel(f.at), "dry_run": bool(f.data.get("dry_run")),
               "verified": f.data.get("action_id") in verified}
              for f in facts if f.kind == "lever_applied"]
    card: dict[str, Any] = {
        "scenario": {"key": scenario.key, "title": scenario.title, "category": scenario.category},
        "incident": ref,
        "started": started.isoformat(), "ended": ended.isoformat(), "duration": _secs(span(started, ended)),
        "paused": _secs(sum((e - s for s, e in paused), timedelta(0))),
        "acknowledge": {"seconds": rel(ack)},
        "severity": {"expected": scenario.expected_severity, "initial": track[0][1], "final": track[-1][1],
                     "reached_seconds": rel(reached)},
        "containment": {"mttc": _secs(mttc), "target": _secs(target),
                        "met": mttc is not None and mttc <= target},
        "runbook": runbook,
        "status": status,
        "injects": injects,
        "answers": {"expected": len(expected_answers),
                    "answered": sum(a["answered"] for a in expected_answers),
                    "on_time": sum(a["on_time"] or a["ahead"] for a in expected_answers)},
        "levers": levers,
    }
    card["went_well"], card["practise"] = _verdicts(card)
    return card


def _runbook(scenario: Scenario, facts: list[Fact], posted: dict[str, datetime],
             steps: list[dict] | None, span: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"on_time": [], "late": [], "skipped": [], "missed": [], "open": [], "source": "timeline"}
    if steps:
        # The runbook feature's own rows: `late` = done after its due time, or still pending past it. A step
        # still pending but not yet due (or optional) when the exercise ended is open, not missed.
        out["source"] = "runbooks"
        for s in steps:
            name = f"{s.get('runbook')}/{s.get('id')}"
            if s.get("state") == "done":
                out["late" if s.get("late") else "on_time"].append(name)
            elif s.get("state") == "skipped":
                out["skipped"].append(name + (f" ({s['reason']})" if s.get("reason") else ""))
            elif s.get("required", True) and s.get("late"):
                out["missed"].append(name)
            else:
                out["open"].append(name)
        return out
    done = {f.data.get("step"): f for f in facts if f.kind == "step_done"}
    skipped = {f.data.get("step"): f for f in facts if f.kind == "step_skipped"}
    # Each expected step is due within its inject's window (paused time not counted).
    windows: dict[str, tuple[datetime, timedelta] | None] = {}
    for inj in scenario.injects:
        for exp in inj.expects:
            if exp.kind == "step" and exp.step not in windows:
                at = posted.get(inj.id)
                windows[exp.step] = (at, inj.within) if at else None  # type: ignore[index]
    for step, fact in done.items():
        window = windows.get(step)
        late = window is not None and fact.at > window[0] and span(window[0], fact.at) > window[1]
        out["late" if late else "on_time"].append(str(step))
    for step, fact in skipped.items():
        if step not in done:
            reason = fact.data.get("reason")
            out["skipped"].append(str(step) + (f" ({reason})" if reason else ""))
    out["missed"] = [s for s, w in windows.items() if w and s not in done and s not in skipped]
    return out


def _verdicts(card: dict[str, Any]) -> tuple[list[str], list[str]]:
    well: list[str] = []
    practise: list[str] = []
    d = format_duration
    ack = card["acknowledge"]["seconds"]
    if ack is None:
        practise.append("Nobody took the incident commander role: assign an IC first, it is the acknowledgement.")
    elif ack <= ACK_GOOD.total_seconds():
        well.append(f"An incident commander took charge {d(ack)} in.")
    else:
        practise.append(f"Assigning an IC took {d(ack)}; aim for under {d(ACK_GOOD)}.")
    sev = card["severity"]
    if sev["reached_seconds"] is None:
        practise.append(f"The team never reached SEV{sev['expected']}; re-assess severity as facts arrive "
                        f"(ended at SEV{sev['final']}).")
    else:
        well.append(f"Reached SEV{sev['expected']} {d(sev['reached_seconds'])} in.")
    c = card["containment"]
    if c["mttc"] is None:
        practise.append(f"Not contained before the end (target MTTC {d(c['target'])}).")
    elif c["met"]:
        well.append(f"Contained in {d(c['mttc'])}, inside the {d(c['target'])} target.")
    else:
        practise.append(f"Containment took {d(c['mttc'])}, over the {d(c['target'])} target.")
    st = card["status"]
    if st["kept"]:
        well.append(f"Status updates kept the {d(st['cadence'])} cadence ({st['count']} updates).")
    else:
        practise.append(f"Status cadence slipped: longest gap {d(st['longest_gap'])} against {d(st['cadence'])} "
                        f"({st['count']} updates).")
    for inj in card["injects"]:
        if inj["posted"] is None:
            continue
        for a in inj["answers"]:
            if not a["answered"]:
                practise.append(f"Inject `{inj['id']}` (+{d(inj['offset'])}): no {a['expects']}.")
            elif not (a["on_time"] or a["ahead"]):
                practise.append(f"Inject `{inj['id']}`: {a['expects']} took {d(a['seconds'])} "
                                f"(within {d(inj['within'])} expected).")
    rb = card["runbook"]
    if rb["missed"]:
        practise.append("Runbook steps missed: " + ", ".join(f"`{s}`" for s in rb["missed"]) + ".")
    if rb["on_time"] and not rb["late"] and not rb["missed"]:
        well.append(f"Runbook steps done on time: {len(rb['on_time'])}.")
    ans = card["answers"]
    if ans["expected"] and ans["on_time"] == ans["expected"]:
        well.append(f"Every inject was answered on time ({ans['expected']} responses).")
    return well, practise
