"""Postmortem drafts from the timeline: `render_draft(ctx, incident_id)` and
`render_regulator_summary(ctx, incident_id)`, both Markdown, both plain functions (the benchmark and the
tabletop feature call them directly).

Templates: `postmortem.md.j2` and `regulator_summary.md.j2` in `bot/templates/` (overridable per file
with FIREBREAK_TEMPLATES_DIR; see `bot.templates`). The context they get is built by `bot.postmortem.context.build`: typed models, listed as the template variables in
`bot.postmortem.model`.
"""

from __future__ import annotations

import re
from typing import Any

from bot.core import incidents, secrets
from bot.postmortem import people
from bot.postmortem.context import Names
from bot.postmortem.context import build as build_context
from bot.templates import TemplateProblem, render

DRAFT_TEMPLATE = "postmortem.md.j2"
REGULATOR_TEMPLATE = "regulator_summary.md.j2"


def _context(ctx: Any, incident_id: int, names: Names, regulator: bool) -> dict[str, Any]:
    """The template's variables (bot.postmortem.model: the typed models, one per top-level name)."""
    with ctx.db.session() as session:
        incident = incidents.get(session, incident_id)
        return build_context(ctx, session, incident, names=names, regulator=regulator).variables()


_MARK = "\u2063"  # an invisible separator around each person in the first render, replaced by their name
_MARKED = re.compile(f"{_MARK}([A-Z0-9]{{2,32}}){_MARK}")


def _render(ctx: Any, incident_id: int, template: str, *, names: Names | None, regulator: bool) -> str:
    org_dir = getattr(ctx.settings, "templates_dir", None)
    if names is not None:
        text = render(template, _context(ctx, incident_id, names, regulator), org_dir=org_dir)
    else:
        # One render with each person marked; the workspace is asked for their names after it, outside any
        # database transaction, and the marks are replaced by the names found.
        seen: set[str] = set()

        def marked(user_id: str) -> str:
            if user_id in ("firebreak", "") or not user_id.isalnum():
                return people.plain_names(user_id)
            seen.add(user_id)
            return f"{_MARK}{user_id}{_MARK}"

        text = render(template, _context(ctx, incident_id, marked, regulator), org_dir=org_dir)
        named = people.workspace_names(ctx, seen)
        text = _MARKED.sub(lambda m: named(m.group(1)), text).replace(_MARK, "")
    # A file leaves the process: the one redaction step, over provider data (a lever's error) as over the rest.
    return secrets.redact(text)


def render_draft(ctx: Any, incident_id: int, *, names: Names | None = None) -> str:
    """The postmortem draft of an incident as Markdown, people by their workspace display name (`names`
    overrides how ids read). Raises NotFound or TemplateProblem."""
    return _render(ctx, incident_id, DRAFT_TEMPLATE, names=names, regulator=False)


def render_regulator_summary(ctx: Any, incident_id: int) -> str:
    """A facts-only summary for a regulator: no people, channels, titles or internal system names."""
    return _render(ctx, incident_id, REGULATOR_TEMPLATE, names=lambda _u: "", regulator=True)


__all__ = ["render_draft", "render_regulator_summary", "build_context", "TemplateProblem"]
