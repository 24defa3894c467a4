"""Proof of containment: checks that run after a lever is applied and decide whether it worked.

Contract (`services.proof_checks`, a list): a check is `fn(services, incident_id, action) -> Proof | None`,
where `action` describes the lever pull ({"lever", "action_id", "applied_at", "verified_at", "dry_run"}).
None means the check has no opinion (e.g. the incident has no reproduction cases).

The containment layer calls `run_checks` after its own verification: if any check says not effective, the
incident is NOT marked contained and the channel is told loudly; if checks pass, contained_at is the time of
the latest passing proof; with no opinion, the lever's own verification time stands.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.app.services import Services


@dataclass(frozen=True)
class Proof:
    effective: bool
    at: datetime
    summary: str  # e.g. "3 of 3 reproductions are now refused"
    details: dict[str, Any] = field(default_factory=dict)


ProofCheck = Callable[["Services", int, dict[str, Any]], Proof | None]


def register_check(ctx: Services, check: ProofCheck) -> None:
    ctx.proof_checks.append(check)


def run_checks(ctx: Services, incident_id: int, action: dict[str, Any]) -> Proof | None:
    """Combine every check's opinion: any failure fails; else the latest passing proof; else None."""
    proofs = [p for check in ctx.proof_checks if (p := check(ctx, incident_id, action))]
    if not proofs:
        return None
    failed = [p for p in proofs if not p.effective]
    if failed:
        return failed[0]
    return max(proofs, key=lambda p: p.at)
