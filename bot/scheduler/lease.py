"""Exactly one process schedules: a PostgreSQL session-level advisory lock, or the only process on SQLite.

The lock key is derived from the job table's schema, so separate deployments (or test schemas) sharing
one PostgreSQL server do not block each other. The lock lives as long as its connection: a process that
dies (even SIGKILL) drops its connection and the lock with it, and another process takes over.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Connection, Engine, text

log = logging.getLogger(__name__)


class Lease:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._conn: Connection | None = None
        self._key: int | None = None
        self._lock = threading.Lock()

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def acquire(self) -> bool:
        """Try to become the scheduler. SQLite: always (one process per database, see docs/scheduler.md)."""
        if not self.is_postgres:
            return True
        with self._lock:
            if self._conn is not None:
                return True
            conn = self.engine.connect()
            try:
                key = conn.execute(text(
                    "SELECT hashtext(current_schema() || '.firebreak-scheduler')::bigint")).scalar_one()
                got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar_one()
                conn.commit()
            except Exception:
                conn.close()
                raise
            if not got:
                conn.close()
                return False
            self._conn, self._key = conn, key
            return True

    def still_held(self) -> bool:
        if not self.is_postgres:
            return True
        with self._lock:
            if self._conn is None:
                return False
            try:
                self._conn.execute(text("SELECT 1")).scalar_one()
                self._conn.commit()
                return True
            except Exception:  # noqa: BLE001 - connection gone: so is the lock
                log.warning("scheduler lease connection lost")
                self._drop()
                return False

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.invalidate()
                self._conn.close()
            except Exception:  # noqa: BLE001
                pass
        self._conn, self._key = None, None

    def release(self) -> None:
        with self._lock:
            if self._conn is None:
                return
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
                self._conn.commit()
                self._conn.close()
            except Exception:  # noqa: BLE001
                self._drop()
            self._conn, self._key = None, None
