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
- No network call inside a transaction. One short transaction per drain does the bookkeeping: it marks the
  effects finished since the last drain, reads what is unfinished, and claims every effect that may start now
  (one conditional UPDATE). A mark waits in memory only until that transaction, while the row stays `running`
  (its lane blocked): a crash before it commits is a crash between the call and the mark, resumed as above.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Connection, and_, bindparam, exists, func, or_, select, text, update
from sqlmodel import col

from bot.app.lanes import EFFECTS
from bot.core import secrets
from bot.core.effects import PROVISION, now
from bot.store.db import rowcount
from bot.store.models.effects import DONE, FAILED, PENDING, RUNNING, Effect
from bot.store.models.incident import Incident

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
    # The incident as it was when the effect was claimed (after everything it waits for was done), for handlers
    # registered with `incident=True`: they read it instead of opening a transaction of their own. Read-only.
    incident: Incident | None = field(default=None, compare=False, repr=False)

    @property
    def resumed(self) -> bool:
        """An earlier attempt may have done it already (it crashed or timed out before the mark)."""
        return self.attempts > 1


Handler = Callable[[Job], dict[str, Any] | None]
FailureHook = Callable[[Job, str], None]
BACKOFF = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)

# The statements of a drain, built once (building and keying them anew on every drain cost more than running them).
_T = Effect.__table__  # type: ignore[attr-defined]  # SQLModel's table
_other = _T.alias("other")
_UNFINISHED = (select(_T.c.id, _T.c.lane, _T.c.kind, _T.c.state, _T.c.incident_id, _T.c.after_id, _T.c.not_before)
               .where(_T.c.state.in_([PENDING, RUNNING])).order_by(_T.c.id).limit(bindparam("scan")))
_RUNNING_LANES = select(_T.c.lane).where(_T.c.state == RUNNING)
_PROVISIONING = select(_T.c.incident_id).where(_T.c.kind == PROVISION, _T.c.state.in_([PENDING, RUNNING]))
_FINISHED = select(_T.c.id).where(_T.c.id.in_(bindparam("ids", expanding=True)), _T.c.state.in_([DONE, FAILED]))
# A claim is a conditional write: still pending, and nothing of its lane running (another process's included).
_CLAIM = (update(_T)
          .where(_T.c.id.in_(bindparam("ids", expanding=True)), _T.c.state == PENDING,
                 ~exists().where(and_(_other.c.lane == _T.c.lane, _other.c.state == RUNNING)))
          .values(state=RUNNING, owner=bindparam("owner"), started_at=bindparam("moment"),
                  lease_until=bindparam("lease_until"), attempts=_T.c.attempts + 1))
_JOB_COLUMNS = (_T.c.id, _T.c.key, _T.c.kind, _T.c.lane, _T.c.incident_id, _T.c.payload, _T.c.attempts,
                _T.c.created_at)
_STATES = select(_T.c.id, _T.c.state).where(_T.c.id.in_(bindparam("ids", expanding=True)))
# Read after the claim, in a statement of its own: on PostgreSQL a claim that waited for a row lock (a change
# joining a waiting summary refresh, `bot.core.effects.join`) must then see that change, which a new statement's
# snapshot does and a join in the claim's own statement (an UPDATE … RETURNING as a CTE) would not.
_INCIDENTS = select(Incident).where(col(Incident.id).in_(bindparam("ids", expanding=True)))
_CLAIM_RETURNING = _CLAIM.returning(*_JOB_COLUMNS)
_CLAIMED = (select(*_JOB_COLUMNS)
            .where(_T.c.id.in_(bindparam("ids", expanding=True)), _T.c.state == RUNNING,
                   _T.c.owner == bindparam("owner"), _T.c.started_at == bindparam("moment")))
_MARK_DONE = (update(_T).where(_T.c.id == bindparam("effect_id"))
              .values(state=DONE, owner=None, lease_until=None, error=None, done_at=bindparam("done_at"),
                      result=bindparam("result")))


