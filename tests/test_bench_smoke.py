"""A tiny run of the benchmark so the bench code cannot rot. No timing is asserted: benchmarks are not tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.cli import main
from bench.far import FLOORS
from bench.scenarios import SCENARIOS
from bench.stats import percentile, summarize
from bench.targets import TARGETS
from tests.conftest import pg_unavailable

AT_REST = ["open", "ic", "sev", "status", "list", "contained", "resolve", "list_1000"]


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_tiny_run_measures_every_present_scenario(db: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    if db == "postgresql" and (reason := pg_unavailable()):
        pytest.skip(reason)
    out = tmp_path / "bench.json"
    code = main(["--db", db, "--requests", "2", "--responders", "3", "--per-responder", "10",
                 "--burst-incidents", "4", "--list-incidents", "12", "--history-incidents", "30",
                 "--timeline-events", "40", "--heavy-requests", "2", "--settle", "0.02", "--json", str(out),
                 "--far-latency", "0.05", "--far-requests", "1", "--lock-delay", "1", "--lock-users", "3",
                 "--lane-pulls", "2", "--lane-users", "3", "--lane-window", "1",
                 "--markdown", str(tmp_path / "bench.md")])
    assert code == 0
    data = json.loads(out.read_text())
    results = data["results"][db]
    assert set(results) == set(SCENARIOS)
    for name in AT_REST:
        res = results[name]
        assert "failed" not in res and "skipped" not in res, (name, res)
        assert res["errors"] == 0, (name, res.get("first_errors"))
        assert res["ack"]["n"] == 2 and res["completion"]["n"] == 2, name
        assert isinstance(res["cpu_ms"], float), name  # 10 ms ticks: a cheap command can read 0
    assert results["list_1000"]["open_incidents"] == 12
    # Far Slack: every command measured, answered as expected, never in fewer round trips than its floor.
    far = results["far_slack"]
    assert far["latency_s"] == 0.05 and set(far["commands"]) == set(FLOORS)
    for name, res in far["commands"].items():
        assert res["errors"] == 0 and res["n"] == 1, (name, res.get("first_errors"))
        assert res["round_trips"] >= res["floor"] and res["calls"] >= res["round_trips"], (name, res)
        # a lower bound the fake's own 50 ms sleep sets (not a speed threshold): far mode really was far
        assert res["last_answer"]["p50"] >= 50 * res["round_trips"], (name, res)
    assert "conversations.create" in far["commands"]["open"]["methods"]
    lock, lane = results["lock"], results["lane"]
    assert "failed" not in lock and lock["others"] == 3 and lock["ack"]["n"] == 3 and lock["unanswered"] == 0, lock
    assert lock["sev_answer"] and not lock["sev_answer"].startswith((":warning:", ":x:")), lock
    assert "failed" not in lane and lane["ack"]["n"] == 3 and lane["launchdarkly_503s"] >= 2, lane
    assert lane["pulls_unfinished"] == 0 and lane["pulls_verified"] == 2, lane
    assert "| open | 3 | ≤ 4 |" in (tmp_path / "bench.md").read_text()
    burst = results["burst"]
    assert burst["sent"] == 30 and burst["http_errors"] == 0 and burst["not_sent_deadline"] == 0
    assert burst["unanswered"] == 0 and burst["failed_answers"] == 0, burst.get("first_failed_answers")
    assert burst["ack"]["n"] == 30 and burst["after"]["rss_mb"] > 0
    assert results["process"]["startup_s"] > 0 and results["process"]["idle"]["rss_mb"] > 0
    # Containment and runbooks are in this build: measured, each request answered as a user would expect.
    for name in ("contain_dry_run", "contain_launchdarkly", "runbook_click"):
        res = results[name]
        assert "failed" not in res and "skipped" not in res, (name, res)
        assert res["errors"] == 0, (name, res.get("first_errors"))
        assert res["ack"]["n"] == 2 and res["completion"]["n"] == 2, name
    assert results["contain_dry_run"]["launchdarkly_calls"] == 0  # a dry run calls nothing
    assert results["contain_launchdarkly"]["patches_sent"] == 3  # the untimed warm-up pull, then two
    overhead = results["containment_overhead"]
    assert "skipped" not in overhead and "failed" not in overhead, overhead
    assert overhead["pulls"] == 2 and overhead["errors"] == 0, overhead.get("first_errors")
    for series in ("to_patch", "requested_row_to_patch", "answer_to_sdk_observed", "answer_to_verified"):
        assert overhead[series]["n"] == 2, (series, overhead)
    assert "containment overhead" in (tmp_path / "bench.md").read_text()
    # A feature that is not there skips with a reason naming it; one that is there is measured without errors.
    for name in ("metrics_100k", "postmortem_5000"):
        res = results[name]
        assert "failed" not in res, (name, res)
        if "skipped" in res:
            assert "not merged yet" in res["skipped"] or "still to be written" in res["skipped"], res
        else:
            assert res["errors"] == 0 and res["completion"]["n"] == 2, (name, res.get("first_errors"))
    if "skipped" not in results["metrics_100k"]:
        assert results["metrics_100k"]["incidents"] >= 30
    if "skipped" not in results["postmortem_5000"]:
        assert results["postmortem_5000"]["timeline_events"] >= 40
    verdicts = {t["target"]: t["verdict"] for t in data["targets"][db]}
    assert set(verdicts) == {t.name for t in TARGETS}
    assert verdicts["start-up to ready"] in ("met", "MISSED")
    printed = capsys.readouterr().out
    assert "== targets ==" in printed and f"== {db} ==" in printed


def test_bad_options_are_refused_with_what_was_wrong(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "x.json"
    assert main(["--db", "mysql", "--json", str(out)]) == 2
    assert "--db takes sqlite and/or postgresql, not mysql" in capsys.readouterr().err
    assert main(["--only", "nope", "--json", str(out)]) == 2
    assert "unknown scenario(s): nope" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--requests", "0"])
    assert not out.exists()


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50 and percentile(values, 99) == 99 and percentile(values, 100) == 100
    assert summarize([3.0, 1.0, 2.0]) == {"n": 3, "p50": 2.0, "p90": 3.0, "p99": 3.0, "max": 3.0, "mean": 2.0}
    assert summarize([]) == {"n": 0}
