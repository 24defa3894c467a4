"""`firebreak levers check [FILE]`: validate the lever file the way the bot does at start-up."""

from __future__ import annotations

from pathlib import Path

import typer

from bot.core.errors import ConfigError

levers_cli = typer.Typer(no_args_is_help=True, help="Containment levers.")


@levers_cli.command("check")
def check(file: Path = typer.Argument(None, help="Defaults to FIREBREAK_LEVERS_FILE.")) -> None:
    """Validate a lever file (types, targets, templates, roles, categories) and list its levers."""
    from bot.config.org import load_config
    from bot.config.settings import Settings, sdk_key_variable
    from bot.containment.spec import load_levers
    from bot.core.severity import load_rules

    settings = Settings()
    path = file or settings.levers_file
    if path is None:
        typer.secho("No lever file: give one or set FIREBREAK_LEVERS_FILE.", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    try:
        config = load_config(settings.config_file)
        rules = load_rules(settings.severity_rules_file)
        registry = load_levers(path, config=config, categories=set(rules.categories))
    except ConfigError as err:
        typer.secho(str(err), fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    typer.echo(f"ok: {path}: {len(registry)} lever{'s' if len(registry) != 1 else ''}")
    for lever in registry.all():
        note = ""
        if lever.type != "webhook" and settings.launchdarkly_sdk_key(lever.flag.environment) is None:
            note = f" (no {sdk_key_variable(lever.flag.environment)}: will not be verified through the SDK)"
        typer.echo(f"  {lever.name}: {lever.type}, on_resolve={lever.on_resolve}{note}")
