"""Scenario files: the shipped ones are valid; broken ones fail with the file and the key named."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from bot.cli import cli
from bot.errors import UsageError
from bot.severity import load_rules
from bot.tabletop.scenario import Scenario, load_catalog

REQUIRED_CATEGORIES = {"jailbreak", "data_leakage", "prompt_injection", "agent_tool_misuse",
                       "hallucination_high_stakes", "model_regression"}


def good(key: str = "drill") -> dict:
    return {
        "key": key, "title": "A small drill", "category": "jailbreak", "summary": "Practice.",
        "starting_facts": ["a fact"], "expected_severity": 2, "target_mttc": "30m",
        "injects": [{"id": "one", "at": "+2m", "text": "Something new", "expects": [{"severity": 2}]},
                    {"id": "two", "at": "5m", "text": "More", "within": "3m", "expects": [{"status_update": True}]}],
        "responders": [{"at": "1m", "user": "U0MAYA", "do": "ic @U0MAYA"}],
    }


def write(directory: Path, name: str, data) -> Path:
    directory.mkdir(exist_ok=True)
    path = directory / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


def test_shipped_scenarios_are_valid_and_cover_the_issue() -> None:
    catalog = load_catalog(rules=load_rules(None))
    assert catalog.errors == {}
    assert len(catalog.scenarios) >= 6
    assert REQUIRED_CATEGORIES <= {s.category for s in catalog.scenarios.values()}
    for s in catalog.scenarios.values():
        assert s.page_real_people is False
        assert s.responders, f"{s.key} has no scripted responders for --auto"
        kinds = {e.kind for _, e in s.expected()}
        assert {"severity", "status_update", "contained"} <= kinds, s.key
        assert Scenario.from_snapshot(s.snapshot()) == s


def test_durations_offsets_and_defaults(tmp_path: Path) -> None:
    write(tmp_path, "drill.yml", good())
    s = load_catalog(tmp_path, shipped=False).get("drill")
    assert s.injects[0].at == timedelta(minutes=2)
    assert s.injects[1].within == timedelta(minutes=3)
    assert s.injects[0].within == timedelta(minutes=10)
    assert s.target_mttc == timedelta(minutes=30)
    assert s.page_real_people is False
    assert s.responders[0].command_text() == "ic <@U0MAYA>"


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d.pop("title"), "drill.yml: title: Field required"),
    (lambda d: d.update(target_mttc="soon"), "drill.yml: target_mttc: Value error, `soon` is not a duration"),
    (lambda d: d.update(target_mttc=30), "drill.yml: target_mttc: Value error, write a duration with a unit"),
    (lambda d: d["injects"][1].update(at="1m"), "injects must be listed in the order of their `at` offsets"),
    (lambda d: d["injects"][1].update(id="one"), "inject ids must be unique (repeated: one)"),
    (lambda d: d["injects"][0].update(expects=[{"severity": 1, "lever": "x"}]),
     "drill.yml: injects.0.expects.0: Value error, give exactly one of"),
    (lambda d: d["injects"][0].update(expects=[{"sevverity": 1}]), "injects.0.expects.0.sevverity: Extra inputs"),
    (lambda d: d.update(expected_severity=5), "drill.yml: expected_severity: Input should be less than or equal to 4"),
    (lambda d: d.update(category="gossip"), "drill.yml: category: unknown category `gossip`"),
    (lambda d: d.update(opening={"reach": "galaxy"}), "drill.yml: opening.reach: unknown value `galaxy`"),
    (lambda d: d.update(key="other"), "drill.yml: key: `other` must match the file name (`drill`)"),
    (lambda d: d["responders"][0].update(user="maya"), "responders.0.user: Value error, must be a Slack user id"),
    (lambda d: d.update(injects=[]), "drill.yml: injects: List should have at least 1 item"),
])
def test_broken_scenarios_name_file_and_key(tmp_path: Path, change, message: str) -> None:
    data = good()
    change(data)
    path = write(tmp_path, "drill.yml", data)
    catalog = load_catalog(tmp_path, rules=load_rules(None), shipped=False)
    assert "drill" not in catalog.scenarios
    assert message in catalog.errors[path]
    with pytest.raises(UsageError) as err:
        catalog.get("drill")
    assert "Scenario `drill` cannot be used: its file is invalid" in err.value.message
    assert message in err.value.message


def test_invalid_yaml_and_unknown_key(tmp_path: Path) -> None:
    path = write(tmp_path, "drill.yml", "key: [unclosed\n")
    catalog = load_catalog(tmp_path, shipped=False)
    assert catalog.errors[path].startswith(f"{path}: line")
    assert "not valid YAML" in catalog.errors[path]
    with pytest.raises(UsageError) as err:
        load_catalog().get("no-such-drill")
    assert "Unknown scenario `no-such-drill`. Scenarios: agent-tool-misuse," in err.value.message


def test_org_directory_adds_and_overrides(tmp_path: Path) -> None:
    write(tmp_path, "drill.yml", good())
    override = good("jailbreak-viral")
    override["title"] = "Our own jailbreak drill"
    write(tmp_path, "jailbreak-viral.yml", override)
    catalog = load_catalog(tmp_path, rules=load_rules(None))
    assert catalog.get("drill").title == "A small drill"
    assert catalog.get("jailbreak-viral").title == "Our own jailbreak drill"
    assert catalog.sources["jailbreak-viral"] == tmp_path / "jailbreak-viral.yml"
    assert "privacy-leak-allegation" in catalog.scenarios


def test_cli_scenarios_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FIREBREAK_SCENARIOS_DIR", raising=False)
    runner = CliRunner()
    ok = runner.invoke(cli, ["scenarios", "check"])
    assert ok.exit_code == 0, ok.output
    assert "ok: jailbreak-viral" in ok.output and "5 injects" in ok.output
    bad = good()
    bad["injects"][0]["at"] = "soonish"
    write(tmp_path, "drill.yml", bad)
    result = runner.invoke(cli, ["scenarios", "check", str(tmp_path)])
    assert result.exit_code == 2
    assert f"{tmp_path / 'drill.yml'}: injects.0.at: Value error, `soonish` is not a duration" in result.output
