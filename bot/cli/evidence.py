"""`firebreak evidence ...`: verify evidence hashes and check the probe configuration from a terminal."""

from __future__ import annotations

import os

import typer

from bot.cli.common import (
    incident_session,
    settings,
    terminal_text,
)
from bot.core.errors import ConfigError

evidence_cli = typer.Typer(no_args_is_help=True, help="Evidence and probes.")


@evidence_cli.command("verify")
def verify(incident: str = typer.Argument(..., help="The incident, e.g. INC-42 (`firebreak incidents` lists them).")
           ) -> None:
    """Recompute the SHA-256 of every repro case of an incident and compare it with the stored hash."""
    from bot.evidence import store

    with incident_session(incident) as (number, session):
        checked = store.verify(session, number)
        lines = [f"{'ok  ' if ok else 'BAD '} case #{row.id} {row.sha256} added {row.added_at.isoformat()} "
                 f"by {terminal_text(row.added_by)}" for row, ok in checked]
    if not checked:
        typer.echo(f"INC-{number} has no repro cases.")
        return
    typer.echo("\n".join(lines))
    bad = sum(1 for _, ok in checked if not ok)
    if bad:
        typer.secho(f"{bad} case(s) do not match their hash: the evidence was changed after it was recorded.",
                    fg=typer.colors.RED, err=True)
        raise typer.Exit(1)


@evidence_cli.command("endpoints")
def endpoints() -> None:
    """List the configured model and moderation endpoints and whether their API-key variables are set."""
    from bot.config.org import load_config

    try:
        cfg = load_config(settings().config_file).evidence
    except ConfigError as err:
        typer.secho(str(err), fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from err
    if not cfg.endpoints:
        typer.echo("No model endpoints configured (evidence.endpoints); probes will be inconclusive.")
    for name, ep in cfg.endpoints.items():
        key = "no key" if not ep.api_key_env else \
            f"{ep.api_key_env} {'set' if os.environ.get(ep.api_key_env) else 'NOT SET'}"
        default = " (default)" if name == cfg.default() else ""
        typer.echo(f"{name}{default}: {ep.url} model={ep.model} timeout={ep.timeout_seconds:g}s {key}"
                   f"{' exercise-safe' if ep.exercise_safe else ''}"
                   f"{' categories=' + ','.join(ep.categories) if ep.categories else ''}")
    if cfg.moderation:
        m = cfg.moderation
        key = "no key" if not m.api_key_env else f"{m.api_key_env} {'set' if os.environ.get(m.api_key_env) else 'NOT SET'}"
        typer.echo(f"moderation: {m.url} {key}")
