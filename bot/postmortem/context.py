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

from bot.core import facts, incidents, timeline
from bot.core.durations import format_duration
from bot.core.facts import StepFact, StepState
from bot.core.incidents import ROLES
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
    f = facts.derive(incident, rules=rules, now=now, paused=facts.pauses(events),
                     scenario_target=facts.scenario_target(session, incident))
    origin = incident.detected_at
    cat = rules.categories.get(incident.category)

    def scale(key: str, value: str | None) -> str | None:
        return rules.scale(key).get(value, value) if value else None

    intervals = []
    for i in f.intervals:
        intervals.append({"key": i.metric.value, "label": i.metric.label, "definition": i.metric.definition,
                          "seconds": i.seconds, "value": format_duration(i.active) if i.done else None,
                          "open": not i.done})
    ic_assigned = next((e.at for e in events if e.kind == "acknowledged"), incident.acknowledged_at)
    role_map = incidents.roles(session, incident.id)
    steps: tuple[StepFact, ...] = tuple(extra.get("runbook") or ())
    runbook = _runbook(steps, names, origin)
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
        "times": {"detected": when(incident.detected_at), "opened": when(incident.opened_at),
                  "acknowledged": when(incident.acknowledged_at), "contained": when(incident.contained_at),
                  "resolved": when(incident.resolved_at)},
        "intervals": intervals,
        "mttc_target": format_duration(f.target.duration),
        "mttc_target_source": f.target.label,
        "mttc_within_target": f.mttc_met,
        "paused": format_duration(f.paused) if f.paused else None,
        "ic_to_contained": format_duration(_delta(ic_assigned, incident.contained_at))
        if _delta(ic_assigned, incident.contained_at) is not None else None,
        "severity_history": _severity_history(events, names, origin),
        "roles": [{"role": ROLES[k], "user": names(v)} for k, v in role_map.items() if k in ROLES],
        "timeline": [_event(e, names, origin) for e in events],
        "runbook": runbook,
        "runbook_counts": _counts(steps) if steps else None,
        "containment": containment,
        "evidence": evidence,
        "actions": [{"number": a.number, "text": a.text, "owner": names(a.owner) if a.owner else None,
                     "due": a.due.isoformat() if a.due else None, "done": a.done_at is not None,
                     "done_at": when(a.done_at), "overdue": action_items.overdue(a, now)} for a in items],
        "reporting": _reporting(events),
        "containment_types": sorted({c["type"] for c in containment or [] if c.get("type")}),
    }
    context["facts"] = blameless_facts(incident, events, context, f, steps, ic_assigned=ic_assigned)
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


def _runbook(steps: tuple[StepFact, ...], names: Names, origin: datetime) -> list[dict[str, Any]] | None:
    """Each step as the template shows it; `state` is the facts module's word for it ("done late", …)."""
    if not steps:
        return None
    out = []
    for s in steps:
        done_at = s.finished_at if s.state != StepState.SKIPPED else None
        out.append({"runbook": s.runbook, "phase": s.phase, "id": s.step_id, "text": s.text,
                    "owner_role": s.owner_role, "owner": names(s.owner) if s.owner else None,
                    "required": s.required, "state": s.state.value, "reason": s.reason,
                    "due_at": when(s.due_at), "done_at": when(done_at), "done_elapsed": since(done_at, origin),
                    "late": s.state == StepState.DONE_LATE, "overdue": s.state == StepState.OVERDUE,
                    "by": names(s.finished_by) if s.finished_by else None})
    return out


def _counts(steps: tuple[StepFact, ...]) -> dict[str, int]:
    """How many steps are in each state (keys: the states with `_` for spaces), plus the totals."""
    t = facts.tally(steps)
    out = {state.name.lower(): t[state] for state in StepState}
    out.update(total=t.total, done=t.done, required_open=t.required_open)
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
        "mttc_target": context["mttc_target"], "mttc_target_source": context["mttc_target_source"],
        "mttc_within_target": context["mttc_within_target"], "paused": context["paused"],
        "severity_history": [{k: v for k, v in s.items() if k not in ("by", "reason")}
                             for s in context["severity_history"]],
        "containment_types": context["containment_types"],
        "containment_count": len(context["containment"] or []),
        "containment_reverted": sum(1 for c in context["containment"] or [] if c.get("reverted_at")),
        "reporting": context["reporting"],
    }