class EffectRunner:
    def __init__(self, services: Services, *, lease: timedelta = timedelta(seconds=120),
                 single_process: bool | None = None) -> None:
        self.services = services
        self.owner = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.lease = lease
        # SQLite deployments run one process: at start, whatever was running was ours and died with us.
        self.single_process = services.db.dialect == "sqlite" if single_process is None else single_process
        self.handlers: dict[str, Handler] = {}
        self._with_incident: set[str] = set()  # kinds whose handlers get the incident read with the claim
        self.backoff: tuple[float, ...] = BACKOFF  # seconds between attempts when Slack gives no Retry-After
        self.on_failed: list[FailureHook] = []
        self._active: set[str] = set()       # lanes with an effect running in this process
        self._marks: list[dict[str, Any]] = []  # effects done here, marked by the next drain's transaction
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._watched: dict[int, int] = {}  # effect id -> how many waiters wait for it
        # The last marks committed here, newest last: effect id -> (sequence number, state, result, error, when);
        # `_seq` counts them. A waiter learns from them what finished here without reading it back.
        self._recent: OrderedDict[int, tuple[int, str, dict[str, Any], str | None, float]] = OrderedDict()
        self._seq = 0
        self._drain_queued = False
        self._again = False
        self._wakeup: threading.Timer | None = None
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        services.db.on_effects.append(self.kick)

    def register(self, kind: str, handler: Handler, *, incident: bool = False) -> None:
        """`incident` (or a handler's own `wants_incident = True`): the handler reads the effect's incident; it is
        read with the claim (`Job.incident`)."""
        self.handlers[kind] = handler
        if incident or getattr(handler, "wants_incident", False):
            self._with_incident.add(kind)
        else:
            self._with_incident.discard(kind)

    # ----- scheduling ----------------------------------------------------------------------------------
    def kick(self, *, here: bool = False) -> None:
        """Something was recorded or finished: look for runnable effects soon (coalesced). `here`: the caller is
        a lane thread done with its effect, which drains at once itself instead of queueing the drain behind
        other work (its effect's mark waits for that drain)."""
        if self._stop.is_set():
            return
        with self._lock:
            if self._drain_queued:
                self._again = True
                return
            self._drain_queued = True
        if here:
            self._drain_loop()
            return
        try:
            self.services.lanes.run(EFFECTS, self._drain_loop)
        except RuntimeError:  # the lanes are shut down: the process is stopping
            with self._lock:
                self._drain_queued = False
            self.flush_marks()

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
        ask the database). One transaction marks what finished, reads the unfinished effects and claims."""
        moment = now()
        with self._lock:
            marks, self._marks = self._marks, []
        try:
            jobs, wakeup = self._scan_and_claim(moment, marks)
        except BaseException:
            with self._lock:  # rolled back: the next drain marks them
                self._marks[:0] = marks
            raise
        with self._lock:
            self._active.update(job.lane for job in jobs)
            if marks:
                self._committed({m["effect_id"]: (DONE, m["result"], None) for m in marks})
        return jobs, wakeup

    def _scan_and_claim(self, moment: datetime, marks: list[dict[str, Any]]
                        ) -> tuple[list[Job], datetime | None | bool]:
        with self.services.db.session() as session:
            conn = session.connection()
            if marks:
                conn.execute(_MARK_DONE, marks)
            unfinished = conn.execute(_UNFINISHED, {"scan": self.SCAN}).all()
            complete = len(unfinished) < self.SCAN
            rows = [r for r in unfinished if r.state == PENDING]
            if complete:
                running = {r.lane for r in unfinished if r.state == RUNNING}
                provisioning = {r.incident_id for r in unfinished if r.kind == PROVISION}
            else:
                running = set(conn.execute(_RUNNING_LANES).scalars())
                provisioning = set(conn.execute(_PROVISIONING).scalars())
            waiting_on = {r.after_id for r in rows if r.after_id is not None}
            finished: set[int | None] = set(conn.execute(_FINISHED, {"ids": sorted(waiting_on)}).scalars()
                                            ) if waiting_on else set()
            retries = [r.not_before for r in rows if r.not_before is not None]
            wakeup: datetime | None | bool = min(retries, default=None) if complete else False
            with self._lock:
                busy = set(self._active) | running
            chosen: list[Any] = []
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
            jobs = self._claim(conn, [row.id for row in chosen], [row.lane for row in chosen]) if chosen else []
            wanted = {job.incident_id for job in jobs if job.kind in self._with_incident and job.incident_id}
            if wanted:
                found = {i.id: i for i in session.execute(_INCIDENTS, {"ids": sorted(wanted)}).scalars()}
                jobs = [replace(job, incident=found.get(job.incident_id)) if job.incident_id in wanted else job
                        for job in jobs]
        return jobs, wakeup

    def _claim(self, conn: Connection, ids: list[int], lanes: list[str]) -> list[Job]:
        """Claim these effects (of different lanes) in the caller's transaction; the jobs of those claimed."""
        moment = now()
        if conn.dialect.name == "postgresql":  # processes take turns per lane (always in the same order)
            ordered = sorted(set(lanes))
            conn.execute(text("SELECT " + ", ".join(f"pg_advisory_xact_lock(hashtext(:l{i}))"
                                                    for i in range(len(ordered)))),
                         {f"l{i}": lane for i, lane in enumerate(ordered)})
        params = {"ids": ids, "owner": self.owner, "moment": moment, "lease_until": moment + self.lease}
        if conn.dialect.update_returning:
            claimed = conn.execute(_CLAIM_RETURNING, params).all()
        else:
            conn.execute(_CLAIM, params)
            claimed = conn.execute(_CLAIMED, params).all()
        return sorted((Job(id=r.id, key=r.key, kind=r.kind, lane=r.lane, incident_id=r.incident_id,
                           payload=dict(r.payload or {}), attempts=r.attempts, created_at=r.created_at)
                       for r in claimed), key=lambda job: job.id)

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
            with self._lock:
                self._marks.append({"effect_id": job.id, "done_at": now(), "result": result or {}})
        except Retry as r:
            self._retry(job, r.error, r.after)
        except Failed as f:
            self._fail(job, f.error, quiet=f.quiet)
        except Exception as exc:  # noqa: BLE001 - a bug in a handler must not stop the lane for ever
            log.exception("effect %s (%s) failed unexpectedly", job.id, job.kind)
            self._fail(job, f"unexpected error ({type(exc).__name__})")
        finally:
            self._finished(job)

    RECENT = 2000  # marks remembered for waiters
    RECENT_SECONDS = 30.0  # how long a waiter takes a mark remembered here for the state (else it reads the ledger)

    def _committed(self, marks: dict[int, tuple[str, dict[str, Any], str | None]]) -> None:
        """These effects' marks were committed (call with the lock held): remembered, and a waiter for one of them
        learns its new state."""
        self._seq += 1
        moment = time.monotonic()
        for i, (state, result, error) in marks.items():
            self._recent.pop(i, None)
            self._recent[i] = (self._seq, state, result, error, moment)
        while len(self._recent) > self.RECENT:
            self._recent.popitem(last=False)
        if any(i in self._watched for i in marks):
            self._changed.notify_all()

    def outcome(self, effect_id: int) -> tuple[str, dict[str, Any], str | None] | None:
        """(state, result, error) of the effect's last mark, when it was committed here lately; else None (ask the
        database)."""
        with self._lock:
            found = self._recent.get(effect_id)
        if found is None or time.monotonic() - found[4] > self.RECENT_SECONDS:
            return None
        return found[1], found[2], found[3]

    def _finished(self, job: Job) -> None:
        with self._lock:
            self._active.discard(job.lane)
        if self._stop.is_set():  # no more drains: mark it now
            self.flush_marks()
        self.kick(here=True)

    def flush_marks(self) -> None:
        """Mark the effects done here that no drain has marked yet (the process is stopping)."""
        with self._lock:
            marks, self._marks = self._marks, []
        if not marks:
            return
        try:
            with self.services.db.session() as session:
                session.connection().execute(_MARK_DONE, marks)
        except Exception:  # noqa: BLE001 - left running: resumed (and checked) after the restart
            log.exception("marking finished side effects failed")
        with self._lock:
            self._committed({m["effect_id"]: (DONE, m["result"], None) for m in marks})

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
        with self._lock:
            self._committed({job.id: (state, result or {}, error)})

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
            again = list(session.execute(
                update(Effect).where(col(Effect.incident_id) == incident_id, col(Effect.state) == FAILED)
                .values(state=PENDING, error=None, not_before=None, done_at=None, deadline=now() + budget)
                .returning(col(Effect.id))).scalars())
        with self._lock:  # their failures are no longer their last word
            for i in again:
                self._recent.pop(i, None)
        if again:
            self.kick()
        return len(again)

    def outstanding(self) -> int:
        """Effects recorded but not yet done or given up (pending, waiting for a retry, or running)."""
        with self.services.db.session() as session:
            return int(session.execute(select(func.count()).select_from(Effect)
                                       .where(col(Effect.state).in_([PENDING, RUNNING]))).scalar() or 0)

    WAIT_POLL = 0.1  # seconds between looks: another process's marks (or a wake-up missed here) are seen by then

    def wait(self, ids: Iterable[int], timeout: float) -> dict[int, str]:
        """Wait until every effect in `ids` is done or failed, at most `timeout` seconds; returns their states."""
        ids = list(ids)
        end = time.monotonic() + timeout
        # Marks committed here tell the waiter the new states (no read); another process's are seen by reading
        # the ledger after each `WAIT_POLL` without news, and once more at the end.
        poll = self.WAIT_POLL
        with self._lock:
            for i in ids:
                self._watched[i] = self._watched.get(i, 0) + 1
        try:
            with self._lock:
                seen = self._seq
                states = self._newer(ids, 0)  # what finished here lately
            absent: set[int] = set()  # not in the ledger at the last read: nothing to wait for
            last_read = time.monotonic()
            while True:
                if all(states.get(i) in (DONE, FAILED) for i in ids if i not in absent):
                    return states
                moment = time.monotonic()
                if moment >= end or moment - last_read >= poll:
                    with self._lock:
                        before = self._seq
                    with self.services.db.session() as session:
                        stored = {int(i): str(state) for i, state in session.connection().execute(
                            _STATES, {"ids": ids}).all() if i is not None}  # a stored row always has its id
                    with self._lock:  # marks committed here after the read began are newer than what it found
                        states = stored | {i: st for i, st in self._newer(ids, before).items() if i in stored}
                        seen = self._seq
                    absent, last_read = set(ids) - set(stored), time.monotonic()
                    if moment >= end:
                        return states
                    continue
                with self._lock:
                    if self._seq == seen:
                        self._changed.wait(timeout=max(min(poll - (moment - last_read), end - moment), 0))
                    states |= self._newer(ids, seen)
                    seen = self._seq
        finally:
            with self._lock:
                for i in ids:
                    self._watched[i] -= 1
                    if not self._watched[i]:
                        del self._watched[i]

    def _newer(self, ids: list[int], since: int) -> dict[int, str]:
        """The states marks committed here after `since` gave these effects (call with the lock held)."""
        out: dict[int, str] = {}
        oldest = time.monotonic() - self.RECENT_SECONDS
        for i in ids:
            found = self._recent.get(i)
            if found is not None and found[0] > since and found[4] >= oldest:
                out[i] = found[1]
        return out

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
        self.flush_marks()
        with self._lock:
            if self._wakeup is not None:
                self._wakeup.cancel()
