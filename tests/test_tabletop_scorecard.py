"""The scorecard: the incident's facts (bot.core.facts) plus the exercise's own measures from the timeline,
in the shapes the runbook and containment features write them (an exercise's lever pull is forced to a dry
run: lever_requested + lever_applied with dry_run true, never lever_verified). The last tests play whole
exercises and check that the scorecard and the postmortem of the same run agree on every number and step.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console

from bot.cli.tabletop_auto import run_auto
from bot.config.settings import Settings
from bot.core import facts, incidents
from bot.core.durations import format_duration
from bot.core.facts import IncidentFacts, StepFact
from bot.postmortem.context import build as postmortem_context
from bot.slack.harness import Harness
from bot.slack.views.tabletop import scorecard_blocks
from bot.store.models import Incident
from bot.tabletop.render import scorecard_markdown
from bot.tabletop.scenario import Scenario, load_catalog
from bot.tabletop.scorecard import (
    AnswerScore,
    AnswersTally,
    Card,
    ContainmentScore,
    Fact,
    LeverScore,
    RunbookStates,
    SeverityScore,
    StatusScore,
    compute,
)

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


SCENARIO = Scenario.model_validate({
    "key": "drill", "title": "Drill", "category": "data_leakage", "summary": "s", "starting_facts": ["f"],
    "expected_severity": 1, "target_mttc": "30m", "status_cadence": "10m",
    "injects": [
        {"id": "a", "at": "2m", "text": "x", "within": "5m",
         "expects": [{"severity": 1}, {"step": "preserve-evidence"}]},
        {"id": "b", "at": "6m", "text": "y", "within": "5m",
         "expects": [{"lever": "purge-memory"}, {"report_clock": "gdpr-72h"}, {"status_update": True}]},
        {"id": "c", "at": "20m", "text": "z", "expects": [{"contained": True}]},
        {"id": "d", "at": "40m", "text": "never delivered", "expects": [{"step": "notify-dpo"}]},
    ],
})


class Rubric:
    """The severity rubric's targets: an exercise must be judged by its scenario's target instead."""

    def mttc_target(self, severity: int) -> timedelta:
        return timedelta(hours=1)


def events() -> list[Fact]:
    return [
        Fact(at(0), "severity_classified", {"severity": 3}),
        Fact(at(1.5), "acknowledged", {}),
        Fact(at(2), "inject_posted", {"inject": "a"}),
        Fact(at(4), "severity_changed", {"old": 3, "new": 2}),
        Fact(at(5), "step_done", {"runbook": "privacy", "step": "preserve-evidence"}),
        Fact(at(6), "inject_posted", {"inject": "b"}),
        Fact(at(7), "status_update", {}),
        Fact(at(7.5), "lever_requested", {"lever": "purge-memory", "dry_run": True, "action_id": 1}),
        Fact(at(8), "lever_applied", {"lever": "purge-memory", "dry_run": True, "action_id": 1}),
        # A pull that failed is no lever applied and answers nothing.
        Fact(at(8.2), "lever_requested", {"lever": "kill-switch", "dry_run": True, "action_id": 2}),
        Fact(at(8.3), "lever_failed", {"lever": "kill-switch", "dry_run": True, "action_id": 2, "error": "x"}),
        Fact(at(9), "severity_changed", {"old": 2, "new": 1}),
        Fact(at(15), "status_update", {}),
        Fact(at(20), "inject_posted", {"inject": "c"}),
        Fact(at(22), "contained", {}),
        Fact(at(24), "status_update", {}),
        Fact(at(26), "report_clock_started", {"regime": "gdpr-72h"}),
    ]


@dataclass
class Step:
    """A checklist row in the columns bot.core.facts judges."""

    step_id: str
    state: str
    due_at: datetime | None
    finished_at: datetime | None = None
    required: bool = True
    reason: str | None = None
    runbook_key: str = "privacy"
    phase: str = "contain"
    text: str = "a step"
    finished_by: str | None = None
    owner_role: str = "ic"
    owner_id: str | None = None


def incident_facts(evs: list[Fact], ended: datetime) -> IncidentFacts:
    """The exercise incident as the lifecycle leaves it for these events, judged at `ended`."""
    first = {kind: next((e.at for e in evs if e.kind == kind), None) for kind in ("acknowledged", "contained")}
    row = Incident(title="Drill", category="data_leakage", severity=1, reporter_id="U0FACIL", detected_at=T0,
                   opened_at=T0, acknowledged_at=first["acknowledged"], contained_at=first["contained"],
                   is_exercise=True, status="contained" if first["contained"] else "active")
    return facts.derive(row, rules=Rubric(), now=ended, paused=facts.pauses(evs),
                        scenario_target=SCENARIO.target_mttc)


def judged(rows: list[Step], evs: list[Fact], ended: datetime) -> tuple[StepFact, ...]:
    return facts.step_facts(rows, opened_at=T0, as_of=ended, paused=facts.pauses(evs))


def card(evs: list[Fact] | None = None, ended: datetime = at(30), rows: list[Step] | None = None) -> Card:
    evs = events() if evs is None else evs
    return compute(SCENARIO, ref="INC-7", started=T0, ended=ended, incident=incident_facts(evs, ended),
                   events=evs, steps=judged(rows or [], evs, ended))


def test_key_times_against_the_scenario_target() -> None:
    c = card()
    assert c.acknowledge.seconds == 90
    assert c.severity == SeverityScore(expected=1, initial=3, final=1, reached_seconds=9 * 60)
    # The scenario's 30m target, not the rubric's 1h for SEV1.
    assert c.containment == ContainmentScore(mttc=22 * 60, target=30 * 60, met=True)
    # Gaps: 0→7, 7→15, 15→24, 24→30 minutes; all within 10m.
    assert c.status == StatusScore(count=3, cadence=600, longest_gap=9 * 60, gaps_over=0, kept=True)
    assert c.levers == (LeverScore(lever="purge-memory", at=8 * 60, dry_run=True, verified=False),)
    # A live pull (outside exercises) that the containment layer verified is shown as verified.
    live = events() + [Fact(at(10), "lever_applied", {"lever": "kill-switch", "dry_run": False, "action_id": 3}),
                       Fact(at(10.5), "lever_verified", {"lever": "kill-switch", "dry_run": False, "action_id": 3})]
    assert card(live).levers[1] == LeverScore(lever="kill-switch", at=600, dry_run=False, verified=True)



def test_stored_json_keeps_its_shape_and_reads_back() -> None:
    """`exercise_scorecard.data` is `Card.to_json()`: the same keys and values the rows already stored hold."""
    c = card(rows=ROWS)
    data = c.to_json()
    assert json.loads(json.dumps(data)) == data
    assert list(data) == ["scenario", "incident", "started", "ended", "duration", "paused", "acknowledge",
                          "severity", "containment", "runbook", "status", "injects", "answers", "levers",
                          "went_well", "practise"]
    assert data["scenario"] == {"key": "drill", "title": "Drill", "category": "data_leakage"}
    assert (data["incident"], data["started"], data["ended"]) == ("INC-7", "2026-03-02T10:00:00+00:00",
                                                                 "2026-03-02T10:30:00+00:00")
    assert (data["duration"], data["paused"], data["acknowledge"]) == (1800, 0, {"seconds": 90})
    assert data["severity"] == {"expected": 1, "initial": 3, "final": 1, "reached_seconds": 540}
    assert data["containment"] == {"mttc": 1320, "target": 1800, "met": True}
    assert data["runbook"] == {"done_on_time": ["privacy/preserve-evidence"], "done_late": ["privacy/notify-dpo"],
                               "skipped": ["privacy/notify-press (no press)"], "overdue": ["privacy/customer-faq"],
                               "pending": ["privacy/regulator"], "not_required": ["privacy/nice-to-have"]}
    assert data["status"] == {"count": 3, "cadence": 600, "longest_gap": 540, "gaps_over": 0, "kept": True}
    assert data["injects"][2] == {"id": "c", "offset": 1200, "text": "z", "posted": 1200, "within": 600,
                                  "answers": [{"expects": "incident contained", "kind": "contained",
                                               "answered": True, "ahead": False, "seconds": 120, "on_time": True}]}
    assert data["answers"] == {"expected": 6, "answered": 6, "on_time": 4}
    assert data["levers"] == [{"lever": "purge-memory", "at": 480, "dry_run": True, "verified": False}]
    assert data["went_well"] == list(c.went_well) and data["practise"] == list(c.practise)
    assert Card.from_json(data) == c
    # A row stored before pauses and levers were scored still reads.
    older = {k: v for k, v in data.items() if k not in ("paused", "levers")}
    assert (Card.from_json(older).paused, Card.from_json(older).levers) == (0, ())


def test_inject_answers_and_timing() -> None:
    c = card()
    a, b, cc, d = c.injects
    assert [x.seconds for x in a.answers] == [7 * 60, 3 * 60]  # SEV1 at 9m (7m after), step at 5m
    assert [x.on_time for x in a.answers] == [False, True]     # 7m is over the 5m window
    assert [x.seconds for x in b.answers] == [2 * 60, 20 * 60, 60]
    assert [x.on_time for x in b.answers] == [True, False, True]
    assert cc.answers[0] == AnswerScore(expects="incident contained", kind="contained", answered=True,
                                        ahead=False, seconds=120, on_time=True)
    assert d.posted is None and d.answers[0].answered is False
    assert c.answers == AnswersTally(expected=6, answered=6, on_time=4)


ROWS = [
    Step("preserve-evidence", "done", at(10), at(5)),
    Step("notify-dpo", "done", at(10), at(12)),
    Step("notify-press", "skipped", at(10), at(16), reason="no press"),
    Step("customer-faq", "pending", at(20)),
    Step("regulator", "pending", at(60)),
    Step("nice-to-have", "pending", at(20), required=False),
]


def test_runbook_steps_in_the_facts_modules_states() -> None:
    rb = card(rows=ROWS).runbook
    assert rb == RunbookStates(done_on_time=("privacy/preserve-evidence",), done_late=("privacy/notify-dpo",),
                               skipped=("privacy/notify-press (no press)",), overdue=("privacy/customer-faq",),
                               pending=("privacy/regulator",), not_required=("privacy/nice-to-have",))
    c = card(rows=ROWS)
    assert ("2 required runbook step(s) were not done when the exercise ended: 1 overdue, 1 not yet due. "
            "Overdue: `customer-faq`.") in c.practise
    assert "Runbook steps done late: `notify-dpo`." in c.practise
    text = scorecard_markdown(c)
    assert "## Runbook steps\n" in text and "(runbooks)" not in text
    assert ("- Overdue (required, not done): `customer-faq`\n- Not yet due (required, not done): 1\n"
            "- Optional, not done: 1\n") in text
    assert "- Skipped: `notify-press` (no press)\n" in text and "privacy/" not in text


def test_no_clean_run_while_required_steps_are_open() -> None:
    rows = [Step("preserve-evidence", "done", at(10), at(5)), Step("regulator", "pending", at(60))]
    c = card(rows=rows)
    assert "Runbook steps done on time: 1." not in c.went_well
    assert "1 required runbook step(s) were not done when the exercise ended: 1 not yet due." in c.practise
    assert "Nothing: a clean run." not in scorecard_markdown(c)
    done = card(rows=[rows[0]])
    assert "Runbook steps done on time: 1." in done.went_well


def test_answers_ahead_of_the_inject_and_verdicts() -> None:
    early = [Fact(at(0), "severity_classified", {"severity": 1}), Fact(at(1), "status_update", {}),
             Fact(at(2), "inject_posted", {"inject": "a"}), Fact(at(6), "inject_posted", {"inject": "b"})]
    c = card(early, ended=at(45))
    sev_answer = c.injects[0].answers[0]
    assert sev_answer.ahead and sev_answer.answered and sev_answer.seconds == 0
    assert c.injects[1].answers[2].ahead  # the status update came before inject b
    assert c.severity.reached_seconds == 0
    assert c.acknowledge.seconds is None
    assert c.containment == ContainmentScore(mttc=None, target=1800, met=False)
    assert not c.status.kept and c.status.longest_gap == 44 * 60
    practise = "\n".join(c.practise)
    assert "Nobody took the incident commander role" in practise
    assert "Not contained before the end (target MTTC 30m)" in practise
    assert "Inject `a` (+2m): no runbook step `preserve-evidence` done." in practise
    assert "Inject `b` (+6m): no lever `purge-memory` applied." in practise
    assert "Reached SEV1 0s in." in c.went_well


def test_late_containment_is_a_miss() -> None:
    late = [f for f in events() if f.kind != "contained"] + [Fact(at(41), "contained", {})]
    c = card(late, ended=at(45))
    assert c.containment == ContainmentScore(mttc=41 * 60, target=1800, met=False)
    assert "Containment took 41m, over the 30m target." in c.practise


def test_template_renders_the_numbers_with_the_exercise_banner() -> None:
    text = scorecard_markdown(card())
    assert text.startswith("# [EXERCISE] Scorecard — Drill")
    assert "not a real incident" in text
    assert "✅ Time to acknowledge (first IC): 1m 30s" in text
    assert "✅ Time to contain (MTTC): 22m against a target of 30m" in text
    assert "❌ severity raised to SEV1 or higher: after 7m (over 5m)" in text
    assert "❌ reporting clock `gdpr-72h` started: after 20m (over 5m)" in text
    assert "➖ runbook step `notify-dpo` done: inject not delivered" in text
    assert "- `purge-memory` at +8m (dry run: nothing was sent)\n\n## What went well" in text
    blocks = scorecard_blocks(text)
    assert blocks[0]["text"]["text"] == "[EXERCISE] Scorecard — Drill"
    assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in blocks)
    assert "*Key times*" in "\n".join(b["text"]["text"] for b in blocks if b["type"] == "section")


def test_paused_time_does_not_count() -> None:
    paused = [Fact(at(0), "severity_classified", {"severity": 1}), Fact(at(2), "inject_posted", {"inject": "a"}),
              Fact(at(3), "exercise_paused", {}), Fact(at(33), "exercise_resumed", {}),
              Fact(at(35), "acknowledged", {}), Fact(at(36), "step_done", {"step": "preserve-evidence"}),
              Fact(at(38), "status_update", {}), Fact(at(40), "contained", {})]
    # Due 20m after opening: 50m on the wall clock once the 30m pause is counted out.
    rows = [Step("preserve-evidence", "done", at(20), at(36))]
    c = card(paused, ended=at(45), rows=rows)
    assert c.paused == 30 * 60 and c.duration == 15 * 60
    assert c.acknowledge.seconds == 5 * 60
    assert c.containment == ContainmentScore(mttc=10 * 60, target=1800, met=True)
    assert c.status.longest_gap == 8 * 60 and c.status.kept
    step = c.injects[0].answers[1]
    assert step.seconds == 4 * 60 and step.on_time  # 34m of wall time, 4m of exercise time
    assert c.runbook.done_on_time == ("privacy/preserve-evidence",)
    assert "15m of exercise time (paused 30m, not counted)" in scorecard_markdown(c)


# ----- the scorecard and the postmortem of one run ----------------------------------------------------------
STATE_OF_KEY = {"done_on_time": "done on time", "done_late": "done late", "skipped": "skipped",
                "overdue": "overdue", "pending": "pending", "not_required": "not required"}


@pytest.mark.parametrize("key", ["jailbreak-viral", "indirect-injection-exfil"])
def test_scorecard_and_postmortem_of_one_run_agree(key: str, tmp_path: Path, db_url: str) -> None:
    result = run_auto(key, out_dir=tmp_path / "out", settings=Settings(), database_url=db_url,
                      console=Console(file=io.StringIO(), width=120))
    card = result.card
    with Harness(Settings(database_url=db_url)) as h, h.ctx.db.session() as session:
        incident = incidents.get(session, result.incident_id)
        pm = postmortem_context(h.ctx, session, incident)
    intervals = {i.key: i.seconds for i in pm.intervals}
    assert card.acknowledge.seconds == intervals["mtta"]
    assert card.containment.mttc == intervals["mttc"]
    assert card.containment.met is pm.mttc_within_target is True
    # One target: the scenario's, in both (not the rubric's SEV1 hour).
    assert pm.mttc_target_source == "exercise target"
    assert timedelta(seconds=card.containment.target) == load_catalog().get(key).target_mttc
    assert pm.mttc_target == format_duration(card.containment.target)
    # Every step in the same state in both; the sentence about unfinished steps is the same too.
    assert pm.runbook is not None
    by_state = {f"{s.runbook}/{s.id}": s.state for s in pm.runbook}
    from_card = {name.split(" (", 1)[0]: STATE_OF_KEY[k.name] for k in fields(card.runbook)
                 for name in getattr(card.runbook, k.name)}
    assert from_card == by_state
    unfinished = [p for p in card.practise if "required runbook step(s) were not done" in p]
    hard = [h for h in pm.facts.hard if "required runbook step(s) were not done" in h]
    assert len(unfinished) == len(hard) == 1
    assert unfinished[0].split(":")[1].split(".")[0] == hard[0].split(":")[1].split(".")[0]  # same counts
    assert "finished late" not in " ".join(pm.facts.hard) or card.runbook.done_late
    assert "Nothing: a clean run." not in result.scorecard_path.read_text()

