"""Durability across real processes: SIGKILL and restart, and two schedulers on one PostgreSQL.

Each timer's probe appends its key to a file; every key must appear exactly once. Time-bounded: timers
are a few hundred milliseconds apart and every wait has a deadline.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import select

from bot.config.settings import Settings
from bot.core.clock import SystemClock
from bot.slack.app import build
from bot.store.db import Database, make_engine
from bot.store.migrate import upgrade
from tests.conftest import pg_schema_url, pg_unavailable

ROOT = Path(__file__).resolve().parent.parent
STEP = 0.3  # seconds between timers


def start_worker(url: str, out: Path, seconds: float = 40.0) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tests.scheduler_worker", url, str(out), str(seconds)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def lines(out: Path) -> list[str]:
    return [ln.split()[0] for ln in out.read_text().splitlines()] if out.exists() else []


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def schedule(url: str, count: int, first_in: float, prefix: str = "probe") -> tuple[list[str], float]:
    """Add `count` probe timers from a process that does not schedule (it only writes the shared store)."""
    bot = build(Settings(database_url=url, slack_api_url="http://127.0.0.1:9/"), SystemClock())
    try:
        bot.ctx.db.create_all()
        timers = bot.ctx.timers
        timers.register("probe", lambda ctx, **kw: None)
        start = bot.ctx.clock.now() + timedelta(seconds=first_in)
        keys = []
        for i in range(count):
            key = f"{prefix}:{i:02d}"
            timers.at(key, start + timedelta(seconds=STEP * i), "probe", name=key)
            keys.append(key)
        assert len(timers.pending(prefix + ":")) == count
        return keys, time.time() + first_in
    finally:
        bot.close()


def kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_sigkill_then_restart_fires_every_timer_exactly_once(backend: str, tmp_path: Path) -> None:
    if backend == "sqlite":
        urls = iter([f"sqlite:///{tmp_path}/fb.db"])
    else:
        if pg_unavailable():
            pytest.skip(pg_unavailable())
        urls = pg_schema_url()
    url = next(urls)
    out = tmp_path / "fired.txt"
    procs = []
    try:
        first = start_worker(url, out)
        procs.append(first)
        wait_for(lambda: Path(str(out) + ".ready").exists(), 20, "the first worker")
        keys, t0 = schedule(url, 12, first_in=1.0)
        wait_for(lambda: len(lines(out)) >= 4, 20, "the first four timers")
        # Kill while the worker is idle between two firings: every due timer has run and its ledger row is
        # finished, and the next one is at least 100 ms away. (A kill in the middle of a job is the
        # at-least-once case covered by test_interrupted_firing_is_requeued_once_by_the_next_scheduler.)
        ledger = make_engine(url)
        deadline = time.monotonic() + 20
        while True:
            assert time.monotonic() < deadline, "no idle moment to kill the worker in"
            now = time.time()
            due = sum(1 for i in range(len(keys)) if t0 + STEP * i <= now)
            with ledger.connect() as conn:
                finished, open_runs = conn.execute(text(
                    "SELECT count(finished_at), count(*) - count(finished_at) FROM scheduler_run")).one()
            if (4 <= due < len(keys) - 2 and finished == due and open_runs == 0 and len(lines(out)) == due
                    and t0 + STEP * due - time.time() > 0.1):
                kill(first)
                break
            time.sleep(0.01)
        ledger.dispose()
        before = len(lines(out))
        assert 4 <= before < len(keys)
        # Down long enough for two timers to come due while nobody runs: they fire once at start (coalesce).
        time.sleep(2 * STEP)
        second = start_worker(url, out)
        procs.append(second)
        wait_for(lambda: len(lines(out)) >= len(keys), 25, "all timers after the restart")
        time.sleep(3 * STEP)  # anything doubled would show up by now
        fired = Counter(lines(out))
        assert sorted(fired) == keys
        assert set(fired.values()) == {1}, f"fired more than once: {[k for k, v in fired.items() if v > 1]}"
        pids = {ln.split()[1] for ln in out.read_text().splitlines()}
        assert pids == {str(first.pid), str(second.pid)}
    finally:
        for p in procs:
            kill(p)
        for _ in urls:  # drop the PostgreSQL schema
            pass


def test_two_processes_on_one_postgresql_fire_each_timer_once(tmp_path: Path) -> None:
    reason = pg_unavailable()
    if reason:
        pytest.skip(reason)
    urls = pg_schema_url()
    url = next(urls)
    out = tmp_path / "fired.txt"
    procs = []
    # As in a deployment, the schema is migrated before the processes start; two processes creating the
    # job table at once on a fresh schema race inside PostgreSQL's catalog.
    db = Database(url)
    upgrade(db.engine)
    db.dispose()
    try:
        procs = [start_worker(url, out), start_worker(url, out)]
        wait_for(lambda: (tmp_path / "fired.txt.ready").exists()
                 and len((tmp_path / "fired.txt.ready").read_text().split()) == 2, 20, "both workers")
        keys, _ = schedule(url, 15, first_in=0.5)
        wait_for(lambda: len(lines(out)) >= len(keys), 25, "all timers")
        time.sleep(3 * STEP)
        fired = Counter(lines(out))
        assert sorted(fired) == keys and set(fired.values()) == {1}
        # The advisory lock: one process held the lease and ran them all.
        runners = {ln.split()[1] for ln in out.read_text().splitlines()}
        assert len(runners) == 1 and runners <= {str(p.pid) for p in procs}
        # Kill the leader: the other takes the lease and runs what comes next, once.
        leader = next(p for p in procs if str(p.pid) in runners)
        kill(leader)
        more, _ = schedule(url, 3, first_in=0.5, prefix="after")
        wait_for(lambda: len(lines(out)) >= len(keys) + 3, 25, "timers after the leader died")
        fired = Counter(lines(out))
        assert all(fired[k] == 1 for k in more) and set(fired.values()) == {1}
        survivor = next(p for p in procs if p is not leader)
        assert {ln.split()[1] for ln in out.read_text().splitlines() if ln.startswith("after:")} == {str(survivor.pid)}
    finally:
        for p in procs:
            kill(p)
        for _ in urls:
            pass


@pytest.fixture
def migrated_harness(tmp_path: Path, clock):
    """The bot on a SQLite database created by the migrations, as `firebreak db upgrade` leaves it."""
    from bot.slack.harness import Harness
    from bot.store.migrate import upgrade

    h = Harness(Settings(database_url=f"sqlite:///{tmp_path}/migrated.db"), clock=clock, create_tables=False)
    upgrade(h.ctx.db.engine)
    yield h
    h.close()


def test_firebreak_scheduler_command_coalesces_misfires_and_stops_on_sigterm(migrated_harness) -> None:
    """`firebreak scheduler` as a real process: an incident opened (on the manual clock) months before the
    system clock's now has missed every reminder, its page and both SLA points; each fires once."""
    h = migrated_harness
    h.command("open Model leaking system prompt --sev 1")
    ch = h.incident_channel(1)
    env = {**os.environ, "DATABASE_URL": h.settings.database_url, "SLACK_API_URL": h.fake.url,
           "SLACK_BOT_TOKEN": h.fake.token, "FIREBREAK_ANNOUNCE_CHANNEL": h.settings.announce_channel,
           "FIREBREAK_SCHEDULER_INTERVAL": "0.1"}
    proc = subprocess.Popen([sys.executable, "-m", "bot", "scheduler"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        def fired() -> bool:
            texts = h.fake.texts(ch)
            return (any(":hourglass:" in t for t in texts) and any("breached" in t for t in texts)
                    and any("paging on-call" in t for t in texts))
        try:
            wait_for(fired, 30, "the scheduler process to fire the missed timers")
        except AssertionError:
            kill(proc)
            raise AssertionError(proc.stderr.read().decode()[-3000:]) from None
        time.sleep(0.5)  # a few more scheduler passes: nothing may fire twice
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        kill(proc)
    texts = h.fake.texts(ch)
    assert sum(":hourglass:" in t for t in texts) == 1
    assert sum("breached" in t for t in texts) == 1 and not any("at 75%" in t for t in texts)
    assert sum("paging on-call" in t for t in h.fake.texts("C0ANNOUNCE")) == 1
    # The reminder re-armed for one interval after it fired; it stays in the store for the next scheduler.
    assert [p.key for p in h.ctx.timers.pending("inc-1:")] == ["inc-1:status-reminder"]


# ----- killed in the middle of a page and of a reminder ------------------------------------------------------
HOLD = 1.5  # seconds the Slack stand-in holds each post while the bot may be killed


def in_flight(fake, marker: str, channel: str | None = None) -> bool:
    with fake.lock:
        calls = list(fake.calls)
    return any(c.method == "chat.postMessage" and c.end is None and marker in str(c.params.get("text", ""))
               and (channel is None or c.params.get("channel") == channel) for c in calls)


def test_killed_in_the_middle_of_a_page_and_of_a_reminder_each_happens_exactly_once(tmp_path: Path, clock,
                                                                                     write_yaml) -> None:
    """`firebreak scheduler` is SIGKILLed while the Slack stand-in holds the page's posts and the pager stand-in
    holds the pager call; restarted, it is SIGKILLed again while the reminder's post is held; restarted once
    more, it finishes. Every post is in Slack once, the pager has one alert, and no effect failed."""
    from bot.fakes.pager import FakePager
    from bot.fakes.slack_api import FakeSlack
    from bot.slack.harness import Harness
    from bot.store.models import Effect

    pager = FakePager(routing_key="R0UTINGKEY0000000000000000000000").start()
    fake = FakeSlack().start()  # real time, as Slack: the bot's processes run on the system clock
    cfg = write_yaml("org.yml", {"scheduler": {"pager": {"kind": "pagerduty", "url": pager.events_url,
                                                          "backoff_seconds": 1}}})
    h = Harness(Settings(database_url=f"sqlite:///{tmp_path}/crash.db", config_file=cfg), clock=clock, fake=fake,
                create_tables=False)
    procs: list[subprocess.Popen] = []
    try:
        upgrade(h.ctx.db.engine)
        h.command("open Agent emailing customers --sev 1")  # on the manual clock: months ago, so all is due
        ch = h.incident_channel(1)
        env = {**os.environ, "DATABASE_URL": h.settings.database_url, "SLACK_API_URL": fake.url,
               "SLACK_BOT_TOKEN": fake.token, "FIREBREAK_ANNOUNCE_CHANNEL": h.settings.announce_channel,
               "FIREBREAK_SCHEDULER_INTERVAL": "0.1", "FIREBREAK_CONFIG": str(cfg),
               "FIREBREAK_PAGER_ROUTING_KEY": pager.routing_key}
        log = (tmp_path / "scheduler.log").open("ab")

        def start() -> subprocess.Popen:
            proc = subprocess.Popen([sys.executable, "-m", "bot", "scheduler"], cwd=ROOT, env=env,
                                    stdout=subprocess.DEVNULL, stderr=log)
            procs.append(proc)
            return proc

        def landed() -> None:  # what the stand-in held, it finishes (as Slack does after a client dies)
            wait_for(lambda: fake.in_flight() == 0, 20, "the held posts to land")

        fake.fail_next("chat.postMessage", None, delay=HOLD, times=500)
        pager.hold_next(3.0)
        first = start()
        wait_for(lambda: in_flight(fake, "paging on-call", "C0ANNOUNCE") and in_flight(fake, "paging on-call", ch)
                 and pager.received >= 1, 30, "the page's posts and the pager call, held")
        kill(first)
        landed()
        second = start()  # the page's effects resume: found in Slack, so not posted again
        wait_for(lambda: in_flight(fake, ":hourglass:", ch), 40, "the reminder's post, held")
        kill(second)
        landed()
        with fake.lock:
            fake.faults["chat.postMessage"].clear()
        third = start()

        def settled() -> bool:
            return (any(":hourglass:" in t for t in fake.texts(ch)) and h.ctx.effects.outstanding() == 0
                    and pager.received == len(pager.calls))
        wait_for(settled, 40, "every recorded effect to be done")
        third.send_signal(signal.SIGTERM)
        assert third.wait(timeout=15) == 0
    finally:
        for p in procs:
            kill(p)
        h.close()
        pager.stop()
    assert sum("paging on-call" in t for t in fake.texts("C0ANNOUNCE")) == 1
    assert sum("paging on-call" in t for t in fake.texts(ch)) == 1
    assert sum(":hourglass:" in t for t in fake.texts(ch)) == 1
    posted = Counter(m.metadata["event_payload"]["effect"] for msgs in fake.messages.values() for m in msgs
                     if m.metadata and m.metadata.get("event_type") == "firebreak_effect")
    assert posted and set(posted.values()) == {1}, f"posted more than once: {[k for k, v in posted.items() if v > 1]}"
    assert list(pager.alerts) == ["firebreak-inc-1-ack"] and pager.alerts["firebreak-inc-1-ack"]["status"] == "triggered"
    assert {c.body["dedup_key"] for c in pager.calls} == {"firebreak-inc-1-ack"}  # a re-sent trigger is one alert
    with h.ctx.db.session() as s:
        states = Counter(e.state for e in s.exec(select(Effect)))
    assert set(states) == {"done"}, states
