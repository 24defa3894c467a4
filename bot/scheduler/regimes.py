"""Regulatory reporting clocks: which reports a regime asks for, and by when.

Built-in regimes (facts in docs/scheduler.md):
- eu-ai-act-art73: serious incident, provider of a high-risk AI system. 15 days after awareness by
  default; 2 days for a widespread infringement or serious disruption of critical infrastructure;
  10 days in the event of a death.
- gdpr-72h: personal data breach, 72 hours after awareness.
- nis2: early warning 24 h, incident notification 72 h, final report one month.
- dora: major ICT incident of a financial entity: initial notification 4 h after classification but at
  most 24 h after awareness, intermediate report 72 h, final report one month (from classification).
Organizations add their own under `scheduler.regimes` in FIREBREAK_CONFIG.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.config.org import Config
from bot.core.durations import parse_duration
from bot.core.errors import UsageError
from bot.scheduler.config import MONTH, parse_point


@dataclass(frozen=True)
class Stage:
    name: str
    label: str
    within: str  # "72h", "15d", "1mo"


@dataclass(frozen=True)
class Regime:
    name: str
    label: str
    stages: tuple[Stage, ...]
    cases: dict[str, str] = field(default_factory=dict)  # case -> first stage's limit
    uses_classification: bool = False  # DORA counts from classification, capped from awareness


BUILTIN: dict[str, Regime] = {
    "eu-ai-act-art73": Regime(
        "eu-ai-act-art73", "EU AI Act Art. 73 serious incident report",
        (Stage("report", "report to the market surveillance authority", "15d"),),
        cases={"default": "15d", "widespread": "2d", "critical-infrastructure": "2d", "death": "10d"}),
    "gdpr-72h": Regime(
        "gdpr-72h", "GDPR Art. 33 personal data breach notification",
        (Stage("notification", "notify the supervisory authority", "72h"),)),
    "nis2": Regime(
        "nis2", "NIS2 significant incident",
        (Stage("early-warning", "early warning to the CSIRT", "24h"),
         Stage("notification", "incident notification", "72h"),
         Stage("final", "final report", "1mo"))),
    "dora": Regime(
        "dora", "DORA major ICT-related incident",
        (Stage("initial", "initial notification", "4h"),
         Stage("intermediate", "intermediate report", "72h"),
         Stage("final", "final report", "1mo")),
        uses_classification=True),
}
DORA_AWARENESS_CAP = timedelta(hours=24)


def regimes(config: Config) -> dict[str, Regime]:
    out = dict(BUILTIN)
    for name, rc in config.scheduler.regimes.items():
        stages = tuple(Stage(s.name, s.label or s.name, s.within) for s in rc.stages)
        out[name] = Regime(name, rc.label, stages, cases=dict(rc.cases))
    return out


def accepted_forms(config: Config) -> str:
    parts = []
    for name, regime in regimes(config).items():
        cases = [c for c in regime.cases if c != "default"]
        parts.append(f"`{name}`" + (f" (cases: {', '.join(cases)})" if cases else ""))
    return ", ".join(parts)


def get_regime(config: Config, name: str, usage: str | None = None) -> Regime:
    found = regimes(config).get(name.strip().lower())
    if found is None:
        raise UsageError(f"`{name}` is not a reporting regime. Regimes: {accepted_forms(config)}.", usage=usage)
    return found


def add_months(when: datetime, months: int) -> datetime:
    """Same day and time `months` calendar months later, clamped to the month's last day (31 Jan + 1mo = 28/29 Feb)."""
    month0 = when.month - 1 + months
    year, month = when.year + month0 // 12, month0 % 12 + 1
    day = min(when.day, calendar.monthrange(year, month)[1])
    return when.replace(year=year, month=month, day=day)


def add_limit(start: datetime, within: str) -> datetime:
    m = MONTH.match(within.strip().lower())
    if m:
        return add_months(start, int(m.group(1)))
    return start + parse_duration(within)


def deadlines(regime: Regime, aware_at: datetime, *, case: str | None = None,
              classified_at: datetime | None = None, usage: str | None = None) -> list[tuple[Stage, datetime]]:
    """Each stage of the regime with its deadline."""
    if case is not None and case not in regime.cases:
        if regime.cases:
            known = ", ".join(c for c in regime.cases)
            raise UsageError(f"`{case}` is not a case of {regime.name}; cases: {known}.", usage=usage)
        raise UsageError(f"{regime.name} has no cases; leave `{case}` out.", usage=usage)
    start = classified_at if (regime.uses_classification and classified_at) else aware_at
    out = []
    for i, stage in enumerate(regime.stages):
        within = stage.within
        if i == 0 and regime.cases:
            within = regime.cases.get(case or "default", within)
        due = add_limit(start, within)
        if regime.uses_classification and i == 0:
            due = min(due, aware_at + DORA_AWARENESS_CAP)
        out.append((stage, due))
    return out


def reminder_times(points: list[str], start: datetime, due: datetime) -> list[tuple[str, datetime]]:
    """When to remind before a deadline: `50%` of the window elapsed, `24h` before, ... (inside the window)."""
    window = due - start
    out: dict[datetime, str] = {}
    for point in points:
        kind, value = parse_point(point)
        at = start + window * (value / 100) if kind == "percent" else due - timedelta(seconds=value)
        if start < at < due:
            out.setdefault(at, point)
    return sorted(((label, at) for at, label in out.items()), key=lambda p: p[1])
