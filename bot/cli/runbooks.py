"""`firebreak runbooks check [DIR]` and `firebreak runbooks list`."""

from __future__ import annotations

from pathlib import Path

import typer

from bot.cli.common import fail, settings

runbooks_cli = typer.Typer(no_args_is_help=True, help="Validate and list runbooks.")


def _categories(rules_file: Path | None) -> list[str]:
    from bot.core.errors import ConfigError
    from bot.core.severity import load_rules

    try:
        return list(load_rules(rules_file).categories)
    except ConfigError as err:
        fail(f"The severity rubric is invalid, so categories cannot be checked:\n{err}")


@runbooks_cli.command("check")
def check(
    directory: Path | None = typer.Argument(None, help="A directory of runbook files; defaults to FIREBREAK_RUNBOOKS_DIR."),
    rules_file: Path | None = typer.Option(None, "--rules", help="Severity rubric for the category names; defaults to "
                                                          "FIREBREAK_SEVERITY_RULES or the shipped rubric."),
) -> None:
    """Validate the shipped runbooks and DIR together; print every problem with file, line and key."""
    from bot.runbooks.loader import RunbookErrors, load_library

    base = settings()
    directory = directory or base.runbooks_dir
    categories = _categories(rules_file or base.severity_rules_file)
    try:
        library = load_library(categories, directory)
    except RunbookErrors as err:
        for problem in err.problems:
            typer.secho(str(problem), fg=typer.colors.RED, err=True)
        typer.secho(f"{len(err.problems)} problem(s) found; firebreak will not start with these runbooks.",
                    fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from err
    org = sum(1 for r in library.runbooks.values() if r.origin == "organization")
    where = f" ({org} from {directory})" if directory else ""
    typer.echo(f"ok: {len(library)} runbooks{where}, "
               f"{sum(len(r.steps) for r in library.runbooks.values())} steps")


@runbooks_cli.command("list")
def list_runbooks(directory: Path = typer.Argument(None, help="Defaults to FIREBREAK_RUNBOOKS_DIR.")) -> None:
    """List the runbooks: key, title, categories, severities, steps."""
    from bot.runbooks.loader import RunbookErrors, load_library

    base = settings()
    try:
        library = load_library(_categories(base.severity_rules_file), directory or base.runbooks_dir)
    except RunbookErrors as err:
        fail(f"{err}\n`firebreak runbooks check` lists every problem.")
    for rb in library.runbooks.values():
        sevs = ",".join(str(s) for s in sorted(rb.severities))
        typer.echo(f"{rb.key:28} SEV{sevs:8} {len(rb.steps):3} steps  {rb.title}  [{', '.join(rb.categories)}]")
