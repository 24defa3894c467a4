"""`firebreak alerts test`: which route each alert of a payload takes and what would happen, writing nothing.

The same parsing, checks and route decision as the intake, minus authentication and storage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.alerts import formats
from bot.alerts.formats import BadAlert
from bot.alerts.routes import ATTACH_ONLY, DECLARE, TRIAGE, AlertRules
from bot.core.errors import UsageError
from bot.core.severity import Inputs, SeverityRules


@dataclass(frozen=True)
class Outcome:
    title: str
    route: str
    action: str
    says: str


def explain(alert_rules: AlertRules, rules: SeverityRules, source_name: str, raw: bytes) -> list[Outcome]:
    source = alert_rules.sources.get(source_name)
    if source is None:
        known = ", ".join(alert_rules.sources) or "none configured"
        raise UsageError(f"Unknown source `{source_name}` (sources: {known}).")
    try:
        alerts = formats.parse(source, formats.parse_body(raw), rules)
    except BadAlert as err:
        raise UsageError(f"The intake would answer 400: {err.message}") from None
    out = []
    for inc in alerts:
        route_name, action = alert_rules.decide(inc.fields(source_name), inc.scores)
        route = alert_rules.route(route_name)
        out.append(Outcome(inc.title, route_name, action, _says(alert_rules, rules, inc, action, route)))
    return out


def _says(alert_rules: AlertRules, rules: SeverityRules, inc: formats.Incoming, action: str, route: Any) -> str:
    if inc.status == "resolved":
        return "recorded as resolved (a resolution never opens anything)"
    group = ",".join(route.group_by) if route is not None and route.group_by else (
        f"group key {inc.group_key}" if inc.group_key else f"dedup key {inc.dedup_key}")
    if action == DECLARE:
        ins = inc.inputs
        c = rules.classify(Inputs(inc.category, ins.get("reach"), ins.get("exposure"), ins.get("data"),
                                  ins.get("ongoing"), ins.get("domain")))
        parts = [f"declare an incident: {c.explain()}",
                 f"first signal {inc.detected_at.isoformat() if inc.detected_at else 'the time it arrives'}",
                 f"grouped by {group}"]
        if inc.evidence:
            parts.append(f"{len(inc.evidence)} evidence pair(s) become repro cases")
        if route is not None and route.levers:
            parts.append("levers suggested: " + ", ".join(route.levers))
        if route is not None and route.page:
            parts.append("pages: " + ", ".join(route.page))
        return "; ".join(parts)
    if action == TRIAGE:
        return f"post for triage in {alert_rules.doc.triage.channel} (declare / attach / dismiss); grouped by {group}"
    if action == ATTACH_ONLY:
        return f"attach to an open incident of its group or of category {inc.category}, if there is one; else record"
    return "record it; nothing is posted (no route takes it and no triage channel is configured)"
