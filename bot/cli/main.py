"""The `firebreak` command line: the command tree, and the commands that run the bot (serve, console, db,
config check).

Start-up matters here: `firebreak --help` and the checks run in a terminal and in CI. This module and the
subcommand modules it imports hold only the command signatures (typer and the standard library); each
command imports the code it uses when it runs, so no command pays for the Bolt app, the database layer or
a feature it does not touch.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

import typer

from bot.cli.alerts import alerts_cli
from bot.cli.audit import audit
from bot.cli.common import fail, settings
from bot.cli.evidence import evidence_cli
from bot.cli.incidents import incidents
from bot.cli.levers import levers_cli
from bot.cli.metrics import metrics
from bot.cli.postmortem import postmortem
from bot.cli.runbooks import runbooks_cli
from bot.cli.scheduler import scheduler_cli
from bot.cli.tabletop import scenarios_cli, tabletop_cli

# No locals in tracebacks: they would print settings and URLs (main() answers unexpected errors anyway).
cli = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="firebreak: AI-safety incident response in Slack.")
db_cli = typer.Typer(no_args_is_help=True, help="Database migrations.")
config_cli = typer.Typer(no_args_is_help=True, help="Validate configuration files.")


def _logging(verbose: bool) -> None:
    from bot.core.secrets import install_log_filter

    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install_log_filter()  # every line passes the redaction; the HTTP libraries' request lines stay quiet


def serve(
    http: bool = typer.Option(False, "--http", help="HTTP mode even when SLACK_APP_TOKEN is set."),
    port: int = typer.Option(int(os.environ.get("PORT", "3000")), "--port", help="HTTP port."),
    host: str = typer.Option("0.0.0.0", "--host", help="Bind address (HTTP port, FIREBREAK_HEALTH_PORT)."),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
    debug: bool = typer.Option(False, "--debug", help="Debug logging, and a traceback when start-up fails."),
) -> None:
    """Run the bot: Socket Mode when SLACK_APP_TOKEN is set, else HTTP (/slack/events, /healthz, /livez)."""
    from bot.core.errors import ConfigError
    from bot.server.runtime import serve as run  # before logging is set up: imports log nothing worth reading

    _logging(verbose or debug)
    try:
        run(settings(), http=http, host=host, port=port)
    except ConfigError as err:
        fail(f"firebreak will not start: the configuration is invalid.\n{err}")
    except Exception as err:  # noqa: BLE001 - StartupError, a bad setting, or a surprise: all one line
        if debug:
            os.environ["FIREBREAK_DEBUG"] = "1"  # and main() lets the traceback through
            raise
        fail("firebreak will not start: " + _one_line(err))


def _one_line(err: Exception) -> str:
    """A start-up failure as one line: what failed and what to set (details with --debug)."""
    from pydantic import ValidationError

    from bot.server.startup import StartupError

    if isinstance(err, StartupError):
        return str(err)
    if isinstance(err, ValidationError):  # a malformed setting in the environment
        first = err.errors()[0]
        name = ".".join(str(p) for p in first["loc"]).upper()
        return f"{name} is invalid: {first['msg']}; correct it in the environment"
    first_line = (str(err).strip().splitlines() or [""])[0][:200]
    return f"unexpected {type(err).__name__}: {first_line} (run with --debug for the traceback)"


def console(
    user: str = typer.Option("U0ALICE", "--user", help="The Slack user id you act as."),
    database_url: str = typer.Option(None, "--database-url", help="Defaults to DATABASE_URL or ./firebreak.db."),
    demo: bool = typer.Option(True, "--demo/--no-demo", help="Pull the demo levers against a local LaunchDarkly "
                              "stand-in (real PATCH, SDK verification); --no-demo makes every pull a dry run."),
) -> None:
    """Use the bot locally with no Slack account: type /incident commands, see what the bot would post."""
    from bot.cli.console import run_console
    from bot.core.errors import ConfigError

    base = settings()
    if database_url:
        base = base.model_copy(update={"database_url": database_url})
    try:
        run_console(base, user=user, demo=demo)
    except ConfigError as err:
        fail(f"firebreak will not start: the configuration is invalid.\n{err}")


@db_cli.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head")) -> None:
    """Apply migrations to DATABASE_URL."""
    from bot.store.db import Database
    from bot.store.migrate import current, upgrade

    db = Database(settings().database_url)
    try:
        upgrade(db.engine, revision)
        typer.echo(f"database at revision {current(db.engine)}")
    finally:
        db.dispose()


@db_cli.command("current")
def db_current() -> None:
    """Show the database's migration revision."""
    from bot.store.db import Database
    from bot.store.migrate import current

    db = Database(settings().database_url)
    try:
        typer.echo(current(db.engine) or "(empty database)")
    finally:
        db.dispose()


