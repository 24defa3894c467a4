"""Database behaviour on SQLite and PostgreSQL: numbering under concurrency, append-only timeline,
UTC round-trips, and migrations that match the models."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel, select

import bot.store.models  # noqa: F401
from bot.core import incidents, timeline
from bot.core.clock import ManualClock
from bot.core.incidents import OpenRequest
from bot.core.severity import Inputs, load_rules
from bot.store.db import Database
from bot.store.migrate import current, upgrade
from bot.store.models import Incident, TimelineEvent
from bot.store.models.timeline import AppendOnlyViolation


def test_concurrent_opens_get_distinct_increasing_numbers(db_harness) -> None:
    h = db_harness
    errors: list[BaseException] = []
    barrier = threading.Barrier(20)

    def open_one(i: int) -> None:
        try:
            barrier.wait()
            h.command(f"open Parallel report {i} --category jailbreak", user=f"U0USER{i:02d}", wait=False)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=open_one, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    h.wait(60)
    assert not errors
    with h.ctx.db.session() as s:
        rows = list(s.exec(select(Incident).order_by(Incident.id)))
    numbers = [r.id for r in rows]
    assert len(numbers) == 20 and len(set(numbers)) == 20
    assert numbers == sorted(numbers) and numbers[0] >= 1
    names = {h.fake.channels[r.channel_id]["name"] for r in rows}
    assert len(names) == 20 and all(n.startswith(f"inc-{r.id}-") for n, r in
                                    zip(sorted(names, key=lambda n: int(n.split('-')[1])), rows, strict=True))


def test_timeline_is_append_only_and_times_are_utc(db_url: str) -> None:
    db = Database(db_url)
    db.create_all()
    clock = ManualClock(datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC))
    with db.session() as s:
        inc = incidents.open_incident(s, clock, load_rules(), OpenRequest(
            title="t", reporter_id="U1", inputs=Inputs("other")))
        number = inc.id
    with pytest.raises(AppendOnlyViolation), db.session() as s:
        event = s.exec(select(TimelineEvent).where(TimelineEvent.incident_id == number)).first()
        assert event.at == datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC) and event.at.tzinfo is not None
        event.text = "rewritten history"
    with pytest.raises(AppendOnlyViolation), db.session() as s:
        s.delete(s.exec(select(TimelineEvent).where(TimelineEvent.incident_id == number)).first())
    with db.session() as s:
        assert [e.text for e in timeline.events(s, number)][0] == "Opened: t"
        assert incidents.get(s, number).opened_at == clock.now()
    db.dispose()


def test_migrations_build_exactly_the_models(db_url: str) -> None:
    db = Database(db_url)
    upgrade(db.engine)
    assert current(db.engine) is not None
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    # Type-affinity noise aside, every table, column, index and constraint must be in a migration.
    assert diff == [], diff
    upgrade(db.engine)  # idempotent
    db.dispose()


def test_timers_set_inside_a_session_follow_its_commit_or_rollback(db_harness) -> None:
    """Timer writes inside a session wait for its commit (no SQLite lock-up) and vanish with a rollback."""
    h = db_harness
    timers = h.ctx.timers
    timers.register("test_job", lambda ctx, **kw: None)
    when = h.ctx.clock.now()
    with pytest.raises(RuntimeError), h.ctx.db.session():
        timers.at("inc-9:test:rolled-back", when, "test_job")
        raise RuntimeError("the command failed")
    assert timers.pending("inc-9:") == []
    with h.ctx.db.session() as s:
        timers.at("inc-9:test:committed", when, "test_job", n=1)
        s.exec(select(Incident)).all()
        assert h.ctx.db.in_session()
    assert [t.key for t in timers.pending("inc-9:")] == ["inc-9:test:committed"]
    with h.ctx.db.session():
        timers.cancel_prefix("inc-9:")
    assert timers.pending("inc-9:") == []


def test_processes_starting_together_migrate_one_at_a_time(db_url: str) -> None:
    """`serve`, `console` and `scheduler` all migrate on start; simultaneous starts must not collide."""
    if db_url.startswith("sqlite"):
        pytest.skip("SQLite deployments run one process (README); the lock under test is PostgreSQL's advisory lock")
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def start() -> None:
        db = Database(db_url)
        try:
            barrier.wait()
            upgrade(db.engine)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            db.dispose()

    threads = [threading.Thread(target=start, daemon=True) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "migrations blocked each other"
    assert not errors, errors
    db = Database(db_url)
    assert current(db.engine) is not None
    db.dispose()


def test_a_single_write_is_one_transaction_and_never_inside_a_session(db_url: str) -> None:
    """`write_one` (a request's arrival, the topic): written and committed by itself, a duplicate refused as by
    any insert; inside a session it is refused at once (on SQLite it would wait for that session's own lock)."""
    from sqlalchemy import insert
    from sqlalchemy.exc import IntegrityError

    from bot.store.models import ProcessedRequest

    db = Database(db_url)
    db.create_all()
    row = {"key": "a" * 64, "received_at": datetime(2026, 1, 5, tzinfo=UTC)}
    db.write_one(insert(ProcessedRequest.__table__), row)  # type: ignore[attr-defined]
    with db.session() as session:
        assert session.exec(select(ProcessedRequest.key)).all() == [row["key"]]
        with pytest.raises(RuntimeError, match="inside a session"):
            db.write_one(insert(ProcessedRequest.__table__), {**row, "key": "b" * 64})  # type: ignore[attr-defined]
    with pytest.raises(IntegrityError):
        db.write_one(insert(ProcessedRequest.__table__), row)  # type: ignore[attr-defined]
    db.dispose()
