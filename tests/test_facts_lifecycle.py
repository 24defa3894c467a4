"""The lifecycle stamps what the facts module says, and the SQL aggregates agree with it: seeded generated
incidents driven through the real lifecycle functions (open, acknowledge, contain — by hand or at a
verifier's time — resolve, reopen, resolve again; exercises paused and resumed), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from bot.core import facts, incidents, timeline
from bot.core.clock import ManualClock
from bot.core.facts import Metric
from bot.core.incidents import OpenRequest
from bot.core.severity import Inputs, load_rules
from bot.metrics import compute
from bot.store.db import Database
from bot.store.models import Incident
from tests.test_metrics_large import expected

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
CATEGORIES = ["jailbreak", "data_leakage", "prompt_injection"]


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    database.create_all()
    yield database
    database.dispose()


def step(clock: ManualClock, rng: random.Random, most: int) -> None:
    clock.advance(seconds=rng.randrange(1, most), microseconds=rng.randrange(10**6))


def play(db: Database, clock: ManualClock, rng: random.Random) -> None:
    """One incident through a random path of the lifecycle."""
    rules = load_rules(None)
    exercise = rng.random() < 0.3
    detected = clock.now() - timedelta(seconds=rng.randrange(0, 3600))
    req = OpenRequest(title="generated", reporter_id="U0GEN", inputs=Inputs(category=rng.choice(CATEGORIES)),
                      severity_override=rng.randint(1, 4), detected_at=detected, is_exercise=exercise)
    with db.session() as s:
        number = incidents.open_incident(s, clock, rules, req).id
    paused = False

    def maybe_pause() -> None:
        nonlocal paused
        if exercise and rng.random() < 0.5:
            with db.session() as s:
                timeline.record(s, clock, number, "exercise_resumed" if paused else "exercise_paused", "x",
                                actor="U0F")
            paused = not paused
            step(clock, rng, 1800)

    def act(fn) -> None:  # noqa: ANN001
        with db.session() as s:
            fn(s, incidents.get(s, number, lock=True))

    step(clock, rng, 900)
    maybe_pause()
    if rng.random() < 0.8:
        act(lambda s, inc: incidents.assign_role(s, clock, inc, "ic", "U0IC", actor="U0IC"))
    step(clock, rng, 7200)
    maybe_pause()
    if rng.random() < 0.8:
        verified_at = clock.now() - timedelta(seconds=rng.randrange(0, 60)) if rng.random() < 0.3 else None
        act(lambda s, inc: incidents.mark_contained(s, clock, inc, "", actor="U0IC", at=verified_at))
    step(clock, rng, 7200)
    maybe_pause()
    if rng.random() < 0.6:
        act(lambda s, inc: incidents.resolve(s, clock, inc, "done", actor="U0IC"))
        if rng.random() < 0.3:
            step(clock, rng, 3600)
            act(lambda s, inc: incidents.reopen(s, clock, inc, "back", actor="U0IC"))
            step(clock, rng, 3600)
            maybe_pause()
            if rng.random() < 0.5:
                act(lambda s, inc: incidents.resolve(s, clock, inc, "done again", actor="U0IC"))
    step(clock, rng, 600)


def test_stamped_intervals_and_sql_aggregates_agree_with_the_facts(db: Database) -> None:
    rng = random.Random(4242)
    clock = ManualClock(START)
    for _ in range(60):
        play(db, clock, rng)
    with db.session() as s:
        rows = list(s.exec(select(Incident)))
        truth = {inc.id: facts.load(s, inc, load_rules(None), clock.now()) for inc in rows}
        pauses = {inc.id: facts.load_pauses(s, inc) for inc in rows}
        report = compute(s, include_exercises=True)
        production = compute(s)
    assert any(pauses.values()), "the generator paused some exercises"
    assert any(i.status == "resolved" for i in rows) and any(i.status == "active" for i in rows)
    records = []
    for inc in rows:
        f = truth[inc.id]
        # What the lifecycle stamped is exactly the facts module's value, pauses taken out.
        stamped = {m: getattr(inc, m.column) for m in Metric}
        assert stamped == {m: f.interval(m).seconds for m in Metric}, inc.id
        assert stamped == facts.stored_seconds(inc, pauses[inc.id]), inc.id
        assert inc.opened_week == facts.week_of(inc.opened_at)
        records.append({"severity": inc.severity, "category": inc.category, "is_exercise": inc.is_exercise,
                        **{m.column: f.interval(m).seconds for m in Metric}})
    for rep, kept in ((report, records), (production, [r for r in records if not r["is_exercise"]])):
        assert rep.overall.incidents == len(kept)
        by_sev: dict[int, list[dict]] = defaultdict(list)
        for r in kept:
            by_sev[r["severity"]].append(r)
        for metric in Metric:
            assert rep.overall.stats[metric] == expected(kept, metric), metric
            for sev, items in by_sev.items():
                assert rep.row(sev).stats[metric] == expected(items, metric), (sev, metric)
