"""The timers contract every feature schedules through (`ctx.timers`).

- `register(job_name, fn)` once at start; `fn(ctx, **kwargs)` runs when the timer is due.
- `at(key, when, job_name, **kwargs)` creates or replaces the timer `key` (idempotent); kwargs are JSON.
- `cancel(key)` / `cancel_prefix("inc-42:")` drop timers; `pending(prefix)` lists them; `scheduled(prefix)` gives
  just their keys and run times.
- `batch()`: a block whose timer changes are written together, in one transaction.
- `run_due()` runs every due timer once, by `ctx.clock` (tests move a ManualClock and call it).

Writes made inside a `ctx.db.session()` take effect when that session commits and are dropped if it rolls
back (`Database.after_commit`); reads (`pending`, `when`) belong outside any session. The implementation is the
durable scheduler, `bot.scheduler.durable`.

A job may run more than once (a crash between its run and the ledger's stamp re-queues it): whatever it does
to the world it records with `bot.core.effects` under a deterministic idempotency key, in the transaction that
records its fact, so a second run records nothing new.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from bot.app.services import Services


def incident_key(incident_id: int, purpose: str) -> str:
    return f"inc-{incident_id}:{purpose}"


@dataclass(order=True)
class Timer:
    when: datetime
    key: str = field(compare=False)
    job: str = field(compare=False)
    kwargs: dict[str, Any] = field(default_factory=dict, compare=False)


class Timers(Protocol):
    owner: str  # which process this is, in the firing ledger and the logs
    def register(self, job: str, fn: Callable[..., Any]) -> None: ...
    def at(self, key: str, when: datetime, job: str, **kwargs: Any) -> None: ...
    def cancel(self, key: str) -> None: ...
    def cancel_prefix(self, prefix: str) -> None: ...
    def pending(self, prefix: str = "") -> list[Timer]: ...
    def scheduled(self, prefix: str) -> dict[str, datetime]: ...
    def batch(self) -> AbstractContextManager[None]: ...
    def run_due(self) -> int: ...
    def start(self, interval: float = 1.0) -> None: ...
    def close(self) -> None: ...


def timers(ctx: Services) -> Timers:
    return ctx.timers
