"""Durable timers: the `ctx.timers` interface backed by APScheduler's SQLAlchemy job store.

Every timer is an APScheduler `Job` (a `DateTrigger`, `coalesce=True`, id = the timer key) stored in the
`apscheduler_jobs` table of the app's database (or FIREBREAK_SCHEDULER_DATABASE_URL). Any process may
add, replace or cancel timers; only the process that holds the scheduling lease runs them.

Running a due timer, exactly once:
1. claim — in one transaction, delete the job row *if it still has the run time we read* and insert a
   `scheduler_run` ledger row. Two processes racing for the same timer: one delete matches, the other
   sees zero rows and skips. A timer replaced meanwhile (new run time) is not claimed.
2. run — call the registered function with the context of this process and the stored JSON kwargs.
3. finish — stamp the ledger row. A crash between 1 and 3 leaves an unfinished row; the next scheduler
   that takes the lease re-queues it once. A job may therefore run twice; what it does to the world it
   records with `bot.core.effects` under a deterministic key in the transaction of its fact, so the second
   run records nothing new, and the effects runner performs each record exactly once.

Why not APScheduler's own BackgroundScheduler loop: it hands a due job to its executor *before* removing
it from the store and is documented as unsafe with several processes on one store, so a SIGKILL between
the two steps fires twice; and it runs on wall-clock time, where tests and tabletop exercises need
`ctx.clock`. The store, the job model and the trigger are APScheduler's; the claim loop is ours.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from apscheduler.job import Job
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.util import datetime_to_utc_timestamp
from sqlalchemy import Engine, and_, select, update

from bot.core.timers import Timer
from bot.scheduler.lease import Lease
from bot.store.db import insert_on_conflict, make_engine
from bot.store.models.scheduler import JOBS_TABLE, apscheduler_jobs, scheduler_runs

if TYPE_CHECKING:
    from bot.app.services import Services

log = logging.getLogger(__name__)

# The callable every stored job names. APScheduler resolves it by reference ("module:function").
JOB_FUNC = "bot.scheduler.durable:fire"
_ACTIVE: list[DurableTimers] = []  # timers objects of this process, newest last (see `fire`)


def fire(key: str, job: str, kwargs: dict[str, Any]) -> None:
    """Entry point a stock APScheduler would call for a stored job: run it in this process's context.

    A job restored after a restart carries only names and JSON; the context is whatever this process
    built (`build_services()` creates the DurableTimers and every feature's wiring registers its jobs).
    """
    if not _ACTIVE:
        raise RuntimeError("no firebreak scheduler in this process; build the app first")
    _ACTIVE[-1].execute(key, job, kwargs)


class DurableTimers:
    """The `bot.core.timers.Timers` contract on a persistent store, safe across processes."""

    def __init__(self, ctx: Services, *, database_url: str | None = None, owner: str | None = None) -> None:
        self.ctx = ctx
        self.owner = owner or f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._own_engine = database_url is not None
        self._batch = threading.local()  # timer changes queued by batch() on this thread
        self.engine: Engine = make_engine(database_url) if database_url else ctx.db.engine
        self._jobs: dict[str, Callable[..., Any]] = {}
        self._scheduler = BackgroundScheduler(timezone=UTC)  # never started: jobs need a scheduler to belong to
        self.store = SQLAlchemyJobStore(engine=self.engine, tablename=JOBS_TABLE)
        self._store_started = False
        self._start_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lease = Lease(self.engine)
        self.on_leadership: list[Callable[[], None]] = []  # run when this process starts scheduling
        _ACTIVE.append(self)

    # ----- storage ------------------------------------------------------------------------------------
    def _ensure_store(self) -> None:
        if self._store_started:
            return
        with self._start_lock:  # listener threads and the loop may all arrive first
            if self._store_started:
                return
            self.store.start(self._scheduler, "default")  # CREATE TABLE IF NOT EXISTS (migrations create it)
            if self._own_engine:  # a separate job database needs the ledger next to the jobs
                scheduler_runs.create(self.engine, checkfirst=True)
            self._store_started = True

    def register(self, job: str, fn: Callable[..., Any]) -> None:
        self._jobs[job] = fn

    def at(self, key: str, when: datetime, job: str, **kwargs: Any) -> None:
        """Create or replace the timer `key` (idempotent). kwargs must be JSON-serialisable."""
        if job not in self._jobs:
            raise KeyError(f"no timer job registered as {job!r}")
        if when.tzinfo is None:
            raise ValueError("timers need a timezone-aware time")
        try:
            payload = json.loads(json.dumps(kwargs))
        except (TypeError, ValueError) as exc:
            raise TypeError(f"timer {key!r}: kwargs must be JSON-serialisable ({exc})") from exc
        self._queue(("at", key, when.astimezone(UTC), job, payload))

    def cancel(self, key: str) -> None:
        self._queue(("delete", apscheduler_jobs.c.id == key))

    def cancel_prefix(self, prefix: str) -> None:
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        self._queue(("delete", apscheduler_jobs.c.id.like(escaped + "%", escape="\\")))

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Write every timer change made on this thread inside the block in one transaction at its end
        (or when the enclosing session commits; none of them if the block raises). Blocks nest: the outermost
        writes, and a nested block that raises drops only the changes made inside it."""
        depth = getattr(self._batch, "depth", 0)
        if depth == 0:
            self._batch.ops = []
        start = len(self._batch.ops)
        self._batch.depth = depth + 1
        try:
            yield
        except BaseException:
            del self._batch.ops[start:]  # a nested block that raises takes back only its own changes
            raise
        finally:
            self._batch.depth = depth
        if depth == 0:
            ops, self._batch.ops = self._batch.ops, []
            if ops:
                self.ctx.db.after_commit(lambda: self._write(ops))

    def _queue(self, op: tuple) -> None:
        if getattr(self._batch, "depth", 0):
            self._batch.ops.append(op)
        else:
            self.ctx.db.after_commit(lambda: self._write([op]))

    @staticmethod
    def _job_state(key: str, when: datetime, job: str, payload: dict[str, Any]) -> dict[str, Any]:
        """What `_job(...).__getstate__()` gives (APScheduler's stored form of a job, version 1), without building
        and validating a Job for every timer written (a runbook's nudges write a score of them at once)."""
        return {"version": 1, "id": key, "func": JOB_FUNC, "trigger": DateTrigger(when, timezone=UTC),
                "executor": "default", "args": (), "kwargs": {"key": key, "job": job, "kwargs": payload},
                "name": job, "misfire_grace_time": None, "coalesce": True, "max_instances": 1, "next_run_time": when}

    def _job(self, key: str, when: datetime, job: str, payload: dict[str, Any]) -> Job:
        return Job(self._scheduler, id=key, name=job, func=JOB_FUNC, args=(),
                   kwargs={"key": key, "job": job, "kwargs": payload}, trigger=DateTrigger(when, timezone=UTC),
                   executor="default", misfire_grace_time=None, coalesce=True, max_instances=1,
                   next_run_time=when)

    def _write(self, ops: list[tuple]) -> None:
        """Apply queued timer changes in one transaction: upserts of jobs (as APScheduler's SQLAlchemy job
        store stores them) and deletes. One statement on PostgreSQL is a transaction by itself (autocommit: no
        BEGIN and COMMIT round trips)."""
        self._ensure_store()
        statements = self._statements(ops)
        if len(statements) == 1 and self.engine.dialect.name == "postgresql":
            with self.engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").execute(*statements[0])
            return
        with self.engine.begin() as conn:
            for statement, params in statements:
                conn.execute(statement, params)

    def _statements(self, ops: list[tuple]) -> list[tuple[Any, Any]]:
        """The queued changes as (statement, parameters), in order; consecutive upserts go as one."""
        out: list[tuple[Any, Any]] = []
        rows: list[dict[str, Any]] = []
        for op in [*ops, ("end",)]:
            if op[0] != "at" and rows:
                out.append((_UPSERT, rows))
                rows = []
            if op[0] == "delete":
                out.append((apscheduler_jobs.delete().where(op[1]), {}))
            elif op[0] == "at":
                rows.append(self._row(*op[1:]))
        return out

    def _row(self, key: str, when: datetime, job: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {"id": key, "next_run_time": datetime_to_utc_timestamp(when),
                "job_state": pickle.dumps(self._job_state(key, when, job, payload), self.store.pickle_protocol)}

    def pending(self, prefix: str = "") -> list[Timer]:
        self._ensure_store()
        out = []
        for job in self.store.get_all_jobs():
            if job.id.startswith(prefix) and job.next_run_time is not None:
                out.append(Timer(job.next_run_time.astimezone(UTC), job.id, job.kwargs["job"],
                                 dict(job.kwargs["kwargs"])))
        return sorted(out)

    def scheduled(self, prefix: str) -> dict[str, datetime]:
        """{key: run time} of the pending timers whose key starts with `prefix`: two columns of the job table,
        nothing unpickled (what `pending(prefix)` gives, cheaply enough to check before rewriting timers)."""
        self._ensure_store()
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = (select(apscheduler_jobs.c.id, apscheduler_jobs.c.next_run_time)
                 .where(apscheduler_jobs.c.id.like(escaped + "%", escape="\\")))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return {key: datetime.fromtimestamp(stamp, UTC) for key, stamp in rows if stamp is not None}

    def when(self, key: str) -> datetime | None:
        """The run time of timer `key`, or None."""
        self._ensure_store()
        job = self.store.lookup_job(key)
        return job.next_run_time.astimezone(UTC) if job and job.next_run_time else None

    # ----- running ------------------------------------------------------------------------------------
    def _claim(self, key: str, stamp: float, job: str, kwargs: dict[str, Any], due: datetime) -> int | None:
        """Remove the job row if unchanged and record the claim, atomically. Returns the ledger id."""
        with self.engine.begin() as conn:
            gone = conn.execute(apscheduler_jobs.delete().where(
                and_(apscheduler_jobs.c.id == key, apscheduler_jobs.c.next_run_time == stamp)))
            if gone.rowcount != 1:
                return None
            result = conn.execute(scheduler_runs.insert().values(
                key=key, job=job, kwargs=kwargs, due_at=due, claimed_at=self.ctx.clock.now(), owner=self.owner))
            inserted = result.inserted_primary_key
            assert inserted is not None, "an INSERT of one row has its primary key"
            return int(inserted[0])

    def _finish(self, run_id: int, outcome: str) -> None:
        table = scheduler_runs
        with self.engine.begin() as conn:
            conn.execute(update(table).where(table.c.id == run_id).values(
                finished_at=self.ctx.clock.now(), outcome=outcome[:200]))

    def execute(self, key: str, job: str, kwargs: dict[str, Any]) -> str:
        fn = self._jobs.get(job)
        if fn is None:
            log.error("timer %s names job %r, which no feature registered; dropped", key, job)
            return f"dropped: no job {job!r}"
        try:
            fn(self.ctx, **kwargs)
        except Exception as exc:  # noqa: BLE001 - one timer's failure must not stop the others
            log.exception("timer %s (%s) failed", key, job)
            return f"failed: {type(exc).__name__}"
        return "ok"

    def run_due(self) -> int:
        """Run every timer due at `ctx.clock.now()` exactly once (across processes). Returns how many ran."""
        self._ensure_store()
        now = self.ctx.clock.now()
        ran = 0
        # Bounded passes: a job may schedule another timer that is already due (it runs in the next pass).
        for _ in range(20):
            with self.engine.begin() as conn:
                rows = conn.execute(
                    select(apscheduler_jobs.c.id, apscheduler_jobs.c.next_run_time, apscheduler_jobs.c.job_state)
                    .where(apscheduler_jobs.c.next_run_time <= datetime_to_utc_timestamp(now))
                    .order_by(apscheduler_jobs.c.next_run_time, apscheduler_jobs.c.id)).all()
            if not rows:
                break
            for key, stamp, state in rows:
                try:
                    stored = self.store._reconstitute_job(state)  # noqa: SLF001 - APScheduler's own decoder
                    job, kwargs = stored.kwargs["job"], stored.kwargs["kwargs"]
                    due = stored.next_run_time.astimezone(UTC)
                except Exception:  # noqa: BLE001 - an undecodable row must not block the others
                    log.exception("timer %s cannot be decoded; dropped", key)
                    with self.engine.begin() as conn:
                        conn.execute(apscheduler_jobs.delete().where(apscheduler_jobs.c.id == key))
                    continue
                run_id = self._claim(key, stamp, job, kwargs, due)
                if run_id is None:
                    continue  # another process ran it, or it was replaced or cancelled meanwhile
                outcome = self.execute(key, job, kwargs)
                self._finish(run_id, outcome)
                ran += 1
        return ran

    def recover_interrupted(self) -> int:
        """Re-queue, once, firings that another owner claimed but never finished (it crashed mid-job)."""
        self._ensure_store()
        table = scheduler_runs
        with self.engine.begin() as conn:
            rows = conn.execute(select(table.c.id, table.c.key, table.c.job, table.c.kwargs, table.c.due_at)
                                .where(and_(table.c.finished_at.is_(None), table.c.owner != self.owner))).all()
        count = 0
        for run_id, key, job, kwargs, due in rows:
            with self.engine.begin() as conn:
                claimed = conn.execute(update(table).where(and_(table.c.id == run_id, table.c.finished_at.is_(None)))
                                       .values(finished_at=self.ctx.clock.now(),
                                               outcome="interrupted; re-queued by " + self.owner))
            if claimed.rowcount != 1 or job not in self._jobs:
                continue
            if self.when(key) is None:  # a newer timer with the same key wins
                due = due if due.tzinfo else due.replace(tzinfo=UTC)
                self.at(key, due, job, **(kwargs or {}))
                count += 1
        if count:
            log.warning("re-queued %d timer(s) interrupted by a crash", count)
        return count

    def take_over(self) -> None:
        """What a process does when it becomes the scheduler: recover, then reconcile (features' hooks)."""
        self.recover_interrupted()
        for fn in list(self.on_leadership):
            try:
                fn()
            except Exception:  # noqa: BLE001
                log.exception("start-up reconcile %s failed", getattr(fn, "__qualname__", fn))

    def start(self, interval: float = 1.0) -> None:
        """Schedule in a background thread: hold the lease (PostgreSQL advisory lock), then run due timers."""
        if self._thread is not None:
            return
        self._ensure_store()
        self._stop.clear()

        def loop() -> None:
            leading = False
            while not self._stop.is_set():
                try:
                    if not leading:
                        leading = self.lease.acquire()
                        if leading:
                            log.info("scheduler %s holds the lease; running timers", self.owner)
                            self.take_over()
                    if leading:
                        if not self.lease.still_held():
                            log.warning("scheduler %s lost the lease", self.owner)
                            leading = False
                        else:
                            self.run_due()
                except Exception:  # noqa: BLE001 - keep scheduling through transient database errors
                    log.exception("scheduler loop error")
                self._stop.wait(interval)
            self.lease.release()

        self._thread = threading.Thread(target=loop, name="firebreak-scheduler", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def close(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)
            self._thread = None
        self.lease.release()
        if self in _ACTIVE:
            _ACTIVE.remove(self)
        if self._own_engine:
            self.engine.dispose()


# One statement for a batch of timers, safe against another process adding the same timer in between.
_UPSERT = insert_on_conflict(apscheduler_jobs, ("id", "next_run_time", "job_state"), "id",
                             update=("next_run_time", "job_state"))
