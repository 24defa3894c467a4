"""The proof check the containment layer runs after a lever: replay the repro cases and decide.

Registered with bot.containment.proof.register_check. Returns None when the incident has no repro cases; otherwise a
Proof that is effective only when every case was refused or blocked. Harm or an inconclusive result (endpoint
down, timeout, non-JSON, 429, an endpoint not allowed here) is never effective. The probe table is posted in
the incident channel. Callers must not hold a database transaction while calling (the probe writes).
"""

from __future__ import annotations

import logging
from typing import Any

from bot.containment.proof import Proof
from bot.evidence import probe, views
from bot.slack import ops
from bot.slack.context import AppContext
from bot.store.models.timeline import BOT_ACTOR

log = logging.getLogger(__name__)


def proof_check(ctx: AppContext, incident_id: int, action: dict[str, Any]) -> Proof | None:
    try:
        outcome = probe.run_probe(ctx, incident_id, trigger="lever", actor=BOT_ACTOR, action=action)
    except Exception as err:  # noqa: BLE001 - an error in the probe must read as "not proven", never as proof
        log.exception("probe after lever %s failed for INC-%s", action.get("lever"), incident_id)
        return Proof(effective=False, at=ctx.clock.now(),
                     summary=f"probe failed ({type(err).__name__}); containment is not proven",
                     details={"source": "probe", "outcome": "inconclusive", "error": type(err).__name__})
    lever = action.get("lever") or "the lever"
    if outcome is None:
        if not action.get("dry_run"):
            ops.post_in_incident(ctx, incident_id, f":information_source: No repro cases are recorded, so `{lever}` "
                                 "was not verified by replaying the harm. `/incident repro add` records one as "
                                 "evidence; `/incident probe` replays them.")
        return None
    dry = " (dry run)" if action.get("dry_run") else ""
    context_line = f"Automatic probe after `{lever}`{dry} was applied (action {action.get('action_id', '—')})."
    ops.post_in_incident(ctx, incident_id, f"Probe after {lever}: {outcome.summary}",
                         views.probe_blocks(outcome, ref=f"INC-{incident_id}", context_line=context_line))
    return Proof(
        effective=outcome.effective, at=outcome.at, summary=outcome.summary,
        details={"source": "probe", "run_id": outcome.run_id, "outcome": outcome.outcome,
                 "counts": outcome.counts(), "endpoints": outcome.endpoints,
                 "results": [{"case_id": r.case_id, "sha256": r.sha256, "verdict": r.verdict, "reason": r.reason}
                             for r in outcome.results]})
