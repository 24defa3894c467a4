"""Time `bot.metrics.compute` over 100,000 generated incidents on SQLite and PostgreSQL (best of N).

    python -m bench.metrics_compute --setup      # seed /tmp/firebreak-metrics.db and schema metrics_bench once
    python -m bench.metrics_compute [--repeat 3] [--dump FILE]

Uses the generator of tests/test_metrics_large.py (same seed), `since` = 90 days after its start, so the
numbers are comparable with that test. Two variants: `all` (every metric broken down by category, as the
CSV) and `table` (what `/incident metrics` computes: MTTC by category, misses against the rubric's
targets). `--dump` writes the `all` report as JSON to compare two implementations.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert, text

from bot.core.facts import Metric
from bot.core.severity import load_rules
from bot.metrics import compute, rubric_targets
from bot.store.db import Database
from bot.store.models import Incident

SQLITE = "sqlite:////tmp/firebreak-metrics.db"
PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3Dmetrics_bench"


def setup() -> None:
    from tests.test_metrics_large import N, generate

    rows = generate(random.Random(20261124))
    for suffix in ("", "-wal", "-shm"):  # a fresh file: the schema follows the models
        Path(SQLITE.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
    with Database(PG.split("?")[0]).engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS metrics_bench CASCADE"))
        conn.execute(text("CREATE SCHEMA metrics_bench"))
    for url in (SQLITE, PG):
        db = Database(url)
        db.create_all()
        with db.engine.begin() as conn:
            for i in range(0, N, 10_000):
                conn.execute(insert(Incident), rows[i:i + 10_000])
        if url == PG:
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE incident"))
        db.dispose()


def main() -> None:
    from tests.test_metrics_large import START

    p = argparse.ArgumentParser()
    p.add_argument("--setup", action="store_true")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--only", choices=["sqlite", "postgresql"])
    p.add_argument("--dump")
    a = p.parse_args()
    if a.setup:
        setup()
    since = START + timedelta(days=90)
    until = START + timedelta(days=365)
    targets = rubric_targets(load_rules(None))
    variants = {  # the CSV's full breakdown, and what `/incident metrics` asks for (MTTC by category)
        "all": lambda s: compute(s, since=since),
        "table": lambda s: compute(s, since=since, until=until, targets=targets, by_category=(Metric.MTTC,)),
    }
    dump = {}
    for name, url in (("sqlite", SQLITE), ("postgresql", PG)):
        if a.only and a.only != name:
            continue
        db = Database(url)
        for variant, run in variants.items():
            times, cpu = [], []
            for _ in range(a.repeat):
                with db.session() as s:
                    t0, c0 = time.perf_counter(), time.process_time()
                    report = run(s)
                    times.append(time.perf_counter() - t0)
                    cpu.append(time.process_time() - c0)
            if variant == "all":
                dump[name] = dataclasses.asdict(report)
            print(f"{name:10s} {variant:5s} best {min(times) * 1000:8.1f} ms   all "
                  + " ".join(f"{t * 1000:.0f}" for t in times)
                  + f"   (this process's CPU, best: {min(cpu) * 1000:.0f} ms)")
        db.dispose()
    if a.dump:
        with open(a.dump, "w") as f:
            json.dump(dump, f, default=str, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
