"""`firebreak postmortem INC-42 [-o FILE] [--regulator]`: write the draft from the command line."""

from __future__ import annotations

from pathlib import Path

import typer

from bot.cli.common import LIST_HINT, NoIncidents, fail, incident_database, no_incidents_line, settings


def postmortem(
    incident: str = typer.Argument(..., help="The incident, e.g. INC-42 (`firebreak incidents` lists them)."),
    output: Path = typer.Option(None, "--output", "-o", help="Write to FILE instead of standard output."),
    regulator: bool = typer.Option(False, "--regulator", help="The regulator-facing summary instead."),
) -> None:
    """Render the postmortem draft of an incident (Markdown) from its timeline."""
    from bot.core.errors import ConfigError, FirebreakError, NotFound
    from bot.core.incidents import parse_ref

    try:
        number = parse_ref(incident)
    except FirebreakError as err:
        fail(err.message)
    base = settings()
    _require(base.database_url, number)
    from bot.app.services import build_services
    from bot.postmortem import render_draft, render_regulator_summary

    try:
        services = build_services(base)  # the domain alone: no Bolt app, no listener, nothing served
    except ConfigError as err:
        fail(f"The configuration is invalid:\n{err}")
    # People by their workspace names when a Slack workspace is configured; else by id, without asking.
    from bot.postmortem.people import plain_names

    placeholder = type(base).model_fields["slack_bot_token"].default
    names = None
    if base.slack_bot_token == placeholder:
        names = plain_names
    else:
        from bot.slack.client import make_client
        from bot.slack.directory import PeopleOnly

        services.directory = PeopleOnly(make_client(base))  # users.info only
    try:
        text = (render_regulator_summary(services, number) if regulator
                else render_draft(services, number, names=names))
    except NotFound:
        fail(f"INC-{number} does not exist; {LIST_HINT}.")
    except FirebreakError as err:
        fail(err.message)
    finally:
        services.close()
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"Cannot write {output}: {exc.strerror}")
    typer.echo(f"wrote {output}")


def _require(url: str, number: int) -> None:
    """Fail with a terminal hint before building anything when the incident does not exist."""
    from bot.store.models import Incident

    try:
        with incident_database(url) as db, db.session() as session:
            found = session.get(Incident, number) is not None
    except NoIncidents:
        fail(f"INC-{number} does not exist. {no_incidents_line(url)}")
    if not found:
        fail(f"INC-{number} does not exist; {LIST_HINT}.")
