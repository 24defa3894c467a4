"""The effects runner: performs what `bot.core.effects` recorded, exactly once, in order, off the ack path.

- Recorded, then done, then marked: a row is claimed (`running`, with a lease), its handler makes the call,
  and the row is marked `done` with the result. A process killed between the call and the mark leaves the row
  `running`; once its lease has run out (at once on a single-process SQLite deployment's restart) it is run
  again as a *resumed* attempt, and each handler first checks whether its effect already happened (a post is
  looked up by the effect id it carries as message metadata; a channel by its name; invites, pins, topics and
  pager events with a dedup key are idempotent by nature).
- Ordered where it matters, parallel elsewhere: effects of one lane (the messages of one channel) run one at
  a time in the order they were recorded; different lanes run side by side on the bounded EFFECTS lane. While
  an incident's channel is being provisioned its other effects wait.
- Retried within a budget: a handler raises `Retry` (429 with Retry-After, 5xx, timeouts) and the row waits
  until then; past its deadline, or on `Failed` (a permanent error), it is marked `failed`, the failure is
  recorded (the transport's `on_failed`), and the lane carries on. `/incident repair` re-queues failed effects.
- No network call inside a transaction: claims and marks are short transactions of their own.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, and_, exists, func, or_, select, text, update
from sqlalchemy.orm import aliased
from sqlmodel import col

from bot.app.lanes import EFFECTS
from bot.core import secrets
from bot.core.effects import PROVISION, now
from bot.store.db import rowcount
from bot.store.models.effects import DONE, FAILED, PENDING, RUNNING, Effect

if TYPE_CHECKING:
    from bot.app.services import Services

log = logging.getLogger(__name__)


class Retry(Exception):
    """A transient failure: try again after `after` seconds (None: the runner's backoff)."""

    def __init__(self, error: str, after: float | None = None) -> None:
        super().__init__(error)
        self.error, self.after = error, after


class Failed(Exception):
    """A permanent failure: retrying cannot help (invalid input, no such channel, not allowed).

    `quiet`: the cause was already reported (the channel could not be created), so this one is not."""

    def __init__(self, error: str, *, quiet: bool = False) -> None:
        super().__init__(error)
        self.error, self.quiet = error, quiet


@dataclass(frozen=True)
class Job:
    """One claimed effect, as its handler sees it."""

    id: int
    key: str
    kind: str
    lane: str
    incident_id: int | None
    payload: dict[str, Any]
    attempts: int
    created_at: datetime

    @property
    def resumed(self) -> bool:
        """An earlier attempt may have done it already (it crashed or timed out before the mark)."""
        return self.attempts > 1


Handler = Callable[[Job], dict[str, Any] | None]
FailureHook = Callable[[Job, str], None]
BACKOFF = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


class EffectRunner:
    def __init__(self, services: Services, *, lease: timedelta = timedelta(seconds=120),
                 single_process: bool | None = None) -> None:
        self.services = services
        self.owner = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.lease = lease
        # SQLite deployments run one process: at start, whatever was running was ours and died with us.
        self.single_process = services.db.dialect == "sqlite" if single_process is None else single_process
        self.handlers: dict[str, Handler] = {}
        self.backoff: tuple[float, ...] = BACKOFF  # seconds between attempts when Slack gives no Retry-After
        self.on_failed: list[FailureHook] = []
        self._active: set[str] = set()       # lanes with an effect running in this process
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._drain_queued = False
        self._again = False
        self._wakeup: threading.Timer | None = None
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        services.db.on_effects.append(self.kick)

    def register(self, kind: str, handler: Handler) -> None:
        self.handlers[kind] = handler

    # ----- scheduling ----------------------------------------------------------------------------------
    def kick(self) -> None:
        """Something was recorded or finished: look for runnable effects soon (coalesced)."""
        if self._stop.is_set():
            return
        with self._lock:
            if self._drain_queued:
                self._again = True
                return
            self._drain_queued = True
        try:
            self.services.lanes.run(EFFECTS, self._drain_loop)
        except RuntimeError:  # the lanes are shut down: the process is stopping
            with self._lock:
                self._drain_queued = False

    def _drain_loop(self) -> None:
        again = True
        while again:
            try:
                self.drain()
            except Exception:  # noqa: BLE001 - the next kick tries again (a database hiccup)
                log.exception("looking for side effects to perform failed")
            with self._lock:
                again, self._again = self._again, False
                if not again:
                    self._drain_queued = False

    def drain(self) -> int:
        """Claim and start every effect that may run now. Returns how many were started."""
        started = 0
        jobs, wakeup = self._claim_runnable()
        for job in jobs:
            started += 1
            try:
                self.services.lanes.run(EFFECTS, self._perform, job)
            except RuntimeError:
                self._release(job)
        self._schedule_wakeup(wakeup)
        return started

    SCAN = 1000  # unfinished effects read per drain; past that, the lanes and provisioning are asked apart

    def _claim_runnable(self) -> tuple[list[Job], datetime | None | bool]:
        """The effects that may start now, claimed; and when the earliest waiting retry is due (False: unknown,
        ask the database). One read of the unfinished effects answers both on every ordinary drain."""
        moment = now()
        db = self.services.db
        with db.session() as session:
            unfinished = list(session.execute(select(Effect).where(col(Effect.state).in_([PENDING, RUNNING]))
                                              .order_by(col(Effect.id)).limit(self.SCAN)).scalars())
            complete = len(unfinished) < self.SCAN
            rows = [r for r in unfinished if r.state == PENDING]
            if complete:
                running = {r.lane for r in unfinished if r.state == RUNNING}
                provisioning = {r.incident_id for r in unfinished if r.kind == PROVISION}
            else:
                running = set(session.execute(select(col(Effect.lane)).where(col(Effect.state) == RUNNING)).scalars())
                provisioning = set(session.execute(
                    select(col(Effect.incident_id)).where(col(Effect.kind) == PROVISION,
                                                          col(Effect.state).in_([PENDING, RUNNING]))).scalars())
            waiting_on = {r.after_id for r in rows if r.after_id is not None}
            finished: set[int | None] = set(session.execute(select(col(Effect.id)).where(
                col(Effect.id).in_(waiting_on), col(Effect.state).in_([DONE, FAILED]))).scalars()
            ) if waiting_on else set()
        retries = [r.not_before for r in rows if r.not_before is not None]
        wakeup: datetime | None | bool = min(retries, default=None) if complete else False
        with self._lock:
            busy = set(self._active) | running
        chosen: list[Effect] = []
        seen: set[str] = set()
        for row in rows:
            if row.lane in seen:
                continue
            seen.add(row.lane)  # only the oldest pending effect of a lane may start
            if row.lane in busy:
                continue
            if row.not_before is not None and row.not_before > moment:
                continue
            if row.after_id is not None and row.after_id not in finished:
                continue
            if row.kind != PROVISION and row.incident_id in provisioning:
                continue
            chosen.append(row)
        return [job for row in chosen if (job := self._claim(row)) is not None], wakeup

    def _claim(self, row: Effect) -> Job | None:
        moment = now()
        other = aliased(Effect)
        with self.services.db.session() as session:
            if self.services.db.dialect == "postgresql":  # processes take turns per lane
                session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:lane))"), {"lane": row.lane})
            claimed = rowcount(session.execute(
                update(Effect)
                .where(col(Effect.id) == row.id, col(Effect.state) == PENDING,
                       ~exists().where(and_(col(other.lane) == row.lane, col(other.state) == RUNNING)))
                .values(state=RUNNING, owner=self.owner, started_at=moment, lease_until=moment + self.lease,
                        attempts=col(Effect.attempts) + 1)
            ))
        if claimed != 1:
            return None
        with self._lock:
            self._active.add(row.lane)
        assert row.id is not None
        return Job(id=row.id, key=row.key, kind=row.kind, lane=row.lane, incident_id=row.incident_id,
                   payload=dict(row.payload or {}), attempts=row.attempts + 1, created_at=row.created_at)

    def _release(self, job: Job) -> None:
        with self.services.db.session() as session:
            session.execute(update(Effect).where(col(Effect.id) == job.id, col(Effect.state) == RUNNING)
                            .values(state=PENDING, owner=None, lease_until=None))
        self._finished(job)

    def _schedule_wakeup(self, known: datetime | None | bool = False) -> None:
        """Retries wait for their time: wake up then (a timer thread, nothing spins). `known`: the earliest
        retry time when the caller has it (None: no retry waits), False to ask the database."""
        if known is False:
            with self.services.db.session() as session:
                nxt = session.execute(select(col(Effect.not_before)).where(col(Effect.state) == PENDING,
                                                                           col(Effect.not_before).is_not(None))
                                      .order_by(col(Effect.not_before)).limit(1)).scalar()
        else:
            nxt = known if isinstance(known, datetime) else None
        if nxt is None:
            return
        delay = max((nxt - now()).total_seconds(), 0.01)
        with self._lock:
            if self._wakeup is not None:
                self._wakeup.cancel()
            if self._stop.is_set():
                return
            self._wakeup = threading.Timer(delay, self.kick)
            self._wakeup.daemon = True
            self._wakeup.start()

    # ----- performing ----------------------------------------------------------------------------------
    def _perform(self, job: Job) -> None:
        try:
            handler = self.handlers.get(job.kind)
            if handler is None:
                raise Failed(f"no handler for effect kind {job.kind!r}")
            result = handler(job)
            self._mark(job, DONE, result=result or {})
        except Retry as r:
            self._retry(job, r.error, r.after)
        except Failed as f:
            self._fail(job, f.error, quiet=f.quiet)
        except Exception as exc:  # noqa: BLE001 - a bug in a handler must not stop the lane for ever
            log.exception("effect %s (%s) failed unexpectedly", job.id, job.kind)
            self._fail(job, f"unexpected error ({type(exc).__name__})")
        finally:
            self._finished(job)

    def _finished(self, job: Job) -> None:
        with self._lock:
            self._active.discard(job.lane)
            self._changed.notify_all()
        self.kick()

    def _mark(self, job: Job, state: str, *, result: dict[str, Any] | None = None, error: str | None = None,
              not_before: datetime | None = None) -> None:
        values: dict[str, Any] = {"state": state, "owner": None, "lease_until": None, "error": error}
        if state == DONE:
            values |= {"done_at": now(), "result": result or {}}
        if state == FAILED:
            values["done_at"] = now()
        if state == PENDING:
            values["not_before"] = not_before
        with self.services.db.session() as session:
            session.execute(update(Effect).where(col(Effect.id) == job.id).values(**values))

    def _retry(self, job: Job, error: str, after: float | None) -> None:
        error = secrets.redact(error)
        delay = after if after is not None else self.backoff[min(job.attempts - 1, len(self.backoff) - 1)]
        when = now() + timedelta(seconds=delay)
        with self.services.db.session() as session:
            deadline = session.execute(select(col(Effect.deadline)).where(col(Effect.id) == job.id)).scalar()
        if deadline is not None and when > deadline:
            self._fail(job, f"{error} (gave up after {job.attempts} attempts)")
            return
        log.info("effect %s (%s) will be retried in %.1fs: %s", job.id, job.kind, delay, error)
        self._mark(job, PENDING, error=error[:500], not_before=when)

    def _fail(self, job: Job, error: str, *, quiet: bool = False) -> None:
        error = secrets.redact(error)
        log.warning("effect %s (%s, %s) failed: %s", job.id, job.kind, job.lane, error)
        self._mark(job, FAILED, error=error[:500])
        for hook in [] if quiet else self.on_failed:
            try:
                hook(job, error)
            except Exception:  # noqa: BLE001
                log.exception("recording the failure of effect %s failed", job.id)

    # ----- crashes, restarts, repairs --------------------------------------------------------------------
    def recover(self, *, expired_only: bool = False) -> int:
        """Put effects interrupted by a crash back in line (their next attempt checks before it acts).

        At start a single-process deployment knows every running effect was its own and died with it; later
        (`expired_only`, the periodic tick) only effects whose lease ran out are taken back, so an effect this
        process is still performing (a slow Slack answer) is never re-queued under it."""
        moment = now()
        cond: ColumnElement[bool] = col(Effect.state) == RUNNING
        if expired_only or not self.single_process:
            cond = and_(cond, or_(col(Effect.lease_until).is_(None), col(Effect.lease_until) < moment))
        with self.services.db.session() as session:
            n = rowcount(session.execute(update(Effect).where(cond)
                                         .values(state=PENDING, owner=None, lease_until=None)))
        if n:
            log.warning("re-queued %d side effect(s) interrupted by a crash", n)
            self.kick()
        return n

    def retry_failed(self, incident_id: int, *, budget: timedelta = timedelta(minutes=15)) -> int:
        """Re-queue an incident's failed effects (`/incident repair`), in their original order."""
        with self.services.db.session() as session:
            n = rowcount(session.execute(
                update(Effect).where(col(Effect.incident_id) == incident_id, col(Effect.state) == FAILED)
                .values(state=PENDING, error=None, not_before=None, done_at=None, deadline=now() + budget)))
        if n:
            self.kick()
        return n

    def outstanding(self) -> int:
        """Effects recorded but not yet done or given up (pending, waiting for a retry, or running)."""
        with self.services.db.session() as session:
            return int(session.execute(select(func.count()).select_from(Effect)
                                       .where(col(Effect.state).in_([PENDING, RUNNING]))).scalar() or 0)

    def wait(self, ids: Iterable[int], timeout: float) -> dict[int, str]:
        """Wait until every effect in `ids` is done or failed, at most `timeout` seconds; returns their states."""
        ids = list(ids)
        end = time.monotonic() + timeout
        while True:
            with self.services.db.session() as session:
                states = {row_id: state for row_id, state in session.execute(
                    select(col(Effect.id), col(Effect.state)).where(col(Effect.id).in_(ids))).all()
                    if row_id is not None}  # a stored row always has its id
            if all(s in (DONE, FAILED) for s in states.values()) or time.monotonic() >= end:
                return {int(k): str(v) for k, v in states.items()}
            with self._lock:
                self._changed.wait(timeout=min(0.05, max(end - time.monotonic(), 0)))

    # ----- a background tick for long-running processes ---------------------------------------------------
    def start(self, interval: float = 2.0) -> None:
        self.recover()
        self.kick()

        def tick() -> None:
            while not self._stop.wait(interval):
                try:
                    self.recover(expired_only=True)
                    self.kick()
                except Exception:  # noqa: BLE001
                    log.exception("effects tick failed")

        self._ticker = threading.Thread(target=tick, name="firebreak-effects", daemon=True)
        self._ticker.start()

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            if self._wakeup is not None:
                self._wakeup.cancel()
