"""`firebreak metrics [--since 30d] [--sev N] [--category C] [--exercises] [--chart FILE] [--csv FILE]`."""

from __future__ import annotations

from pathlib import Path

import typer

from bot.core.errors import ConfigError, FirebreakError

USAGE = ("firebreak metrics [--since 30d|12w|2026-01-01|all] [--sev 1-4] [--category C] [--exercises] "
         "[--chart FILE] [--csv FILE]")


def metrics(
    since: str = typer.Option("30d", "--since", help="24h, 7d, 30d, 12w, a date like 2026-01-01, or all."),
    sev: str = typer.Option(None, "--sev", help="Only this severity (1-4)."),
    category: str = typer.Option(None, "--category", help="Only this category."),
    exercises: bool = typer.Option(False, "--exercises", help="Include tabletop exercises."),
    chart_file: Path = typer.Option(None, "--chart", help="Write the weekly MTTC chart (PNG) to FILE."),
    csv_file: Path = typer.Option(None, "--csv", help="Write every group and metric as CSV to FILE."),
) -> None:
    """MTTD / MTTA / MTTC / MTTR (mean, median, p90) by severity and category, computed in the database."""
    from bot.config.settings import Settings
    from bot.core.clock import SystemClock
    from bot.core.severity import load_rules
    from bot.metrics import chart, compute
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
    db = Database(settings.database_url)
    try:
        with db.session() as session:
            report = compute(session, since=f.since, severity=f.severity, category=f.category,
                             include_exercises=f.include_exercises)
    finally:
        db.dispose()
    typer.echo(describe_filters(report, rules, describe_period(f.since, now)))
    typer.echo(format_table(report, rules))
    if csv_file is not None:
        _write(csv_file, to_csv(report).encode("utf-8"))
    if chart_file is not None:
        png = chart.render_png(report, rules)
        if png is None:
            typer.echo("no chart: no incidents with a containment time in this period")
        else:
            _write(chart_file, png)


def _write(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        _fail(f"Cannot write {path}: {exc.strerror}")
    typer.echo(f"wrote {path}")


def _fail(message: str) -> None:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(2)
