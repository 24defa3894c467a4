"""Build the data a postmortem template renders: facts from the incident row, its timeline, its action
items and whatever the feature providers (runbook, containment, evidence) contribute.

Everything is pre-formatted (times as `2026-01-05 09:04:12 UTC`, durations as `4m 12s`) so templates stay
simple; raw values sit beside the formatted ones for organizations that want their own formatting.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from bot.core import incidents, timeline
from bot.core.durations import format_duration
from bot.core.incidents import ROLES
from bot.metrics.compute import DEFINITIONS, LABELS
from bot.postmortem import actions as action_items
from bot.postmortem import providers as postmortem_data
from bot.postmortem.facts import blameless_facts
from bot.store.models import Incident, TimelineEvent
from bot.store.models.incident import ACTIVE, CONTAINED, RESOLVED

Names = Callable[[str], str]
STATUS_LABEL = {ACTIVE: "active", CONTAINED: "contained", RESOLVED: "resolved"}
HUMAN = "✍️ **To write:**"
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")


def plain_names(user_id: str) -> str:
    """Without Slack, a user reads as `@U0BOB` (the bot as `firebreak`)."""
    return user_id if user_id in ("firebreak", "") else f"@{user_id}"


def when(dt: datetime | None) -> str | None:
    return dt.strftime("%Y-%m-%d %H:%M:%S UTC") if dt else None


def since(dt: datetime | None, origin: datetime) -> str | None:
    return None if dt is None else "+" + format_duration(dt - origin)


def _delta(a: datetime | None, b: datetime | None) -> timedelta | None:
    return b - a if a is not None and b is not None else None


def demention(text: str, names: Names) -> str:
    return _MENTION.sub(lambda m: names(m.group(1)), text or "")


def build(ctx: Any, session: Session, incident: Incident, *, names: Names = plain_names,
          regulator: bool = False) -> dict[str, Any]:
    """The template context for one incident. `regulator=True` leaves out people entirely."""
    now = ctx.clock.now()
    rules = ctx.rules
    events = timeline.events(session, incident.id)
    extra = postmortem_data.collect(ctx, session, incident)
    times = incidents.key_times(incident)
    origin = incident.detected_at
    target = rules.mttc_target(incident.severity)
    cat = rules.categories.get(incident.category)

    def scale(key: str, value: str | None) -> str | None:
        return rules.scale(key).get(value, value) if value else None

    intervals = []
    for key, value in (("mttd", times.mttd), ("mtta", times.mtta), ("mttc", times.mttc), ("mttr", times.mttr)):
        intervals.append({"key": key, "label": LABELS[key], "definition": DEFINITIONS[key],
                          "seconds": value.total_seconds() if value is not None else None,
                          "value": format_duration(value) if value is not None else None,
                          "open": value is None})
    ic_assigned = next((e.at for e in events if e.kind == "acknowledged"), incident.acknowledged_at)
    role_map = incidents.roles(session, incident.id)
    runbook = _runbook(extra.get("runbook"), names, origin)
    containment = _containment(extra.get("containment"), names, origin)
    evidence = _evidence(extra.get("evidence"), names)
    items = action_items.items(session, incident.id)

    context: dict[str, Any] = {
        "generated_at": when(now),
        "human": HUMAN,
        "incident": {
            "ref": incident.ref, "id": incident.id, "title": incident.title,
            "description": demention(incident.description, names), "severity": incident.severity,
            "sev": incident.sev, "status": STATUS_LABEL[incident.status], "is_open": incident.is_open,
            "is_exercise": incident.is_exercise, "private": incident.private,
            "category": incident.category, "category_label": cat.label if cat else incident.category,
            "atlas": cat.atlas if cat else None, "category_full": rules.category_label(incident.category),
            "reasons": incident.reasons, "resolution": demention(incident.resolution or "", names) or None,
            "channel_name": incident.channel_name, "reporter": names(incident.reporter_id),
        },
        "impact": {
            "reach": scale("reach", incident.reach), "exposure": scale("exposure", incident.exposure),
            "data": scale("data", incident.data),
            "ongoing": None if incident.ongoing is None else ("yes" if incident.ongoing else "no"),
            "regulated_domain": incident.regulated_domain,
        },
        "times": {"detected": when(times.detected), "opened": when(times.opened),
                  "acknowledged": when(times.acknowledged), "contained": when(times.contained),
                  "resolved": when(times.resolved)},
        "intervals": intervals,
        "mttc_target": format_duration(target),
        "mttc_within_target": None if times.mttc is None else times.mttc <= target,
        "ic_to_contained": format_duration(_delta(ic_assigned, times.contained))
        if _delta(ic_assigned, times.contained) is not None else None,
        "severity_history": _severity_history(events, names, origin),
        "roles": [{"role": ROLES[k], "user": names(v)} for k, v in role_map.items() if k in ROLES],
        "timeline": [_event(e, names, origin) for e in events],
        "runbook": runbook,
        "containment": containment,
        "evidence": evidence,
        "actions": [{"number": a.number, "text": a.text, "owner": names(a.owner) if a.owner else None,
                     "due": a.due.isoformat() if a.due else None, "done": a.done_at is not None,
                     "done_at": when(a.done_at), "overdue": action_items.overdue(a, now)} for a in items],
        "reporting": _reporting(events),
        "containment_types": sorted({c["type"] for c in containment or [] if c.get("type")}),
    }
    context["facts"] = blameless_facts(ctx, incident, events, context, ic_assigned=ic_assigned, target=target,
                                       names=names)
    if regulator:
        context = _without_people(context)
    return context


def _event(e: TimelineEvent, names: Names, origin: datetime) -> dict[str, Any]:
    return {"at": when(e.at), "time": e.at.strftime("%H:%M:%S"), "date": e.at.strftime("%Y-%m-%d"),
            "elapsed": since(e.at, origin), "actor": names(e.actor), "kind": e.kind,
            "text": demention(e.text, names).replace("\n", " ")}


def _severity_history(events: list[TimelineEvent], names: Names, origin: datetime) -> list[dict[str, Any]]:
    out = []
    for e in events:
        if e.kind == "severity_classified":
            out.append({"at": when(e.at), "elapsed": since(e.at, origin), "old": None,
                        "new": e.data.get("severity"), "reason": " and ".join(e.data.get("reasons") or []),
                        "by": names(e.actor)})
        elif e.kind == "severity_changed":
            out.append({"at": when(e.at), "elapsed": since(e.at, origin), "old": e.data.get("old"),
                        "new": e.data.get("new"), "reason": e.data.get("reason", ""), "by": names(e.actor)})
    return out


def _runbook(steps: Any, names: Names, origin: datetime) -> list[dict[str, Any]] | None:
    if not steps:
        return None
    out = []
    for s in steps:
        out.append({**s, "owner": names(s["owner"]) if s.get("owner") else None,
                    "by": names(s["by"]) if s.get("by") else None,
                    "due_at": when(s.get("due_at")), "done_at": when(s.get("done_at")),
                    "done_elapsed": since(s.get("done_at"), origin), "late": bool(s.get("late"))})
    return out


def _containment(actions: Any, names: Names, origin: datetime) -> list[dict[str, Any]] | None:
    if not actions:
        return None
    out = []
    for a in actions:
        req, app, ver, rev = (a.get(k) for k in ("requested_at", "applied_at", "verified_at", "reverted_at"))
        out.append({**a, "by": names(a["by"]) if a.get("by") else None,
                    "requested_at": when(req), "applied_at": when(app), "verified_at": when(ver),
                    "reverted_at": when(rev), "requested_elapsed": since(req, origin),
                    "request_to_apply": format_duration(_delta(req, app)) if _delta(req, app) else None,
                    "apply_to_verify": format_duration(_delta(app, ver)) if _delta(app, ver) else None,
                    "request_to_verify": format_duration(_delta(req, ver)) if _delta(req, ver) else None})
    return out


def _evidence(evidence: Any, names: Names) -> list[dict[str, Any]] | None:
    """Repro cases and probe runs, as one list; accepts a list or a mapping of lists."""
    if not evidence:
        return None
    items = evidence if isinstance(evidence, list) else [x for v in evidence.values() for x in (v or [])]
    out = []
    for item in items:
        kind = "repro case" if "sha256" in item else "probe run"
        at = item.get("added_at") or item.get("at") or item.get("ran_at")
        summary = item.get("summary") or item.get("result") or item.get("outcome") or ""
        out.append({"kind": kind, "id": item.get("id") or item.get("case_id") or "—", "sha256": item.get("sha256"),
                    "at": when(at) if isinstance(at, datetime) else at, "by": names(item["by"]) if item.get("by")
                    else None, "summary": str(summary)})
    return out or None


def _reporting(events: list[TimelineEvent]) -> list[dict[str, Any]]:
    clocks: dict[str, dict[str, Any]] = {}
    for e in events:
        regime = e.data.get("regime") if isinstance(e.data, dict) else None
        if e.kind == "report_clock_started" and regime:
            clocks.setdefault(regime, {"regime": regime, "started": when(e.at), "done": None})
        elif e.kind == "report_clock_done" and regime:
            clocks.setdefault(regime, {"regime": regime, "started": None, "done": None})["done"] = when(e.at)
    return list(clocks.values())


def _without_people(context: dict[str, Any]) -> dict[str, Any]:
    """The regulator-facing view: facts only; no people, channels, titles, timeline text or lever names."""
    inc = dict(context["incident"])
    for key in ("title", "description", "resolution", "channel_name", "reporter", "reasons"):
        inc.pop(key, None)
    return {
        "generated_at": context["generated_at"], "human": context["human"], "incident": inc,
        "impact": context["impact"], "times": context["times"], "intervals": context["intervals"],
        "mttc_target": context["mttc_target"], "mttc_within_target": context["mttc_within_target"],
        "severity_history": [{k: v for k, v in s.items() if k not in ("by", "reason")}
                             for s in context["severity_history"]],
        "containment_types": context["containment_types"],
        "containment_count": len(context["containment"] or []),
        "containment_reverted": sum(1 for c in context["containment"] or [] if c.get("reverted_at")),
        "reporting": context["reporting"],
    }
