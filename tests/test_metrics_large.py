"""Metrics over 100,000 generated incidents on SQLite and PostgreSQL: the SQL agrees with Python.

Correctness only; timing belongs to the benchmark.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert

from bot.metrics import compute
from bot.store.db import Database
from bot.store.models import Incident

N = 100_000
CATEGORIES = ["jailbreak", "prompt_injection", "data_leakage", "harmful_content", "agent_tool_misuse"]
START = datetime(2025, 1, 6, tzinfo=UTC)


def percentile(values: list[float], num: int, den: int) -> float:
    values = sorted(values)
    pos = (len(values) - 1) * num
    lo, rem = divmod(pos, den)
    if rem == 0:
        return values[lo]
    return values[lo] + (values[lo + 1] - values[lo]) * rem / den


def generate(rng: random.Random) -> list[dict]:
    rows = []
    for _ in range(N):
        detected = START + timedelta(seconds=rng.randrange(0, 365 * 86400))
        opened = detected + timedelta(seconds=rng.randrange(0, 3600))
        ack = opened + timedelta(seconds=rng.randrange(0, 1800)) if rng.random() < 0.95 else None
        contained = detected + timedelta(seconds=rng.randrange(60, 3 * 86400)) if rng.random() < 0.9 else None
        resolved = (contained + timedelta(seconds=rng.randrange(0, 86400))
                    if contained is not None and rng.random() < 0.8 else None)
        rows.append({
            "title": "generated", "description": "", "category": rng.choice(CATEGORIES),
            "category_suggested": False, "severity": rng.randint(1, 4), "severity_reasons": "",
            "status": "resolved" if resolved else ("contained" if contained else "active"),
            "private": False, "is_exercise": rng.random() < 0.05, "reporter_id": "U0GEN",
            "detected_at": detected, "opened_at": opened, "acknowledged_at": ack, "contained_at": contained,
            "resolved_at": resolved,
        })
    return rows


def test_hundred_thousand_incidents(db_url: str) -> None:
    rng = random.Random(20261124)
    rows = generate(rng)
    db = Database(db_url)
    db.create_all()
    try:
        with db.engine.begin() as conn:
            for i in range(0, N, 10_000):
                conn.execute(insert(Incident), rows[i:i + 10_000])
        since = START + timedelta(days=90)
        with db.session() as s:
            report = compute(s, since=since)
    finally:
        db.dispose()

    kept = [r for r in rows if not r["is_exercise"] and r["opened_at"] >= since]
    by_sev: dict[int, list[dict]] = defaultdict(list)
    for r in kept:
        by_sev[r["severity"]].append(r)
    assert report.overall.incidents == len(kept)
    assert [row.severity for row in report.by_severity] == sorted(by_sev)
    for sev, items in by_sev.items():
        row = report.row(sev)
        assert row.incidents == len(items)
        for metric, end, start in (("mttc", "contained_at", "detected_at"), ("mtta", "acknowledged_at", "opened_at"),
                                   ("mttr", "resolved_at", "detected_at"), ("mttd", "opened_at", "detected_at")):
            values = [(r[end] - r[start]).total_seconds() for r in items if r[end] is not None]
            stat = row.stats[metric]
            assert stat.done == len(values), (sev, metric)
            assert stat.open == len(items) - len(values), (sev, metric)
            assert stat.mean == pytest.approx(sum(values) / len(values), abs=0.01), (sev, metric)
            assert stat.median == pytest.approx(percentile(values, 1, 2), abs=0.01), (sev, metric)
            assert stat.p90 == pytest.approx(percentile(values, 9, 10), abs=0.01), (sev, metric)
    # one (severity, category) cell checked the same way
    cell = [r for r in by_sev[1] if r["category"] == "jailbreak"]
    values = [(r["contained_at"] - r["detected_at"]).total_seconds() for r in cell if r["contained_at"]]
    stat = report.row(1, "jailbreak").stats["mttc"]
    assert (stat.done, stat.open) == (len(values), len(cell) - len(values))
    assert stat.p90 == pytest.approx(percentile(values, 9, 10), abs=0.01)
    # the weekly series covers every kept incident exactly once
    assert sum(p.contained + p.open for p in report.weekly_mttc) == len(kept)
