"""Adding and revealing repro cases: the facts, with the messages they call for recorded alongside.

Adding a case is one transaction: the case (hashed), its `repro_added` timeline event, the notice for the
incident channel and a refresh of the pinned summary commit together, and the effects runner posts after the
commit — exactly once, whatever retries. The notice is a named view (`CASE_VIEW`) that the transport renders
from the stored case when it posts, so the ledger keeps only an id, never the evidence a second time.

Who may add or reveal is the permission policy's decision, asked by the transport before it calls in here
(the policy needs Slack's answer to "is this person in the channel?", and no network call belongs inside a
transaction).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.core import effects, incidents, timeline
from bot.core.errors import NotFound
from bot.evidence import store
from bot.evidence.store import CaseInput
from bot.store.models.evidence import ReproCase

if TYPE_CHECKING:
    from bot.app.services import Services

# The notice posted in the incident channel when a case is added; data: {"case_id": …}.
CASE_VIEW = "evidence_case"
MAX_CASE_ID = 2**31 - 1  # the database's integer range: a larger number names no case


@dataclass(frozen=True)
class Added:
    case_id: int
    sha256: str
    incident_id: int
    ref: str
    size_bytes: int


def add(ctx: Services, incident_id: int, case: CaseInput, *, actor: str) -> Added:
    """Validate and store a case as evidence of an open incident; nothing is written if it is invalid."""
    store.validate(case)  # before the transaction: a bad case costs no lock
    with ctx.db.session() as session:
        incident = incidents.get(session, incident_id, lock=True)
        incidents.require_open(incident)
        row = store.add_case(session, ctx.clock, incident, case, actor=actor)
        assert row.id is not None
        now = ctx.clock.now()
        effects.post(session, incident_id, view=CASE_VIEW, data={"case_id": row.id}, created_at=now,
                     key=f"inc-{incident_id}:repro-added:{row.id}")
        effects.summary(session, incident_id, created_at=now)
        return Added(row.id, row.sha256, incident_id, incident.ref, row.size_bytes)


def incident_of(ctx: Services, case_id: int) -> int:
    """The incident a case belongs to, looked up here (never taken from a button's payload)."""
    if not 0 < case_id <= MAX_CASE_ID:
        raise NotFound(f"Repro case #{case_id} does not exist.")
    with ctx.db.session() as session:
        return store.get_case(session, case_id).incident_id


def reveal(ctx: Services, case_id: int, *, user: str) -> ReproCase:
    """The whole case for one person the policy allowed, logged on the timeline before it is shown: a reveal
    that could not be delivered is still on the record, a reveal never goes unrecorded."""
    with ctx.db.session() as session:
        row = store.get_case(session, case_id)
        timeline.record(session, ctx.clock, row.incident_id, "evidence_revealed",
                        f"Repro case #{case_id} revealed to {user}, privately", actor=user,
                        data={"case_id": case_id})
        session.expunge(row)
    return row
