"""The evidence migration creates exactly the evidence tables the models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine
from sqlmodel import SQLModel

import bot.store.models  # noqa: F401 - registers every table
from bot.store.migrate import upgrade

EVIDENCE_TABLES = {"repro_case", "probe_run", "probe_result"}


def _names(part) -> set[str]:
    if isinstance(part, str):
        return {part}
    found = {getattr(part, "name", None), getattr(getattr(part, "table", None), "name", None)}
    return {n for n in found if isinstance(n, str)}


def _touches_evidence(diff) -> bool:
    """A diff is a tuple like ('add_table', Table) / ('add_column', schema, 'table', Column), or a list of
    ('modify_type', schema, 'table', 'column', ...) tuples."""
    items = diff if isinstance(diff, list) else [diff]
    return any(EVIDENCE_TABLES & set().union(*(_names(p) for p in item[1:])) for item in items)


def test_migration_matches_the_models(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        upgrade(engine, "0007_evidence")
        with engine.connect() as conn:
            assert EVIDENCE_TABLES <= set(conn.dialect.get_table_names(conn))
            diffs = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
        assert [d for d in diffs if _touches_evidence(d)] == []
    finally:
        engine.dispose()
