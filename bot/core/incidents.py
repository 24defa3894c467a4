"""The incident lifecycle as plain functions: open, classify, roles, severity, status, contain, resolve.

Functions take a session and a clock and return results or raise FirebreakError with a user-facing message.
They know nothing about Slack. Callers commit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy
from sqlalchemy import bindparam, func
from sqlmodel import Session, col, select

from bot.core import facts, timeline
from bot.core.clock import Clock, ensure_utc
from bot.core.errors import Conflict, NotFound, UsageError
from bot.core.limits import shown
from bot.core.policy import AccessFacts
from bot.core.severity import Classification, Inputs, SeverityRules
from bot.core.text import Msg, User, when_utc
from bot.store.models import Incident, RoleAssignment
from bot.store.models.incident import ACTIVE, CONTAINED, RESOLVED

ROLES: dict[str, str] = {
    "ic": "Incident commander",
    "scribe": "Scribe",
    "comms": "Comms lead",
    "safety": "Safety researcher",
    "security": "Security liaison",
    "privacy": "Privacy officer",
}
ROLE_ALIASES = {
    "commander": "ic",
    "incident_commander": "ic",
    "comms_lead": "comms",
    "safety_researcher": "safety",
    "researcher": "safety",
    "security_liaison": "security",
    "privacy_officer": "privacy",
    "dpo": "privacy",
}
INC_REF = re.compile(r"^(?:inc-?)?([0-9]{1,40})$", re.IGNORECASE)  # ASCII digits only
MAX_ID = 2**31 - 1  # the databases' integer range: a larger number names no incident


def parse_role(text: str) -> str:
    key = text.strip().lower().replace("-", "_")
    key = ROLE_ALIASES.get(key, key)
    if key not in ROLES:
        raise UsageError(f"Unknown role `{text}`. Roles: {', '.join(ROLES)}.")
    return key


def parse_ref(text: str) -> int:
    m = INC_REF.match(text.strip())
    if not m:
        raise UsageError(f"`{shown(text, 40)}` is not an incident id; write it like INC-42.")
    number = int(m.group(1))
    if not 0 < number <= MAX_ID:
        raise NotFound(f"INC-{number} does not exist. `/incident list` shows open incidents.")
    return number


@dataclass(frozen=True)
class OpenRequest:
    title: str
    reporter_id: str
    inputs: Inputs
    description: str = ""
    category_suggested: bool = False
    severity_override: int | None = None
    override_reason: str | None = None
    private: bool = False
    detected_at: datetime | None = None
    is_exercise: bool = False
    source_permalink: str | None = None


def open_incident(session: Session, clock: Clock, rules: SeverityRules, req: OpenRequest) -> Incident:
    title = " ".join(req.title.split())
    if not title:
        raise UsageError("An incident needs a title.")
    if len(title) > 200:
        raise UsageError(f"The title is {len(title)} characters; keep it under 200.")
    now = clock.now()
    detected = ensure_utc(req.detected_at) if req.detected_at else now
    if detected > now:
        raise UsageError("detected-at is in the future; give the time the problem was first seen.")
    classification = rules.classify(req.inputs)
    severity, reasons = classification.severity, list(classification.reasons)
    if req.severity_override is not None:
        if req.severity_override not in (1, 2, 3, 4):
            raise UsageError("Severity must be 1, 2, 3 or 4.")
        if req.severity_override != severity:
            reasons = [req.override_reason or f"set by the reporter (the rubric said SEV{severity})"]
        severity = req.severity_override
    private = req.private or req.inputs.category == "data_leakage"
    incident = Incident(
        title=title,
        description=req.description.strip(),
        category=req.inputs.category,
        category_suggested=req.category_suggested,
        severity=severity,
        severity_reasons="\n".join(reasons),
        reach=req.inputs.reach,
        exposure=req.inputs.exposure,
        data=req.inputs.data,
        ongoing=req.inputs.ongoing,
        regulated_domain=req.inputs.regulated_domain,
        private=private,
        is_exercise=req.is_exercise,
        reporter_id=req.reporter_id,
        detected_at=detected,
        opened_at=now,
        source_permalink=req.source_permalink,
    )
    session.add(incident)
    session.flush()  # the database allocates the INC number
    assert incident.id is not None
    facts.stamp(session, incident)
    note = " (category suggested from the text)" if req.category_suggested else ""
    timeline.record(
        session, clock, incident.id, "opened", f"Opened: {title}", actor=req.reporter_id,
        data={"category": incident.category, "category_suggested": req.category_suggested,
              "private": private, "exercise": req.is_exercise, "source": req.source_permalink},
    )
    if detected != now:
        timeline.record(
            session, clock, incident.id, "detected_at_set", f"Detected at {when_utc(detected)}",
            actor=req.reporter_id, data={"detected_at": detected.isoformat()},
        )
    timeline.record(
        session, clock, incident.id, "severity_classified",
        f"Classified SEV{severity} because {' and '.join(reasons)}{note}", actor=req.reporter_id,
        data={"severity": severity, "reasons": reasons, "rubric": classification.severity,
              "inputs": _inputs_dict(req.inputs)},
    )
    return incident


def _inputs_dict(inputs: Inputs) -> dict:
    return {k: getattr(inputs, k) for k in ("category", "reach", "exposure", "data", "ongoing", "regulated_domain")}


# The reads of every command, built once (building and keying a statement anew costs more than running it).
_BY_NUMBER = select(Incident).where(col(Incident.id) == bindparam("n"))
_BY_NUMBER_LOCKED = _BY_NUMBER.with_for_update()
_ROLES = select(RoleAssignment.role, RoleAssignment.user_id).where(col(RoleAssignment.incident_id) == bindparam("n"))


def get(session: Session, number: int, *, lock: bool = False) -> Incident:
    if not 0 < number <= MAX_ID:
        raise NotFound(f"INC-{number} does not exist. `/incident list` shows open incidents.")
    incident = session.exec(_BY_NUMBER_LOCKED if lock else _BY_NUMBER, params={"n": number}).first()
    if incident is None:
        raise NotFound(f"INC-{number} does not exist. `/incident list` shows open incidents.")
    return incident


def by_channel(session: Session, channel_id: str) -> Incident | None:
    return session.exec(select(Incident).where(Incident.channel_id == channel_id)).first()


def exercise_tag(incident: Incident) -> str:
    """The flag every message about an exercise starts with (nothing for a real incident)."""
    return "[EXERCISE] " if incident.is_exercise else ""


def access(session: Session, incident: Incident) -> AccessFacts:
    """What the permission policy needs to know of an incident."""
    assert incident.id is not None
    return AccessFacts(ref=incident.ref, channel_id=incident.channel_id, private=incident.private,
                         reporter_id=incident.reporter_id, roles=roles(session, incident.id),
                         is_exercise=incident.is_exercise)


def require_open(incident: Incident) -> None:
    if incident.status == RESOLVED:
        raise Conflict(f"{incident.ref} is resolved. Use `/incident reopen <reason>` to work on it again.")


def roles(session: Session, incident_id: int) -> dict[str, str]:
    return {role: user for role, user in session.exec(_ROLES, params={"n": incident_id})}


def assign_role(
    session: Session, clock: Clock, incident: Incident, role: str, user_id: str, *, actor: str
) -> tuple[str | None, bool]:
    """Assign a role. Returns (previous holder, whether this was the acknowledgement)."""
    require_open(incident)
    assert incident.id is not None
    existing = session.exec(
        select(RoleAssignment).where(RoleAssignment.incident_id == incident.id, RoleAssignment.role == role)
    ).first()
    previous = existing.user_id if existing else None
    if previous == user_id:
        raise Conflict(Msg.of("{who} is already the {role} of {ref}.", who=User(user_id), role=ROLES[role].lower(),
                              ref=incident.ref))
    now = clock.now()
    if existing:
        existing.user_id, existing.assigned_at, existing.assigned_by = user_id, now, actor
        session.add(existing)
    else:
        session.add(RoleAssignment(incident_id=incident.id, role=role, user_id=user_id, assigned_at=now,
                                   assigned_by=actor))
    acknowledged = False
    if role == "ic" and incident.acknowledged_at is None:
        incident.acknowledged_at = now
        acknowledged = True
        facts.stamp(session, incident)
    text = Msg.of(ROLES[role] + ": {who}" + (" (was {previous})" if previous else ""), who=User(user_id),
                  previous=User(previous or ""))
    timeline.record(session, clock, incident.id, "role_assigned", text, actor=actor,
                    data={"role": role, "user": user_id, "previous": previous})
    if acknowledged:
        timeline.record(session, clock, incident.id, "acknowledged",
                        Msg.of("Acknowledged: first incident commander {who} assigned", who=User(user_id)),
                        actor=actor)
    return previous, acknowledged


def change_severity(
    session: Session, clock: Clock, incident: Incident, new: int, reason: str, *, actor: str
) -> int:
    """Set a new severity with a reason. Returns the old severity."""
    require_open(incident)
    assert incident.id is not None
    if new not in (1, 2, 3, 4):
        raise UsageError("Severity must be 1, 2, 3 or 4.")
    reason = reason.strip()
    if not reason:
        raise UsageError("A reason is required when changing severity.")
    old = incident.severity
    if old == new:
        raise Conflict(f"{incident.ref} is already SEV{new}.")
    incident.severity = new
    incident.severity_reasons = reason
    session.add(incident)
    verb = "Escalated" if new < old else "Downgraded"
    timeline.record(session, clock, incident.id, "severity_changed", f"{verb} SEV{old} → SEV{new}: {reason}",
                    actor=actor, data={"old": old, "new": new, "reason": reason})
    return old


def post_status(session: Session, clock: Clock, incident: Incident, text: str, *, actor: str) -> None:
    require_open(incident)
    assert incident.id is not None
    incident.last_status_at = clock.now()
    session.add(incident)
    timeline.record(session, clock, incident.id, "status_update", text, actor=actor)


def add_note(session: Session, clock: Clock, incident: Incident, text: str, *, actor: str,
             kind: str = "note", data: dict | None = None) -> None:
    if not text.strip():
        raise UsageError("Nothing to add: give the text of the timeline entry.")
    assert incident.id is not None
    timeline.record(session, clock, incident.id, kind, text.strip(), actor=actor, data=data)


def mark_contained(
    session: Session, clock: Clock, incident: Incident, note: str, *, actor: str,
    at: datetime | None = None, source: str = "manual", data: dict | None = None,
) -> bool:
    """Record containment. Returns False (and writes nothing) when already contained.

    `at` lets a verifier (a lever's SDK check, a passing probe) record the moment it proved containment.
    """
    require_open(incident)
    assert incident.id is not None
    if incident.contained_at is not None:
        return False
    when = ensure_utc(at) if at else clock.now()
    incident.contained_at = when
    incident.status = CONTAINED
    facts.stamp(session, incident)
    text = "Contained" + (f": {note.strip()}" if note.strip() else "")
    timeline.record(session, clock, incident.id, "contained", text, actor=actor,
                    data={"source": source, "contained_at": when.isoformat(),
                          "mttc_seconds": incident.mttc_seconds, **(data or {})})
    return True


def resolve(session: Session, clock: Clock, incident: Incident, summary: str, *, actor: str) -> None:
    require_open(incident)
    assert incident.id is not None
    if not summary.strip():
        raise UsageError("A resolution summary is required.")
    incident.resolved_at = clock.now()
    incident.status = RESOLVED
    incident.resolution = summary.strip()
    facts.stamp(session, incident)
    timeline.record(session, clock, incident.id, "resolved", f"Resolved: {summary.strip()}", actor=actor)


def reopen(session: Session, clock: Clock, incident: Incident, reason: str, *, actor: str) -> None:
    if incident.status != RESOLVED:
        raise Conflict(f"{incident.ref} is not resolved; nothing to reopen.")
    if not reason.strip():
        raise UsageError("A reason is required to reopen an incident.")
    previous = incident.resolved_at
    incident.resolved_at = None
    incident.resolution = None
    incident.status = CONTAINED if incident.contained_at else ACTIVE
    facts.stamp(session, incident)
    assert incident.id is not None
    timeline.record(session, clock, incident.id, "reopened", f"Reopened: {reason.strip()}", actor=actor,
                    data={"previous_resolved_at": previous.isoformat() if previous else None})


def correct_detected(session: Session, clock: Clock, incident: Incident, when: datetime, reason: str, *,
                     actor: str) -> datetime:
    """Correct when the harm was first detected (a timeline event; MTTD and MTTC follow). Returns the old time."""
    when = ensure_utc(when)
    if when > incident.opened_at:
        raise UsageError(f"Detection cannot be after {incident.ref} was opened ({incident.opened_at:%Y-%m-%d %H:%M} "
                         "UTC); give a time at or before it.")
    reason = reason.strip()
    if not reason:
        raise UsageError("Say why the detection time changes (it goes on the timeline).")
    previous = incident.detected_at
    if when == previous:
        raise Conflict(f"{incident.ref} was already detected at {when:%Y-%m-%d %H:%M:%S} UTC.")
    incident.detected_at = when
    facts.stamp(session, incident)
    assert incident.id is not None
    timeline.record(session, clock, incident.id, "detected_at_corrected",
                    f"Detection time corrected to {when:%Y-%m-%d %H:%M:%S} UTC (was {previous:%Y-%m-%d %H:%M:%S} "
                    f"UTC): {reason}", actor=actor,
                    data={"detected_at": when.isoformat(), "previous": previous.isoformat(), "reason": reason})
    return previous


def reassess(session: Session, clock: Clock, rules: SeverityRules, incident: Incident, inputs: Inputs, *,
             actor: str) -> Classification | None:
    """Record new impact inputs (reach, exposure, data, ongoing, regulated domain); None when nothing changed.
    The severity is not overwritten: the caller decides (and says why) — the rubric's answer is returned."""
    before = _inputs_dict(Inputs(incident.category, incident.reach, incident.exposure, incident.data,
                                 incident.ongoing, incident.regulated_domain))
    after = _inputs_dict(inputs)
    if before == after:
        return None
    incident.category, incident.reach, incident.exposure = inputs.category, inputs.reach, inputs.exposure
    incident.data, incident.ongoing, incident.regulated_domain = inputs.data, inputs.ongoing, inputs.regulated_domain
    incident.category_suggested = incident.category_suggested and before["category"] == after["category"]
    session.add(incident)
    classification = rules.classify(inputs)
    changed = ", ".join(f"{k} {before[k] or '—'} → {after[k] or '—'}" for k in after if before[k] != after[k])
    assert incident.id is not None
    timeline.record(session, clock, incident.id, "impact_reassessed", f"Impact re-assessed: {changed}", actor=actor,
                    data={"inputs": after, "previous": before, "rubric": classification.severity,
                          "reasons": list(classification.reasons)})
    return classification


def list_open(session: Session, *, limit: int = 200) -> list[Incident]:
    query = (
        select(Incident)
        .where(Incident.status != RESOLVED)
        .order_by(col(Incident.severity), col(Incident.opened_at), col(Incident.id))
        .limit(limit)
    )
    return list(session.exec(query))


@dataclass(frozen=True)
class OpenRow:
    """The columns `/incident list` shows, without loading whole incidents (20% of the bot's CPU in a burst)."""

    id: int
    severity: int
    status: str
    title: str
    opened_at: datetime
    channel_id: str | None
    private: bool
    is_exercise: bool

    @property
    def ref(self) -> str:
        return f"INC-{self.id}"

    @property
    def sev(self) -> str:
        return f"SEV{self.severity}"


def list_open_rows(session: Session, *, limit: int = 200) -> list[OpenRow]:
    """Like list_open (same order and limit), as plain rows."""
    query = (  # more columns than sqlmodel's select is typed for: the SQLAlchemy one, run with execute
        sqlalchemy.select(col(Incident.id), col(Incident.severity), col(Incident.status), col(Incident.title),
                          col(Incident.opened_at), col(Incident.channel_id), col(Incident.private),
                          col(Incident.is_exercise))
        .where(col(Incident.status) != RESOLVED)
        .order_by(col(Incident.severity), col(Incident.opened_at), col(Incident.id))
        .limit(limit)
    )
    return [OpenRow(*row) for row in session.execute(query)]


def count_open(session: Session) -> int:
    return session.exec(select(func.count()).select_from(Incident).where(Incident.status != RESOLVED)).one()


def reclassify(rules: SeverityRules, incident: Incident) -> Classification:
    """What the rubric says for the incident's current inputs (used to explain, never to overwrite)."""
    return rules.classify(Inputs(incident.category, incident.reach, incident.exposure, incident.data,
                                 incident.ongoing, incident.regulated_domain))


