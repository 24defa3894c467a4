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
) -> None:
    """Play a whole exercise in the terminal through the real app; print the scorecard, write the outputs."""
    if not auto:
        _fail("Live exercises run in Slack: `/incident tabletop start <scenario>` in a sandbox channel. "
              "From the command line, add --auto to play one with scripted responders.")
    from bot.errors import ConfigError, FirebreakError
    from bot.settings import Settings
    from bot.tabletop.auto import run_auto

    try:
        run_auto(scenario, out_dir=out or Path(f"tabletop-{scenario}"), settings=Settings(),
                 scenarios_dir=scenarios_dir, database_url=database_url)
    except (FirebreakError, ConfigError) as err:
        _fail(getattr(err, "message", str(err)))


@scenarios_cli.command("check")
def check(directory: Path = typer.Argument(None, help="Your scenarios (default FIREBREAK_SCENARIOS_DIR); the "
                                                      "shipped ones are always checked.")) -> None:
    """Validate scenario files; every error names the file and the key."""
    from bot.errors import ConfigError
    from bot.settings import Settings
    from bot.severity import load_rules
    from bot.tabletop.scenario import load_catalog

    settings = Settings()
    try:
        rules = load_rules(settings.severity_rules_file)
    except ConfigError as err:
        _fail(f"The severity rubric is invalid, so categories cannot be checked:\n{err}")
    catalog = load_catalog(directory or settings.scenarios_dir, rules=rules)
    for key in sorted(catalog.scenarios):
        s = catalog.scenarios[key]
        typer.echo(f"ok: {key} ({catalog.sources[key]}) — {len(s.injects)} injects, "
                   f"{len(s.responders)} scripted actions")
    if catalog.errors:
        _fail("\n".join(catalog.errors.values()))
