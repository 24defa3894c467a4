"""One template home (bot/templates/), one Jinja environment with one set of filters, overridable per file
by FIREBREAK_TEMPLATES_DIR; a broken template is named with its file and line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli.main import cli
from bot.tabletop.render import scorecard_markdown
from bot.templates import SHIPPED, TemplateProblem, render, search_path

ROOT = Path(__file__).resolve().parents[1]
SHIPPED_NAMES = {"postmortem.md.j2", "regulator_summary.md.j2", "scorecard.md.j2"}


def card() -> dict:
    """The few scorecard values the organization templates below use."""
    return {"incident": "INC-7", "paused": 0, "containment": {"mttc": 22 * 60, "met": True}}


def _sources() -> list[Path]:
    return [p for p in (ROOT / "bot").rglob("*.py") if "__pycache__" not in p.parts]


def test_every_template_lives_in_the_one_home() -> None:
    found = {p.relative_to(ROOT) for p in ROOT.rglob("*.j2")
             if not {".venv", ".git", "build", "dist"} & set(p.relative_to(ROOT).parts)}
    assert found == {Path("bot/templates") / name for name in SHIPPED_NAMES}
    assert not (ROOT / "templates").exists() and not (ROOT / "bot/postmortem/default_templates").exists()


def test_only_bot_templates_builds_a_file_template_environment() -> None:
    """Webhook bodies are string templates in a sandbox (bot/containment/webhook.py): not files, not here."""
    builders = [p.relative_to(ROOT) for p in _sources()
                if re.search(r"FileSystemLoader|(?<!Sandboxed)Environment\(", p.read_text(encoding="utf-8"))]
    assert builders == [Path("bot/templates/__init__.py")]


def test_no_template_uses_the_old_filter_name() -> None:
    for name in SHIPPED_NAMES:
        assert not re.search(r"\|\s*dur\b", (SHIPPED / name).read_text(encoding="utf-8")), name


def test_every_template_gets_the_same_filters(tmp_path: Path) -> None:
    (tmp_path / "postmortem.md.j2").write_text(
        "{{ 252 | duration }} / {{ none | duration }} / {{ true | mark }}{{ false | mark }}{{ none | mark }} / "
        "{{ 'a|b\nc' | cell }} / {{ none | when }}\n")
    assert render("postmortem.md.j2", {}, org_dir=tmp_path) == "4m 12s / — / ✅❌➖ / a\\|b c / —\n"


def test_an_organization_overrides_one_file_and_keeps_the_others(tmp_path: Path) -> None:
    (tmp_path / "scorecard.md.j2").write_text(
        "# Our drill card for {{ card.incident }}\n{% if card.paused %}\npaused\n{% endif %}\n"
        "MTTC {{ card.containment.mttc | duration }} {{ card.containment.met | mark }}\n")
    assert search_path(tmp_path) == [tmp_path, SHIPPED]
    assert scorecard_markdown(card(), org_dir=tmp_path) == "# Our drill card for INC-7\nMTTC 22m ✅\n"
    assert search_path(None) == [SHIPPED]  # unset: only the shipped ones
    with pytest.raises(TemplateProblem) as err:  # not overridden: the shipped file is found (and needs its names)
        render("regulator_summary.md.j2", {}, org_dir=tmp_path)
    assert f"({SHIPPED / 'regulator_summary.md.j2'})" in err.value.message


@pytest.mark.parametrize("body, where", [
    ("# {{ card.incident }}\n\n{% for x in %}\n", "line 3"),
    ("# {{ card.incident }}\n{{ card.nothing_here }}\n", "line 2"),
    ("ok\n{{ card.incident | dur }}\n", "line 2"),  # the old filter name is gone for every template
])
def test_a_broken_template_names_template_file_and_line(tmp_path: Path, body: str, where: str) -> None:
    (tmp_path / "scorecard.md.j2").write_text(body)
    with pytest.raises(TemplateProblem) as err:
        scorecard_markdown(card(), org_dir=tmp_path)
    message = err.value.message
    assert message.startswith("Template `scorecard.md.j2`") and where in message
    assert str(tmp_path / "scorecard.md.j2") in message


def test_a_missing_templates_dir_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TemplateProblem, match=f"FIREBREAK_TEMPLATES_DIR `{tmp_path / 'nope'}` is not a directory"):
        scorecard_markdown(card(), org_dir=tmp_path / "nope")


def test_a_played_exercise_writes_the_organizations_scorecard(tmp_path: Path, monkeypatch) -> None:
    own = tmp_path / "templates"
    own.mkdir()
    (own / "scorecard.md.j2").write_text("# {{ card.scenario.key }}: {{ card.answers.answered }}/"
                                         "{{ card.answers.expected }} answered\n")
    monkeypatch.setenv("FIREBREAK_TEMPLATES_DIR", str(own))
    monkeypatch.delenv("FIREBREAK_SCENARIOS_DIR", raising=False)
    result = CliRunner().invoke(cli, ["tabletop", "run", "agent-tool-misuse", "--auto", "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert re.fullmatch(r"# agent-tool-misuse: \d+/\d+ answered\n", (tmp_path / "o" / "scorecard.md").read_text())
    assert (tmp_path / "o" / "postmortem.md").read_text().startswith("# Postmortem: INC-1")  # shipped


def test_a_broken_scorecard_template_stops_the_end_and_names_the_line(make_harness, write_yaml,
                                                                      tmp_path: Path) -> None:
    from bot.store.models.tabletop import ExerciseRun
    from bot.tabletop.references import EXERCISE_LEVERS

    own = tmp_path / "templates"
    own.mkdir()
    (own / "scorecard.md.j2").write_text("# {{ card.incident }}\n{{ card.no_such_number }}\n")
    h = make_harness(config_file=write_yaml("config.yml", {"sandbox_channels": ["C0SANDBOX"]}),
                     levers_file=EXERCISE_LEVERS, templates_dir=own)
    h.fake.add_channel("tabletop-drills", channel_id="C0SANDBOX", members=["U0FACIL"])
    assert "as INC-1" in h.command("tabletop start jailbreak-viral", user="U0FACIL", channel="C0SANDBOX").text
    reply = h.command("tabletop end", user="U0FACIL", channel=h.incident_channel(1))
    assert f"Template `scorecard.md.j2` ({own / 'scorecard.md.j2'}) line 2" in reply.text
    with h.ctx.db.session() as s:
        assert s.get(ExerciseRun, 1).state != "ended"  # nothing half-done: fix the template and end again
    (own / "scorecard.md.j2").write_text("# {{ card.incident }} scored\n")
    h.command("tabletop end", user="U0FACIL", channel=h.incident_channel(1))
    with h.ctx.db.session() as s:
        assert s.get(ExerciseRun, 1).state == "ended"
    assert any("INC-1 scored" in str(m.blocks) for m in h.fake.history(h.incident_channel(1)))
