"""Migration 0006_tabletop creates exactly the tabletop tables the models describe (SQLite and PostgreSQL)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel

import bot.store.models  # noqa: F401
from bot.store.db import Database
from bot.store.migrate import upgrade

TABLES = {"exercise_run", "inject_delivery", "exercise_scorecard"}


def test_migration_matches_models(db_url: str) -> None:
    db = Database(db_url)
    try:
        upgrade(db.engine, "0006_tabletop")
        assert TABLES <= set(inspect(db.engine).get_table_names())
        with db.engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
        ours = [d for d in diffs if any(t in repr(d) for t in TABLES)]
        assert ours == []
    finally:
        db.dispose()
