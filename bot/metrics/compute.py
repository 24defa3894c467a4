"""MTTD / MTTA / MTTC / MTTR over a period, grouped by severity and category, computed in SQL.

The intervals are not computed here: `bot.core.facts` defines them and `facts.stamp` stores each finished
one on the incident row in whole seconds (`mttd_seconds` …, exercise pauses already taken out). This module
aggregates those integer columns. For each metric: how many incidents have the interval (`done`), how many
are still waiting for its end (`open`, counted, never dropped), the mean, the median and the 90th percentile.

Percentiles interpolate linearly between the two nearest ranks (PostgreSQL's percentile_cont). Because the
values are whole seconds, every median and p90 is an exact multiple of 0.1 s and every mean is sum / count:
both databases give bit-identical numbers (the mean is divided here, the percentiles computed exactly
from the ranks they read, or snapped to that exact value from percentile_cont's floating point).

- PostgreSQL: one GROUPING SETS query, percentile_cont as an ordered-set aggregate (each group sorts only
  its own values, in memory).
- SQLite (no percentile aggregate): one GROUP BY for the counts and sums; then per metric two window
  passes that return only the order statistics the percentiles read (a few rows per group): the finest
  groups ranked by a window partitioned by (severity, category), and the overall and per-severity ranks
  from one pass ordered by the value (per-severity ranks are running counts filtered to that severity).
  Both passes read covering indexes already in that order (`ix_incident_<metric>_by_group`,
  `ix_incident_<metric>_by_value`), so SQLite sorts nothing but the weekly series. Nothing loads
  incidents into Python.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, bindparam, case, func, literal, select, tuple_, union_all
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.sqltypes import TupleType
from sqlmodel import Session, col

from bot.core.facts import DEFINITIONS as _DEFINITIONS
from bot.core.facts import Metric, TargetRules
from bot.store.models import Incident

METRICS: tuple[Metric, ...] = tuple(Metric)
LABELS: dict[str, str] = {m.value: m.label for m in Metric}
DEFINITIONS: dict[str, str] = {m.value: d for m, d in _DEFINITIONS.items()}
_PERCENTILES = ((1, 2), (9, 10))  # median and p90 as fractions num/den
SEVERITIES = (1, 2, 3, 4)


@dataclass(frozen=True)
class Stat:
    done: int = 0
    open: int = 0
    mean: float | None = None
    median: float | None = None
    p90: float | None = None
    over_target: int | None = None  # MTTC only, when targets were given: contained after the target


@dataclass
class Row:
    severity: int | None  # None: all severities
    category: str | None  # None: all categories
    incidents: int = 0
    stats: dict[str, Stat] = field(default_factory=dict)  # keyed by Metric (a str)


@dataclass(frozen=True)
class WeekPoint:
    week: date  # the Monday (UTC) of the week the incidents were opened
    severity: int
    contained: int
    open: int
    mean: float | None
    median: float | None
    p90: float | None = None


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


# ----- the arithmetic, shared by both databases ------------------------------------------------------------
def ranks(n: int, num: int, den: int) -> tuple[int, int]:
    """(lower 0-based rank, remainder over den) of the num/den percentile of n sorted values."""
    return divmod((n - 1) * num, den)


def wanted_ranks(n: int) -> set[int]:
    """The 0-based ranks the median and the p90 of n values read."""
    out: set[int] = set()
    for num, den in _PERCENTILES:
        lo, rem = ranks(n, num, den)
        out.update((lo, lo + 1) if rem else (lo,))
    return out


def interpolate(n: int, num: int, den: int, at: dict[int, int]) -> float:
    """The num/den percentile of n sorted whole numbers, given the values at the ranks it reads: exactly,
    as one division of integers (so every database and the Python reference agree to the bit)."""
    lo, rem = ranks(n, num, den)
    if rem == 0:
        return float(at[lo])
    return (at[lo] * den + (at[lo + 1] - at[lo]) * rem) / den


def exact(value: float) -> float:
    """A percentile_cont result of whole seconds, snapped to the exact multiple of 0.1 it approximates."""
    return round(value * 10) / 10


def _stat(total: int, done: int, summed: int | None, median: float | None, p90: float | None,
          over: int | None = None) -> Stat:
    if not done:
        return Stat(done=0, open=total, over_target=0 if over is not None else None)
    return Stat(done=done, open=total - done, mean=int(summed or 0) / done, median=median, p90=p90,
                over_target=over)


# ----- filters and levels ---------------------------------------------------------------------------------
def _value(metric: Metric) -> Any:
    return getattr(Incident, metric.column)


def _filters(*, since: datetime | None, until: datetime | None, severity: int | None, category: str | None,
             include_exercises: bool) -> list[ColumnElement]:
    where: list[ColumnElement] = []
    if since is not None:
        where.append(col(Incident.opened_at) >= since)
    if until is not None:
        where.append(col(Incident.opened_at) < until)
    if severity is not None:
        where.append(col(Incident.severity) == severity)
    if category is not None:
        where.append(col(Incident.category) == category)
    if not include_exercises:
        where.append(col(Incident.is_exercise).is_(False))
    return where


Result = list[dict[tuple, Row]]  # per level: group key -> Row


def _levels_postgresql(session: Session, where: list[ColumnElement], keys: list[Any], *, coarse: bool,
                       metrics: tuple[Metric, ...], fine: tuple[Metric, ...], late: Any) -> Result:
    """One query: GROUPING SETS over the levels, percentile_cont per group and metric."""
    width = len(keys)
    depths = [0, 1, width] if coarse else [width]
    cols: list[Any] = [func.count(), func.sum(late) if late is not None else literal(None)]
    for m in metrics:
        v = _value(m)
        cols += [func.count(v), func.sum(v), func.percentile_cont(0.5).within_group(v),
                 func.percentile_cont(0.9).within_group(v)]
    sets = [tuple_(*keys[:d]) for d in depths]
    query = (select(*(k.label(f"g{j}") for j, k in enumerate(keys)), func.grouping(*keys).label("level"), *cols)
             .where(*where).group_by(func.grouping_sets(*sets)))
    out: Result = [{} for _ in depths]
    # grouping() sets a bit per key column left out of the grouping, the first column highest
    index = {(1 << (width - d)) - 1: n for n, d in enumerate(depths)}
    for row in session.execute(query):
        n = index[row[width]]
        total, over = int(row[width + 1]), row[width + 2]
        result = Row(severity=None, category=None, incidents=total)
        for k, m in enumerate(metrics):
            if depths[n] == width and m not in fine:
                continue
            done, summed, median, p90 = row[width + 3 + 4 * k: width + 7 + 4 * k]
            done = int(done or 0)
            result.stats[m] = _stat(total, done, summed, exact(median) if done else None,
                                    exact(p90) if done else None,
                                    int(over or 0) if late is not None and m == Metric.MTTC else None)
        if total:
            out[n][tuple(row[:depths[n]])] = result
    return out


def _levels_sqlite(session: Session, where: list[ColumnElement], keys: list[Any], *, coarse: bool,
                   metrics: tuple[Metric, ...], fine: tuple[Metric, ...], late: Any) -> Result:
    """Counts and sums in one GROUP BY; the order statistics from index-ordered windows (see the module)."""
    width = len(keys)
    depths = [0, 1, width] if coarse else [width]
    sums: list[Any] = []
    for m in metrics:
        sums += [func.count(_value(m)), func.sum(_value(m))]
    sums.append(func.sum(late) if late is not None else literal(0))  # the last total: contained late
    finest: dict[tuple, list[int]] = {}
    for row in session.execute(select(*keys, func.count(), *sums).where(*where).group_by(*keys)):
        finest[tuple(row[:width])] = [int(x or 0) for x in row[width:]]
    totals: list[dict[tuple, list[int]]] = []
    for depth in depths:
        level: dict[tuple, list[int]] = {}
        for key, vals in finest.items():
            got = level.setdefault(key[:depth], [0] * len(vals))
            for j, x in enumerate(vals):
                got[j] += x
        totals.append(level)

    def done_counts(k: int, level: int) -> list[int]:
        return [t[1 + 2 * k] for t in totals[level].values() if t[1 + 2 * k]]

    labelled = [key.label(f"g{j}") for j, key in enumerate(keys)]
    branches = []
    firsts = sorted({key[0] for key in finest})
    for k, m in enumerate(metrics):
        v = _value(m)
        if m in fine:
            # Rank within each finest group; return only the (group, rank) pairs its percentiles read. The
            # pairs are our own integers and the groups' stored keys, inlined (no bound-parameter limit).
            pairs = [(rank, *key) for key, t in totals[-1].items() if t[1 + 2 * k]
                     for rank in sorted(wanted_ranks(t[1 + 2 * k]))]
            ranked = (select(*labelled, v.label("v"),
                             (func.row_number().over(partition_by=keys, order_by=v) - 1).label("i"))
                      .where(*where, v.is_not(None)).subquery())
            read = bindparam(f"read_{k}", pairs or [(-1, *(None,) * width)], expanding=True, literal_execute=True,
                             type_=TupleType(Integer(), *(key.type for key in keys)))
            branches.append(select(literal(k).label("m"), literal(0).label("kind"),
                                   *(ranked.c[f"g{j}"] for j in range(width)), ranked.c.i,
                                   literal(None).label("own"), ranked.c.v)
                            .where(tuple_(ranked.c.i, *(ranked.c[f"g{j}"] for j in range(width))).in_(read)))
        if coarse:
            # One pass in value order: the overall rank, and the rank within the first key's group as a
            # running count of that group's rows.
            ranks_read = set().union(*(wanted_ranks(c) for c in done_counts(k, 0) + done_counts(k, 1)))
            running = [func.count().filter(keys[0] == f).over(order_by=v, rows=(None, 0)) for f in firsts]
            own = (case(*((keys[0] == f, r) for f, r in zip(firsts, running, strict=True))) - 1
                   if firsts else literal(-1))
            ordered = (select(*labelled, v.label("v"), (func.row_number().over(order_by=v) - 1).label("i"),
                              own.label("own"))
                       .where(*where, v.is_not(None)).subquery())
            wanted = sorted(ranks_read) or [-1]
            branches.append(select(literal(k).label("m"), literal(1).label("kind"),
                                   *(ordered.c[f"g{j}"] for j in range(width)), ordered.c.i, ordered.c.own,
                                   ordered.c.v)
                            .where(ordered.c.i.in_(wanted) | ordered.c.own.in_(wanted)))
    at: dict[tuple, dict[int, int]] = {}  # (metric index, level, group key) -> rank -> value
    for row in session.execute(union_all(*branches)) if branches else []:
        k, kind = int(row[0]), int(row[1])
        key, i, own, val = tuple(row[2:2 + width]), int(row[2 + width]), row[3 + width], int(row[4 + width])
        if kind == 0:
            at.setdefault((k, len(depths) - 1, key), {})[i] = val
        else:
            at.setdefault((k, 0, ()), {})[i] = val
            at.setdefault((k, 1, key[:1]), {})[int(own)] = val
    out: Result = []
    for n, level in enumerate(totals):
        rows: dict[tuple, Row] = {}
        for key, t in level.items():
            if not t[0]:
                continue
            result = Row(severity=None, category=None, incidents=t[0])
            for k, m in enumerate(metrics):
                if n == len(depths) - 1 and m not in fine:
                    continue
                done, summed = t[1 + 2 * k], t[2 + 2 * k]
                ranked_values = at.get((k, n, key), {})
                result.stats[m] = _stat(t[0], done, summed,
                                        interpolate(done, 1, 2, ranked_values) if done else None,
                                        interpolate(done, 9, 10, ranked_values) if done else None,
                                        t[-1] if late is not None and m == Metric.MTTC else None)
            rows[key] = result
        out.append(rows)
    return out


def _levels(session: Session, where: list[ColumnElement], keys: list[Any], *, coarse: bool,
            metrics: tuple[Metric, ...], fine: tuple[Metric, ...], late: Any = None) -> Result:
    """Group key -> Row per level: with `coarse`, [overall, by keys[0], by all keys], else [by all keys].
    Every level has every metric in `metrics`, except the finest, which has those in `fine`. `late`: a
    0/1 expression per incident, summed into the MTTC stat's `over_target`. Groups without incidents
    are absent."""
    levels = _levels_postgresql if session.get_bind().dialect.name == "postgresql" else _levels_sqlite
    return levels(session, where, keys, coarse=coarse, metrics=metrics, fine=fine, late=late)


def rubric_targets(rules: TargetRules) -> dict[int, timedelta]:
    """The rubric's MTTC target per severity: what the table and the chart compare groups against (a
    tabletop exercise's own scenario target applies to that exercise alone, in bot.core.facts)."""
    return {sev: rules.mttc_target(sev) for sev in SEVERITIES}


