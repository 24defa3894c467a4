"""MTTD / MTTA / MTTC / MTTR over a period, grouped by severity and category, computed in SQL.

Definitions (seconds): MTTD = opened - detected, MTTA = acknowledged - opened, MTTC = contained - detected,
MTTR = resolved - detected. For each: how many incidents have the interval (`done`), how many are still
waiting for its end (`open`, counted, never dropped), the mean, the median and the 90th percentile.

Percentiles interpolate linearly between the two nearest ranks (PostgreSQL's percentile_cont), written
with window functions so SQLite computes exactly the same numbers. Nothing loads incidents into Python:
each query returns one row per group.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Float, case, cast, func, select
from sqlalchemy.sql import ColumnElement
from sqlmodel import Session

from bot.metrics.sql import seconds_between, week_start
from bot.models import Incident

# metric -> (end column, start column)
METRICS: dict[str, tuple[str, str]] = {
    "mttd": ("opened_at", "detected_at"),
    "mtta": ("acknowledged_at", "opened_at"),
    "mttc": ("contained_at", "detected_at"),
    "mttr": ("resolved_at", "detected_at"),
}
LABELS = {"mttd": "MTTD", "mtta": "MTTA", "mttc": "MTTC", "mttr": "MTTR"}
DEFINITIONS = {
    "mttd": "opened − detected",
    "mtta": "acknowledged − opened",
    "mttc": "contained − detected",
    "mttr": "resolved − detected",
}


@dataclass(frozen=True)
class Stat:
    done: int = 0
    open: int = 0
    mean: float | None = None
    median: float | None = None
    p90: float | None = None


@dataclass
class Row:
    severity: int | None  # None: all severities
    category: str | None  # None: all categories
    incidents: int = 0
    stats: dict[str, Stat] = field(default_factory=dict)


@dataclass(frozen=True)
class WeekPoint:
    week: date  # the Monday (UTC) of the week the incidents were opened
    severity: int
    contained: int
    open: int
    mean: float | None
    median: float | None


@dataclass
class MetricsReport:
    since: datetime | None
    until: datetime | None
    severity: int | None
    category: str | None
    include_exercises: bool
    overall: Row
    by_severity: list[Row]
    by_category: list[Row]  # per (severity, category)
    weekly_mttc: list[WeekPoint]

    def row(self, severity: int | None = None, category: str | None = None) -> Row | None:
        if severity is None and category is None:
            return self.overall
        rows = self.by_severity if category is None else self.by_category
        return next((r for r in rows if r.severity == severity and r.category == category), None)


def _filters(*, since: datetime | None, until: datetime | None, severity: int | None, category: str | None,
             include_exercises: bool) -> list[ColumnElement]:
    where: list[ColumnElement] = []
    if since is not None:
        where.append(Incident.opened_at >= since)
    if until is not None:
        where.append(Incident.opened_at < until)
    if severity is not None:
        where.append(Incident.severity == severity)
    if category is not None:
        where.append(Incident.category == category)
    if not include_exercises:
        where.append(Incident.is_exercise.is_(False))  # type: ignore[attr-defined]
    return where


def _weight(i: Any, n: Any, num: int, den: int) -> ColumnElement:
    """The weight of the row at 0-based rank i in the interpolated num/den percentile of n values."""
    pos = (n - 1) * num  # exact integer position times den
    lo = pos.op("/")(den)  # integer division on both databases
    rem = pos.op("%")(den)
    frac = cast(rem, Float) / float(den)
    return case(
        (rem == 0, case((i == lo, 1.0), else_=0.0)),
        (i == lo, 1.0 - frac),
        (i == lo + 1, frac),
        else_=0.0,
    )


def _interval_stats(session: Session, where: list[ColumnElement], groups: list[ColumnElement],
                    metric: str) -> dict[tuple, tuple[int, float | None, float | None, float | None]]:
    """{group key: (done, mean, median, p90)} for incidents whose interval has ended."""
    end_name, start_name = METRICS[metric]
    end, start = getattr(Incident, end_name), getattr(Incident, start_name)
    labelled = [g.label(f"g{k}") for k, g in enumerate(groups)]
    inner = (select(*labelled, seconds_between(end, start).label("v"))
             .where(*where, end.is_not(None)).subquery())
    part = [inner.c[f"g{k}"] for k in range(len(groups))]
    ranked = select(
        *part, inner.c.v,
        (func.row_number().over(partition_by=part or None, order_by=inner.c.v) - 1).label("i"),
        func.count().over(partition_by=part or None).label("n"),
    ).subquery()
    rpart = [ranked.c[f"g{k}"] for k in range(len(groups))]
    i, n, v = ranked.c.i, ranked.c.n, ranked.c.v
    query = select(
        *rpart, func.max(n), func.avg(v),
        func.sum(v * _weight(i, n, 1, 2)), func.sum(v * _weight(i, n, 9, 10)),
    )
    if rpart:
        query = query.group_by(*rpart)
    out = {}
    for row in session.execute(query):
        key = tuple(row[: len(groups)])
        count = int(row[len(groups)] or 0)
        if count:
            mean, median, p90 = (float(x) for x in row[len(groups) + 1:])
            out[key] = (count, mean, median, p90)
    return out


def _counts(session: Session, where: list[ColumnElement], groups: list[ColumnElement]) -> dict[tuple, list[int]]:
    """{group key: [incidents, acknowledged, contained, resolved]}"""
    query = select(*groups, func.count(), func.count(Incident.acknowledged_at),
                   func.count(Incident.contained_at), func.count(Incident.resolved_at)).where(*where)
    if groups:
        query = query.group_by(*groups)
    out = {}
    for row in session.execute(query):
        total = int(row[len(groups)])
        if total:
            out[tuple(row[: len(groups)])] = [int(x) for x in row[len(groups):]]
    return out


def _rows(session: Session, where: list[ColumnElement], groups: list[ColumnElement]) -> dict[tuple, Row]:
    counts = _counts(session, where, groups)
    ended_index = {"mttd": 0, "mtta": 1, "mttc": 2, "mttr": 3}
    rows: dict[tuple, Row] = {}
    per_metric = {m: _interval_stats(session, where, groups, m) for m in METRICS}
    for key, (total, acked, contained, resolved) in counts.items():
        ended = [total, acked, contained, resolved]
        row = Row(severity=None, category=None, incidents=total)
        for metric in METRICS:
            done, mean, median, p90 = per_metric[metric].get(key, (0, None, None, None))
            row.stats[metric] = Stat(done=done, open=total - ended[ended_index[metric]],
                                     mean=mean, median=median, p90=p90)
        rows[key] = row
    return rows


def compute(session: Session, *, since: datetime | None = None, until: datetime | None = None,
            severity: int | None = None, category: str | None = None, include_exercises: bool = False,
            weekly: bool = True) -> MetricsReport:
    """The metrics for incidents opened in [since, until), optionally one severity/category.

    Tabletop exercises are excluded unless `include_exercises`. Groups with no incidents are absent.
    """
    where = _filters(since=since, until=until, severity=severity, category=category,
                     include_exercises=include_exercises)
    overall = _rows(session, where, []).get((), None) or Row(None, None, 0, {m: Stat() for m in METRICS})
    by_sev = []
    for (sev,), row in sorted(_rows(session, where, [Incident.severity]).items()):
        row.severity = sev
        by_sev.append(row)
    by_cat = []
    for (sev, cat), row in sorted(_rows(session, where, [Incident.severity, Incident.category]).items()):
        row.severity, row.category = sev, cat
        by_cat.append(row)
    weeks = _weekly(session, where) if weekly else []
    return MetricsReport(since=since, until=until, severity=severity, category=category,
                         include_exercises=include_exercises, overall=overall, by_severity=by_sev,
                         by_category=by_cat, weekly_mttc=weeks)


def _weekly(session: Session, where: list[ColumnElement]) -> list[WeekPoint]:
    groups = [week_start(Incident.opened_at), Incident.severity]
    stats = _interval_stats(session, where, groups, "mttc")
    counts = _counts(session, where, groups)
    points = []
    for key, (total, _acked, contained, _resolved) in counts.items():
        done, mean, median, _p90 = stats.get(key, (0, None, None, None))
        points.append(WeekPoint(week=date.fromisoformat(str(key[0])), severity=int(key[1]), contained=contained,
                                open=total - contained, mean=mean, median=median))
    return sorted(points, key=lambda p: (p.week, p.severity))


__all__ = ["compute", "MetricsReport", "Row", "Stat", "WeekPoint", "METRICS", "LABELS", "DEFINITIONS"]
