"""Which escalation targets an incident's severity and category call for (config `escalation:`)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.config.org import Config
from bot.core.severity import Inputs, SeverityRules
from bot.store.models import Incident


@dataclass(frozen=True)
class Target:
    users: frozenset[str]
    usergroups: frozenset[str]
    reason: str


def targets(config: Config, rules: SeverityRules, incident: Incident) -> list[Target]:
    inputs = Inputs(incident.category, incident.reach, incident.exposure, incident.data, incident.ongoing,
                    incident.regulated_domain)
    found = []
    for rule in config.escalation:
        if rules.matches(rule.when, inputs, severity=incident.severity):
            users, groups = config.expand(rule.notify)
            reason = rule.reason or f"{incident.sev} {rules.category_label(incident.category)}"
            found.append(Target(frozenset(users), frozenset(groups), reason))
    return found
