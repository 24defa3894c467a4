"""Load and render the postmortem templates with Jinja2 StrictUndefined.

Search order, first match wins:
1. `FIREBREAK_TEMPLATES_DIR` (settings.templates_dir): an organization's own templates;
2. the repository's top-level `templates/` when running from a checkout or an editable install;
3. the copy shipped inside the package (`bot/postmortem/default_templates/`), for wheel installs.

An organization may override one template and keep the shipped other. A broken template raises
TemplateProblem naming the template, its file and the line.
"""

from __future__ import annotations

import traceback
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from bot.core.durations import format_duration
from bot.core.errors import FirebreakError

PACKAGED = Path(__file__).with_name("default_templates")
REPOSITORY = Path(__file__).resolve().parents[2] / "templates"


class TemplateProblem(FirebreakError):
    """A template is missing or broken; the message names the template, its file and the line."""


def in_checkout() -> bool:
    """Running from the source tree (or an editable install), not from an installed wheel."""
    return REPOSITORY.is_dir() and (REPOSITORY.parent / "pyproject.toml").is_file()


def search_path(org_dir: Path | None) -> list[Path]:
    paths: list[Path] = []
    if org_dir is not None:
        org_dir = Path(org_dir)
        if not org_dir.is_dir():
            raise TemplateProblem(f"FIREBREAK_TEMPLATES_DIR `{org_dir}` is not a directory.")
        paths.append(org_dir)
    if in_checkout():
        paths.append(REPOSITORY)
    paths.append(PACKAGED)
    return paths


def _when(value: Any, fmt: str = "%Y-%m-%d %H:%M:%S UTC") -> str:
    return value.strftime(fmt) if value is not None else "—"


def _cell(value: Any) -> str:
    """Text safe inside a Markdown table cell: no pipes breaking columns, no line breaks."""
    return " ".join(str(value).split()).replace("|", "\\|")


@lru_cache(maxsize=8)
def environment(paths: tuple[Path, ...]) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(p) for p in paths]),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # Markdown, not HTML
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=True,
    )
    env.filters["duration"] = format_duration
    env.filters["when"] = _when
    env.filters["cell"] = _cell
    return env


def render(name: str, context: dict[str, Any], *, org_dir: Path | None = None) -> str:
    env = environment(tuple(search_path(org_dir)))
    try:
        template = env.get_template(name)
    except jinja2.TemplateNotFound:
        where = ", ".join(str(p) for p in search_path(org_dir))
        raise TemplateProblem(f"Template `{name}` was not found (searched {where}).") from None
    except jinja2.TemplateSyntaxError as err:
        raise TemplateProblem(f"Template `{name}` ({err.filename}) line {err.lineno}: {err.message}") from None
    try:
        return template.render(**context)
    except Exception as err:  # noqa: BLE001 - any error inside a template is the template's problem
        line = _template_line(err, template.filename)
        where = f" line {line}" if line else ""
        raise TemplateProblem(f"Template `{name}` ({template.filename}){where}: {_describe(err)}") from err


def _template_line(err: BaseException, filename: str | None) -> int | None:
    """Jinja rewrites tracebacks so template frames carry the template's file and line."""
    if filename is None:
        return None
    line = None
    for frame in traceback.extract_tb(err.__traceback__):
        if frame.filename == filename:
            line = frame.lineno
    return line


def _describe(err: BaseException) -> str:
    if isinstance(err, jinja2.UndefinedError):
        return f"{err.message} (a name the template uses is not provided)"
    return f"{type(err).__name__}: {err}"
