"""The audit trail of privilege: refused attempts at privileged actions are facts on the timeline.

Each refusal of a privileged action (levers, resolve, role assignment, reveal, …) is a `permission_denied`
event (who, what, why) and a log line without secrets; `firebreak audit INC-n` lists these with the privileged
actions that were taken.
"""

from __future__ import annotations

import logging

from sqlmodel import Session

from bot.core import timeline
from bot.core.clock import Clock
from bot.core.policy import Action, Decision
from bot.core.text import plain

log = logging.getLogger("bot.audit")

# Timeline kinds that are privileged actions taken (listed by `firebreak audit` beside the refusals).
PRIVILEGED_KINDS = ("role_assigned", "acknowledged", "severity_changed", "resolved", "reopened", "lever_requested",
                    "lever_reverted", "report_clock_done", "report_clock_waived", "evidence_revealed",
                    "repair_requested", "permission_denied", "escalation_notified")


def denied(session: Session, clock: Clock, incident_id: int, user_id: str, action: Action, decision: Decision,
           *, what: str | None = None) -> None:
    why = plain(decision.reason) if decision.reason is not None else "not allowed"
    timeline.record(session, clock, incident_id, "permission_denied",
                    f"Refused: {user_id} may not {action.value.replace('_', ' ')}" + (f" ({what})" if what else ""),
                    actor=user_id, data={"action": action.value, "what": what, "why": why,
                                         "unverified": decision.unverified})
    log.warning("permission denied: INC-%s %s by %s%s", incident_id, action.value, user_id,
                " (could not verify)" if decision.unverified else "")
