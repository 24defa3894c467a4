"""How alerts group, and how their evidence becomes repro cases.

The group key of an alert: the route's `group_by` fields or labels when it names some, else the alert's
`group_key`, else its dedup key (each alert its own group). Evidence (prompt / output pairs) becomes repro
cases on the incident through the evidence feature's own `add_case` (hashed, timestamped, shown redacted),
each pair once per incident, up to `max_repro_cases` per incident.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, func, select

from bot.alerts.routes import field_value
from bot.evidence.store import CaseInput, add_case
from bot.store.models import Incident
from bot.store.models.alerts import Alert
from bot.store.models.evidence import ReproCase
from bot.store.models.timeline import BOT_ACTOR

if TYPE_CHECKING:
    from bot.alerts.service import AlertService

log = logging.getLogger(__name__)


def fields(alert: Alert) -> dict[str, Any]:
    """What route conditions and `group_by` see of a stored alert."""
    return {"source": alert.source, "title": alert.title, "category": alert.category, "status": alert.status,
            "dedup_key": alert.dedup_key, "group_key": alert.group_key, "labels": alert.labels or {},
            **(alert.inputs or {})}


def key(alert: Alert, group_by: list[str]) -> str:
    if group_by:
        values = fields(alert)
        return "by:" + "|".join(f"{name}={field_value(values, name) or ''}" for name in group_by)
    if alert.group_key:
        return "g:" + alert.group_key
    return "d:" + alert.dedup_key


def add_repro_cases(service: AlertService, session: Session, incident: Incident, alerts: list[Alert]) -> int:
    """The alerts' evidence as repro cases of the incident; returns how many were added."""
    assert incident.id is not None
    cap = service.alert_rules.doc.max_repro_cases
    count = session.exec(select(func.count()).select_from(ReproCase).where(
        ReproCase.incident_id == incident.id, ReproCase.source == "alert")).one()
    added = 0
    for alert in alerts:
        if alert.repro_done or not alert.evidence:
            continue
        alert.repro_done = True
        session.add(alert)
        for pair in alert.evidence:
            if count >= cap:
                return added
            exists = session.exec(select(ReproCase.id).where(
                ReproCase.incident_id == incident.id, ReproCase.prompt == pair["prompt"],
                ReproCase.harmful_output == (pair.get("output") or ""))).first()
            if exists is not None:
                continue
            case = CaseInput(prompt=pair["prompt"], harmful_output=pair.get("output") or "",
                             endpoint=(pair.get("model") or "")[:200], filter_setting=(pair.get("surface") or "")[:500],
                             source="alert", source_permalink=alert.source_url)
            try:
                with session.begin_nested():
                    add_case(session, service.clock, incident, case, actor=BOT_ACTOR)
            except Exception as err:  # noqa: BLE001 - one unusable pair does not stop the others
                log.info("alert %s: evidence not kept as a repro case (%s)", alert.id, type(err).__name__)
                continue
            count += 1
            added += 1
    return added
