"""The database adapter: engines for SQLite (WAL, immediate transactions) and PostgreSQL, UTC datetimes."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    CursorResult,
    DateTime,
    Dialect,
    Engine,
    Result,
    TextClause,
    bindparam,
    create_engine,
    event,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in, timezone-aware UTC out, on SQLite (which stores naive) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where UTC is required")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def rowcount(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE matched.

    The session types every result as a plain `Result`; a data-changing statement's is a `CursorResult`."""
    return cast(CursorResult[Any], result).rowcount


def insert_on_conflict(table: Any, columns: Sequence[str], conflict: str, *, update: Sequence[str] = (),
                       returning: str | None = None) -> TextClause:
    """`INSERT … ON CONFLICT (conflict) DO UPDATE SET update… | DO NOTHING [RETURNING …]` for `table`, written in
    the syntax SQLite and PostgreSQL share, with each parameter typed as its column. SQLAlchemy compiles its
    dialects' own ON CONFLICT constructs afresh on every execution; this statement is compiled once."""
    def quoted(name: str) -> str:
        return f'"{name}"'

    action = ("DO UPDATE SET " + ", ".join(f"{quoted(c)} = excluded.{quoted(c)}" for c in update)) if update \
        else "DO NOTHING"
    sql = (f"INSERT INTO {table.name} ({', '.join(quoted(c) for c in columns)}) "
           f"VALUES ({', '.join(':' + c for c in columns)}) ON CONFLICT ({quoted(conflict)}) {action}"
           + (f" RETURNING {quoted(returning)}" if returning else ""))
    return text(sql).bindparams(*(bindparam(c, type_=table.c[c].type) for c in columns))


def normalize_url(url: str) -> str:
    """Accept `postgresql://` and `postgres://` as psycopg 3 URLs."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


class DatabaseBusy(Exception):
    """The database stayed locked (or its pool exhausted) longer than the configured lock timeout."""


def make_engine(url: str, *, pool_size: int = 10, lock_timeout: float = 30.0) -> Engine:
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": lock_timeout},
            pool_size=pool_size,
            max_overflow=pool_size,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn, _record):  # pragma: no cover - exercised by every sqlite test
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            if parsed.database and parsed.database != ":memory:":
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={int(lock_timeout * 1000)}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # pragma: no cover
            # Take the write lock up front: a deferred transaction that reads and then writes can
            # fail with SQLITE_BUSY instead of waiting, which loses concurrent opens.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True,
                         pool_timeout=lock_timeout)


class Database:
    """Owns the engine; hands out sessions that commit on success and roll back on error."""

    def __init__(self, url: str, *, pool_size: int = 20, lock_timeout: float = 30.0) -> None:
        # Up to 16 HTTP threads (retry de-duplication) and 8 work threads hold sessions at once; a pool
        # smaller than that closes and reopens PostgreSQL connections all through a burst.
        self.url = normalize_url(url)
        self.lock_timeout = lock_timeout
        self.engine = make_engine(self.url, pool_size=pool_size, lock_timeout=lock_timeout)
        self._local = threading.local()
        # SQLite has one writer at a time and every transaction here takes the write lock (BEGIN IMMEDIATE).
        # Queue this process's sessions on a thread lock first: a waiter then starts the moment the lock is
        # free, instead of in SQLite's busy handler, which sleeps in steps of up to 100 ms and lets a
        # waiter starve (acks over 3 s under a burst). Other processes still wait in the busy handler.
        self._sqlite_lock = threading.RLock() if self.engine.dialect.name == "sqlite" else None
        # Called after a transaction that recorded side effects commits (the effects runner's kick).
        self.on_effects: list[Callable[[], object]] = []

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error.

        Work registered with `after_commit` while a session is open on this thread runs after the
        outermost session commits (and after SQLite's write lock is released), and is dropped if it rolls back.
        """
        depth = getattr(self._local, "depth", 0)
        if depth == 0:
            self._local.after = []
        self._local.depth = depth + 1
        lock = self._sqlite_lock
        if lock is not None and not lock.acquire(timeout=self.lock_timeout):
            self._local.depth = depth
            raise DatabaseBusy(f"the database stayed locked for {self.lock_timeout:g} s")
        session = Session(self.engine, expire_on_commit=False)
        try:
            yield session
            recorded = session.info.pop("effects", False)
            session.commit()
            if recorded:
                self.after_commit(self._effects_recorded)
        except BaseException:
            session.rollback()
            if depth == 0:
                self._local.after = []
            raise
        finally:
            session.close()
            if lock is not None:
                lock.release()
            self._local.depth = depth
        if depth == 0:
            callbacks, self._local.after = self._local.after, []
            for callback in callbacks:
                callback()

    def write_one(self, statement: Any, params: dict[str, Any]) -> None:
        """One write that is a transaction by itself (a row recording that a request arrived). On PostgreSQL it
        runs in autocommit, without the BEGIN and COMMIT round trips; on SQLite in one short transaction that
        takes its turn on the write lock like every session. Never inside a session on this thread (on SQLite it
        would wait for that session's own write lock)."""
        if self.in_session():
            raise RuntimeError("write_one inside a session: write in that session instead")
        if self.engine.dialect.name != "postgresql":
            lock = self._sqlite_lock
            if lock is not None and not lock.acquire(timeout=self.lock_timeout):
                raise DatabaseBusy(f"the database stayed locked for {self.lock_timeout:g} s")
            try:
                with self.engine.begin() as conn:
                    conn.execute(statement, params)
            finally:
                if lock is not None:
                    lock.release()
            return
        with self.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(statement, params)

    def _effects_recorded(self) -> None:
        for callback in self.on_effects:
            callback()

    def in_session(self) -> bool:
        return getattr(self._local, "depth", 0) > 0

    def after_commit(self, callback: Callable[[], object]) -> None:
        """Run `callback` now, or, inside a session on this thread, once that session has committed.

        Writes to other stores (the scheduler's job table) must not happen while this thread's session
        holds SQLite's write lock, and must not happen at all if the session's work is rolled back.
        """
        if self.in_session():
            self._local.after.append(callback)
        else:
            callback()

    def create_all(self) -> None:
        """Create tables straight from the models (tests); deployments use `firebreak db upgrade`."""
        from sqlmodel import SQLModel

        import bot.store.models  # noqa: F401  (registers every table)

        SQLModel.metadata.create_all(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()
