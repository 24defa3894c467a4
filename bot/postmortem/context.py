"""Build the data a postmortem template renders: facts from the incident row, its timeline, its action
items and whatever the feature providers (runbook, containment, evidence) contribute.

Everything is pre-formatted (times as `2026-01-05 09:04:12 UTC`, durations as `4m 12s`) so templates stay
simple; raw values sit beside the formatted ones for organizations that want their own formatting. The
result is typed: `PostmortemContext`, or the people-free `RegulatorContext` (bot.postmortem.model, whose
docstring lists every template variable).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Literal, overload

from sqlmodel import Session

from bot.core import facts, incidents, timeline
from bot.core.durations import format_duration
from bot.core.facts import StepFact, StepState
from bot.core.incidents import ROLES
from bot.core.text import cut, plain_tokens
from bot.postmortem import actions as action_items
from bot.postmortem import providers as postmortem_data
from bot.postmortem.facts import blameless_facts
from bot.postmortem.model import (
    ActionItemEntry,
    ContainmentEntry,
    EvidenceItem,
    Impact,
    ImpactChange,
    IncidentHeader,
    Interval,
    PostmortemContext,
    RegulatorContext,
    ReportingClock,
    RoleHolder,
    RunbookCounts,
    RunbookStep,
    SeverityChange,
    TimelineEntry,
    Times,
)
from bot.postmortem.people import Names, plain_names
from bot.store.models import Incident, TimelineEvent
from bot.store.models.incident import ACTIVE, CONTAINED, RESOLVED

STATUS_LABEL = {ACTIVE: "active", CONTAINED: "contained", RESOLVED: "resolved"}
HUMAN = "✍️ **To write:**"


def when(dt: datetime | None) -> str | None:
    return dt.strftime("%Y-%m-%d %H:%M:%S UTC") if dt else None


def since(dt: datetime | None, origin: datetime) -> str | None:
    return None if dt is None else "+" + format_duration(dt - origin)


def _delta(a: datetime | None, b: datetime | None) -> timedelta | None:
    return b - a if a is not None and b is not None else None


def demention(text: str, names: Names) -> str:
    """Text kept from Slack or written for it, for a Markdown file: Slack's `<@U…>`, `<#C…>`, date and link
    tokens as words; the rest (already plain) as it is."""
    return plain_tokens(text or "", names)


LEVER_TYPES = {"launchdarkly_kill": "LaunchDarkly flag off", "launchdarkly_variation": "LaunchDarkly variation",
               "webhook": "webhook"}
TARGET_WORDS = (("flag", "flag"), ("variation", "variation"), ("environment", "environment"),
                ("project", "project"), ("url", "URL"), ("method", "method"))


def as_text(value: Any) -> str:
    """Any value a provider hands over, as words: a lever target `{"flag": …}` reads as
    "flag x, environment y, project z", lists as comma-separated items, never as a Python repr."""
    if value is None:
        return "—"
    if isinstance(value, dict):
        parts = [f"{word} {as_text(value[key])}" for key, word in TARGET_WORDS if value.get(key) not in (None, "")]
        known = {key for key, _ in TARGET_WORDS} | {"context"}
        parts += [f"{str(k).replace('_', ' ')} {as_text(v)}" for k, v in value.items()
                  if k not in known and v not in (None, "", [], {})]
        return ", ".join(parts) or "—"
    if isinstance(value, list | tuple | set):
        return ", ".join(as_text(v) for v in value) or "—"
    if isinstance(value, datetime):
        return when(value) or "—"
    return str(value)


@overload
def build(ctx: Any, session: Session, incident: Incident, *, names: Names = ...,
          regulator: Literal[False] = ...) -> PostmortemContext: ...


@overload
def build(ctx: Any, session: Session, incident: Incident, *, names: Names = ...,
          regulator: Literal[True]) -> RegulatorContext: ...


@overload
def build(ctx: Any, session: Session, incident: Incident, *, names: Names = ...,
          regulator: bool) -> PostmortemContext | RegulatorContext: ...


def build(ctx: Any, session: Session, incident: Incident, *, names: Names = plain_names,
          regulator: bool = False) -> PostmortemContext | RegulatorContext:
    """The template context for one incident (bot.postmortem.model). `regulator=True` leaves out people
    entirely."""
    now = ctx.clock.now()
    rules = ctx.rules
    assert incident.id is not None  # a stored incident
    events = timeline.events(session, incident.id)
    extra = postmortem_data.collect(ctx, session, incident)
    f = facts.derive(incident, rules=rules, now=now, paused=facts.pauses(events),
                     scenario_target=facts.scenario_target(session, incident))
    origin = incident.detected_at
    cat = rules.categories.get(incident.category)

    def scale(key: str, value: str | None) -> str | None:
        return rules.scale(key).get(value, value) if value else None

    intervals = tuple(Interval(key=i.metric.value, label=i.metric.label, definition=i.metric.definition,
                               seconds=i.seconds, value=format_duration(i.active) if i.done else None,
                               open=not i.done) for i in f.intervals)
    ic_assigned = next((e.at for e in events if e.kind == "acknowledged"), incident.acknowledged_at)
    role_map = incidents.roles(session, incident.id)
    steps: tuple[StepFact, ...] = tuple(extra.get("runbook") or ())
    runbook = _runbook(steps, names, origin, getattr(ctx, "runbooks", None))
    step_texts = {(s.runbook, s.step_id): s.text for s in steps}
    containment = _containment(extra.get("containment"), names, origin)
    evidence = _evidence(extra.get("evidence"), names)
    items = action_items.items(session, incident.id)
    ic_to_contained = _delta(ic_assigned, incident.contained_at)

    context = PostmortemContext(
        generated_at=when(now),
        human=HUMAN,
        incident=IncidentHeader(
            ref=incident.ref, id=incident.id, title=incident.title,
            description=demention(incident.description, names), severity=incident.severity,
            sev=incident.sev, status=STATUS_LABEL[incident.status], is_open=incident.is_open,
            is_exercise=incident.is_exercise, private=incident.private,
            category=incident.category, category_label=cat.label if cat else incident.category,
            atlas=cat.atlas if cat else None, category_full=rules.category_label(incident.category),
            reasons=incident.reasons, resolution=demention(incident.resolution or "", names) or None,
            channel_name=incident.channel_name, reporter=names(incident.reporter_id),
        ),
        impact=Impact(
            reach=scale("reach", incident.reach), exposure=scale("exposure", incident.exposure),
            data=scale("data", incident.data),
            ongoing=None if incident.ongoing is None else ("yes" if incident.ongoing else "no"),
            regulated_domain=incident.regulated_domain,
            history=_impact_history(events, names, origin, scale),
        ),
        times=Times(detected=when(incident.detected_at), opened=when(incident.opened_at),
                    acknowledged=when(incident.acknowledged_at), contained=when(incident.contained_at),
                    resolved=when(incident.resolved_at)),
        intervals=intervals,
        mttc_target=format_duration(f.target.duration),
        mttc_target_source=f.target.label,
        mttc_within_target=f.mttc_met,
        paused=format_duration(f.paused) if f.paused else None,
        ic_to_contained=format_duration(ic_to_contained) if ic_to_contained is not None else None,
        severity_history=_severity_history(events, names, origin),
        roles=tuple(RoleHolder(role=ROLES[k], user=names(v)) for k, v in role_map.items() if k in ROLES),
        timeline=tuple(_event(e, names, origin, step_texts) for e in events),
        runbook=runbook,
        runbook_counts=_counts(steps) if steps else None,
        containment=containment,
        evidence=evidence,
        actions=tuple(ActionItemEntry(number=a.number, text=a.text, owner=names(a.owner) if a.owner else None,
                                      due=a.due.isoformat() if a.due else None, done=a.done_at is not None,
                                      done_at=when(a.done_at), overdue=action_items.overdue(a, now))
                      for a in items),
        reporting=_reporting(events),
        containment_types=tuple(sorted({c.type for c in containment or () if c.type})),
        facts=blameless_facts(incident, events, containment, f, steps, ic_assigned=ic_assigned),
    )
    return RegulatorContext.of(context) if regulator else context


STEP_KINDS = ("step_done", "step_skipped")


def _event_text(e: TimelineEvent, names: Names, step_texts: dict[tuple[str, str], str]) -> str:
    """What the event says, in words; a runbook step's event carries the step's id and its full text (the
    stored line is cut for Slack)."""
    data = e.data if isinstance(e.data, dict) else {}
    full = step_texts.get((str(data.get("runbook")), str(data.get("step"))))
    if e.kind in STEP_KINDS and full:
        how = f" (lever {data['lever']} pulled)" if data.get("lever") else ""
        reason = f" — {data['reason']}" if data.get("reason") else ""
        return f"`{data['step']}` {full}{how}{reason}"
    return timeline.shown(e, names).replace("\n", " ")


def _event(e: TimelineEvent, names: Names, origin: datetime,
           step_texts: dict[tuple[str, str], str] | None = None) -> TimelineEntry:
    text = timeline.detail(e.kind, _event_text(e, names, step_texts or {}))
    return TimelineEntry(at=when(e.at), time=e.at.strftime("%H:%M:%S"), date=e.at.strftime("%Y-%m-%d"),
                         elapsed=since(e.at, origin), actor=names(e.actor), kind=e.kind,
                         what=timeline.headline(e.kind, e.data), text=text)


IMPACT_WORDS = {"category": "category", "reach": "reach", "exposure": "exposure", "data": "data involved",
                "ongoing": "harm ongoing", "regulated_domain": "regulated domain"}


def _impact_history(events: list[TimelineEvent], names: Names, origin: datetime,
                    scale: Callable[[str, str | None], str | None]) -> tuple[ImpactChange, ...]:
    """Each re-assessment of the impact, oldest first: what changed, from what to what, who and when."""

    def shown(key: str, value: Any) -> str:
        if value is None or value == "":
            return "not recorded"
        if key == "ongoing":
            return "yes" if value else "no"
        return str(scale(key, str(value)) or value) if key in ("reach", "exposure", "data") else str(value)

    out = []
    for e in events:
        if e.kind != "impact_reassessed" or not isinstance(e.data, dict):
            continue
        before, after = e.data.get("previous") or {}, e.data.get("inputs") or {}
        changes = [f"{IMPACT_WORDS.get(k, k)} {shown(k, before.get(k))} → {shown(k, after.get(k))}"
                   for k in after if before.get(k) != after.get(k)]
        out.append(ImpactChange(at=when(e.at), elapsed=since(e.at, origin), by=names(e.actor),
                                changes="; ".join(changes)))
    return tuple(out)


def _severity_history(events: list[TimelineEvent], names: Names, origin: datetime) -> tuple[SeverityChange, ...]:
    out = []
    for e in events:
        if e.kind == "severity_classified":
            out.append(SeverityChange(at=when(e.at), elapsed=since(e.at, origin), old=None,
                                      new=e.data.get("severity"), reason=" and ".join(e.data.get("reasons") or []),
                                      by=names(e.actor)))
        elif e.kind == "severity_changed":
            out.append(SeverityChange(at=when(e.at), elapsed=since(e.at, origin), old=e.data.get("old"),
                                      new=e.data.get("new"), reason=e.data.get("reason", ""), by=names(e.actor)))
    return tuple(out)


def _runbook(steps: tuple[StepFact, ...], names: Names, origin: datetime,
             library: Any = None) -> tuple[RunbookStep, ...] | None:
    """Each step as the template shows it; `state` is the facts module's word for it ("done late", …)."""
    if not steps:
        return None
    out = []
    for s in steps:
        done_at = s.finished_at if s.state != StepState.SKIPPED else None
        book = library.get(s.runbook) if library is not None and hasattr(library, "get") else None
        out.append(RunbookStep(runbook=s.runbook, runbook_title=getattr(book, "title", None) or s.runbook,
                               phase=s.phase, id=s.step_id, text=s.text,
                               owner_role=s.owner_role, owner=names(s.owner) if s.owner else None,
                               required=s.required, state=s.state.value, reason=s.reason,
                               due_at=when(s.due_at), done_at=when(done_at), done_elapsed=since(done_at, origin),
                               late=s.state == StepState.DONE_LATE, overdue=s.state == StepState.OVERDUE,
                               by=names(s.finished_by) if s.finished_by else None))
    return tuple(out)


