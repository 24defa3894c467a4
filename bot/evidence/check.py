"""The proof check the containment layer runs after a lever: replay the repro cases and decide.

Registered on `services.proof_checks` by `bot.evidence.wiring`. Returns None when the incident has no repro
cases; otherwise a Proof that is effective only when every case was refused or blocked. Harm or an
inconclusive result (endpoint down, timeout, non-JSON, 429, an endpoint not allowed here, the probe lane too
busy to finish within the budget) is never effective. The probe runs on the PROBES lane and records its result
table for the incident channel itself. Callers must not hold a database transaction while calling.
"""

from __future__ import annotations

import logging
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TYPE_CHECKING, Any

from bot.containment.proof import Proof
from bot.core import effects
from bot.core.text import Code, Msg
from bot.evidence import probe
from bot.store.models.timeline import BOT_ACTOR

if TYPE_CHECKING:
    from bot.app.services import Services

log = logging.getLogger(__name__)
# How long past its budget a probe may take to record what it found before the lever stops waiting.
GRACE_SECONDS = 10.0


def _not_proven(ctx: Services, why: str, error: str) -> Proof:
    return Proof(effective=False, at=ctx.clock.now(), summary=f"{why}; containment is not proven",
                 details={"source": "probe", "outcome": "inconclusive", "error": error})


def proof_check(ctx: Services, incident_id: int, action: dict[str, Any]) -> Proof | None:
    budget = ctx.config.evidence.probe.total_budget_seconds
    try:
        outcome = probe.submit(ctx, incident_id, trigger="lever", actor=BOT_ACTOR, action=action).result(
            timeout=budget + GRACE_SECONDS)
    except FutureTimeout:
        log.warning("probe after lever %s for INC-%s did not finish in time", action.get("lever"), incident_id)
        return _not_proven(ctx, f"the probe did not finish within its {budget:g}s budget", "timeout")
    except Exception as err:  # noqa: BLE001 - an error in the probe must read as "not proven", never as proof
        log.exception("probe after lever %s failed for INC-%s", action.get("lever"), incident_id)
        return _not_proven(ctx, f"probe failed ({type(err).__name__})", type(err).__name__)
    if outcome is None:
        if not action.get("dry_run"):
            _note_no_cases(ctx, incident_id, action)
        return None
    return Proof(
        effective=outcome.effective, at=outcome.at, summary=outcome.summary,
        details={"source": "probe", "run_id": outcome.run_id, "outcome": outcome.outcome,
                 "counts": outcome.counts(), "endpoints": outcome.endpoints,
                 "results": [{"case_id": r.case_id, "sha256": r.sha256, "verdict": r.verdict, "reason": r.reason}
                             for r in outcome.results]})


def _note_no_cases(ctx: Services, incident_id: int, action: dict[str, Any]) -> None:
    """Say once per lever action that it was not verified by replay (a re-run of the check records nothing)."""
    lever = str(action.get("lever") or "the lever")
    key = f"inc-{incident_id}:no-repro-cases:{action.get('action_id') or lever}"
    with ctx.db.session() as session:
        effects.post(session, incident_id, Msg.of(
            ":information_source: No repro cases are recorded, so {lever} was not verified by replaying the harm. "
            "`/incident repro add` records one as evidence; `/incident probe` replays them.", lever=Code(lever)),
            created_at=ctx.clock.now(), key=key[:200])
