"""MTTD / MTTA / MTTC / MTTR over a period, grouped by severity and category, computed in SQL.

Definitions (seconds): MTTD = opened - detected, MTTA = acknowledged - opened, MTTC = contained - detected,
MTTR = resolved - detected. For each: how many incidents have the interval (`done`), how many are still
waiting for its end (`open`, counted, never dropped), the mean, the median and the 90th percentile.

Percentiles interpolate linearly between the two nearest ranks (PostgreSQL's percentile_cont). On
PostgreSQL one GROUPING SETS query computes every level with percentile_cont itself (each group sorts only
its own values, in memory). SQLite has no percentile aggregate: there one GROUP BY gives the counts and
sums, and window functions rank the values so that only the order statistics the median and p90 read come
back (a few rows per group), interpolated the same way. Nothing loads incidents into Python.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import case, func, literal, select, tuple_, union_all
from sqlalchemy.sql import ColumnElement
from sqlmodel import Session

from bot.metrics.sql import seconds_between, week_start
from bot.store.models import Incident

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


def _base(where: list[ColumnElement], groups: list[ColumnElement], metrics: tuple[str, ...]):
    """The filtered incidents, once: the group columns g0.. and each metric's interval in seconds."""
    cols = [g.label(f"g{k}") for k, g in enumerate(groups)]
    for m in metrics:
        end_name, start_name = METRICS[m]
        cols.append(seconds_between(getattr(Incident, end_name), getattr(Incident, start_name)).label(m))
    return select(*cols).where(*where).cte("base")


def _rows(result: Any, width: int, metrics: tuple[str, ...]) -> Iterator[tuple[tuple, Row]]:
    """(group key, Row) from a result row laid out as: key columns, incidents, then done/mean/median/p90."""
    for row in result:
        total = int(row[width])
        if not total:
            continue
        out = Row(severity=None, category=None, incidents=total)
        for k, m in enumerate(metrics):
            done, mean, median, p90 = row[width + 1 + 4 * k: width + 5 + 4 * k]
            done = int(done or 0)
            out.stats[m] = Stat(done=done, open=total - done,
                                **({"mean": float(mean), "median": float(median), "p90": float(p90)}
                                   if done else {}))
        yield tuple(row[:width]), out


def _levels_postgresql(session: Session, where: list[ColumnElement], levels: list[list[ColumnElement]],
                       metrics: tuple[str, ...]) -> list[dict[tuple, Row]]:
    """PostgreSQL: one query, GROUPING SETS over the levels, percentile_cont as an ordered-set aggregate.

    Each group sorts only its own values, in memory; the two percentiles of a metric share that sort.
    """
    width = max(len(lv) for lv in levels)
    groups = next(lv for lv in levels if len(lv) == width)
    base = _base(where, groups, metrics)
    keys = [base.c[f"g{k}"] for k in range(width)]
    cols: list[ColumnElement] = [func.count()]
    for m in metrics:
        v = base.c[m]
        cols += [func.count(v), func.avg(v), func.percentile_cont(0.5).within_group(v),
                 func.percentile_cont(0.9).within_group(v)]
    sets = [tuple_(*keys[:len(lv)]) for lv in levels]
    query = select(*keys, func.grouping(*keys).label("level"), *cols).group_by(func.grouping_sets(*sets))
    out: list[dict[tuple, Row]] = [{} for _ in levels]
    # grouping() sets a bit per key column left out of the grouping, the first column highest
    index = {(1 << (width - len(lv))) - 1: n for n, lv in enumerate(levels)}
    for row in session.execute(query):
        n = index[row[width]]
        depth = len(levels[n])
        for key, result in _rows([row[:width] + row[width + 1:]], width, metrics):
            out[n][key[:depth]] = result
    return out


def _interpolate(n: int, num: int, den: int, at: dict[int, float]) -> float:
    """The num/den percentile of n sorted values, given the values at the ranks it needs (0-based)."""
    lo, rem = divmod((n - 1) * num, den)
    if rem == 0:
        return at[lo]
    return at[lo] + (at[lo + 1] - at[lo]) * rem / den


def _targets(n: int) -> set[int]:
    """The 0-based ranks the median and the p90 of n values read."""
    out = set()
    for num, den in ((1, 2), (9, 10)):
        lo, rem = divmod((n - 1) * num, den)
        out.update((lo, lo + 1) if rem else (lo,))
    return out


