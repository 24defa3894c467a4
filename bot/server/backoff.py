"""Exponential backoff with jitter, bounded: how long to wait before the n-th retry of a failing call.

Jitter spreads the retries of many processes that lost Slack at the same moment, so they do not all call
`apps.connections.open` in the same instant when it comes back; the cap keeps a long outage from turning
into a long wait after it ends.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

RETRY_AFTER_MAX = 300.0  # seconds: a Retry-After beyond this is taken as this


@dataclass
class Backoff:
    """`delay(n)` for the n-th consecutive failure (n >= 1): between half and all of min(cap, base * 2**(n-1))."""

    base: float = 0.5
    cap: float = 30.0
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def ceiling(self, failures: int) -> float:
        """The longest delay after `failures` consecutive failures (0 failures: no delay)."""
        if failures <= 0:
            return 0.0
        return min(self.cap, self.base * 2 ** min(failures - 1, 32))

    def delay(self, failures: int, *, at_least: float = 0.0) -> float:
        """Seconds to wait; `at_least` honours a server's Retry-After (itself bounded by RETRY_AFTER_MAX)."""
        top = self.ceiling(failures)
        jittered = top / 2 + self.rng.uniform(0, top / 2) if top else 0.0
        return max(jittered, min(at_least, RETRY_AFTER_MAX))
