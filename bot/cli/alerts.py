"""`firebreak alerts ...`: dry-run a payload against the routes, and the per-source delivery counters."""

from __future__ import annotations

from pathlib import Path

import typer

from bot.cli.common import fail, settings, terminal_text

alerts_cli = typer.Typer(no_args_is_help=True, help="Alert intake: routes and delivery counters.")


@alerts_cli.command("test")
def test(payload: Path = typer.Argument(..., help="A JSON payload, e.g. examples/alerts/pii-in-output.json."),
         source: str = typer.Option(..., "--source", "-s", help="The source it would be sent to."),
         alerts_file: Path = typer.Option(None, "--alerts", help="Defaults to FIREBREAK_ALERTS_FILE.")) -> None:
    """Show which route each alert takes and what would happen. Writes nothing."""
    from bot.alerts.dryrun import explain
    from bot.alerts.routes import load_rules
    from bot.core.errors import ConfigError, FirebreakError
    from bot.core.severity import load_rules as load_rubric

    base = settings()
    try:
        rubric = load_rubric(base.severity_rules_file)
        alert_rules = load_rules(alerts_file or base.alerts_file, rubric)
    except ConfigError as err:
        fail(str(err))
    try:
        raw = payload.read_bytes()
    except OSError as err:
        fail(f"Cannot read {payload}: {err.strerror}")
    try:
        outcomes = explain(alert_rules, rubric, source, raw)
    except FirebreakError as err:
        fail(err.message)
    for o in outcomes:
        typer.echo(f"{terminal_text(o.title, 80)}\n  route: {o.route} ({o.action})\n  would: {terminal_text(o.says)}")


@alerts_cli.command("stats")
def stats() -> None:
    """Deliveries per source (accepted, duplicates, refusals by reason), and the incidents alerts opened."""
    from sqlalchemy.exc import SQLAlchemyError
    from sqlmodel import select

    from bot.cli.common import NoIncidents, incident_database
    from bot.store.models.alerts import AlertSourceStat

    try:
        with incident_database(settings().database_url) as db, db.session() as session:
            rows = list(session.exec(select(AlertSourceStat).order_by(AlertSourceStat.source,
                                                                      AlertSourceStat.outcome)))
            by_source = incidents_by_source(session)
    except NoIncidents:
        rows, by_source = [], []
    except SQLAlchemyError:
        fail("The database has no alert tables yet; run `firebreak db upgrade`.")
    if not rows:
        typer.echo("No alert deliveries recorded.")
        return
    width = max(len(r.source) for r in rows)
    for r in rows:
        typer.echo(f"{terminal_text(r.source).ljust(width)}  {r.outcome:<16} {r.count:>8}  "
                   f"last {r.last_at:%Y-%m-%d %H:%M:%S} UTC")
    if by_source:
        typer.echo("\nIncidents from alerts (real ones), by source: count, median MTTD, median MTTC")
        for source, n, mttd, mttc in by_source:
            typer.echo(f"{terminal_text(source).ljust(width)}  {n:>5}  MTTD {_minutes(mttd)}  MTTC {_minutes(mttc)}")


def _minutes(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds / 60:.1f} min"


def _median(values: list[int | None]) -> float | None:
    known = sorted(v for v in values if v is not None)
    if not known:
        return None
    mid = len(known) // 2
    return float(known[mid]) if len(known) % 2 else (known[mid - 1] + known[mid]) / 2


def incidents_by_source(session) -> list[tuple[str, int, float | None, float | None]]:  # noqa: ANN001
    """Real incidents alerts declared or joined, per source, with their median MTTD and MTTC."""
    from sqlmodel import col, select

    from bot.store.models import Incident
    from bot.store.models.alerts import AlertGroup

    rows = session.exec(select(AlertGroup.source, Incident.id, Incident.mttd_seconds, Incident.mttc_seconds)
                        .join(Incident, col(Incident.id) == col(AlertGroup.incident_id))
                        .where(Incident.is_exercise == False).distinct())  # noqa: E712
    per: dict[str, dict[int, tuple[int | None, int | None]]] = {}
    for source, number, mttd, mttc in rows:
        per.setdefault(source, {})[number] = (mttd, mttc)
    return [(source, len(incs), _median([v[0] for v in incs.values()]), _median([v[1] for v in incs.values()]))
            for source, incs in sorted(per.items())]


@alerts_cli.command("send")
def send(payload: Path = typer.Argument(..., help="A JSON payload, e.g. examples/alerts/guardrail-block-rate-spike.json."),
         source: str = typer.Option(..., "--source", "-s", help="The source to send it as."),
         url: str = typer.Option("http://127.0.0.1:3000", "--url", help="Where firebreak listens (serve's HTTP port, "
                                 "or FIREBREAK_ALERTS_PORT in Socket Mode)."),
         alerts_file: Path = typer.Option(None, "--alerts", help="Defaults to FIREBREAK_ALERTS_FILE.")) -> None:
    """Send a sample alert to a running firebreak, signed with the source's secret (from its environment variable)."""
    import httpx

    from bot.alerts.auth import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature
    from bot.alerts.routes import load_rules
    from bot.core.errors import ConfigError

    base = settings()
    try:
        alert_rules = load_rules(alerts_file or base.alerts_file)
    except ConfigError as err:
        fail(str(err))
    src = alert_rules.sources.get(source)
    if src is None:
        fail(f"Unknown source `{source}` (sources: {', '.join(alert_rules.sources) or 'none configured'}).")
    secret = src.secret()
    if not secret:
        fail(f"Set {src.secret_env} to the source's secret first.")
    try:
        body = payload.read_bytes()
    except OSError as err:
        fail(f"Cannot read {payload}: {err.strerror}")
    import time

    headers = {"content-type": "application/json"}
    if src.auth == "bearer":
        headers["authorization"] = f"Bearer {secret}"
    else:
        stamp = str(int(time.time()))
        headers |= {TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: signature(secret, stamp, body)}
    try:
        resp = httpx.post(f"{url.rstrip('/')}/alerts/{source}", content=body, headers=headers, timeout=10)
    except httpx.HTTPError as err:
        fail(f"Cannot reach {url}: {type(err).__name__}")
    typer.echo(f"{resp.status_code}: {terminal_text(resp.text, 200)}")
    if resp.status_code >= 400:
        raise typer.Exit(1)
