"""Migration 0009_intervals: the stored intervals and their indexes match the model, and incidents that
existed before it are backfilled with exactly what bot.core.facts says (exercise pauses taken out), on
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert, inspect
from sqlmodel import SQLModel, select

import bot.store.models  # noqa: F401 - registers every table
from bot.core import facts
from bot.core.facts import Pause
from bot.store.db import Database
from bot.store.migrate import alembic_config, upgrade
from bot.store.models import Incident, TimelineEvent

T0 = datetime(2026, 2, 4, 9, 0, 30, 250_000, tzinfo=UTC)  # a Wednesday, with sub-second parts
BEFORE = "0008_effects"  # the revision before 0009_intervals
OLD_COLUMNS = ("title", "category", "severity", "status", "is_exercise", "reporter_id", "detected_at",
               "opened_at", "acknowledged_at", "contained_at", "resolved_at")


def _old_row(**kw) -> dict:
    row = {"title": "t", "category": "jailbreak", "severity": 2, "status": "active", "is_exercise": False,
           "reporter_id": "U0ALICE", "detected_at": T0, "opened_at": T0 + timedelta(minutes=3, seconds=0.5),
           "acknowledged_at": None, "contained_at": None, "resolved_at": None}
    row.update(kw)
    return row


def test_upgrade_backfills_the_intervals_and_matches_the_model(db_url: str) -> None:
    db = Database(db_url)
    try:
        upgrade(db.engine, BEFORE)
        incident = Incident.__table__
        rows = [
            _old_row(),  # open: only MTTD
            _old_row(acknowledged_at=T0 + timedelta(minutes=5), contained_at=T0 + timedelta(minutes=47, seconds=59.9),
                     resolved_at=T0 + timedelta(hours=5), status="resolved"),
            _old_row(is_exercise=True, acknowledged_at=T0 + timedelta(minutes=4),
                     contained_at=T0 + timedelta(minutes=50), status="contained"),  # paused 20m, see below
        ]
        with db.engine.begin() as conn:
            for row in rows:  # the columns that existed before the migration, nothing else
                conn.execute(insert(incident).values({k: row[k] for k in OLD_COLUMNS}))
            conn.execute(insert(TimelineEvent.__table__), [
                {"incident_id": 3, "at": T0 + timedelta(minutes=10), "actor": "U0F", "kind": "exercise_paused",
                 "text": "paused", "data": {}},
                {"incident_id": 3, "at": T0 + timedelta(minutes=30), "actor": "U0F", "kind": "exercise_resumed",
                 "text": "resumed", "data": {}},
            ])
        upgrade(db.engine)
        with db.session() as s:
            stored = {inc.id: inc for inc in s.exec(select(Incident))}
        paused = {3: (Pause(T0 + timedelta(minutes=10), T0 + timedelta(minutes=30)),)}
        for number, inc in stored.items():
            expect = facts.stored_seconds(inc, paused.get(number, ()))
            assert {m: getattr(inc, m.column) for m in facts.Metric} == expect, number
            assert inc.opened_week == facts.week_of(inc.opened_at) == (T0 - timedelta(days=2)).date()
        assert (stored[1].mttd_seconds, stored[1].mtta_seconds, stored[1].mttc_seconds) == (180, None, None)
        assert (stored[2].mttc_seconds, stored[2].mttr_seconds) == (47 * 60 + 59, 5 * 3600)
        assert stored[3].mttc_seconds == 30 * 60  # 50 minutes less the 20-minute pause
        with db.engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
            indexes = {ix["name"] for ix in inspect(conn).get_indexes("incident")}
        assert [d for d in diffs if "incident" in repr(d) and "role_assignment" not in repr(d)] == []
        assert {"ix_incident_metric_groups", "ix_incident_mttc_by_group", "ix_incident_mttc_by_value",
                "ix_incident_mttc_by_week"} <= indexes
    finally:
        db.dispose()


def test_downgrade_removes_them(db_url: str) -> None:
    db = Database(db_url)
    try:
        upgrade(db.engine)
        with db.engine.begin() as conn:
            command.downgrade(alembic_config(connection=conn), BEFORE)
        with db.engine.connect() as conn:
            columns = {c["name"] for c in inspect(conn).get_columns("incident")}
        assert not {"mttd_seconds", "mtta_seconds", "mttc_seconds", "mttr_seconds", "opened_week"} & columns
    finally:
        db.dispose()
