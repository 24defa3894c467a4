"""Small assertions shared by tests."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import select

from bot.slack.harness import Harness
from bot.store.models import Incident, RoleAssignment, TimelineEvent


def counts(h: Harness) -> tuple[int, int, int]:
    """(incidents, timeline events, role assignments): compare before/after to prove nothing was written."""
    with h.ctx.db.session() as s:
        return (s.exec(select(func.count()).select_from(Incident)).one(),
                s.exec(select(func.count()).select_from(TimelineEvent)).one(),
                s.exec(select(func.count()).select_from(RoleAssignment)).one())


def kinds(h: Harness, number: int) -> list[str]:
    with h.ctx.db.session() as s:
        return [e.kind for e in s.exec(select(TimelineEvent).where(TimelineEvent.incident_id == number)
                                       .order_by(TimelineEvent.id))]


def incident(h: Harness, number: int) -> Incident:
    with h.ctx.db.session() as s:
        return s.exec(select(Incident).where(Incident.id == number)).one()


def open_incident(h: Harness, text: str = "Jailbreak spreading --category jailbreak", user: str = "U0ALICE") -> str:
    """Open an incident and return its channel id."""
    h.command(f"open {text}", user=user)
    with h.ctx.db.session() as s:
        number = s.exec(select(func.max(Incident.id))).one()
    return h.incident_channel(number)
