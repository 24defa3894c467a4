"""The runbook loader and validator: the shipped runbooks, broken files (each message asserted), the
organization's directory, `firebreak runbooks check`, and refusing to start on an invalid runbook."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli.main import cli
from bot.core.errors import ConfigError
from bot.core.severity import load_rules
from bot.runbooks.loader import PHASES, RunbookErrors, load_library

CATEGORIES = list(load_rules().categories)
AI_CATEGORIES = ["jailbreak", "prompt_injection", "data_leakage", "harmful_content", "hallucination_high_stakes",
                 "agent_tool_misuse", "bias", "model_regression"]

GOOD = """\
key: acme_injection
title: ACME prompt injection
applies_to:
  categories: [prompt_injection]
  severities: [1, 2]
phases:
  - phase: triage
    steps:
      - id: page-security
        text: Page the ACME security on-call.
        owner: security
        due: {sev1: 5m, sev2: 15m}
  - phase: reproduce
    steps:
      - id: preserve-evidence
        text: Snapshot prompts, outputs, model version and filter config.
        owner: safety
        due: 20m
        lever: snapshot_traces
"""


def problems_for(tmp_path: Path, text: str, name: str = "bad.yml") -> list[str]:
    d = tmp_path / "org"
    d.mkdir(exist_ok=True)
    (d / name).write_text(text)
    with pytest.raises(RunbookErrors) as info:
        load_library(CATEGORIES, d)
    return [str(p) for p in info.value.problems]


def test_shipped_runbooks_cover_every_ai_category_and_severity() -> None:
    lib = load_library(CATEGORIES)
    for category in AI_CATEGORIES:
        for sev in (1, 2, 3):
            runbook = lib.match(category, sev)
            assert runbook is not None and runbook.key == category, (category, sev)
            ids = {s.id for s in runbook.steps_for(sev)}
            assert {"preserve-evidence", "verify-containment", "postmortem"} <= ids, category
            phases = {s.phase for s in runbook.steps}
            assert phases == set(PHASES), (category, set(PHASES) - phases)
            assert all(s.due_after(sev) for s in runbook.steps_for(sev) if s.required), category
        assert lib.match(category, 4).key == "near_miss"
    assert lib.match("other", 2).key == "general"
    # Evidence is preserved before containment in every runbook.
    for runbook in lib.runbooks.values():
        order = [s.phase for s in runbook.steps]
        assert order.index("reproduce") < order.index("contain") if "contain" in order else True


def test_an_organization_runbook_replaces_a_shipped_one_and_wins_the_match(tmp_path: Path) -> None:
    d = tmp_path / "org"
    d.mkdir()
    (d / "acme.yml").write_text(GOOD)
    lib = load_library(CATEGORIES, d)
    assert lib.match("prompt_injection", 1).key == "acme_injection"
    assert lib.match("prompt_injection", 3).key == "prompt_injection"
    acme = lib.get("acme_injection")
    assert acme.origin == "organization" and acme.steps[1].lever == "snapshot_traces"
    assert acme.steps[0].due_after(1).total_seconds() == 300 and acme.steps[0].due_after(3) is None
    (d / "override.yml").write_text(GOOD.replace("key: acme_injection", "key: bias").replace(
        "[prompt_injection]", "[bias]"))
    lib = load_library(CATEGORIES, d)
    assert lib.get("bias").title == "ACME prompt injection" and lib.get("bias").origin == "organization"


@pytest.mark.parametrize(("edit", "expected"), [
    (("owner: security", "owner: cto"),
     "org/bad.yml:11: phases[0].steps[0].owner: unknown role `cto` (roles: ic, scribe, comms, safety, security, "
     "privacy)"),
    (("due: 20m", "due: soon"),
     "org/bad.yml:18: phases[1].steps[0].due: `soon` is not a duration (use 30s, 15m, 1h, 1h30m, 2d)"),
    (("{sev1: 5m, sev2: 15m}", "{sev1: 5m, sev9: 15m}"),
     "org/bad.yml:12: phases[0].steps[0].due.sev9: `sev9` is not a severity (use sev1..sev4)"),
    (("categories: [prompt_injection]", "categories: [prompt_injection, deepfake]"),
     "org/bad.yml:4: applies_to.categories[1]: unknown category `deepfake` (known: agent_tool_misuse, bias, "),
    (("id: preserve-evidence", "id: page-security"),
     "org/bad.yml:15: phases[1].steps[0].id: duplicate step id `page-security` (first used at "
     "phases[0].steps[0])"),
    (("phase: reproduce", "phase: investigate"),
     "org/bad.yml:13: phases[1].phase: unknown phase `investigate` (phases, in order: triage, reproduce, "
     "contain, verify, communicate, recover, learn)"),
    (("phase: triage", "phase: learn"),
     "org/bad.yml:13: phases[1].phase: phase `reproduce` is out of order"),
    (("        lever: snapshot_traces", "        lever: Snapshot Traces"),
     "org/bad.yml:19: phases[1].steps[0].lever: `Snapshot Traces` is not a lever name"),
    (("        lever: snapshot_traces", "        owner_note: hi"),
     "org/bad.yml:19: phases[1].steps[0].owner_note: unknown key `owner_note` (allowed: due, id, lever, owner, "
     "required, severities, text)"),
    (("  severities: [1, 2]", "  severities: [1, 5]"),
     "org/bad.yml:5: applies_to.severities[1]: `5` is not a severity (use 1, 2, 3, 4 or sev1..sev4)"),
    (("        text: Page the ACME security on-call.\n", ""),
     "org/bad.yml:9: phases[0].steps[0].text: is required"),
    (("key: acme_injection", "key: ACME Injection"),
     "org/bad.yml:1: key: `ACME Injection` is not a valid key"),
    (("        due: 20m\n", "        due: 20m\n        required: maybe\n"),
     "org/bad.yml:19: phases[1].steps[0].required: must be true or false"),
    (("title: ACME prompt injection\n", "title: ACME prompt injection\ntitle: again\n"),
     "org/bad.yml:3: title: duplicate key (the later value would win)"),
])
def test_each_broken_file_names_file_line_key_and_what(tmp_path: Path, edit: tuple[str, str],
                                                       expected: str) -> None:
    old, new = edit
    assert old in GOOD
    problems = problems_for(tmp_path, GOOD.replace(old, new, 1))
    assert any(p.startswith(f"{tmp_path}/{expected}") for p in problems), problems


def test_every_problem_is_reported_not_only_the_first(tmp_path: Path) -> None:
    text = GOOD.replace("owner: security", "owner: cto").replace("due: 20m", "due: soon").replace(
        "[prompt_injection]", "[deepfake]")
    problems = problems_for(tmp_path, text)
    assert len(problems) == 3
    assert [p.split(": ", 2)[1] for p in problems] == [
        "applies_to.categories[0]", "phases[0].steps[0].owner", "phases[1].steps[0].due"]


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    [problem] = problems_for(tmp_path, GOOD.replace("  severities: [1, 2]", "  severities: [1, 2"))
    assert problem.startswith(f"{tmp_path}/org/bad.yml:") and "not valid YAML" in problem


def test_duplicate_keys_and_ambiguous_matches(tmp_path: Path) -> None:
    d = tmp_path / "org"
    d.mkdir()
    (d / "a.yml").write_text(GOOD)
    (d / "b.yml").write_text(GOOD)
    with pytest.raises(RunbookErrors) as info:
        load_library(CATEGORIES, d)
    [dup] = [str(p) for p in info.value.problems]
    assert dup == f"{d}/b.yml:1: key: duplicate runbook key `acme_injection` (also in {d}/a.yml)"
    (d / "b.yml").write_text(GOOD.replace("key: acme_injection", "key: acme_other"))
    with pytest.raises(RunbookErrors) as info:
        load_library(CATEGORIES, d)
    [ambiguous] = [str(p) for p in info.value.problems]
    assert ambiguous.endswith("applies_to: runbooks `acme_injection`, `acme_other` all apply to "
                              "`prompt_injection` at SEV1; narrow `applies_to` or set `auto: false` on all but one")
    (d / "b.yml").write_text(GOOD.replace("key: acme_injection", "key: acme_other\nauto: false"))
    assert load_library(CATEGORIES, d).get("acme_other").auto is False


def test_missing_directory_is_a_problem(tmp_path: Path) -> None:
    with pytest.raises(RunbookErrors) as info:
        load_library(CATEGORIES, tmp_path / "nope")
    assert str(info.value) == f"{tmp_path}/nope: is not a directory of runbook files"


def test_cli_check_prints_every_problem(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("FIREBREAK_RUNBOOKS_DIR", raising=False)
    runner = CliRunner()
    result = runner.invoke(cli, ["runbooks", "check"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok: 10 runbooks")
    d = tmp_path / "org"
    d.mkdir()
    (d / "bad.yml").write_text(GOOD.replace("owner: security", "owner: cto").replace("due: 20m", "due: soon"))
    result = runner.invoke(cli, ["runbooks", "check", str(d)])
    assert result.exit_code == 2
    out = result.output
    assert f"{d}/bad.yml:11: phases[0].steps[0].owner: unknown role `cto`" in out
    assert f"{d}/bad.yml:18: phases[1].steps[0].due: `soon` is not a duration" in out
    assert "2 problem(s) found" in out
    (d / "bad.yml").write_text(GOOD)
    monkeypatch.setenv("FIREBREAK_RUNBOOKS_DIR", str(d))
    result = runner.invoke(cli, ["runbooks", "check"])
    assert result.exit_code == 0 and f"ok: 11 runbooks (1 from {d})" in result.output


def test_the_bot_refuses_to_start_on_an_invalid_runbook(tmp_path: Path, make_harness) -> None:
    d = tmp_path / "org"
    d.mkdir()
    (d / "good.yml").write_text(GOOD.replace("[1, 2]", "[1]"))
    (d / "bad.yml").write_text(GOOD.replace("key: acme_injection", "key: acme_two").replace("[1, 2]", "[2]")
                               .replace("owner: security", "owner: cto"))
    with pytest.raises(ConfigError) as info:
        make_harness(runbooks_dir=d)
    assert "runbooks are invalid" in str(info.value)
    assert f"{d}/bad.yml:11: phases[0].steps[0].owner: unknown role `cto`" in str(info.value)
    (d / "bad.yml").unlink()
    h = make_harness(runbooks_dir=d)
    assert h.ctx.runbooks.match("prompt_injection", 1).key == "acme_injection"
