"""Triage decisions: what a person's click on a triage message does (the transport asks the policy who may;
these decide and record). Declare opens the incident through the same declare a route uses, with the person
as its reporter; attach joins an open incident; dismiss keeps the reason with the alerts. A group already
decided answers so. And the one reminder for a triage message nobody acted on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlmodel import Session, col, select

from bot.alerts.common import TRIAGE_VIEW, span
from bot.core import effects, incidents
from bot.core.errors import Conflict
from bot.core.text import Code, Msg, User
from bot.store.models.alerts import (
    GROUP_DECLARING,
    GROUP_DISMISSED,
    GROUP_INCIDENT,
    GROUP_TRIAGE,
    Alert,
    AlertGroup,
)

if TYPE_CHECKING:
    from bot.alerts.service import AlertService


def undecided(session: Session, group_id: int) -> AlertGroup:
    """The group, locked, while it still waits in triage; a Conflict saying what happened to it otherwise."""
    group = session.exec(select(AlertGroup).where(AlertGroup.id == group_id).with_for_update()).first()
    if group is None:
        raise Conflict("That alert group no longer exists.")
    if group.state != GROUP_TRIAGE:
        raise Conflict(decided(group))
    return group


def declare(svc: AlertService, group_id: int, actor: str) -> int:
    with svc.db.session() as session:
        group = undecided(session, group_id)
        group.state, group.claimed_by, group.claimed_at = GROUP_DECLARING, svc.owner, svc.clock.now()
        group.decided_by = actor
        session.add(group)
    number = svc.declare(group_id, reporter=actor)
    assert number is not None
    refresh(svc, group_id)
    return number


def attach(svc: AlertService, group_id: int, number: int, actor: str) -> None:
    with svc.db.session() as session:
        group = undecided(session, group_id)
        incident = incidents.get(session, number)
        incidents.require_open(incident)
        if incident.is_exercise != group.exercise:
            raise Conflict("An exercise's alerts attach only to an exercise, and real alerts only to a real "
                           "incident.")
        group.state, group.incident_id, group.decided_by = GROUP_INCIDENT, number, actor
        alerts = list(session.exec(select(Alert).where(Alert.group_id == group_id).order_by(col(Alert.id))))
        now = svc.clock.now()
        svc.attach_alerts(session, group, alerts, now, first=True)
        effects.post(session, number, Msg.of(":link: {who} attached {n} alert(s) of {src} to {ref}: *{title}*.",
                                             who=User(actor), n=len(alerts), src=Code(group.source),
                                             ref=incident.ref, title=group.title), created_at=now)
        group.untold, group.told_at = 0, now
        session.add(group)
    refresh(svc, group_id)


def dismiss(svc: AlertService, group_id: int, reason: str, actor: str) -> None:
    with svc.db.session() as session:
        group = undecided(session, group_id)
        group.state, group.decided_by, group.dismiss_reason = GROUP_DISMISSED, actor, reason
        group.untold = 0
        session.add(group)
    refresh(svc, group_id)


def refresh(svc: AlertService, group_id: int) -> None:
    with svc.db.session() as session:
        group = session.get(AlertGroup, group_id)
        if group is None or group.triage_effect_id is None:
            return
        effects.record(session, kind=effects.UPDATE,
                       lane=effects.channel(svc.alert_rules.doc.triage.channel or ""),
                       payload={"ref": group.triage_effect_id, "view": TRIAGE_VIEW, "data": {"group": group_id}},
                       created_at=svc.clock.now())


def remind_due(svc: AlertService) -> int:
    """One reminder per triage message nobody acted on within `triage.remind_after`."""
    now = svc.clock.now()
    channel = svc.alert_rules.doc.triage.channel
    if not channel:
        return 0
    n = 0
    with svc.db.session() as session:
        due = list(session.exec(select(AlertGroup).where(AlertGroup.state == GROUP_TRIAGE,
                                                         AlertGroup.created_at <= now - svc.alert_rules.remind_after)))
        for group in due:
            effects.post(session, None, Msg.of(":hourglass: Nobody has acted on the alert *{title}* from {src} for "
                                               "{w}: declare, attach or dismiss it.", title=group.title,
                                               src=Code(group.source), w=span(svc.alert_rules.remind_after)),
                         to=effects.channel(channel), thread_of=group.triage_effect_id, created_at=now,
                         key=f"alert-group-{group.id}:remind")
            n += 1
    return n


def decided(group: AlertGroup) -> str:
    if group.state == GROUP_DISMISSED:
        return "Someone already dismissed these alerts."
    if group.incident_id is not None:
        return f"These alerts are already part of INC-{group.incident_id}."
    return "These alerts are already being handled."
