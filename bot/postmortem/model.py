"""The template variables of the postmortem draft and the regulator summary, as typed models.

`bot.postmortem.context.build` returns a `PostmortemContext` (or, with `regulator=True`, a
`RegulatorContext`); `variables()` hands its fields to the template as top-level names. Templates read the
models with the same dotted names as before (`incident.ref`, `s.old`), and an organization's own templates
(FIREBREAK_TEMPLATES_DIR) get exactly these names. Times are pre-formatted (`2026-01-05 09:04:12 UTC`),
durations as `4m 12s`, elapsed times since detection as `+4m 12s`; None where a time was never reached.

`postmortem.md.j2` gets (`PostmortemContext`):
- `generated_at`, `human` (the "✍️ **To write:**" marker)
- `incident` (`IncidentHeader`): ref, id, title, description, severity, sev, status, is_open, is_exercise,
  private, category, category_label, atlas, category_full, reasons, resolution, channel_name, reporter
- `impact` (`Impact`): reach, exposure, data, ongoing, regulated_domain, history (`ImpactChange`: at,
  elapsed, by, changes)
- `times` (`Times`): detected, opened, acknowledged, contained, resolved
- `intervals` (`Interval`): key, label, definition, seconds, value, open
- `mttc_target`, `mttc_target_source`, `mttc_within_target`, `paused`, `ic_to_contained`
- `severity_history` (`SeverityChange`): at, elapsed, old, new, reason, by
- `roles` (`RoleHolder`): role, user
- `timeline` (`TimelineEntry`): at, date, time, elapsed, actor, kind, what, text
- `runbook` (`RunbookStep`, None without steps): runbook, runbook_title, phase, id, text, owner_role, owner,
  required, state, reason, due_at, done_at, done_elapsed, late, overdue, by
- `runbook_counts` (`RunbookCounts`, None without steps): done_on_time, done_late, skipped, overdue,
  pending, not_required, total, done, required_open
- `containment` (`ContainmentEntry`, None without actions): lever, type, target, requested_at, applied_at,
  verified_at, reverted_at, by, outcome, error, attempts, dry_run, type_label, outcome_label,
  requested_elapsed, request_to_apply, apply_to_verify, request_to_verify
- `containment_types`
- `evidence` (`EvidenceItem`, None without any): kind, id, sha256, at, by, summary
- `actions` (`ActionItemEntry`): number, text, owner, due, done, done_at, overdue
- `reporting` (`ReportingClock`): regime, started, done
- `facts` (`BlamelessFacts`): contributing, went_well, hard, lucky

`regulator_summary.md.j2` gets the people-free `RegulatorContext`: generated_at, human, incident
(`RegulatorIncident`: no title, description, resolution, channel, reporter or reasons), impact
(`RegulatorImpact`, its history without who), times, intervals, mttc_target, mttc_target_source,
mttc_within_target, paused, severity_history (`RegulatorSeverityChange`: at, elapsed, old, new),
containment_types, containment_count, containment_reverted, reporting.
"""

from __future__ import annotations

from dataclasses import Field, dataclass, fields
from typing import Any, ClassVar


