"""Scorecard numbers from timeline facts, in the shapes the runbook and containment features write them
(an exercise's lever pull is forced to a dry run: lever_requested + lever_applied with dry_run true, never
lever_verified). The full flow through the real commands is in test_tabletop_flow.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.tabletop.render import scorecard_blocks, scorecard_markdown
from bot.tabletop.scenario import Scenario
from bot.tabletop.scorecard import Fact, compute

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


def facts() -> list[Fact]:
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
        Fact(at(16), "step_skipped", {"runbook": "privacy", "step": "notify-press", "reason": "no press"}),
        Fact(at(20), "inject_posted", {"inject": "c"}),
        Fact(at(22), "contained", {}),
        Fact(at(24), "status_update", {}),
        Fact(at(26), "report_clock_started", {"regime": "gdpr-72h"}),
    ]


def card(**kw):
    args = {"ref": "INC-7", "started": T0, "detected": T0, "ended": at(30), "facts": facts(),
            "opening_severity": 3}
    args.update(kw)
    return compute(SCENARIO, **args)


def test_key_times_against_targets() -> None:
    c = card()
    assert c["acknowledge"]["seconds"] == 90
    assert c["severity"] == {"expected": 1, "initial": 3, "final": 1, "reached_seconds": 9 * 60}
    assert c["containment"] == {"mttc": 22 * 60, "target": 30 * 60, "met": True}
    # Gaps: 0→7, 7→15, 15→24, 24→30 minutes; all within 10m.
    assert c["status"] == {"count": 3, "cadence": 600, "longest_gap": 9 * 60, "gaps_over": 0, "kept": True}
    assert c["levers"] == [{"lever": "purge-memory", "at": 8 * 60, "dry_run": True, "verified": False}]
    # A live pull (outside exercises) that the containment layer verified is shown as verified.
    live = facts() + [Fact(at(10), "lever_applied", {"lever": "kill-switch", "dry_run": False, "action_id": 3}),
                      Fact(at(10.5), "lever_verified", {"lever": "kill-switch", "dry_run": False, "action_id": 3})]
    assert card(facts=live)["levers"][1] == {"lever": "kill-switch", "at": 600, "dry_run": False, "verified": True}


def test_inject_answers_and_timing() -> None:
    c = card()
    a, b, cc, d = c["injects"]
    assert [x["seconds"] for x in a["answers"]] == [7 * 60, 3 * 60]  # SEV1 at 9m (7m after), step at 5m
    assert [x["on_time"] for x in a["answers"]] == [False, True]     # 7m is over the 5m window
    assert [x["seconds"] for x in b["answers"]] == [2 * 60, 20 * 60, 60]
    assert [x["on_time"] for x in b["answers"]] == [True, False, True]
    assert cc["answers"][0] == {"expects": "incident contained", "kind": "contained", "answered": True,
                                "ahead": False, "seconds": 120, "on_time": True}
    assert d["posted"] is None and d["answers"][0]["answered"] is False
    assert c["answers"] == {"expected": 6, "answered": 6, "on_time": 4}


def test_runbook_from_timeline_and_from_provider() -> None:
    rb = card()["runbook"]
    assert rb == {"on_time": ["preserve-evidence"], "late": [], "skipped": ["notify-press (no press)"],
                  "missed": [], "open": [], "source": "timeline"}
    # Without the step: missed (its inject was delivered).
    without = [f for f in facts() if f.kind != "step_done"]
    assert card(facts=without)["runbook"]["missed"] == ["preserve-evidence"]
    provider = [
        {"runbook": "privacy", "id": "preserve-evidence", "state": "done", "late": False, "required": True},
        {"runbook": "privacy", "id": "notify-dpo", "state": "done", "late": True, "required": True},
        {"runbook": "privacy", "id": "notify-press", "state": "skipped", "reason": "no press", "required": True},
        {"runbook": "privacy", "id": "customer-faq", "state": "pending", "late": True, "required": True},
        {"runbook": "privacy", "id": "regulator", "state": "pending", "late": False, "required": True},
        {"runbook": "privacy", "id": "nice-to-have", "state": "pending", "late": True, "required": False},
    ]
    rb = card(runbook_steps=provider)["runbook"]
    # Missed = required and overdue when the exercise ended; not yet due, or optional = still open.
    assert rb == {"on_time": ["privacy/preserve-evidence"], "late": ["privacy/notify-dpo"],
                  "skipped": ["privacy/notify-press (no press)"], "missed": ["privacy/customer-faq"],
                  "open": ["privacy/regulator", "privacy/nice-to-have"], "source": "runbooks"}
    text = scorecard_markdown(card(runbook_steps=provider))
    assert "- Missed (overdue): privacy/customer-faq\n- Still open (not yet due, or optional): 2\n" in text


def test_answers_ahead_of_the_inject_and_verdicts() -> None:
    early = [Fact(at(0), "severity_classified", {"severity": 1}), Fact(at(1), "status_update", {}),
             Fact(at(2), "inject_posted", {"inject": "a"}), Fact(at(6), "inject_posted", {"inject": "b"})]
    c = card(facts=early, ended=at(45))
    sev_answer = c["injects"][0]["answers"][0]
    assert sev_answer["ahead"] and sev_answer["answered"] and sev_answer["seconds"] == 0
    assert c["injects"][1]["answers"][2]["ahead"]  # the status update came before inject b
    assert c["severity"]["reached_seconds"] == 0
    assert c["acknowledge"]["seconds"] is None
    assert c["containment"] == {"mttc": None, "target": 1800, "met": False}
    assert not c["status"]["kept"] and c["status"]["longest_gap"] == 44 * 60
    practise = "\n".join(c["practise"])
    assert "Nobody took the incident commander role" in practise
    assert "Not contained before the end (target MTTC 30m)" in practise
    assert "Inject `b` (+6m): no lever `purge-memory` applied." in practise
    assert "Runbook steps missed: `preserve-evidence`." in practise
    assert "Reached SEV1 0s in." in c["went_well"]


def test_late_containment_is_a_miss() -> None:
    late = [f for f in facts() if f.kind != "contained"] + [Fact(at(41), "contained", {})]
    c = card(facts=late, ended=at(45))
    assert c["containment"] == {"mttc": 41 * 60, "target": 1800, "met": False}
    assert "Containment took 41m, over the 30m target." in c["practise"]


def test_template_renders_the_numbers_with_the_exercise_banner() -> None:
    text = scorecard_markdown(card())
    assert text.startswith("# [EXERCISE] Scorecard — Drill")
    assert "not a real incident" in text
    assert "✅ Time to acknowledge (first IC): 1m 30s" in text
    assert "✅ Time to contain (MTTC): 22m against a target of 30m" in text
    assert "❌ severity raised to SEV1 or higher: after 7m (over 5m)" in text
    assert "❌ reporting clock `gdpr-72h` started: after 20m (over 5m)" in text
    assert "➖ runbook step `notify-dpo` done: inject not delivered" in text
    assert "Skipped: notify-press (no press)" in text
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
    c = card(facts=paused, ended=at(45))
    assert c["paused"] == 30 * 60 and c["duration"] == 15 * 60
    assert c["acknowledge"]["seconds"] == 5 * 60
    assert c["containment"] == {"mttc": 10 * 60, "target": 1800, "met": True}
    assert c["status"]["longest_gap"] == 8 * 60 and c["status"]["kept"]
    step = c["injects"][0]["answers"][1]
    assert step["seconds"] == 4 * 60 and step["on_time"]  # 34m of wall time, 4m of exercise time
    assert c["runbook"]["on_time"] == ["preserve-evidence"]
    assert "15m of exercise time (paused 30m, not counted)" in scorecard_markdown(c)
