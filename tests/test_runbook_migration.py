"""Migration 0002_runbooks creates exactly the runbook tables the models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel

import bot.store.models  # noqa: F401
from bot.store.db import Database
from bot.store.migrate import current, upgrade

RUNBOOK_TABLES = {"runbook_attachment", "runbook_step", "runbook_checklist"}


def test_migration_matches_the_runbook_models(db_url: str) -> None:
    db = Database(db_url)
    try:
        upgrade(db.engine)
        assert current(db.engine) is not None
        assert RUNBOOK_TABLES <= set(inspect(db.engine).get_table_names())
        with db.engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
        mine = [d for d in diffs if any(t in repr(d) for t in RUNBOOK_TABLES)]
        assert mine == []
    finally:
        db.dispose()
