"""Migration 0005_scheduler creates exactly the scheduler tables the models (and APScheduler) describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel

import bot.store.models  # noqa: F401
from bot.store.db import Database
from bot.store.migrate import upgrade

SCHEDULER_TABLES = {"apscheduler_jobs", "report_clock", "page_state", "scheduler_run"}


def test_upgrade_creates_scheduler_tables_matching_the_models(db_url: str) -> None:
    db = Database(db_url)
    try:
        upgrade(db.engine)
        assert SCHEDULER_TABLES <= set(inspect(db.engine).get_table_names())
        with db.engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
        mine = [d for d in diffs if any(t in repr(d) for t in SCHEDULER_TABLES)]
        assert mine == []
    finally:
        db.dispose()


def test_apscheduler_accepts_the_migrated_table(db_url: str, clock) -> None:
    from bot.config.settings import Settings
    from bot.slack.app import build

    bot = build(Settings(database_url=db_url, slack_api_url="http://127.0.0.1:9/"), clock)
    try:
        upgrade(bot.ctx.db.engine)
        t = bot.ctx.timers
        t.register("noop", lambda ctx, **kw: None)
        t.at("inc-1:x", clock.now(), "noop")
        assert [p.key for p in t.pending()] == ["inc-1:x"] and t.run_due() == 1
    finally:
        bot.close()
