"""`firebreak` as a terminal user meets it: help without noise, start-up that loads only what a command uses,
`tabletop list` and `incidents`, terminal hints, and one-line answers (never a traceback) on a fresh
database, an old one, or one that cannot be reached."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from sqlmodel import select
from typer.testing import CliRunner

from bot.cli import main as cli_main
from bot.cli.common import shown_url
from bot.cli.main import cli
from bot.core.durations import format_duration
from bot.core.severity import load_rules
from bot.slack.harness import Harness
from bot.store.db import Database
from bot.store.migrate import upgrade
from bot.store.models import Incident
from bot.tabletop.scenario import SHIPPED_DIR, load_catalog

ROOT = Path(__file__).resolve().parents[1]
EXERCISE_LEVERS = ROOT / "bot" / "tabletop" / "exercise-levers.yml"
HEAVY = ("slack_bolt", "slack_sdk", "sqlalchemy", "sqlmodel", "jinja2", "yaml", "httpx", "apscheduler", "ldclient",
         "alembic", "pydantic_settings")


def command_paths() -> list[list[str]]:
    """Every command and group of the tree, as the words a user types."""
    paths: list[list[str]] = []

    def walk(command, path: list[str]) -> None:
        paths.append(path)
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            walk(sub, [*path, name])

    walk(typer.main.get_command(cli), [])
    return paths


def run_python(code: str, env: dict[str, str], cwd: Path) -> str:
    proc = subprocess.run([sys.executable, "-c", code], env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), **env},
                          capture_output=True, text=True, timeout=120, cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_every_help_lists_its_options_without_type_noise() -> None:
    paths = command_paths()
    assert ["tabletop", "list"] in paths and ["incidents"] in paths
    for path in paths:
        result = CliRunner().invoke(cli, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "--help" in result.output, path
        assert "<bool>" not in result.output, path
    assert "--auto" in CliRunner().invoke(cli, ["tabletop", "run", "--help"]).output


def test_help_loads_no_feature_code(tmp_path: Path) -> None:
    code = ("import sys\nfrom bot.cli.main import cli\ntry:\n    cli(['--help'])\nexcept SystemExit:\n    pass\n"
            "import json\nprint(json.dumps(sorted(sys.modules)))")
    modules = json.loads(run_python(code, {}, tmp_path).splitlines()[-1])
    ours = {m for m in modules if m == "bot" or m.startswith("bot.")}
    assert ours <= {"bot", "bot.core", "bot.core.errors"} | {m for m in ours if m.startswith("bot.cli")}, ours
    assert [m for m in HEAVY if m in modules] == []


def test_checks_and_lists_never_build_the_bolt_app(tmp_path: Path) -> None:
    commands = [["config", "check"], ["runbooks", "check"], ["runbooks", "list"], ["scenarios", "check"],
                ["levers", "check"], ["evidence", "endpoints"], ["tabletop", "list"], ["incidents"],
                ["evidence", "verify", "INC-1"], ["postmortem", "INC-1"]]
    code = ("import json, sys\nfrom bot.cli.main import cli\nout = []\n"
            f"for args in {commands!r}:\n"
            "    try:\n        cli(args)\n    except SystemExit as e:\n        code = e.code\n"
            "    out.append([args, code, 'slack_bolt' in sys.modules])\n"
            "print(json.dumps(out))")
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/none.db", "FIREBREAK_LEVERS_FILE": str(EXERCISE_LEVERS)}
    results = json.loads(run_python(code, env, tmp_path).splitlines()[-1])
    assert [(args, code) for args, code, _ in results if code not in (0, 2)] == []
    assert [args for args, _, bolt in results if bolt] == []


def test_tabletop_list_shows_shipped_and_organization_scenarios(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("FIREBREAK_SCENARIOS_DIR", raising=False)
    own = tmp_path / "scenarios"
    own.mkdir()
    shipped_text = (SHIPPED_DIR / "jailbreak-viral.yml").read_text(encoding="utf-8")
    (own / "our-drill.yml").write_text(shipped_text.replace("key: jailbreak-viral", "key: our-drill"))
    result = CliRunner().invoke(cli, ["tabletop", "list"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["SCENARIO", "CATEGORY", "LENGTH", "TITLE"]
    catalog = load_catalog(None, rules=load_rules(None))
    for key, s in catalog.scenarios.items():
        row = next(line for line in lines if line.startswith(key + " "))
        assert row.split()[1:3] == [s.category, format_duration(s.duration)] and row.endswith(s.title), row
    assert "firebreak tabletop run <scenario> --auto" in result.output

    (own / "broken.yml").write_text("key: broken\ntitle: x\n")
    result = CliRunner().invoke(cli, ["tabletop", "list", "--scenarios-dir", str(own)])
    assert result.exit_code == 1
    mine = next(line for line in result.output.splitlines() if line.startswith("our-drill "))
    assert mine.endswith(f"[{own / 'our-drill.yml'}]")
    assert f"1 scenario file(s) cannot be played: {own / 'broken.yml'}" in result.stderr
    assert "`firebreak scenarios check` says why" in result.stderr


DB_COMMANDS = [["incidents"], ["incidents", "--all"], ["postmortem", "INC-1"], ["evidence", "verify", "INC-1"],
               ["scheduler", "list"], ["audit", "INC-1"], ["db", "current"]]


def test_every_command_on_a_fresh_database_answers_in_one_line(db_url: str, monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    runner = CliRunner()
    db_file = Path(db_url.removeprefix("sqlite:///")) if db_url.startswith("sqlite") else None
    for args in DB_COMMANDS:
        result = runner.invoke(cli, args)
        assert result.exception is None or isinstance(result.exception, SystemExit), (args, result.exception)
        assert result.exit_code in (0, 2), (args, result.output)
        assert "Traceback" not in result.output and "/incident" not in result.output, (args, result.output)
        if result.exit_code:
            assert len(result.output.strip().splitlines()) == 1, (args, result.output)
        if db_file is not None and args != ["db", "current"]:
            assert not db_file.exists(), f"{args} created the database file"
    assert "No incidents yet" in runner.invoke(cli, ["incidents"]).output
    assert "INC-1 does not exist. No incidents yet" in runner.invoke(cli, ["postmortem", "INC-1"]).output
    # Listing timers on a fresh database must not leave a table behind that the migrations then trip over.
    assert runner.invoke(cli, ["db", "upgrade"]).exit_code == 0
    assert runner.invoke(cli, ["incidents"]).output.startswith("No open incidents.")
    missing = runner.invoke(cli, ["postmortem", "INC-1"])
    assert missing.exit_code == 2 and missing.output == "INC-1 does not exist; `firebreak incidents` lists them.\n"
    assert runner.invoke(cli, ["scheduler", "list"]).output.endswith("0 pending timer(s)\n")


def test_incidents_lists_open_ones_or_all_as_safe_terminal_text(harness: Harness, monkeypatch) -> None:
    harness.command("open Jailbreak prompt spreading --category jailbreak")
    harness.command("open Wrong dosage advice --category hallucination_high_stakes --sev 1")
    harness.command("resolve fixed the prompt", channel=harness.incident_channel(1))
    with harness.ctx.db.session() as s:
        inc = s.exec(select(Incident).where(Incident.id == 2)).one()
        inc.title = "Wrong dosage\x1b[2J\x1b[31m advice\u202e"
        s.add(inc)
    monkeypatch.setenv("DATABASE_URL", harness.settings.database_url)
    runner = CliRunner()
    open_only = runner.invoke(cli, ["incidents"])
    assert open_only.exit_code == 0
    rows = [line for line in open_only.output.splitlines() if line.startswith("INC-")]
    assert len(rows) == 1 and rows[0].startswith("INC-2 ") and " SEV1 " in rows[0]
    assert rows[0].endswith("Wrong dosage [2J [31m advice") and "\x1b" not in open_only.output
    everything = runner.invoke(cli, ["incidents", "--all"])
    rows = [line for line in everything.output.splitlines() if line.startswith("INC-")]
    assert [r.split()[0] for r in rows] == ["INC-2", "INC-1"] and "resolved" in rows[1]
    limited = runner.invoke(cli, ["incidents", "--all", "--limit", "1"])
    assert "(the first 1; --limit shows more)" in limited.output


def test_missing_incidents_point_to_the_terminal_not_to_slack(harness: Harness, tmp_path: Path,
                                                              monkeypatch) -> None:
    harness.command("open Jailbreak prompt spreading --category jailbreak")
    monkeypatch.setenv("DATABASE_URL", harness.settings.database_url)
    for args in (["postmortem", "INC-99", "-o", str(tmp_path / "pm.md")], ["evidence", "verify", "INC-99"]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 2
        assert result.output == "INC-99 does not exist; `firebreak incidents` lists them.\n"
    assert not (tmp_path / "pm.md").exists()


def test_a_database_an_older_firebreak_migrated_asks_for_an_upgrade(sqlite_url: str, clock, monkeypatch) -> None:
    from alembic.script import ScriptDirectory

    from bot.store.migrate import alembic_config

    db = Database(sqlite_url)
    upgrade(db.engine, "0001_core")  # incidents and the timeline, nothing of the later features
    with db.engine.begin() as conn:  # written as that firebreak wrote it: today's models have more columns
        conn.exec_driver_sql(
            "INSERT INTO incident (title, description, category, category_suggested, severity, severity_reasons, "
            "status, private, is_exercise, reporter_id, detected_at, opened_at) VALUES ('Old one', '', "
            "'jailbreak', 0, 3, 'base', 'active', 0, 0, 'U0BOB', '2026-01-05 09:00:00', '2026-01-05 09:00:00')")
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    runner = CliRunner()
    listed = runner.invoke(cli, ["incidents"])  # what this schema has is still readable
    assert listed.exit_code == 0 and "Old one" in listed.output
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    upgrade_line = f"is at migration 0001_core; this firebreak needs {head}. Run `firebreak db upgrade` first.\n"
    for args in (["evidence", "verify", "INC-1"], ["scheduler", "list"]):
        result = runner.invoke(cli, args)
        assert result.exit_code == 2 and result.output.endswith(upgrade_line), (args, result.output)
        assert len(result.output.splitlines()) == 1
    assert runner.invoke(cli, ["db", "upgrade"]).exit_code == 0  # nothing was created in its way
    assert runner.invoke(cli, ["evidence", "verify", "INC-1"]).output == "INC-1 has no repro cases.\n"
    db.dispose()


def test_an_unreachable_database_is_one_line_without_the_password(monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://firebreak:hunter2@127.0.0.1:1/firebreak")
    result = CliRunner().invoke(cli, ["incidents"])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    assert "Cannot read the database at postgresql://firebreak:***@127.0.0.1:1/firebreak: " in result.output
    assert "hunter2" not in result.output
    assert "hunter2" not in shown_url("postgresql://u:hunter2@db.internal/x")


def test_an_invalid_environment_is_one_line(monkeypatch) -> None:
    monkeypatch.setenv("FIREBREAK_WORKER_THREADS", "many")
    result = CliRunner().invoke(cli, ["incidents"])
    assert result.exit_code == 2
    assert result.output.startswith("The environment is invalid: FIREBREAK_WORKER_THREADS:")


def test_an_unexpected_error_is_one_line_unless_debugging(monkeypatch, capsys) -> None:
    def broken() -> None:
        raise RuntimeError("boom\n  internals on the second line")

    monkeypatch.setattr(cli_main, "cli", broken)
    monkeypatch.delenv("FIREBREAK_DEBUG", raising=False)
    with pytest.raises(SystemExit) as exit_:
        cli_main.main()
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert err == ("firebreak: unexpected error (RuntimeError: boom). Set FIREBREAK_DEBUG=1 to see the "
                   "traceback.\n")
    monkeypatch.setenv("FIREBREAK_DEBUG", "1")
    with pytest.raises(RuntimeError, match="boom"):
        cli_main.main()


def test_a_postmortem_renders_without_the_bolt_app(make_harness, tmp_path: Path) -> None:
    """`firebreak postmortem INC-n` of a real incident builds the domain's services only: no Bolt app."""
    url = f"sqlite:///{tmp_path}/pm.db"
    h = make_harness(database_url=url)
    h.command("open Agent emailed customers --category agent_tool_misuse")
    h.command("ic @me", channel=h.incident_channel(1))
    h.close()
    code = ("import json, sys\nfrom bot.cli.main import cli\n"
            "try:\n    cli(['postmortem', 'INC-1', '-o', 'pm.md'])\nexcept SystemExit as e:\n    code = e.code\n"
            "print(json.dumps(['slack_bolt' in sys.modules, open('pm.md').read()]))")
    bolt, text = json.loads(run_python(code, {"DATABASE_URL": url}, tmp_path).splitlines()[-1])
    assert not bolt
    assert "Agent emailed customers" in text and "@U0ALICE" in text  # people by id: no workspace configured