def _counts(steps: tuple[StepFact, ...]) -> RunbookCounts:
    """How many steps are in each state (the states with `_` for spaces), plus the totals."""
    t = facts.tally(steps)
    return RunbookCounts(**{state.name.lower(): t[state] for state in StepState},
                         total=t.total, done=t.done, required_open=t.required_open)


def _containment(actions: Any, names: Names, origin: datetime) -> tuple[ContainmentEntry, ...] | None:
    """The "containment" provider's actions (dicts; shape in bot/postmortem/providers.py) as entries."""
    if not actions:
        return None
    out = []
    for a in actions:
        req, app, ver, rev = (a.get(k) for k in ("requested_at", "applied_at", "verified_at", "reverted_at"))
        out.append(ContainmentEntry(
            lever=a.get("lever"), type=a.get("type"), target=as_text(a.get("target")),
            requested_at=when(req), applied_at=when(app), verified_at=when(ver), reverted_at=when(rev),
            by=names(a["by"]) if a.get("by") else None, outcome=a.get("outcome"),
            error=as_text(a["error"]) if a.get("error") else None, attempts=a.get("attempts"),
            dry_run=a.get("dry_run"),
            type_label=LEVER_TYPES.get(str(a.get("type")), str(a.get("type") or "—").replace("_", " ")),
            outcome_label=str(a.get("outcome") or "—").replace("_", " "),
            requested_elapsed=since(req, origin),
            request_to_apply=format_duration(_delta(req, app)) if _delta(req, app) else None,
            apply_to_verify=format_duration(_delta(app, ver)) if _delta(app, ver) else None,
            request_to_verify=format_duration(_delta(req, ver)) if _delta(req, ver) else None))
    return tuple(out)


