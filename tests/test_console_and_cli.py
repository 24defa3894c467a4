"""The quickstart's first command (the console) and the CLI's checks, as a newcomer runs them."""

from __future__ import annotations

import io
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli.console import run_console
from bot.config.org import load_config
from bot.config.settings import Settings
from bot.core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_console_runs_the_whole_lifecycle_on_sqlite(tmp_path: Path) -> None:
    script = "\n".join([
        "/incident open Jailbreak prompt spreading on social media --exposure public --ongoing",
        "/incident ic @bob",
        ":user bob",
        "/incident sev 2 contained to one surface",
        "/incident contained killed the flag",
        "/incident resolve rolled back the system prompt",
        ":summary",
        "/incident list",
    ]) + "\n"
    out = io.StringIO()
    run_console(Settings(database_url=f"sqlite:///{tmp_path}/console.db"), stdin=io.StringIO(script), stdout=out)
    text = out.getvalue()
    assert "+ channel #inc-1-jailbreak-prompt-spreading-on-social-media created" in text
    assert "SEV1 because dangerous output is spreading publicly and it is ongoing" in text
    assert "@bob is now incident commander of INC-1 — incident acknowledged." in text
    assert "⬇️ @bob downgraded INC-1 SEV1 → SEV2: contained to one surface" in text
    assert "✅ INC-1 contained (recorded by @bob)" in text and "MTTC:" in text
    assert "🏁 INC-1 resolved by @bob: rolled back the system prompt" in text
    assert "No open incidents." in text
    assert (tmp_path / "console.db").exists()


def test_console_fills_the_open_form(tmp_path: Path) -> None:
    script = "\n".join(["/incident open", "Other user's order history shown", "Reported by two customers",
                        "3", "2", "2", "4", "1", "1", "", "n", "/incident status"]) + "\n"
    out = io.StringIO()
    run_console(Settings(database_url=f"sqlite:///{tmp_path}/c.db"), stdin=io.StringIO(script), stdout=out)
    text = out.getvalue()
    assert "form: Open AI-safety incident" in text
    assert "INC-1: Other user's order history shown" in text
    assert "SEV1 because sensitive PII or credentials were exposed" in text


def console(tmp_path: Path, *lines: str, **kw) -> str:
    out = io.StringIO()
    run_console(Settings(database_url=f"sqlite:///{tmp_path}/console.db"), stdin=io.StringIO("\n".join(lines) + "\n"),
                stdout=out, **kw)
    return out.getvalue()


def test_console_channels_lists_them_and_messages_are_labelled_by_what_they_are(tmp_path: Path) -> None:
    text = console(tmp_path, "/incident open Jailbreak prompt spreading --category jailbreak --exposure public",
                   "/incident ic @bob", ":user bob", "/incident step assign-roles done", ":channels", ":channel",
                   ":channel nowhere", ":bogus")
    listing = text.split("> :channels\n", 1)[1].split("\n@", 1)[0]
    assert listing.splitlines() == ["  #general", "  #ai-incidents", "  #tabletop-sandbox",
                                    "  #inc-1-jailbreak-prompt-spreading  (you are here)"]
    assert "no channel #\n" not in text and "no channel #;" not in text
    assert "which channel? :channel NAME" in text and "no channel #nowhere; :channels lists them" in text
    assert "unknown console command :bogus" in text
    # A checklist edit says so; only the pinned summary is called the pinned summary.
    assert "· checklist updated: INC-1 runbook: Jailbreak / policy-bypass campaign — 1/" in text
    assert "· pinned summary updated (:summary shows it)" in text
    # Everything shown is plain text: no Slack tokens, emoji codes or markup.
    assert "<@" not in text and "<#" not in text and "<!date" not in text.split("MTTC: running")[0]
    assert ":bust_in_silhouette:" not in text and "👤 @bob is now incident commander of INC-1" in text


def test_console_re_asks_invalid_form_answers_with_the_reason(tmp_path: Path) -> None:
    text = console(tmp_path, "/incident open", "", "Other user's order history shown", "", "12", "leak", "3",
                   "2", "4", "1", "4", "perhaps", "1", "1", "in a while", "", "maybe", "n", "/incident status")
    assert "│ ✗ “Title” is required." in text
    assert "│ ✗ `12` is not one of the choices: type a number from 1 to 9." in text
    assert "│ ✗ `leak` is not one of the choices" in text
    assert "│ ✗ `4` is not one of the choices: type a number from 1 to 3." in text
    assert "│ ✗ `perhaps` is not one of the choices: type a number from 1 to 2." in text
    assert "│ ✗ `in a while` is not a time for first detected at" in text
    assert "│ ✗ `maybe` is not an answer to a yes/no question: type y or n." in text
    # ...and the answers given after the refusals are the ones that count.
    assert "INC-1: Other user's order history shown" in text
    assert "SEV1 because sensitive PII or credentials were exposed" in text


