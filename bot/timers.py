"""Timers keyed by incident and purpose, driven by the injectable clock.

The contract every feature schedules through (`ctx.services["timers"]`):
- `register(job_name, fn)` once at start; `fn(ctx, **kwargs)` runs when the timer is due.
- `at(key, when, job_name, **kwargs)` creates or replaces the timer `key` (idempotent).
- `cancel(key)` / `cancel_prefix("inc-42:")` drop timers; `pending(prefix)` lists them.
- `run_due()` runs every due timer once (tests call it after moving a ManualClock).

The app uses `bot.scheduler.durable.DurableTimers` (APScheduler's SQLAlchemy job store, survives restarts,
exactly one process runs timers). This in-memory implementation, polling the clock from one thread in
`start()`, stays as the reference of the contract and for code that wants throwaway timers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.context import AppContext

log = logging.getLogger(__name__)


def incident_key(incident_id: int, purpose: str) -> str:
    return f"inc-{incident_id}:{purpose}"


@dataclass(order=True)
class Timer:
    when: datetime
    key: str = field(compare=False)
    job: str = field(compare=False)
    kwargs: dict[str, Any] = field(default_factory=dict, compare=False)


class MemoryTimers:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self._jobs: dict[str, Callable[..., Any]] = {}
        self._timers: dict[str, Timer] = {}
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def register(self, job: str, fn: Callable[..., Any]) -> None:
        self._jobs[job] = fn

    def at(self, key: str, when: datetime, job: str, **kwargs: Any) -> None:
        if job not in self._jobs:
            raise KeyError(f"no timer job registered as {job!r}")
        with self._lock:
            self._timers[key] = Timer(when, key, job, kwargs)

    def cancel(self, key: str) -> None:
        with self._lock:
            self._timers.pop(key, None)

    def cancel_prefix(self, prefix: str) -> None:
        with self._lock:
            for key in [k for k in self._timers if k.startswith(prefix)]:
                del self._timers[key]

    def pending(self, prefix: str = "") -> list[Timer]:
        with self._lock:
            return sorted(t for k, t in self._timers.items() if k.startswith(prefix))

    def run_due(self) -> int:
        now = self.ctx.clock.now()
        with self._lock:
            due = sorted(t for t in self._timers.values() if t.when <= now)
            for t in due:
                del self._timers[t.key]
        for t in due:
            try:
                self._jobs[t.job](self.ctx, **t.kwargs)
            except Exception:  # noqa: BLE001 - one timer's failure must not stop the others
                log.exception("timer %s (%s) failed", t.key, t.job)
        return len(due)

    def start(self, interval: float = 1.0) -> None:
        if self._thread is not None:
            return

        def loop() -> None:
            while not self._stop.wait(interval):
                self.run_due()

        self._thread = threading.Thread(target=loop, name="firebreak-timers", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)


def timers(ctx: AppContext) -> MemoryTimers:  # or DurableTimers: the same interface
    return ctx.services["timers"]