class _Variables:
    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]

    def variables(self) -> dict[str, Any]:
        """The fields as the template's top-level names (the values stay typed models)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class IncidentHeader:
    ref: str
    id: int
    title: str
    description: str
    severity: int
    sev: str
    status: str
    is_open: bool
    is_exercise: bool
    private: bool
    category: str
    category_label: str
    atlas: str | None
    category_full: str
    reasons: list[str]
    resolution: str | None
    channel_name: str | None
    reporter: str


@dataclass(frozen=True)
class RegulatorIncident:
    """The incident without people, channels, titles or free text."""

    ref: str
    id: int
    severity: int
    sev: str
    status: str
    is_open: bool
    is_exercise: bool
    private: bool
    category: str
    category_label: str
    atlas: str | None
    category_full: str


@dataclass(frozen=True)
class ImpactChange:
    at: str | None
    elapsed: str | None
    by: str
    changes: str


@dataclass(frozen=True)
class RegulatorImpactChange:
    at: str | None
    elapsed: str | None
    changes: str


@dataclass(frozen=True)
class Impact:
    reach: str | None
    exposure: str | None
    data: str | None
    ongoing: str | None  # "yes", "no" or None (not recorded)
    regulated_domain: str | None
    history: tuple[ImpactChange, ...]


@dataclass(frozen=True)
class RegulatorImpact:
    reach: str | None
    exposure: str | None
    data: str | None
    ongoing: str | None
    regulated_domain: str | None
    history: tuple[RegulatorImpactChange, ...]


@dataclass(frozen=True)
class Times:
    detected: str | None
    opened: str | None
    acknowledged: str | None
    contained: str | None
    resolved: str | None


@dataclass(frozen=True)
class Interval:
    key: str  # mttd, mtta, mttc, mttr
    label: str
    definition: str
    seconds: int | None
    value: str | None  # formatted; None while open
    open: bool


@dataclass(frozen=True)
class SeverityChange:
    at: str | None
    elapsed: str | None
    old: int | None  # None: the first classification
    new: int | None
    reason: str
    by: str


@dataclass(frozen=True)
class RegulatorSeverityChange:
    at: str | None
    elapsed: str | None
    old: int | None
    new: int | None


@dataclass(frozen=True)
class RoleHolder:
    role: str
    user: str


@dataclass(frozen=True)
class TimelineEntry:
    at: str | None
    time: str
    date: str
    elapsed: str | None
    actor: str
    kind: str
    what: str
    text: str


@dataclass(frozen=True)
class RunbookStep:
    runbook: str
    runbook_title: str
    phase: str
    id: str
    text: str
    owner_role: str | None
    owner: str | None
    required: bool
    state: str  # bot.core.facts.StepState's value: "done on time", "done late", "skipped", …
    reason: str | None
    due_at: str | None
    done_at: str | None
    done_elapsed: str | None
    late: bool
    overdue: bool
    by: str | None


@dataclass(frozen=True)
class RunbookCounts:
    done_on_time: int
    done_late: int
    skipped: int
    overdue: int
    pending: int
    not_required: int
    total: int
    done: int
    required_open: int


@dataclass(frozen=True)
class ContainmentEntry:
    """A containment action as its provider gives it (bot/postmortem/providers.py), with `target`, `error`
    and `by` as words and the times formatted."""

    lever: str
    type: str | None
    target: str
    requested_at: str | None
    applied_at: str | None
    verified_at: str | None
    reverted_at: str | None
    by: str | None
    outcome: str | None
    error: str | None
    attempts: int | None
    dry_run: bool | None
    type_label: str
    outcome_label: str
    requested_elapsed: str | None
    request_to_apply: str | None
    apply_to_verify: str | None
    request_to_verify: str | None


@dataclass(frozen=True)
class EvidenceItem:
    kind: str  # "repro case" or "probe run"
    id: str
    sha256: str | None
    at: str | None
    by: str | None
    summary: str


@dataclass(frozen=True)
class ActionItemEntry:
    number: int
    text: str
    owner: str | None
    due: str | None  # ISO date
    done: bool
    done_at: str | None
    overdue: bool


@dataclass(frozen=True)
class ReportingClock:
    regime: str
    started: str | None
    done: str | None


@dataclass(frozen=True)
class BlamelessFacts:
    """The prefilled sentences of the blameless sections."""

    contributing: tuple[str, ...]
    went_well: tuple[str, ...]
    hard: tuple[str, ...]
    lucky: tuple[str, ...]


@dataclass(frozen=True)
class PostmortemContext(_Variables):
    generated_at: str | None
    human: str
    incident: IncidentHeader
    impact: Impact
    times: Times
    intervals: tuple[Interval, ...]
    mttc_target: str
    mttc_target_source: str
    mttc_within_target: bool | None
    paused: str | None
    ic_to_contained: str | None
    severity_history: tuple[SeverityChange, ...]
    roles: tuple[RoleHolder, ...]
    timeline: tuple[TimelineEntry, ...]
    runbook: tuple[RunbookStep, ...] | None
    runbook_counts: RunbookCounts | None
    containment: tuple[ContainmentEntry, ...] | None
    evidence: tuple[EvidenceItem, ...] | None
    actions: tuple[ActionItemEntry, ...]
    reporting: tuple[ReportingClock, ...]
    containment_types: tuple[str, ...]
    facts: BlamelessFacts


@dataclass(frozen=True)
class RegulatorContext(_Variables):
    """The regulator-facing view: facts only; no people, channels, titles, timeline text or lever names."""

    generated_at: str | None
    human: str
    incident: RegulatorIncident
    impact: RegulatorImpact
    times: Times
    intervals: tuple[Interval, ...]
    mttc_target: str
    mttc_target_source: str
    mttc_within_target: bool | None
    paused: str | None
    severity_history: tuple[RegulatorSeverityChange, ...]
    containment_types: tuple[str, ...]
    containment_count: int
    containment_reverted: int
    reporting: tuple[ReportingClock, ...]

    @classmethod
    def of(cls, context: PostmortemContext) -> RegulatorContext:
        inc = context.incident
        return cls(
            generated_at=context.generated_at, human=context.human,
            incident=RegulatorIncident(
                ref=inc.ref, id=inc.id, severity=inc.severity, sev=inc.sev, status=inc.status,
                is_open=inc.is_open, is_exercise=inc.is_exercise, private=inc.private, category=inc.category,
                category_label=inc.category_label, atlas=inc.atlas, category_full=inc.category_full),
            impact=RegulatorImpact(
                reach=context.impact.reach, exposure=context.impact.exposure, data=context.impact.data,
                ongoing=context.impact.ongoing, regulated_domain=context.impact.regulated_domain,
                history=tuple(RegulatorImpactChange(at=h.at, elapsed=h.elapsed, changes=h.changes)
                              for h in context.impact.history)),
            times=context.times, intervals=context.intervals,
            mttc_target=context.mttc_target, mttc_target_source=context.mttc_target_source,
            mttc_within_target=context.mttc_within_target, paused=context.paused,
            severity_history=tuple(RegulatorSeverityChange(at=s.at, elapsed=s.elapsed, old=s.old, new=s.new)
                                   for s in context.severity_history),
            containment_types=context.containment_types,
            containment_count=len(context.containment or ()),
            containment_reverted=sum(1 for c in context.containment or () if c.reverted_at),
            reporting=context.reporting,
        )