def test_console_re_asks_fields_the_bot_refuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.cli import console as module
    from bot.slack.harness import Harness

    real = Harness.submit_view
    refused: list[dict] = []

    def submit_view(self, view, answers, **kw):  # the bot refuses the title once, as Slack shows a field error
        reply = real(self, view, answers, **kw)
        if not refused:
            refused.append(dict(answers))
            reply.ack.body = '{"response_action": "errors", "errors": {"title": "That title is already taken."}}'
        return reply

    monkeypatch.setattr(Harness, "submit_view", submit_view)
    text = console(tmp_path, "/incident open", "First title", "", "9", "", "", "", "", "", "", "", "Better title", "")
    assert refused and "┌ the form came back:\n  │ ✗ That title is already taken.\n  │ Title: Better title" in text
    assert "└ submitted again" in text
    assert module.form_errors('{"response_action": "errors", "errors": {"a": "b"}}') == {"a": "b"}
    assert module.form_errors("") == {} and module.form_errors("not json") == {}


def test_console_demo_contain_sends_a_real_patch_verified_through_the_sdk(tmp_path: Path) -> None:
    text = console(tmp_path, "/incident open Jailbreak prompt spreading --category jailbreak --exposure public",
                   "/incident ic @bob", ":user bob", "/incident contain kill-switch")
    assert "⇄ LaunchDarkly stand-in: PATCH /api/v2/flags/exercise/assistant-enabled → 200 (turnFlagOff)" in text
    assert "the SDK sees assistant-enabled = False in production" in text
    assert "INC-1 contained at" in text and "DRY RUN" not in text
    # Without the demo, the same pull is a dry run and nothing is sent anywhere.
    (tmp_path / "dry").mkdir()
    dry = console(tmp_path / "dry", "/incident open Jailbreak prompt spreading --category jailbreak",
                  "/incident contain kill-switch", demo=False)
    assert "Dry run of kill-switch recorded; nothing was sent." in dry and "LaunchDarkly stand-in" not in dry


def test_console_sandbox_channel_runs_a_live_tabletop(tmp_path: Path) -> None:
    text = console(tmp_path, ":channel tabletop-sandbox", "/incident tabletop start jailbreak-viral", ":channels")
    assert "No sandbox channels are configured" not in text
    assert "#tabletop-sandbox · firebreak:" in text and "started the tabletop Jailbreak campaign going viral" in text
    assert "(you are now in #inc-1-exercise-jailbreak-campaign-going-viral)" in text


