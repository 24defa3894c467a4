"""`firebreak audit INC-42 [--json]`: the privileged actions taken on an incident and the refused attempts.

For a security or privacy officer after the fact: who assigned roles, changed severity, pulled or reverted
levers, revealed evidence, recorded reports, resolved or reopened; and every attempt the permission policy
refused (who, what, why, and whether it was refused because the facts could not be verified). Read from the
append-only timeline (`bot.core.audit.PRIVILEGED_KINDS`); terminal text, or JSON lines for a SIEM.
"""

from __future__ import annotations

import json

import typer

from bot.cli.common import (
    incident_session,
    terminal_text,
)

TEXT_WIDTH = 110


def audit(
    incident: str = typer.Argument(..., help="The incident, e.g. INC-42 (`firebreak incidents` lists them)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line instead of a table."),
) -> None:
    """Privileged actions and refused attempts on an incident, oldest first (UTC)."""
    from bot.core import timeline
    from bot.core.audit import PRIVILEGED_KINDS
    from bot.core.text import default_name
    with incident_session(incident) as (number, session):
        rows = timeline.events(session, number, kinds=list(PRIVILEGED_KINDS))
    if as_json:
        for ev in rows:
            typer.echo(json.dumps({"at": ev.at.isoformat(), "incident": f"INC-{number}", "kind": ev.kind,
                                   "actor": ev.actor, "text": ev.text, "data": ev.data or {}},
                                  ensure_ascii=False, default=str))
        return
    if not rows:
        typer.echo(f"INC-{number}: no privileged actions and no refused attempts.")
        return
    refused = sum(1 for ev in rows if ev.kind == "permission_denied")
    typer.echo(f"INC-{number}: {len(rows) - refused} privileged actions, {refused} refused attempts")
    for ev in rows:
        data = ev.data or {}
        mark = "REFUSED  " if ev.kind == "permission_denied" else f"{timeline.label(ev.kind)}: "
        why = f" — {data.get('why')}" if ev.kind == "permission_denied" and data.get("why") else ""
        unverified = " (could not verify)" if data.get("unverified") else ""
        text = timeline.detail(ev.kind, timeline.shown(ev, default_name))
        typer.echo(f"{ev.at:%Y-%m-%d %H:%M:%S}  {ev.actor:<12} {mark}"
                   f"{terminal_text(text + why + unverified, TEXT_WIDTH)}")
