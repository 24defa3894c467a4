"""Providers of extra postmortem data, so the postmortem renders features that have landed and degrades
cleanly when they have not.

Contract (`ctx.postmortem_providers`, a dict name -> fn): `fn(ctx, session, incident) -> Any`.
Known names and shapes (all datetimes timezone-aware UTC):
- "runbook": the checklist's steps as `bot.core.facts.StepFact`s (`facts.load_steps` judges them: done on
  time, done late, skipped, overdue, pending, not required), so the draft and a tabletop scorecard agree
- "containment": list of actions, each {"lever", "type", "target", "requested_at", "applied_at",
  "verified_at", "reverted_at", "by", "outcome", "error", "attempts", "dry_run"}
- "evidence": list of repro cases {"id", "sha256", "added_at", "by", "summary"} and probe runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.app.services import Services


def register_provider(ctx: Services, name: str, fn: Any) -> None:
    ctx.postmortem_providers[name] = fn


def collect(ctx: Services, session: Any, incident: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, fn in ctx.postmortem_providers.items():
        out[name] = fn(ctx, session, incident)
    return out
