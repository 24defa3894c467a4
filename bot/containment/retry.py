"""Bounded retries for calls to LaunchDarkly and webhooks: backoff inside a total time budget.

Retried: 429 (honouring Retry-After or X-Ratelimit-Reset), 5xx, 409, timeouts and refused connections.
Anything else (400, 401, 403, 404, ...) fails at once: retrying will not change the answer.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

RETRY_STATUSES = {409, 429}


class LeverError(Exception):
    """A lever call failed for good. The message is safe to show (no secrets) and says what happened."""

    def __init__(self, message: str, *, attempts: int = 1, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.attempts = attempts
        self.status = status


def retry_after_seconds(response: httpx.Response, now: float | None = None) -> float | None:
    """Seconds to wait as the server asked: Retry-After (seconds or HTTP date) or X-Ratelimit-Reset (epoch ms)."""
    now = time.time() if now is None else now
    raw = response.headers.get("retry-after")
    if raw:
        raw = raw.strip()
        if raw.isdigit():
            return float(raw)
        try:
            parsed = email.utils.parsedate_to_datetime(raw)
            return max(0.0, parsed.timestamp() - now)
        except (TypeError, ValueError):
            pass
    reset = response.headers.get("x-ratelimit-reset")
    if reset and reset.strip().isdigit():
        value = int(reset.strip())
        seconds = value / 1000.0 if value > 10**11 else float(value)  # LaunchDarkly sends epoch milliseconds
        return max(0.0, seconds - now)
    return None


def describe_status(response: httpx.Response) -> str:
    text = f"HTTP {response.status_code}"
    try:
        body = response.json()
        message = body.get("message") or body.get("code") if isinstance(body, dict) else None
    except ValueError:
        message = None
    return f"{text} ({str(message)[:200]})" if message else text


@dataclass
class RetryPolicy:
    budget_seconds: float = 60.0
    base_delay: float = 0.5
    max_delay: float = 10.0
    max_attempts: int = 8
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time
    jitter: Callable[[], float] = field(default=random.random)

    def run(self, what: str, send: Callable[[], httpx.Response],
            ok: Callable[[httpx.Response], bool]) -> tuple[httpx.Response, int]:
        """Call `send` until `ok(response)`; returns (response, attempts) or raises LeverError."""
        start = self.monotonic()
        attempt = 0
        while True:
            attempt += 1
            wait: float | None = None
            try:
                response = send()
            except httpx.TimeoutException:
                problem, status = f"{what} timed out", None
            except httpx.ConnectError:
                problem, status = f"{what}: could not connect (connection refused or host unreachable)", None
            except httpx.TransportError as exc:
                problem, status = f"{what}: network error ({type(exc).__name__})", None
            else:
                if ok(response):
                    return response, attempt
                status = response.status_code
                problem = f"{what} answered {describe_status(response)}"
                if status not in RETRY_STATUSES and status < 500:
                    raise LeverError(problem, attempts=attempt, status=status)
                if status == 429:
                    wait = retry_after_seconds(response, self.wall())
            backoff = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
            delay = wait if wait is not None else backoff * (0.5 + self.jitter() / 2)
            remaining = self.budget_seconds - (self.monotonic() - start)
            if attempt >= self.max_attempts or delay >= remaining:
                raise LeverError(f"{problem}; gave up after {attempt} attempt{'s' if attempt > 1 else ''}",
                                 attempts=attempt, status=status)
            self.sleep(delay)
