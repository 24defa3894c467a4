"""`firebreak alerts test` (writes nothing), `firebreak config check` naming the file and key of a bad route,
`firebreak alerts stats` showing refusals by reason without secrets, and the shipped examples."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli.main import cli
from tests.test_alerts_support import BEARER_SECRET, HMAC_SECRET, detector_alert, post, start
from tests.test_alerts_support import alerts_file as make_file

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "alerts"


@pytest.fixture(autouse=True)
def env(monkeypatch, tmp_path):
    monkeypatch.setenv("TEST_ALERT_HMAC", HMAC_SECRET)
    monkeypatch.setenv("TEST_ALERT_BEARER", BEARER_SECRET)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/cli.db")
    for name in ("FIREBREAK_CONFIG", "FIREBREAK_SEVERITY_RULES", "FIREBREAK_ALERTS_FILE"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("sample,source,route,action", [
    ("guardrail-block-rate-spike.json", "guardrail-gateway", "guardrail-spike", "declare"),
    ("pii-in-output.json", "alertmanager", "pii-in-output", "declare"),
    ("eval-regression.json", "ci-evals", "eval-regressions", "triage"),
])
def test_the_shipped_samples_take_the_shipped_routes_and_nothing_is_written(tmp_path, sample, source, route, action):
    result = CliRunner().invoke(cli, ["alerts", "test", str(EXAMPLES / sample), "--source", source,
                                      "--alerts", str(EXAMPLES / "alerts.yml")])
    assert result.exit_code == 0, result.output
    assert f"route: {route} ({action})" in result.output
    assert not (tmp_path / "cli.db").exists()


def test_alerts_test_says_what_the_intake_would_refuse(tmp_path, write_yaml):
    bad = tmp_path / "bad.json"
    bad.write_text('{"title": "x", "category": "cooking"}')
    result = CliRunner().invoke(cli, ["alerts", "test", str(bad), "--source", "guardrail",
                                      "--alerts", str(write_yaml("a.yml", make_file()))])
    assert result.exit_code == 2 and "would answer 400" in result.output and "Unknown category" in result.output


@pytest.mark.parametrize("change,where", [
    (lambda d: d["routes"][0].update(action="page"), "routes.0.action"),
    (lambda d: d["routes"][1]["when"]["regex"].update({"title": "(unclosed"}) if "regex" in d["routes"][1]["when"]
     else d["routes"][1]["when"].update(regex={"title": "(unclosed"}), "routes.1.when"),
    (lambda d: d["routes"][0]["when"].update({"in": {"category": ["cooking"]}}), "routes[0].when: unknown category"),
    (lambda d: d["sources"]["guardrail"].update(auth="password"), "sources.guardrail.auth"),
    (lambda d: d.update(window="soon"), "window"),
    (lambda d: d["routes"].append({"name": "pii", "action": "triage"}), "routes[5].name"),
])
def test_config_check_names_the_file_and_key_of_a_bad_route(write_yaml, change, where):
    doc = make_file()
    change(doc)
    path = write_yaml("alerts.yml", doc)
    result = CliRunner().invoke(cli, ["config", "check", "--alerts", str(path)])
    assert result.exit_code == 2
    assert str(path) in result.output and where in result.output, result.output


def test_config_check_accepts_the_shipped_file():
    result = CliRunner().invoke(cli, ["config", "check", "--alerts", str(EXAMPLES / "alerts.yml")])
    assert result.exit_code == 0 and "ok: alert sources and routes" in result.output


def test_alerts_stats_counts_refusals_by_reason_without_secrets(make_harness, write_yaml, tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path}/stats.db"
    h = make_harness(database_url=url, alerts_file=write_yaml("alerts.yml", make_file()))
    server = start(h)
    try:
        post(server, "guardrail", detector_alert(h.ctx.clock.now() - timedelta(minutes=6)))  # declares
        post(server, "guardrail", {"title": "t", "category": "jailbreak"}, headers={"x-firebreak-signature": "v0=00"})
        post(server, "prom", {}, headers={"authorization": "Bearer " + HMAC_SECRET})
        h.wait()
    finally:
        server.close()
    monkeypatch.setenv("DATABASE_URL", url)
    result = CliRunner().invoke(cli, ["alerts", "stats"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any("guardrail" in line and "accepted" in line and line.split()[2] == "1" for line in lines)
    assert any("guardrail" in line and "bad_auth" in line for line in lines)
    assert any("prom" in line and "bad_auth" in line for line in lines)
    assert HMAC_SECRET not in result.output
    by_source = result.output.split("Incidents from alerts", 1)[1]
    assert "guardrail" in by_source and "MTTD 6.0 min" in by_source
