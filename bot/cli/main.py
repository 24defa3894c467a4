"""The `firebreak` command line: serve, console, db, config checks (features add their own groups)."""

from __future__ import annotations

import importlib
import logging
import os
import sys
from pathlib import Path

import typer

from bot.cli.evidence import evidence_cli
from bot.cli.levers import levers_cli
from bot.cli.runbooks import runbooks_cli
from bot.cli.scheduler import scheduler_cli
from bot.cli.tabletop import scenarios_cli, tabletop_cli
from bot.core.errors import ConfigError

cli = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="firebreak: AI-safety incident response in Slack.")
db_cli = typer.Typer(no_args_is_help=True, help="Database migrations.")
config_cli = typer.Typer(no_args_is_help=True, help="Validate configuration files.")
cli.add_typer(db_cli, name="db")
cli.add_typer(config_cli, name="config")
cli.add_typer(evidence_cli, name="evidence")
cli.add_typer(tabletop_cli, name="tabletop")
cli.add_typer(scenarios_cli, name="scenarios")
cli.command("postmortem")(importlib.import_module("bot.cli.postmortem").postmortem)
cli.command("metrics")(importlib.import_module("bot.cli.metrics").metrics)
cli.add_typer(levers_cli, name="levers")
cli.add_typer(runbooks_cli, name="runbooks")
cli.add_typer(scheduler_cli, name="scheduler")


def _settings():
    from bot.config.settings import Settings

    return Settings()


def _fail(message: str) -> None:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def _logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@cli.command()
def serve(
    http: bool = typer.Option(False, "--http", help="HTTP mode even when SLACK_APP_TOKEN is set."),
    port: int = typer.Option(int(os.environ.get("PORT", "3000")), "--port", help="HTTP port."),
    host: str = typer.Option("0.0.0.0", "--host", help="Bind address (HTTP port, FIREBREAK_HEALTH_PORT)."),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
    debug: bool = typer.Option(False, "--debug", help="Debug logging, and a traceback when start-up fails."),
) -> None:
    """Run the bot: Socket Mode when SLACK_APP_TOKEN is set, else HTTP (/slack/events, /healthz, /livez)."""
    from bot.server.runtime import serve as run  # before logging is set up: imports log nothing worth reading

    _logging(verbose or debug)
    try:
        run(_settings(), http=http, host=host, port=port)
    except ConfigError as err:
        _fail(f"firebreak will not start: the configuration is invalid.\n{err}")
    except Exception as err:  # noqa: BLE001 - StartupError, a bad setting, or a surprise: all one line
        if debug:
            raise
        _fail("firebreak will not start: " + _one_line(err))


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


@cli.command()
def console(
    user: str = typer.Option("U0ALICE", "--user", help="The Slack user id you act as."),
    database_url: str = typer.Option(None, "--database-url", help="Defaults to DATABASE_URL or ./firebreak.db."),
) -> None:
    """Use the bot locally with no Slack account: type /incident commands, see what the bot would post."""
    from bot.cli.console import run_console

    settings = _settings()
    if database_url:
        settings = settings.model_copy(update={"database_url": database_url})
    try:
        run_console(settings, user=user)
    except ConfigError as err:
        _fail(f"firebreak will not start: the configuration is invalid.\n{err}")


@db_cli.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head")) -> None:
    """Apply migrations to DATABASE_URL."""
    from bot.store.db import Database
    from bot.store.migrate import current, upgrade

    db = Database(_settings().database_url)
    upgrade(db.engine, revision)
    typer.echo(f"database at revision {current(db.engine)}")
    db.dispose()


@db_cli.command("current")
def db_current() -> None:
    """Show the database's migration revision."""
    from bot.store.db import Database
    from bot.store.migrate import current

    db = Database(_settings().database_url)
    typer.echo(current(db.engine) or "(empty database)")
    db.dispose()


@config_cli.command("check")
def config_check(
    config_file: Path = typer.Option(None, "--config", help="Defaults to FIREBREAK_CONFIG."),
    rules_file: Path = typer.Option(None, "--rules", help="Defaults to FIREBREAK_SEVERITY_RULES or the shipped rubric."),
) -> None:
    """Validate the organization config and the severity rubric."""
    from bot.config.org import load_config
    from bot.core.severity import load_rules

    settings = _settings()
    problems = []
    for label, loader, path in (("config", load_config, config_file or settings.config_file),
                                ("severity rules", load_rules, rules_file or settings.severity_rules_file)):
        try:
            loader(path)
            typer.echo(f"ok: {label} ({path or 'default'})")
        except ConfigError as err:
            problems.append(str(err))
    if problems:
        _fail("\n".join(problems))


def main() -> None:
    try:
        cli()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