def _late(targets: Mapping[int, timedelta] | None) -> Any:
    """1 for an incident contained after its severity's target, else 0 (None without targets)."""
    if not targets:
        return None
    seconds = case(*((col(Incident.severity) == sev, int(t.total_seconds())) for sev, t in sorted(targets.items())),
                   else_=None)
    return case((_value(Metric.MTTC) > seconds, 1), else_=0)


def compute(session: Session, *, since: datetime | None = None, until: datetime | None = None,
            severity: int | None = None, category: str | None = None, include_exercises: bool = False,
            weekly: bool = True, by_category: Sequence[Metric] = METRICS,
            targets: Mapping[int, timedelta] | None = None) -> MetricsReport:
    """The metrics for incidents opened in [since, until), optionally one severity/category.

    Tabletop exercises are excluded unless `include_exercises`. Groups with no incidents are absent.
    `by_category`: the metrics broken down by (severity, category) (the table shows MTTC; the CSV all).
    `targets`: MTTC target per severity (the rubric's); each MTTC stat then counts `over_target`, the
    incidents contained after their severity's target.
    """
    where = _filters(since=since, until=until, severity=severity, category=category,
                     include_exercises=include_exercises)
    fine = tuple(m for m in METRICS if m in by_category)
    total, sevs, cats = _levels(session, where, [Incident.severity, Incident.category], coarse=True,
                                metrics=METRICS, fine=fine, late=_late(targets))
    overall = total.get(()) or Row(None, None, 0, {m: Stat() for m in METRICS})
    by_sev = []
    for (sev,), row in sorted(sevs.items()):
        row.severity = sev
        by_sev.append(row)
    by_cat = []
    for (sev, cat), row in sorted(cats.items()):
        row.severity, row.category = sev, cat
        by_cat.append(row)
    weeks = _weekly(session, where) if weekly else []
    return MetricsReport(since=since, until=until, severity=severity, category=category,
                         include_exercises=include_exercises, overall=overall, by_severity=by_sev,
                         by_category=by_cat, weekly_mttc=weeks)


def _weekly(session: Session, where: list[ColumnElement]) -> list[WeekPoint]:
    (rows,) = _levels(session, where, [Incident.opened_week, Incident.severity], coarse=False,
                      metrics=(Metric.MTTC,), fine=(Metric.MTTC,))
    points = [_point(week, sev, r.stats[Metric.MTTC]) for (week, sev), r in rows.items()]
    return sorted(points, key=lambda p: (p.week, p.severity))


def _point(week: Any, sev: Any, s: Stat) -> WeekPoint:
    return WeekPoint(week=week if isinstance(week, date) else date.fromisoformat(str(week)), severity=int(sev),
                     contained=s.done, open=s.open, mean=s.mean, median=s.median, p90=s.p90)
