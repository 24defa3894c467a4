"""`firebreak scheduler`: the dedicated scheduling process (Procfile `clock:`), and `scheduler list`."""

from __future__ import annotations

import logging
import signal
import threading
from typing import TYPE_CHECKING

import typer

from bot.cli.common import (
    NoIncidents,
    fail,
    incident_database,
    no_incidents_line,
    require_current,
    settings,
    shown_url,
)

if TYPE_CHECKING:
    from bot.config.settings import Settings

scheduler_cli = typer.Typer(help="Run the timer scheduler, or list pending timers.", invoke_without_command=True)
log = logging.getLogger(__name__)


def run(base: Settings, *, interval: float | None = None, stop: threading.Event | None = None) -> None:
    """Build the app (no Slack listener), migrate, run the effects ledger, hold the scheduling lease and run
    timers until stopped."""
    from bot.server.runtime import wait_until
    from bot.slack.app import build
    from bot.store.migrate import upgrade

    bot = build(base)
    upgrade(bot.ctx.db.engine)
    stop = stop or threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            signal.signal(sig, lambda *_: stop.set())
        except ValueError:  # not the main thread (tests)
            pass
    bot.ctx.effects.start()  # what a timer job recorded is performed here too, and resumed after a crash
    timers = bot.ctx.timers
    timers.start(interval or base.scheduler_interval)
    log.info("firebreak scheduler %s started", timers.owner)
    try:
        wait_until(stop)
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
    from bot.core.errors import ConfigError

    try:
        run(settings(), interval=interval)
    except ConfigError as err:
        fail(f"firebreak scheduler will not start: the configuration is invalid.\n{err}")


@scheduler_cli.command("list")
def list_timers(prefix: str = typer.Argument("", help="Only keys starting with this, e.g. inc-42:")) -> None:
    """Show pending timers in the job store."""
    from bot.core.errors import ConfigError
    from bot.slack.app import build

    base = settings()
    if base.scheduler_database_url is None:  # the jobs live in the incident database: is it set up?
        try:
            with incident_database(base.database_url) as db:
                # Listing starts the job store, which creates its table if it is missing: on a database
                # an older firebreak migrated, the migration that creates it would then fail.
                require_current(db, shown_url(base.database_url))
        except NoIncidents:
            # Listing must not create the job table here: `firebreak db upgrade` would then find it in the way.
            typer.echo(f"0 pending timers. {no_incidents_line(base.database_url)}")
            return
    try:
        bot = build(base)
    except ConfigError as err:
        fail(f"The configuration is invalid:\n{err}")
    try:
        pending = bot.ctx.timers.pending(prefix)
        for t in pending:
            typer.echo(f"{t.when.isoformat()}  {t.key}  {t.job}")
        typer.echo(f"{len(pending)} pending timer(s)")
    finally:
        bot.close()
