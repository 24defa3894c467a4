"""Work lanes: bounded thread pools for what runs after an ack, one per kind of work.

Acks never wait behind work: a listener acknowledges, then hands its work to a lane. Each lane has its own
bound, so one slow dependency (LaunchDarkly answering 503 for a minute, a slow model endpoint) fills only its
own lane and never starves commands, Slack side effects or anyone's ack.

`wait_idle()` lets tests, the console and the benchmark wait until every lane has finished.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any

log = logging.getLogger(__name__)

# Lane name -> worker threads. Commands and interactions do their work on COMMANDS; Slack calls of the effects
# ledger on EFFECTS; lever pulls (with their retry budget) on LEVERS; replay probes on PROBES; alert intake on ALERTS.
COMMANDS, EFFECTS, LEVERS, PROBES, ALERTS = "commands", "effects", "levers", "probes", "alerts"
DEFAULT_SIZES = {COMMANDS: 8, EFFECTS: 8, LEVERS: 4, PROBES: 2, ALERTS: 2}


class Lanes(Executor):
    """Named bounded pools that know when all submitted work has finished."""

    def __init__(self, sizes: dict[str, int] | None = None) -> None:
        self.sizes = dict(DEFAULT_SIZES | (sizes or {}))
        self._pools = {name: ThreadPoolExecutor(max_workers=n, thread_name_prefix=f"firebreak-{name}")
                       for name, n in self.sizes.items()}
        self._pending = 0
        self._cond = threading.Condition()
        self._closed = False

    def run(self, lane: str, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """Run `fn(*args, **kwargs)` on `lane`. Exceptions are logged (nobody waits on most of this work)."""
        pool = self._pools[lane]
        with self._cond:
            self._pending += 1

        def job() -> Any:
            try:
                return fn(*args, **kwargs)
            except Exception:  # noqa: BLE001 - a lane outlives every job's failure
                log.exception("work on the %s lane failed", lane)
                raise
            finally:
                with self._cond:
                    self._pending -= 1
                    self._cond.notify_all()

        try:
            return pool.submit(job)
        except RuntimeError:  # shut down: the process is stopping
            with self._cond:
                self._pending -= 1
                self._cond.notify_all()
            raise

    # Executor interface: Bolt's listener executor (the ack lane, for lazy listeners) and older callers.
    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        return self.run(COMMANDS, fn, *args, **kwargs)

    def submit_work(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        return self.run(COMMANDS, fn, *args, **kwargs)

    def busy(self) -> int:
        with self._cond:
            return self._pending

    def wait_idle(self, timeout: float = 30.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._pending == 0, timeout=timeout)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if wait:  # work on one lane may hand more work to another: let it all finish first
            self.wait_idle()
        self._closed = True
        for pool in self._pools.values():
            pool.shutdown(wait=wait, cancel_futures=cancel_futures)
