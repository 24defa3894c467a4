"""Percentiles over latency samples (milliseconds), nearest-rank, no interpolation."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list: the smallest value with at least p% at or below it."""
    if not sorted_values:
        raise ValueError("no samples")
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def summarize(samples_ms: Sequence[float]) -> dict[str, Any]:
    """n, p50, p90, p99, max and mean in milliseconds (rounded to 0.01 ms); {"n": 0} when empty."""
    values = sorted(samples_ms)
    if not values:
        return {"n": 0}
    out: dict[str, Any] = {"n": len(values)}
    for p in (50, 90, 99):
        out[f"p{p}"] = round(percentile(values, p), 2)
    out["max"] = round(values[-1], 2)
    out["mean"] = round(sum(values) / len(values), 2)
    return out
