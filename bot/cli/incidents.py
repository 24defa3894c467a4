"""`firebreak incidents [--all] [--limit N]`: the incidents in the database, from a terminal.

The terminal's answer to "which INC number?" before `firebreak postmortem INC-n` or `firebreak evidence
verify INC-n`: open incidents most severe first (the order `/incident list` uses), or with `--all` every
incident, newest first.
"""

from __future__ import annotations

import typer

from bot.cli.common import NoIncidents, incident_database, no_incidents_line, settings, terminal_text

TITLE_WIDTH = 60


def incidents(
    everything: bool = typer.Option(False, "--all", help="Resolved incidents too, newest first."),
    limit: int = typer.Option(50, "--limit", min=1, max=1000, help="Show at most this many."),
) -> None:
    """List incidents: number, severity, status, opened (UTC) and title."""
    import sqlalchemy
    from sqlmodel import col

    from bot.core.incidents import list_open_rows
    from bot.store.models import Incident

    url = settings().database_url
    try:
        with incident_database(url) as db, db.session() as session:
            if everything:
                # more columns than sqlmodel's select is typed for: the SQLAlchemy one, run with execute
                query = (sqlalchemy.select(col(Incident.id), col(Incident.severity), col(Incident.status),
                                           col(Incident.title), col(Incident.opened_at), col(Incident.private),
                                           col(Incident.is_exercise))
                         .order_by(col(Incident.id).desc()).limit(limit))
                rows = [tuple(r) for r in session.execute(query)]
            else:
                rows = [(r.id, r.severity, r.status, r.title, r.opened_at, r.private, r.is_exercise)
                        for r in list_open_rows(session, limit=limit)]
    except NoIncidents:
        typer.echo(no_incidents_line(url))
        return
    if not rows:
        typer.echo("No incidents yet." if everything else
                   "No open incidents. `firebreak incidents --all` includes resolved ones.")
        return
    for number, severity, status, title, opened_at, private, exercise in rows:
        marks = "".join([" (private)" if private else "", " (exercise)" if exercise else ""])
        typer.echo(f"INC-{number:<5} SEV{severity}  {status:<9}  {opened_at:%Y-%m-%d %H:%M}  "
                   f"{terminal_text(title, TITLE_WIDTH)}{marks}")
    if len(rows) == limit:
        typer.echo(f"(the first {limit}; --limit shows more)")
    typer.echo("`firebreak postmortem INC-n` writes an incident's postmortem draft.")
