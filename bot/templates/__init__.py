"""firebreak's templates and the one Jinja environment that renders them.

Every template firebreak renders lives in this package (`postmortem.md.j2`, `regulator_summary.md.j2`,
`scorecard.md.j2`). An organization overrides any of them, one file at a time, with the folder named by
FIREBREAK_TEMPLATES_DIR: it is searched first, and a template it lacks comes from here.

The environment lives next to the files because it is their only reader: the postmortem and the tabletop
features render through `render()` and never build an environment of their own, so every template sees
the same whitespace rules and the same filters:

- `duration`: seconds or a timedelta as people read it (`4m 12s`); None (an interval still open) is `—`;
- `when`: a datetime as `2026-01-05 09:04:12 UTC` (or a strftime format); None is `—`;
- `cell`: text safe inside a Markdown table cell (no pipes breaking columns, no line breaks);
- `mark`: True / False / None as ✅ / ❌ / ➖.

Whitespace: a line holding only a `{% ... %}` tag leaves nothing behind (trim_blocks, lstrip_blocks),
and the file's final newline is kept. Undefined names are errors (StrictUndefined). A broken template
raises TemplateProblem naming the template, its file and the line.
"""

from __future__ import annotations

import traceback
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from bot.core.durations import format_duration
from bot.core.errors import FirebreakError

SHIPPED = Path(__file__).parent


class TemplateProblem(FirebreakError):
    """A template is missing or broken; the message names the template, its file and the line."""


def search_path(org_dir: Path | None) -> list[Path]:
    """The organization's folder first (when set), then the shipped templates."""
    if org_dir is None:
        return [SHIPPED]
    org_dir = Path(org_dir)
    if not org_dir.is_dir():
        raise TemplateProblem(f"FIREBREAK_TEMPLATES_DIR `{org_dir}` is not a directory.")
    return [org_dir, SHIPPED]


def _when(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M:%S UTC") -> str:
    return value.strftime(fmt) if value is not None else "—"


def _cell(value: Any) -> str:
    return " ".join(str(value).split()).replace("|", "\\|")


def _mark(value: bool | None) -> str:
    return "✅" if value is True else "❌" if value is False else "➖"


FILTERS = {"duration": format_duration, "when": _when, "cell": _cell, "mark": _mark}


@lru_cache(maxsize=8)
def environment(paths: tuple[Path, ...]) -> jinja2.Environment:
    """One environment per search path (in practice one per process); `auto_reload` picks up edits."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(p) for p in paths]),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # Markdown, not HTML
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=True,
    )
    env.filters.update(FILTERS)
    return env


def render(name: str, context: dict[str, Any], *, org_dir: Path | None = None) -> str:
    """Render template `name` with `context`; raise TemplateProblem naming the template, file and line."""
    paths = search_path(org_dir)
    env = environment(tuple(paths))
    try:
        template = env.get_template(name)
    except jinja2.TemplateNotFound:
        where = ", ".join(str(p) for p in paths)
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
