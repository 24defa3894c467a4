"""Metrics over generated incidents on SQLite and PostgreSQL: the SQL aggregates equal, to the bit,
what the facts module says about each incident (so both databases give identical numbers).

The generator is seeded; 5% of the incidents are exercises, some of them paused. Correctness only; timing
belongs to the benchmark (bench/metrics_compute.py uses this generator).
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import insert

from bot.core import facts
from bot.core.facts import Metric, Pause
from bot.metrics import compute
from bot.metrics.compute import Stat
from bot.store.db import Database
from bot.store.models import Incident

N = 100_000  # the benchmark's size (bench/metrics_compute.py)
TEST_N = 20_000  # enough for every group, week and rank path; the test stays quick
CATEGORIES = ["jailbreak", "prompt_injection", "data_leakage", "harmful_content", "agent_tool_misuse"]
START = datetime(2025, 1, 6, tzinfo=UTC)
TARGETS = {1: timedelta(hours=1), 2: timedelta(hours=4), 3: timedelta(hours=24), 4: timedelta(hours=72)}


@dataclass
class Times:
    """The timestamps facts.fill reads, without building an ORM row per generated incident."""

    detected_at: datetime
    opened_at: datetime
    acknowledged_at: datetime | None
    contained_at: datetime | None
    resolved_at: datetime | None
    is_open: bool
    mttd_seconds: int | None = None
    mtta_seconds: int | None = None
    mttc_seconds: int | None = None
    mttr_seconds: int | None = None
    opened_week: date | None = None


def generate(rng: random.Random, n: int = N) -> list[dict]:
    """Incident rows as the lifecycle leaves them, with the stored intervals facts.fill writes."""
    rows = []
    for _ in range(n):
        detected = START + timedelta(seconds=rng.randrange(0, 365 * 86400), microseconds=rng.randrange(10**6))
        opened = detected + timedelta(seconds=rng.randrange(0, 3600), microseconds=rng.randrange(10**6))
        ack = opened + timedelta(seconds=rng.randrange(0, 1800)) if rng.random() < 0.95 else None
        contained = detected + timedelta(seconds=rng.randrange(60, 3 * 86400)) if rng.random() < 0.9 else None
        resolved = (contained + timedelta(seconds=rng.randrange(0, 86400))
                    if contained is not None and rng.random() < 0.8 else None)
        exercise = rng.random() < 0.05
        times = Times(detected, opened, ack, contained, resolved, is_open=resolved is None)
        paused: tuple[Pause, ...] = ()
        if exercise and rng.random() < 0.5:  # a facilitator paused it once, somewhere after opening
            start = opened + timedelta(seconds=rng.randrange(0, 7200))
            paused = (Pause(start, start + timedelta(seconds=rng.randrange(60, 3600))),)
        facts.fill(times, paused)
        rows.append({
            "title": "generated", "description": "", "category": rng.choice(CATEGORIES),
            "category_suggested": False, "severity": rng.randint(1, 4), "severity_reasons": "",
            "status": "resolved" if resolved else ("contained" if contained else "active"),
            "private": False, "is_exercise": exercise, "reporter_id": "U0GEN", **asdict(times),
        })
        del rows[-1]["is_open"]
    return rows


def percentile(values: list[int], num: int, den: int) -> float:
    """Linear interpolation between the nearest ranks, exactly (the facts are whole seconds)."""
    values = sorted(values)
    lo, rem = divmod((len(values) - 1) * num, den)
    if rem == 0:
        return float(values[lo])
    return (values[lo] * den + (values[lo + 1] - values[lo]) * rem) / den


def expected(items: list[dict], metric: Metric) -> Stat:
    values = [r[metric.column] for r in items if r[metric.column] is not None]
    if not values:
        return Stat(done=0, open=len(items))
    return Stat(done=len(values), open=len(items) - len(values), mean=sum(values) / len(values),
                median=percentile(values, 1, 2), p90=percentile(values, 9, 10))


def week_of(ts: datetime) -> date:
    return (ts - timedelta(days=ts.weekday())).date()


def check(report, kept: list[dict]) -> None:
    """Every level of the report equals the Python reference exactly (no tolerance)."""
    assert report.overall.incidents == len(kept)
    for metric in Metric:
        assert report.overall.stats[metric] == expected(kept, metric), ("overall", metric)
    by_sev: dict[int, list[dict]] = defaultdict(list)
    by_cat: dict[tuple[int, str], list[dict]] = defaultdict(list)
    by_week: dict[tuple[date, int], list[dict]] = defaultdict(list)
    for r in kept:
        by_sev[r["severity"]].append(r)
        by_cat[(r["severity"], r["category"])].append(r)
        by_week[(week_of(r["opened_at"]), r["severity"])].append(r)
    assert [row.severity for row in report.by_severity] == sorted(by_sev)
    for sev, items in by_sev.items():
        row = report.row(sev)
        assert row.incidents == len(items)
        for metric in Metric:
            assert row.stats[metric] == expected(items, metric), (sev, metric)
    assert [(row.severity, row.category) for row in report.by_category] == sorted(by_cat)
    for (sev, cat), items in by_cat.items():
        assert report.row(sev, cat).stats[Metric.MTTC] == expected(items, Metric.MTTC), (sev, cat)
        assert report.row(sev, cat).stats[Metric.MTTA] == expected(items, Metric.MTTA), (sev, cat)
    assert [(p.week, p.severity) for p in report.weekly_mttc] == sorted(by_week)
    for p in report.weekly_mttc:
        want = expected(by_week[(p.week, p.severity)], Metric.MTTC)
        assert (p.contained, p.open, p.mean, p.median, p.p90) == (want.done, want.open, want.mean, want.median,
                                                                  want.p90), (p.week, p.severity)


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return generate(random.Random(20261124), TEST_N)


def test_generated_incidents_agree_with_the_facts(db_url: str, rows: list[dict]) -> None:
    db = Database(db_url)
    db.create_all()
    try:
        with db.engine.begin() as conn:
            for i in range(0, len(rows), 10_000):
                conn.execute(insert(Incident), rows[i:i + 10_000])
        since = START + timedelta(days=90)
        with db.session() as s:
            production = compute(s, since=since)
            with_exercises = compute(s, since=since, include_exercises=True)
            one_severity = compute(s, since=since, severity=2, category="jailbreak")
            judged = compute(s, since=since, targets=TARGETS, weekly=False, by_category=(Metric.MTTC,))
    finally:
        db.dispose()

    recent = [r for r in rows if r["opened_at"] >= since]
    check(production, [r for r in recent if not r["is_exercise"]])
    check(with_exercises, recent)
    check(one_severity, [r for r in recent if not r["is_exercise"] and r["severity"] == 2
                         and r["category"] == "jailbreak"])
    # Contained after their severity's target, per severity, per (severity, category) and overall.
    kept = [r for r in recent if not r["is_exercise"]]

    def late(items: list[dict]) -> int:
        return sum(1 for r in items if r["mttc_seconds"] is not None
                   and r["mttc_seconds"] > TARGETS[r["severity"]].total_seconds())

    assert judged.overall.stats[Metric.MTTC].over_target == late(kept) > 0
    for row in judged.by_severity:
        assert row.stats[Metric.MTTC].over_target == late([r for r in kept if r["severity"] == row.severity])
    for row in judged.by_category:
        assert row.stats[Metric.MTTC].over_target == late(
            [r for r in kept if (r["severity"], r["category"]) == (row.severity, row.category)])
        assert Metric.MTTD not in row.stats  # broken down by category: MTTC only, as asked
    assert production.overall.stats[Metric.MTTC].over_target is None  # no targets given
    # The paused exercises really are in there, with their pauses taken out.
    assert any(r["is_exercise"] and r["mttc_seconds"] is not None and r["contained_at"] is not None
               and r["mttc_seconds"] < int((r["contained_at"] - r["detected_at"]).total_seconds())
               for r in recent)
