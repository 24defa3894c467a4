"""`firebreak tabletop run <scenario> --auto` and `firebreak scenarios check [DIR]`."""

from __future__ import annotations

from pathlib import Path

import typer

tabletop_cli = typer.Typer(no_args_is_help=True, help="Tabletop exercises (live ones run in Slack).")
scenarios_cli = typer.Typer(no_args_is_help=True, help="Tabletop scenario files.")


def _fail(message: str) -> None:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


@tabletop_cli.command("run")
def run(
    scenario: str = typer.Argument(..., help="Scenario key (`firebreak scenarios check` lists them)."),
    auto: bool = typer.Option(False, "--auto", help="Play it offline with scripted responders and a simulated clock."),
    out: Path = typer.Option(None, "--out", help="Output directory (default ./tabletop-<scenario>)."),
    database_url: str = typer.Option(None, "--database-url", help="Default: a fresh SQLite file in the output directory."),
    scenarios_dir: Path = typer.Option(None, "--scenarios-dir", help="Defaults to FIREBREAK_SCENARIOS_DIR."),
    levers: Path = typer.Option(None, "--levers", help="Lever file to play with (default: the shipped exercise "
                                                      "levers; every pull is a dry run either way)."),
) -> None:
    """Play a whole exercise in the terminal through the real app; print the scorecard, write the outputs."""
    if not auto:
        _fail("Live exercises run in Slack: `/incident tabletop start <scenario>` in a sandbox channel. "
              "From the command line, add --auto to play one with scripted responders.")
    from bot.config.settings import Settings
    from bot.core.errors import ConfigError, FirebreakError
    from bot.tabletop.auto import run_auto

    try:
        run_auto(scenario, out_dir=out or Path(f"tabletop-{scenario}"), settings=Settings(),
                 scenarios_dir=scenarios_dir, database_url=database_url, levers_file=levers)
    except (FirebreakError, ConfigError) as err:
        _fail(getattr(err, "message", str(err)))


@scenarios_cli.command("check")
def check(directory: Path = typer.Argument(None, help="Your scenarios (default FIREBREAK_SCENARIOS_DIR); the "
                                                      "shipped ones are always checked."),
          levers: Path = typer.Option(None, "--levers", help="Check lever names against this lever file "
                                                             "(default FIREBREAK_LEVERS_FILE, if set).")) -> None:
    """Validate scenario files, their runbook steps and (with a lever file) their levers; errors name file and key."""
    from bot.config.org import load_config
    from bot.config.settings import Settings
    from bot.containment.spec import load_levers
    from bot.core.errors import ConfigError
    from bot.core.severity import load_rules
    from bot.runbooks.loader import RunbookErrors, load_library
    from bot.tabletop.references import check_catalog, regime_names
    from bot.tabletop.scenario import load_catalog

    settings = Settings()
    try:
        rules = load_rules(settings.severity_rules_file)
    except ConfigError as err:
        _fail(f"The severity rubric is invalid, so categories cannot be checked:\n{err}")
    try:
        library = load_library(rules.categories, settings.runbooks_dir)
    except RunbookErrors as err:
        _fail(f"The runbooks are invalid (`firebreak runbooks check` lists why), so steps cannot be checked:\n{err}")
    lever_file = levers or settings.levers_file
    registry = None
    if lever_file is not None:
        try:
            registry = load_levers(lever_file, config=load_config(settings.config_file),
                                   categories=set(rules.categories))
        except ConfigError as err:
            _fail(f"The lever file is invalid (`firebreak levers check` explains):\n{err}")
    try:
        config = load_config(settings.config_file)
    except ConfigError as err:
        _fail(f"The config file is invalid, so reporting regimes cannot be checked:\n{err}")
    catalog = load_catalog(directory or settings.scenarios_dir, rules=rules)
    check_catalog(catalog, library=library, registry=registry, regimes=regime_names(config))
    for key in sorted(catalog.scenarios):
        s = catalog.scenarios[key]
        typer.echo(f"ok: {key} ({catalog.sources[key]}) — {len(s.injects)} injects, "
                   f"{len(s.responders)} scripted actions")
    if registry is None:
        typer.echo("(lever names not checked: no lever file; pass --levers FILE or set FIREBREAK_LEVERS_FILE)")
    if catalog.errors:
        _fail("\n".join(catalog.errors.values()))
