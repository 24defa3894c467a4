"""`firebreak postmortem INC-42 [-o FILE] [--regulator]`: write the draft from the command line."""

from __future__ import annotations

from pathlib import Path

import typer

from bot.core.errors import ConfigError, FirebreakError


def postmortem(
    incident: str = typer.Argument(..., help="The incident, e.g. INC-42."),
    output: Path = typer.Option(None, "--output", "-o", help="Write to FILE instead of standard output."),
    regulator: bool = typer.Option(False, "--regulator", help="The regulator-facing summary instead."),
) -> None:
    """Render the postmortem draft of an incident (Markdown) from its timeline."""
    from bot.config.settings import Settings
    from bot.core.incidents import parse_ref
    from bot.postmortem import render_draft, render_regulator_summary
    from bot.slack.app import build

    try:
        number = parse_ref(incident)
        bot = build(Settings())
    except (FirebreakError, ConfigError) as err:
        _fail(str(getattr(err, "message", err)))
    try:
        text = render_regulator_summary(bot.ctx, number) if regulator else render_draft(bot.ctx, number)
    except FirebreakError as err:
        _fail(err.message)
    finally:
        bot.close()
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        _fail(f"Cannot write {output}: {exc.strerror}")
    typer.echo(f"wrote {output}")


def _fail(message: str) -> None:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(2)