def _levels_sqlite(session: Session, where: list[ColumnElement], levels: list[list[ColumnElement]],
                   metrics: tuple[str, ...]) -> list[dict[tuple, Row]]:
    """SQLite (no percentile aggregate, and each window sort costs ~0.1 s per 100k rows): two statements.

    1. Per finest group: the incident count and, per metric, how many ended and their sum; the coarser
       levels add these up.
    2. Per metric, the order statistics the percentiles need: the finest level ranked by one window per
       metric; the overall and per-first-key levels by ONE sort per metric ordered by the interval, the
       rank within a first-key group being a running count filtered to that group. Only the rows at the
       wanted ranks come back (a few per group), never the incidents.
    """
    width = max(len(lv) for lv in levels)
    coarse = [lv for lv in levels if len(lv) < width]
    if any(len(lv) > 1 for lv in coarse) or len(levels) - len(coarse) != 1:
        raise ValueError("SQLite metrics: levels must be [], [a] and one finest level")
    finest = next(n for n, lv in enumerate(levels) if len(lv) == width)
    base = _base(where, levels[finest], metrics)
    keys = [base.c[f"g{k}"] for k in range(width)]
    sums = []
    for m in metrics:
        sums += [func.count(base.c[m]), func.sum(base.c[m])]
    counted = select(*keys, func.count(), *sums)
    fine: dict[tuple, list] = {}
    for row in session.execute(counted.group_by(*keys) if keys else counted):
        fine[tuple(row[:width])] = [int(row[width])] + list(row[width + 1:])

    def totals(depth: int) -> dict[tuple, list]:
        out: dict[tuple, list] = {}
        for key, vals in fine.items():
            got = out.setdefault(key[:depth], [0] * len(vals))
            for j, x in enumerate(vals):
                got[j] += x or 0
        return out

    level_totals = [totals(len(lv)) for lv in levels]
    # done count per (level, group, metric) -> the ranks to read
    branches = []
    for k, m in enumerate(metrics):
        v = base.c[m]
        n_of = {(n, key): int(t[1 + 2 * k]) for n, lt in enumerate(level_totals) for key, t in lt.items()}
        fine_ranks = set().union(*(_targets(c) for (n, _), c in n_of.items() if len(levels[n]) == width and c))
        ranked = select(*keys, v.label("v"),
                        (func.row_number().over(partition_by=keys or None, order_by=v) - 1).label("i")
                        ).where(v.is_not(None)).subquery()
        branches.append(select(literal(k).label("m"), literal(0).label("kind"),
                               *(ranked.c[f"g{j}"] for j in range(width)), ranked.c.i,
                               literal(None).label("own"), ranked.c.v)
                        .where(ranked.c.i.in_(sorted(fine_ranks) or [-1])))
        if not coarse:
            continue
        firsts = sorted({key[0] for key in fine})
        all_ranks = set().union(*(_targets(c) for (n, key), c in n_of.items()
                                  if len(levels[n]) < width and c))
        running = [func.count().filter(keys[0] == f).over(order_by=v, rows=(None, 0)) for f in firsts]
        own = case(*((keys[0] == f, r) for f, r in zip(firsts, running, strict=True))) - 1 if firsts else literal(-1)
        ordered = select(*keys, v.label("v"), (func.row_number().over(order_by=v) - 1).label("i"),
                         own.label("own")).where(v.is_not(None)).subquery()
        wanted = sorted(all_ranks) or [-1]
        branches.append(select(literal(k).label("m"), literal(1).label("kind"),
                               *(ordered.c[f"g{j}"] for j in range(width)), ordered.c.i, ordered.c.own,
                               ordered.c.v)
                        .where(ordered.c.i.in_(wanted) | ordered.c.own.in_(wanted)))
    at: dict[tuple, dict[int, float]] = {}
    for row in session.execute(union_all(*branches)) if branches else []:
        k, kind = int(row[0]), int(row[1])
        key, i, own, val = tuple(row[2:2 + width]), int(row[2 + width]), row[3 + width], float(row[4 + width])
        if kind == 0:
            at.setdefault((k, finest, key), {})[i] = val
            continue
        for n, lv in enumerate(levels):
            if n == finest:
                continue
            rank = i if not lv else int(own)
            at.setdefault((k, n, key[:len(lv)]), {})[rank] = val
    out: list[dict[tuple, Row]] = []
    for n, lt in enumerate(level_totals):
        rows: dict[tuple, Row] = {}
        for key, t in lt.items():
            if not t[0]:
                continue
            row = Row(severity=None, category=None, incidents=int(t[0]))
            for k, m in enumerate(metrics):
                done, total = int(t[1 + 2 * k]), t[2 + 2 * k]
                vals = at.get((k, n, key), {})
                row.stats[m] = Stat(done=done, open=row.incidents - done,
                                    **({"mean": float(total) / done, "median": _interpolate(done, 1, 2, vals),
                                        "p90": _interpolate(done, 9, 10, vals)} if done else {}))
            rows[key] = row
        out.append(rows)
    return out


def _levels(session: Session, where: list[ColumnElement], levels: list[list[ColumnElement]],
            metrics: tuple[str, ...] = tuple(METRICS)) -> list[dict[tuple, Row]]:
    """Per level (a list of nested group columns, e.g. [], [severity], [severity, category]): group key ->
    Row with the incident count and, for each metric, done/open/mean/median/p90. Groups without incidents
    are absent. Each level must extend the previous one's columns."""
    if session.get_bind().dialect.name == "postgresql":
        return _levels_postgresql(session, where, levels, metrics)
    return _levels_sqlite(session, where, levels, metrics)


def compute(session: Session, *, since: datetime | None = None, until: datetime | None = None,
            severity: int | None = None, category: str | None = None, include_exercises: bool = False,
            weekly: bool = True) -> MetricsReport:
    """The metrics for incidents opened in [since, until), optionally one severity/category.

    Tabletop exercises are excluded unless `include_exercises`. Groups with no incidents are absent.
    """
    where = _filters(since=since, until=until, severity=severity, category=category,
                     include_exercises=include_exercises)
    total, sevs, cats = _levels(session, where, [[], [Incident.severity], [Incident.severity, Incident.category]])
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
    (rows,) = _levels(session, where, [[week_start(Incident.opened_at), Incident.severity]], ("mttc",))
    points = [WeekPoint(week=date.fromisoformat(str(week)), severity=int(sev), contained=r.stats["mttc"].done,
                        open=r.stats["mttc"].open, mean=r.stats["mttc"].mean, median=r.stats["mttc"].median)
              for (week, sev), r in rows.items()]
    return sorted(points, key=lambda p: (p.week, p.severity))
