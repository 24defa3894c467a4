"""Append and read timeline events. Nothing here updates or deletes an event.

What is stored is plain text, never a transport's markup. People firebreak names in an event are written as
`@U…` and listed by id in the event's data (`people`); renderers turn exactly those into a mention (Slack) or
a name (files, the console) with `shown`. Text a person typed stays text: a literal `<@U…>` or `@U…` in a
status note is never made into a mention, because the note's id is not on the event's list.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session, select

from bot.core import secrets
from bot.core.clock import Clock
from bot.core.text import Msg, Raw, User, plain
from bot.store.models import TimelineEvent

PERSON = re.compile(r"@([UW][A-Z0-9]{2,})\b")


def _people(msg: Msg) -> set[str]:
    found: set[str] = set()
    for _, value in msg.values:
        if isinstance(value, User) and value.id:
            found.add(value.id)
        elif isinstance(value, Raw):
            found |= _people(value.msg)
    return found


def record(
    session: Session,
    clock: Clock,
    incident_id: int,
    kind: str,
    text: str | Msg,
    *,
    actor: str,
    data: dict[str, Any] | None = None,
) -> int:
    """Append an event in the caller's transaction; returns its id. `text` is plain text, or a `Msg` whose
    people (`User` values) are kept by id. Written straight to the table (no ORM object to build and flush:
    several facts of every command land here)."""
    data = dict(data or {})
    if isinstance(text, Msg):
        people = sorted(_people(text) - {"firebreak"})
        if people:
            data["people"] = people
        text = plain(text)  # people as `@U…`, the rest as words
    if session.new:  # rows added before this event get their ids first, as they did when it was flushed with them
        session.flush()
    inserted = session.connection().execute(_INSERT, {  # the one redaction step: no echoed secret is ever kept
        "incident_id": incident_id, "at": clock.now(), "actor": actor, "kind": kind, "text": secrets.redact(text),
        "data": secrets.redact_data(data)})
    new_id = inserted.inserted_primary_key
    assert new_id is not None
    return int(new_id[0])


_INSERT = insert(TimelineEvent.__table__)  # type: ignore[attr-defined]  # SQLModel's table


def with_people(text: str, people: Iterable[str], person: Callable[[str], str]) -> str:
    """`text` with each `@U…` of a listed person replaced by `person(id)` (a mention, a name); other text as is."""
    ids = set(people)
    if not ids:
        return text
    return PERSON.sub(lambda m: person(m.group(1)) if m.group(1) in ids else m.group(0), text)


def shown(event: TimelineEvent, person: Callable[[str], str], text: str | None = None) -> str:
    """The event's text (or `text`, a part of it) with its people as `person` renders them."""
    return with_people(event.text if text is None else text, (event.data or {}).get("people") or (), person)


def events(session: Session, incident_id: int, *, kinds: list[str] | None = None) -> list[TimelineEvent]:
    query = select(TimelineEvent).where(TimelineEvent.incident_id == incident_id)
    if kinds:
        query = query.where(TimelineEvent.kind.in_(kinds))  # type: ignore[attr-defined]
    return list(session.exec(query.order_by(TimelineEvent.at, TimelineEvent.id)))  # type: ignore[arg-type]


# How each kind of fact reads to a person ("Severity classified", not `severity_classified`).
LABELS: dict[str, str] = {
    "opened": "Opened", "severity_classified": "Severity classified", "severity_changed": "Severity changed",
    "detected_at_set": "Detection time set", "detected_at_corrected": "Detection time corrected",
    "impact_reassessed": "Impact re-assessed", "channel_created": "Channel created", "role_assigned": "Role assigned",
    "acknowledged": "Acknowledged", "status_update": "Status update", "note": "Note", "pinned_message": "Pinned message",
    "contained": "Contained", "resolved": "Resolved", "reopened": "Reopened", "slack_error": "Slack error",
    "escalation_notified": "Escalation notified", "escalation_suppressed": "Escalation not sent (exercise)",
    "permission_denied": "Refused", "lever_requested": "Lever requested", "lever_applied": "Lever applied",
    "lever_verified": "Lever verified", "lever_failed": "Lever failed", "lever_not_effective": "Lever not effective",
    "lever_reverted": "Lever reverted", "runbook_attached": "Runbook attached", "step_done": "Runbook step done",
    "step_skipped": "Runbook step skipped", "step_assigned": "Runbook step assigned", "reminder_posted": "Reminder",
    "reminder_snoozed": "Reminder snoozed", "sla_warning": "MTTC target warning", "report_clock_started":
    "Reporting clock started", "report_clock_done": "Report recorded", "report_clock_waived": "Report waived",
    "page_sent": "Paged", "evidence_added": "Evidence added", "evidence_revealed": "Evidence revealed",
    "probe_run": "Probe run", "inject_posted": "Exercise inject", "exercise_started": "Exercise started",
    "exercise_ended": "Exercise ended", "action_item_added": "Action item added",
    "action_item_done": "Action item done", "alert_attached": "Alert attached", "repair_requested": "Repair requested",
    "action_added": "Action item added", "action_done": "Action item done", "runbook_updated": "Runbook re-evaluated",
    "postmortem_drafted": "Postmortem drafted", "exercise_paused": "Exercise paused",
    "exercise_resumed": "Exercise resumed", "repro_added": "Repro case added", "step_nudged": "Runbook step nudged",
    "page_resolved": "Page resolved", "pager_failed": "Page failed", "pager_trigger": "Paged",
    "pager_acknowledge": "Page acknowledged", "pager_resolve": "Page resolved",
}


def label(kind: str) -> str:
    """A fact's kind as words: the table above, else the kind itself made readable."""
    return LABELS.get(kind) or kind.replace("_", " ").capitalize()


def headline(kind: str, data: Any) -> str:
    """The event as words, from the label table plus its key fact: "Severity classified SEV2",
    "Severity changed SEV3 → SEV1", "Lever requested: kill-agent-browse", "Runbook step done: notify-legal"."""
    from bot.core.incidents import ROLES  # incidents records through this module

    words = label(kind)
    d = data if isinstance(data, dict) else {}
    if kind == "severity_classified" and d.get("severity") is not None:
        return f"{words} SEV{d['severity']}"
    if kind == "severity_changed" and d.get("new") is not None:
        return f"{words} SEV{d.get('old')} → SEV{d['new']}"
    if kind == "role_assigned" and d.get("role"):
        return f"{words}: {ROLES.get(str(d['role']), str(d['role']))}"
    for key in ("lever", "step", "inject", "regime"):
        if d.get(key):
            return f"{words}: {d[key]}"
    return words


def detail(kind: str, text: str) -> str:
    """The event's text under its label, saying things once: "Opened: <title>" under "Opened" is the title."""
    what = label(kind)
    for prefix in (what + ": ", what.split()[0] + ": "):
        if text.lower().startswith(prefix.lower()):
            return text[len(prefix):]
    return text