def _evidence(evidence: Any, names: Names) -> tuple[EvidenceItem, ...] | None:
    """Repro cases and probe runs, as one list; accepts a list or a mapping of lists (the "evidence"
    provider's dicts)."""
    if not evidence:
        return None
    items = evidence if isinstance(evidence, list) else [x for v in evidence.values() for x in (v or [])]
    out = []
    for item in items:
        kind = "repro case" if "sha256" in item else "probe run"
        at = item.get("added_at") or item.get("at") or item.get("ran_at")
        summary = item.get("summary") or item.get("result") or item.get("outcome") or ""
        out.append(EvidenceItem(kind=kind, id=str(item.get("id") or item.get("case_id") or "—"),
                                sha256=item.get("sha256"),
                                at=when(at) if isinstance(at, datetime) else (str(at) if at else None),
                                by=names(item["by"]) if item.get("by") else None,
                                summary=cut(as_text(summary), 300) if summary else ""))
    return tuple(out) or None


def _reporting(events: list[TimelineEvent]) -> tuple[ReportingClock, ...]:
    started: dict[str, str | None] = {}
    done: dict[str, str | None] = {}
    for e in events:
        regime = e.data.get("regime") if isinstance(e.data, dict) else None
        if e.kind == "report_clock_started" and regime:
            started.setdefault(regime, when(e.at))
        elif e.kind == "report_clock_done" and regime:
            started.setdefault(regime, None)
            done[regime] = when(e.at)
    return tuple(ReportingClock(regime=r, started=at, done=done.get(r)) for r, at in started.items())
