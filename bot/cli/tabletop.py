"""`firebreak tabletop list`, `firebreak tabletop run <scenario> --auto` and `firebreak scenarios check [DIR]`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from bot.cli.common import fail, settings, terminal_text

if TYPE_CHECKING:
    from bot.config.org import Config
    from bot.config.settings import Settings
    from bot.core.severity import SeverityRules
    from bot.runbooks.loader import Library

tabletop_cli = typer.Typer(no_args_is_help=True, help="Tabletop exercises: list the scenarios, or play one offline.")
scenarios_cli = typer.Typer(no_args_is_help=True, help="Tabletop scenario files.")

SCENARIOS_DIR_HELP = "Your scenarios (default FIREBREAK_SCENARIOS_DIR); the shipped ones are always included."


def _setup(base: Settings) -> tuple[SeverityRules, Library, Config]:
    """The rubric, runbooks and config a scenario is checked against; each invalid one is a clear error."""
    from bot.config.org import load_config
    from bot.core.errors import ConfigError
    from bot.core.severity import load_rules
    from bot.runbooks.loader import RunbookErrors, load_library

    try:
        rules = load_rules(base.severity_rules_file)
    except ConfigError as err:
        fail(f"The severity rubric is invalid, so scenario categories cannot be checked:\n{err}")
    try:
        library = load_library(rules.categories, base.runbooks_dir)
    except RunbookErrors as err:
        fail(f"The runbooks are invalid (`firebreak runbooks check` lists why), so steps cannot be checked:\n{err}")
    try:
        config = load_config(base.config_file)
    except ConfigError as err:
        fail(f"The config file is invalid, so reporting regimes cannot be checked:\n{err}")
    return rules, library, config


@tabletop_cli.command("list")
def list_scenarios(directory: Path = typer.Option(None, "--scenarios-dir", help=SCENARIOS_DIR_HELP)) -> None:
    """List the scenarios you can play: key, title, category, exercise length and where each comes from."""
    from bot.core.durations import format_duration
    from bot.tabletop.references import check_catalog, regime_names
    from bot.tabletop.scenario import SHIPPED_DIR, load_catalog

    base = settings()
    rules, library, config = _setup(base)
    catalog = load_catalog(directory or base.scenarios_dir, rules=rules)
    check_catalog(catalog, library=library, regimes=regime_names(config))
    scenarios = sorted(catalog.scenarios.values(), key=lambda s: s.key)
    if scenarios:
        width = max(len(s.key) for s in scenarios)
        typer.echo(f"{'SCENARIO':<{width}}  {'CATEGORY':<26}  {'LENGTH':>7}  TITLE")
    for s in scenarios:
        source = catalog.sources[s.key]
        origin = "" if source.parent == SHIPPED_DIR else f"  [{source}]"
        typer.echo(f"{s.key:<{width}}  {s.category:<26}  {format_duration(s.duration):>7}  "
                   f"{terminal_text(s.title, 70)}{origin}")
    if not scenarios:
        typer.echo("No scenarios can be played.")
    else:
        typer.echo("Play one offline: `firebreak tabletop run <scenario> --auto`; live, in a Slack sandbox "
                   "channel: `/incident tabletop start <scenario>`.")
    if catalog.errors:
        names = ", ".join(sorted(str(p) for p in catalog.errors))
        fail(f"{len(catalog.errors)} scenario file(s) cannot be played: {names}. "
             "`firebreak scenarios check` says why.", code=1)


@tabletop_cli.command("run")
def run(
    scenario: str = typer.Argument(..., help="Scenario key (`firebreak tabletop list` lists them)."),
    auto: bool = typer.Option(False, "--auto", help="Play it offline with scripted responders and a simulated clock."),
    out: Path = typer.Option(None, "--out", help="Output directory (default ./tabletop-<scenario>)."),
    database_url: str = typer.Option(None, "--database-url", help="Default: a fresh SQLite file in the output directory."),
    scenarios_dir: Path = typer.Option(None, "--scenarios-dir", help="Defaults to FIREBREAK_SCENARIOS_DIR."),
    levers: Path = typer.Option(None, "--levers", help="Lever file to play with (default: the shipped exercise "
                                                      "levers; every pull is a dry run either way)."),
) -> None:
    """Play a whole exercise in the terminal through the real app; print the scorecard, write the outputs."""
    if not auto:
        fail("Live exercises run in Slack: `/incident tabletop start <scenario>` in a sandbox channel (to try "
             "one locally: `firebreak console`, `:channel tabletop-sandbox`). From the command line, add --auto "
             "to play one with scripted responders.")
    from bot.cli.tabletop_auto import run_auto
    from bot.core.errors import ConfigError, FirebreakError

    try:
        run_auto(scenario, out_dir=out or Path(f"tabletop-{scenario}"), settings=settings(),
                 scenarios_dir=scenarios_dir, database_url=database_url, levers_file=levers)
    except (FirebreakError, ConfigError) as err:
        fail(getattr(err, "message", str(err)))


@scenarios_cli.command("check")
def check(directory: Path = typer.Argument(None, help=SCENARIOS_DIR_HELP),
          levers: Path = typer.Option(None, "--levers", help="Check lever names against this lever file "
                                                             "(default FIREBREAK_LEVERS_FILE, if set).")) -> None:
    """Validate scenario files, their runbook steps and (with a lever file) their levers; errors name file and key."""
    from bot.containment.spec import load_levers
    from bot.core.errors import ConfigError
    from bot.tabletop.references import check_catalog, regime_names
    from bot.tabletop.scenario import load_catalog

    base = settings()
    rules, library, config = _setup(base)
    lever_file = levers or base.levers_file
    registry = None
    if lever_file is not None:
        try:
            registry = load_levers(lever_file, config=config, categories=set(rules.categories))
        except ConfigError as err:
            fail(f"The lever file is invalid (`firebreak levers check` explains):\n{err}")
    catalog = load_catalog(directory or base.scenarios_dir, rules=rules)
    check_catalog(catalog, library=library, registry=registry, regimes=regime_names(config))
    for key in sorted(catalog.scenarios):
        s = catalog.scenarios[key]
        typer.echo(f"ok: {key} ({catalog.sources[key]}) — {len(s.injects)} injects, "
                   f"{len(s.responders)} scripted actions")
    if registry is None:
        typer.echo("(lever names not checked: no lever file; pass --levers FILE or set FIREBREAK_LEVERS_FILE)")
    if catalog.errors:
        fail("\n".join(catalog.errors.values()))
