"""`firebreak metrics [--since 30d] [--sev N] [--category C] [--exercises] [--chart FILE] [--csv FILE]`.

Imports stay inside the command so `firebreak --help` does not load the database layer or matplotlib.
On a database that was never set up the answer is "No incidents yet" (nothing is created); a database from
an older version is migrated first, as `firebreak serve` would on start. Never a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer

from bot.core.errors import ConfigError, FirebreakError

if TYPE_CHECKING:
    from bot.store.db import Database

USAGE = ("firebreak metrics [--since 30d|12w|2026-01-01|all] [--sev 1-4] [--category C] [--exercises] "
         "[--chart FILE] [--csv FILE]")
NO_INCIDENTS = "No incidents yet: this database has never been set up (the bot creates it on start)."


def metrics(
    since: str = typer.Option("30d", "--since", help="24h, 7d, 30d, 12w, a date like 2026-01-01, or all."),
    sev: str = typer.Option(None, "--sev", help="Only this severity (1-4)."),
    category: str = typer.Option(None, "--category", help="Only this category."),
    exercises: bool = typer.Option(False, "--exercises", help="Include tabletop exercises."),
    chart_file: Path = typer.Option(None, "--chart", help="Write the weekly MTTC chart (PNG) to FILE."),
    csv_file: Path = typer.Option(None, "--csv", help="Write every group and metric as CSV to FILE."),
) -> None:
    """MTTD / MTTA / MTTC / MTTR (mean, median, p90) by severity and category, computed in the database."""
    from sqlalchemy.exc import SQLAlchemyError

    from bot.config.settings import Settings
    from bot.core.clock import SystemClock
    from bot.core.facts import Metric
    from bot.core.severity import load_rules
    from bot.metrics import chart, compute, rubric_targets
    from bot.metrics.options import parse_filters
    from bot.metrics.period import describe_period
    from bot.metrics.table import describe_filters, format_table, to_csv
    from bot.store.db import Database

    settings = Settings()
    now = SystemClock().now()
    try:
        rules = load_rules(settings.severity_rules_file)
        f = parse_filters(rules, now, since=since, sev=sev, category=category, exercises=exercises, usage=USAGE)
    except FirebreakError as err:
        _fail(f"{err.message}\nUsage: {USAGE}")
    except ConfigError as err:
        _fail(str(err))
    if chart_file is not None and not chart.available():
        _fail(f"--chart needs matplotlib: {chart.INSTALL_HINT}.")
    if _missing_sqlite_file(settings.database_url):
        typer.echo(NO_INCIDENTS)
        return
    db = Database(settings.database_url)
    try:
        if not _ready(db):
            typer.echo(NO_INCIDENTS)
            return
        with db.session() as session:
            report = compute(session, since=f.since, until=now, severity=f.severity, category=f.category,
                             include_exercises=f.include_exercises, targets=rubric_targets(rules),
                             by_category=tuple(Metric) if csv_file is not None else (Metric.MTTC,))
    except SQLAlchemyError as exc:
        _fail(f"Cannot read the database: {_reason(exc)}")
    finally:
        db.dispose()
    typer.echo(describe_filters(report, rules, describe_period(f.since, now)))
    typer.echo(format_table(report, rules))
    if csv_file is not None:
        _write(csv_file, to_csv(report).encode("utf-8"))
    if chart_file is not None:
        png = chart.render_png(report, rules, now=now)
        if png is not None:
            _write(chart_file, png)


def _missing_sqlite_file(url: str) -> bool:
    """A SQLite URL naming a file that does not exist: connecting would create an empty one."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return (parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:")
            and not Path(parsed.database).exists())


def _ready(db: Database) -> bool:
    """False for a database without the incident table (never set up); a database from an older version
    is migrated to the current schema first (what `firebreak serve` does on start)."""
    from alembic.script import ScriptDirectory
    from sqlalchemy import inspect

    from bot.store.migrate import alembic_config, current, upgrade

    if not inspect(db.engine).has_table("incident"):
        return False
    revision, head = current(db.engine), ScriptDirectory.from_config(alembic_config()).get_current_head()
    if revision is not None and revision != head:
        upgrade(db.engine)
        typer.secho(f"Upgraded the database from {revision} to {head}.", err=True)
    return True


def _reason(exc: Exception) -> str:
    """The driver's first line (no SQL, no parameters, no connection URL)."""
    orig = getattr(exc, "orig", None) or exc
    return (str(orig).strip().splitlines() or [type(orig).__name__])[0]


def _write(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        _fail(f"Cannot write {path}: {exc.strerror}")
    typer.echo(f"wrote {path}")


def _fail(message: str) -> NoReturn:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(2)
