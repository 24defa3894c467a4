"""Scenario files: the shipped ones are valid; broken ones fail with the file and the key named."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from sqlmodel import select
from typer.testing import CliRunner

from bot.cli.main import cli
from bot.config.org import load_config
from bot.containment.spec import load_levers
from bot.core.errors import UsageError
from bot.core.severity import load_rules
from bot.runbooks.loader import load_library
from bot.store.models import Incident
from bot.tabletop import references
from bot.tabletop.references import EXERCISE_LEVERS
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


def test_shipped_scenarios_reference_real_runbook_steps_and_exercise_levers() -> None:
    rules = load_rules(None)
    library = load_library(rules.categories)
    registry = load_levers(EXERCISE_LEVERS, categories=set(rules.categories))
    regimes = references.regime_names(load_config(None))
    catalog = load_catalog(rules=rules)
    for key, s in catalog.scenarios.items():
        assert references.check(s, catalog.sources[key], library=library, registry=registry,
                                regimes=regimes) == [], key
        steps, levers = references.references(s)
        assert steps and levers, f"{key} names no runbook step or no lever"


def _refs(data: dict) -> dict:
    data["injects"][0]["expects"] = [{"step": "preserve-evidence"}, {"lever": "emergency-filter"}]
    data["responders"] += [{"at": "2m", "user": "U0LIN", "do": "step preserve-evidence done"},
                           {"at": "3m", "user": "U0LIN", "do": "contain emergency-filter now"}]
    return data


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["injects"][0]["expects"][0].update(step="presrve-evidence"),
     "drill.yml: injects.0.expects.0.step: runbook `jailbreak` has no step `presrve-evidence` at SEV2 (its steps: "
     "assign-roles, confirm-severity, preserve-evidence,"),
    (lambda d: d["responders"][1].update(do="step no-such-step done"),
     "drill.yml: responders.1.do: runbook `jailbreak` has no step `no-such-step` at SEV2"),
    (lambda d: d["injects"][0]["expects"][0].update(runbook="nope"),
     "drill.yml: injects.0.expects.0.step: no runbook `nope`, so step `preserve-evidence` cannot be done"),
    (lambda d: d["injects"][0]["expects"][1].update(lever="emergency-fliter"),
     "drill.yml: injects.0.expects.1.lever: no lever `emergency-fliter` in "),
    (lambda d: d["responders"][2].update(do="contain kill-everything"),
     "drill.yml: responders.2.do: no lever `kill-everything` in "),
    (lambda d: d["injects"][1]["expects"].append({"report_clock": "gdpr-27h"}),
     "drill.yml: injects.1.expects.1.report_clock: no reporting regime `gdpr-27h` (regimes: dora, "),
    (lambda d: d["responders"].append({"at": "4m", "user": "U0PRIYA", "do": "report-clock eu-ai-act-15d"}),
     "drill.yml: responders.3.do: no reporting regime `eu-ai-act-15d` (regimes: dora, eu-ai-act-art73, gdpr-72h"),
])
def test_references_to_missing_steps_and_levers_name_file_and_key(tmp_path: Path, change, message: str) -> None:
    data = _refs(good())
    assert references.check(Scenario.model_validate(data), tmp_path / "drill.yml",
                            library=load_library(load_rules(None).categories),
                            registry=load_levers(EXERCISE_LEVERS)) == []
    change(data)
    write(tmp_path, "drill.yml", data)
    runner = CliRunner()
    result = runner.invoke(cli, ["scenarios", "check", str(tmp_path), "--levers", str(EXERCISE_LEVERS)])
    assert result.exit_code == 2
    assert message in result.output
    assert "ok: drill" not in result.output and "ok: jailbreak-viral" in result.output


def test_lever_names_are_checked_only_against_a_configured_lever_file(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FIREBREAK_LEVERS_FILE", raising=False)
    data = _refs(good())
    data["responders"][2]["do"] = "contain our-own-lever"
    write(tmp_path, "drill.yml", data)
    result = CliRunner().invoke(cli, ["scenarios", "check", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "ok: drill" in result.output and "(lever names not checked: no lever file" in result.output
    monkeypatch.setenv("FIREBREAK_LEVERS_FILE", str(EXERCISE_LEVERS))
    result = CliRunner().invoke(cli, ["scenarios", "check", str(tmp_path)])
    assert result.exit_code == 2 and "drill.yml: responders.2.do: no lever `our-own-lever`" in result.output


def test_a_live_start_refuses_a_scenario_with_a_missing_step(make_harness, write_yaml, tmp_path: Path) -> None:
    data = _refs(good())
    data["responders"][1]["do"] = "step no-such-step done"
    write(tmp_path / "scenarios", "drill.yml", data)
    h = make_harness(config_file=write_yaml("c.yml", {"sandbox_channels": ["tabletop-*"]}),
                     scenarios_dir=tmp_path / "scenarios")
    sandbox = h.fake.add_channel("tabletop-drills", channel_id="C0SANDBOX")
    reply = h.command("tabletop start drill", user="U0FACIL", channel=sandbox)
    assert "Scenario `drill` cannot be used: its file is invalid." in reply.text
    assert "responders.1.do: runbook `jailbreak` has no step `no-such-step` at SEV2" in reply.text
    with h.ctx.db.session() as session:
        assert session.exec(select(Incident)).all() == []  # nothing written


def test_auto_refuses_a_scenario_whose_levers_are_missing(tmp_path: Path) -> None:
    from bot.cli.tabletop_auto import run_auto
    from bot.config.settings import Settings

    data = _refs(good())
    data["responders"][2]["do"] = "contain our-own-lever"
    write(tmp_path / "scenarios", "drill.yml", data)
    with pytest.raises(UsageError) as err:
        run_auto("drill", out_dir=tmp_path / "out", settings=Settings(), scenarios_dir=tmp_path / "scenarios")
    assert "Scenario `drill` cannot be played with these runbooks, levers and regimes:" in err.value.message
    assert "drill.yml: responders.2.do: no lever `our-own-lever` in" in err.value.message
    assert not (tmp_path / "out").exists()
