"""What the stand-in records of each request, and how many round trips a set of them stood one after another.

Against a real Slack every call costs a network round trip (100-300 ms), so what a person waits for is not
how many calls a command makes but how many stand in a chain, each waiting for the one before it. With the
stand-in answering after a fixed `latency`, `critical_path(calls)` counts that chain.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass
class Call:
    """One request to the stand-in: `start` when it arrived, `end` when its answer was sent (None while in
    flight). `at` is `start`, kept for readers that predate `end`."""

    method: str
    params: dict[str, Any]
    at: float
    end: float | None = None

    @property
    def start(self) -> float:
        return self.at


@dataclass(frozen=True)
class Violation:
    """A request Slack would refuse (or accept with a warning) because it broke one of Slack's rules."""

    method: str
    error: str
    messages: tuple[str, ...] = ()
    params: dict[str, Any] | None = None

    def __str__(self) -> str:
        detail = f": {'; '.join(self.messages[:3])}" if self.messages else ""
        return f"{self.method} -> {self.error}{detail}"


def critical_path(calls: Iterable[Call]) -> int:
    """The longest chain of calls in which each started after the previous one's answer arrived.

    Calls still in flight count as ending now (they cannot be followed by anything yet). Two calls made
    at the same time are one round trip; a call made after another answered is a second.
    """
    done = sorted((c for c in calls), key=lambda c: c.start)
    if not done:
        return 0
    ends = [c.end if c.end is not None else float("inf") for c in done]
    depth: list[int] = []
    for i, call in enumerate(done):
        before = [depth[j] for j in range(i) if ends[j] <= call.start]
        depth.append(1 + max(before, default=0))
    return max(depth)