@config_cli.command("check")
def config_check(
    config_file: Path = typer.Option(None, "--config", help="Defaults to FIREBREAK_CONFIG."),
    rules_file: Path = typer.Option(None, "--rules", help="Defaults to FIREBREAK_SEVERITY_RULES or the shipped rubric."),
    alerts_file: Path = typer.Option(None, "--alerts", help="Defaults to FIREBREAK_ALERTS_FILE."),
) -> None:
    """Validate the organization config, the severity rubric and the alert sources and routes."""
    from bot.config.org import load_config
    from bot.core.errors import ConfigError
    from bot.core.severity import load_rules

    base = settings()
    problems = []
    config = None
    for label, loader, path in (("config", load_config, config_file or base.config_file),
                                ("severity rules", load_rules, rules_file or base.severity_rules_file)):
        try:
            loaded = loader(path)
            typer.echo(f"ok: {label} ({path or 'default'})")
            if label == "config":
                config = loaded
        except ConfigError as err:
            problems.append(str(err))
    alerts_path = alerts_file or base.alerts_file
    if alerts_path is not None:
        from bot.alerts.routes import load_rules as load_alert_rules

        try:
            load_alert_rules(alerts_path, load_rules(rules_file or base.severity_rules_file))
            typer.echo(f"ok: alert sources and routes ({alerts_path})")
        except ConfigError as err:
            problems.append(str(err))
    if problems:
        fail("\n".join(problems))
    if config is not None:
        typer.echo("\n" + policy_table(config))


def policy_table(config: Any) -> str:
    """The effective permission policy: who may take each action (the defaults with the config's overrides)."""
    from bot.core.policy import Policy

    policy = Policy.from_config(config.permissions, commanders=config.commanders,
                                privacy_officers=config.privacy_officers)
    rows = [(action.value, ", ".join(s.value for s in subjects) or "(nobody)",
             "config" if action.value in config.permissions else "default")
            for action, subjects in policy.rules.items()]
    width = max(len(r[0]) for r in rows)
    lines = ["Permissions (action: who may; a subject's meaning is in README 'Reliability and security'):"]
    lines += [f"  {a.ljust(width)}  {who}  [{src}]" for a, who, src in rows]
    if config.commanders:
        lines.append(f"  commanders = {', '.join(config.commanders)}")
    if config.privacy_officers:
        lines.append(f"  privacy officers = {', '.join(config.privacy_officers)}")
    return "\n".join(lines)


# The tree, in the order `firebreak --help` shows it: running the bot, then what responders do with
# incidents, then practice, then checking the files an organization keeps in Git.
RUN, INCIDENTS, PRACTISE, CHECK = "Run the bot", "Incidents", "Practise", "Check configuration"
cli.command("serve", rich_help_panel=RUN)(serve)
cli.command("console", rich_help_panel=RUN)(console)
cli.add_typer(scheduler_cli, name="scheduler", rich_help_panel=RUN)
cli.add_typer(db_cli, name="db", rich_help_panel=RUN)
cli.command("incidents", rich_help_panel=INCIDENTS)(incidents)
cli.command("postmortem", rich_help_panel=INCIDENTS)(postmortem)
cli.command("metrics", rich_help_panel=INCIDENTS)(metrics)
cli.command("audit", rich_help_panel=INCIDENTS)(audit)
cli.add_typer(evidence_cli, name="evidence", rich_help_panel=INCIDENTS)
cli.add_typer(alerts_cli, name="alerts", rich_help_panel=INCIDENTS)
cli.add_typer(tabletop_cli, name="tabletop", rich_help_panel=PRACTISE)
cli.add_typer(scenarios_cli, name="scenarios", rich_help_panel=PRACTISE)
cli.add_typer(config_cli, name="config", rich_help_panel=CHECK)
cli.add_typer(runbooks_cli, name="runbooks", rich_help_panel=CHECK)
cli.add_typer(levers_cli, name="levers", rich_help_panel=CHECK)


def main() -> None:
    """The `firebreak` entry point: Ctrl-C exits quietly, and an unexpected error is one line (with
    FIREBREAK_DEBUG=1, the traceback) rather than a page of internals."""
    try:
        cli()
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - the last place an error can still get a readable answer
        if os.environ.get("FIREBREAK_DEBUG"):
            raise
        detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        typer.secho(f"firebreak: unexpected error ({type(exc).__name__}{': ' + detail if detail else ''}). "
                    "Set FIREBREAK_DEBUG=1 to see the traceback.", fg=typer.colors.RED, err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
