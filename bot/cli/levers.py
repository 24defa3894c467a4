"""`firebreak levers check [FILE]`: validate the lever file the way the bot does at start-up."""

from __future__ import annotations

from pathlib import Path

import typer

from bot.cli.common import fail, settings

levers_cli = typer.Typer(no_args_is_help=True, help="Containment levers.")


@levers_cli.command("check")
def check(file: Path = typer.Argument(None, help="Defaults to FIREBREAK_LEVERS_FILE.")) -> None:
    """Validate a lever file (types, targets, templates, roles, categories) and list its levers."""
    from bot.config.org import load_config
    from bot.config.settings import sdk_key_variable
    from bot.containment.spec import load_levers
    from bot.core.errors import ConfigError
    from bot.core.severity import load_rules

    base = settings()
    path = file or base.levers_file
    if path is None:
        fail("No lever file: give one or set FIREBREAK_LEVERS_FILE.")
    try:
        config = load_config(base.config_file)
        rules = load_rules(base.severity_rules_file)
        registry = load_levers(path, config=config, categories=set(rules.categories))
    except ConfigError as err:
        fail(str(err))
    typer.echo(f"ok: {path}: {len(registry)} lever{'s' if len(registry) != 1 else ''}")
    for lever in registry.all():
        note = ""
        if lever.type != "webhook" and base.launchdarkly_sdk_key(lever.flag.environment) is None:
            note = f" (no {sdk_key_variable(lever.flag.environment)}: will not be verified through the SDK)"
        typer.echo(f"  {lever.name}: {lever.type}, on_resolve={lever.on_resolve}{note}")
