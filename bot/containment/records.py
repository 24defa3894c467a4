"""Reading containment actions: the current pull of a lever, an incident's pulls, labels, postmortem shape."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from bot.store.models import ContainmentAction
from bot.store.models.containment import APPLIED, DRY_RUN, FAILED, NOT_EFFECTIVE, REQUESTED, VERIFIED


def action_dict(a: ContainmentAction) -> dict[str, Any]:
    """The postmortem shape (bot/postmortem/providers.py, "containment")."""
    return {"lever": a.lever, "type": a.type, "target": a.target, "requested_at": a.requested_at,
            "applied_at": a.applied_at, "verified_at": a.verified_at, "reverted_at": a.reverted_at, "by": a.by,
            "outcome": a.outcome, "error": a.error, "attempts": a.attempts, "dry_run": a.dry_run}


def current_action(session: Session, incident_id: int, lever: str, *, dry_run: bool | None = None
                   ) -> ContainmentAction | None:
    query = select(ContainmentAction).where(ContainmentAction.incident_id == incident_id,
                                            ContainmentAction.lever == lever,
                                            col(ContainmentAction.slot).is_not(None))
    if dry_run is not None:
        query = query.where(ContainmentAction.slot == ("dry" if dry_run else "live"))
    rows = list(session.exec(query.order_by(col(ContainmentAction.id))))
    live = [r for r in rows if r.slot == "live"]
    found = live or rows
    return found[-1] if found else None


_ACTIONS = select(ContainmentAction).where(col(ContainmentAction.incident_id) == bindparam("n"))
_ALL = _ACTIONS.order_by(col(ContainmentAction.id))
_LATEST = _ACTIONS.order_by(col(ContainmentAction.id).desc()).limit(bindparam("last"))  # every summary


def actions(session: Session, incident_id: int, *, last: int | None = None) -> list[ContainmentAction]:
    """The incident's lever actions, oldest first; with `last`, only the latest `last` of them."""
    if last is None:
        return list(session.exec(_ALL, params={"n": incident_id}))
    return list(reversed(list(session.exec(_LATEST, params={"n": incident_id, "last": last}))))


def state_label(a: ContainmentAction | None) -> str:
    if a is None:
        return "not pulled"
    if a.reverted_at:
        return "reverted"
    if a.reverted_by and a.slot:
        return "reverting"
    return {REQUESTED: "being applied", APPLIED: "applied (not verified)", VERIFIED: "applied and verified",
            NOT_EFFECTIVE: "applied but NOT effective", FAILED: "failed",
            DRY_RUN: "dry run recorded"}.get(a.outcome, a.outcome)
