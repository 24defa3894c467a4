"""`firebreak scheduler`: the dedicated scheduling process (Procfile `clock:`), and `scheduler list`."""

from __future__ import annotations

import logging
import signal
import threading

import typer

from bot.core.errors import ConfigError

scheduler_cli = typer.Typer(help="Run the timer scheduler, or list pending timers.", invoke_without_command=True)
log = logging.getLogger(__name__)


def _settings():
    from bot.config.settings import Settings

    return Settings()


def run(settings, *, interval: float | None = None, stop: threading.Event | None = None) -> None:
    """Build the app (no Slack listener), migrate, hold the scheduling lease and run timers until stopped."""
    from bot.slack.app import build
    from bot.store.migrate import upgrade

    bot = build(settings)
    upgrade(bot.ctx.db.engine)
    stop = stop or threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            signal.signal(sig, lambda *_: stop.set())
        except ValueError:  # not the main thread (tests)
            pass
    timers = bot.ctx.timers
    timers.start(interval or settings.scheduler_interval)
    log.info("firebreak scheduler %s started", timers.owner)
    try:
        stop.wait()
    finally:
        bot.close()


@scheduler_cli.callback()
def scheduler(
    ctx: typer.Context,
    interval: float = typer.Option(None, "--interval", help="Seconds between checks (FIREBREAK_SCHEDULER_INTERVAL)."),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Run timers: reminders, pages, SLA warnings, report clocks. Exactly one such process schedules at a
    time (PostgreSQL advisory lock); start it next to `firebreak serve` with FIREBREAK_SCHEDULER=dedicated."""
    if ctx.invoked_subcommand is not None:
        return
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        run(_settings(), interval=interval)
    except ConfigError as err:
        typer.secho(f"firebreak scheduler will not start: the configuration is invalid.\n{err}",
                    fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None


@scheduler_cli.command("list")
def list_timers(prefix: str = typer.Argument("", help="Only keys starting with this, e.g. inc-42:")) -> None:
    """Show pending timers in the job store."""
    from bot.slack.app import build

    bot = build(_settings())
    try:
        pending = bot.ctx.timers.pending(prefix)
        for t in pending:
            typer.echo(f"{t.when.isoformat()}  {t.key}  {t.job}")
        typer.echo(f"{len(pending)} pending timer(s)")
    finally:
        bot.close()