def test_firebreak_cli_console_and_db_upgrade_as_subprocess(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": f"sqlite:///{tmp_path}/cli.db", "PYTHONPATH": str(ROOT)}
    up = subprocess.run([sys.executable, "-m", "bot", "db", "upgrade"], env=env, capture_output=True, text=True,
                        timeout=60, cwd=tmp_path)
    assert up.returncode == 0, up.stderr
    assert "database at revision" in up.stdout
    run = subprocess.run([sys.executable, "-m", "bot", "console"], env=env, input="/incident help\n:quit\n",
                         capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "/incident open" in run.stdout and "/incident sev <1-4> <reason>" in run.stdout
    # End of piped input ends the console, even in the middle of the form.
    run = subprocess.run([sys.executable, "-m", "bot", "console"], env=env, input="/incident list\n/incident open\nTitle only\n",
                         capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "No open incidents." in run.stdout and "form: Open AI-safety incident" in run.stdout


def test_invalid_config_names_file_and_key(write_yaml) -> None:
    path = write_yaml("bad.yml", {"groups": {"ics": ["alice"]}, "commanders": ["ics"],
                                  "escalation": [{"when": {"category": "jailbreak", "colour": "red"},
                                                  "notify": ["ics"]}]})
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert f"{path}: escalation.0.when.colour: Extra inputs are not permitted" in str(err.value)
    path = write_yaml("bad2.yml", {"groups": {"ics": ["alice"]}})
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "groups.ics: `alice` is neither a group defined under `groups` nor a Slack user" in str(err.value)
    path = write_yaml("bad3.yml", "groups: [unclosed\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert f"{path}: line" in str(err.value) and "not valid YAML" in str(err.value)


def test_config_check_cli_reports_problems(write_yaml, tmp_path: Path) -> None:
    bad = write_yaml("firebreak.yml", {"commanders": ["nobody"]})
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "-m", "bot", "config", "check", "--config", str(bad)], env=env,
                         capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert run.returncode == 2
    assert "commanders: `nobody` is neither a group" in run.stderr
    good = write_yaml("ok.yml", {"groups": {"ics": ["U0BOB"]}, "commanders": ["ics"]})
    run = subprocess.run([sys.executable, "-m", "bot", "config", "check", "--config", str(good)], env=env,
                         capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert run.returncode == 0 and "ok: config" in run.stdout and "ok: severity rules" in run.stdout


def test_bot_refuses_to_serve_with_invalid_config(write_yaml, tmp_path: Path) -> None:
    bad = write_yaml("firebreak.yml", {"sandbox_channels": "not-a-list"})
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "FIREBREAK_CONFIG": str(bad),
           "DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    run = subprocess.run([sys.executable, "-m", "bot", "serve", "--http", "--port", "0"], env=env,
                         capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert run.returncode == 2
    assert "firebreak will not start" in run.stderr and "sandbox_channels" in run.stderr


def test_secrets_never_reach_slack_timeline_or_logs(make_harness, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    h = make_harness(slack_signing_secret="sekrit-signing-0123456789")
    h.fake.fail_next("conversations.create", "restricted_action")  # a permanent refusal: recorded
    h.command("open Secret leak test --category data_leakage")
    h.command("status INC-1")
    from tests.helpers import kinds

    assert "slack_error" in kinds(h, 1)
    secrets = [h.fake.token, "sekrit-signing-0123456789"]
    with h.ctx.db.session() as s:
        from sqlmodel import select

        from bot.store.models import TimelineEvent

        stored = " ".join(f"{e.text} {e.data}" for e in s.exec(select(TimelineEvent)))
    seen = " ".join(str(c.params) for c in h.fake.calls) + stored + caplog.text
    for secret in secrets:
        assert secret not in seen
    assert "sekrit" not in repr(h.settings)


# Commands test_cli.py does not walk through on a fresh database (it covers incidents, postmortem, evidence
# verify, scheduler list and db current).
FRESH_COMMANDS = [["metrics"], ["metrics", "--chart", "{tmp}/chart.png"], ["postmortem", "INC-1", "--regulator"],
                  ["evidence", "endpoints"], ["config", "check"], ["runbooks", "list"], ["runbooks", "check"],
                  ["levers", "check"], ["scenarios", "check"], ["tabletop", "list"],
                  ["tabletop", "run", "jailbreak-viral"], ["tabletop", "run", "nope", "--auto", "--out", "{tmp}/o"]]


@pytest.mark.parametrize("migrated", [False, True], ids=["never-set-up", "migrated-empty"])
def test_every_other_command_on_a_fresh_database_exits_cleanly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               migrated: bool) -> None:
    from typer.testing import CliRunner

    from bot.cli.main import cli

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/fresh.db")
    monkeypatch.delenv("FIREBREAK_LEVERS_FILE", raising=False)
    runner = CliRunner()
    if migrated:
        assert runner.invoke(cli, ["db", "upgrade"]).exit_code == 0
    for args in FRESH_COMMANDS:
        args = [a.replace("{tmp}", str(tmp_path)) for a in args]
        result = runner.invoke(cli, args)
        assert result.exception is None or isinstance(result.exception, SystemExit), (args, result.exception)
        assert result.exit_code in (0, 1, 2), (args, result.output)
        assert "Traceback" not in result.output and "no such table" not in result.output, (args, result.output)
        if result.exit_code:
            assert len(result.stderr.strip().splitlines()) == 1, (args, result.stderr)
    metrics = runner.invoke(cli, ["metrics"]).output
    assert ("No incidents in this period." if migrated else "No incidents yet") in metrics
    assert not (tmp_path / "o").exists()


def test_cli_postmortem_names_people_by_id_without_asking_slack(harness, monkeypatch: pytest.MonkeyPatch,
                                                                tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from bot.cli.main import cli

    harness.command("open Jailbreak prompt spreading --category jailbreak", user="U0ALICE")
    monkeypatch.setenv("DATABASE_URL", harness.settings.database_url)
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    from bot.slack.directory import SlackDirectory

    asked: list[str] = []
    monkeypatch.setattr(SlackDirectory, "display_name", lambda self, uid: asked.append(uid))
    result = CliRunner().invoke(cli, ["postmortem", "INC-1", "-o", str(tmp_path / "pm.md")])
    assert result.exit_code == 0, result.output
    draft = (tmp_path / "pm.md").read_text()
    assert "| Reported by | @U0ALICE |" in draft and "<@" not in draft
    assert asked == [], "with no workspace configured, the terminal draft asked Slack for names"


def test_the_console_delivers_a_sample_alert_through_the_intake(tmp_path, write_yaml) -> None:
    """`:alert FILE` in the console: the detector's sample goes through the same parsing and routing as the
    HTTP intake and declares an incident from its first signal; without alert sources it says how to set one."""
    from tests.test_alerts_support import alerts_file

    sample = Path(__file__).resolve().parents[1] / "examples" / "alerts" / "guardrail-block-rate-spike.json"
    out = io.StringIO()
    run_console(Settings(database_url=f"sqlite:///{tmp_path}/c.db"),
                stdin=io.StringIO(f":alert {sample}\n"), stdout=out, demo=False)
    assert "no alert sources are configured: set FIREBREAK_ALERTS_FILE" in out.getvalue()

    out = io.StringIO()
    settings = Settings(database_url=f"sqlite:///{tmp_path}/a.db", alerts_file=write_yaml("alerts.yml", alerts_file()))
    run_console(settings, stdin=io.StringIO(f":alert {sample} guardrail\n:alert nope.json\n"), stdout=out, demo=False)
    text = out.getvalue()
    assert "1 alert(s) accepted from guardrail" in text
    assert "+ channel #inc-1-guardrail-block-rate-spike" in text  # declared by the jailbreak-spike route
    assert "cannot read nope.json" in text
