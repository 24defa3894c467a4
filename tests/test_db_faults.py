"""Acks no matter what the database does: locked, restarted or killed, every request is acknowledged at once
and answered honestly; nothing half-written; the next command works without restarting the bot."""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid

import psycopg
import pytest

from bot.slack.harness import Harness
from bot.slack.listen import DB_DOWN
from tests.conftest import PG_URL, pg_schema_url, pg_unavailable
from tests.helpers import counts, open_incident

ACK_BOUND = 1.0  # seconds: a generous bound on the acknowledgement (Slack's own deadline is 3 s)


def hold_sqlite_lock(path: str, seconds: float, taken: threading.Event) -> None:
    """Another process's writer: an exclusive transaction held for `seconds`."""
    conn = sqlite3.connect(path, timeout=1, isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    taken.set()
    time.sleep(seconds)
    conn.execute("ROLLBACK")
    conn.close()


def test_a_locked_sqlite_database_never_delays_an_ack_and_gets_an_honest_answer(make_harness, tmp_path) -> None:
    path = tmp_path / "locked.db"
    h = make_harness(database_url=f"sqlite:///{path}", database_lock_timeout=1.0)
    ch = open_incident(h)
    before = counts(h)
    taken = threading.Event()
    holder = threading.Thread(target=hold_sqlite_lock, args=(str(path), 3.0, taken))
    holder.start()
    assert taken.wait(5)
    started = time.monotonic()
    reply = h.command("status Rolling back the prompt", channel=ch, wait=False)
    acked = time.monotonic() - started
    assert reply.ack.status == 200 and acked < ACK_BOUND
    h.bot.executor.wait_idle(10)
    answers = "\n".join(h.fake.response_texts())
    assert DB_DOWN in answers  # told, plainly, that nothing was applied
    holder.join()
    assert counts(h) == before  # nothing half-written
    after = h.command("status Rolling back the prompt", channel=ch)
    assert "Status update posted" in after.text  # and the next command works


@pytest.fixture
def pg_url() -> str:
    reason = pg_unavailable()
    if reason:
        pytest.skip(reason)
    yield from pg_schema_url()


def test_killed_postgresql_connections_do_not_need_a_restart(make_harness, pg_url: str) -> None:
    name = "fb-" + uuid.uuid4().hex[:10]
    h: Harness = make_harness(database_url=f"{pg_url}&application_name={name}")
    ch = open_incident(h)
    with psycopg.connect(PG_URL.replace("+psycopg", ""), autocommit=True) as admin:
        killed = admin.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                               "WHERE application_name = %s", (name,)).fetchone()
    assert killed and killed[0] >= 1
    started = time.monotonic()
    reply = h.command("status Still here after the database restarted", channel=ch)
    assert reply.ack.status == 200 and time.monotonic() - started < 30
    assert "Status update posted" in reply.text
