"""Durations as users write and read them: `15m`, `1h30m`, `MTTC: 4m 12s`."""

from __future__ import annotations

import re
from datetime import timedelta

from bot.core.errors import UsageError
from bot.core.limits import shown

_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_PART = re.compile(r"([0-9]{1,9})\s*([wdhms])")  # ASCII digits; nine at most per part
LONGEST = timedelta(days=3650)  # ten years: any longer is a typing slip, not a duration
DURATION_FORMS = "a number with a unit: 30s, 15m, 1h, 1h30m, 2d, 1w"


def parse_duration(text: str) -> timedelta:
    """Parse `90s`, `15m`, `1h30m`, `2d`; raise UsageError naming the accepted forms."""
    raw = (text or "").strip().lower().replace(" ", "")
    if not raw:
        raise UsageError(f"A duration is missing; use {DURATION_FORMS}.")
    pos = 0
    total = 0
    for match in _PART.finditer(raw):
        if match.start() != pos:
            break
        total += int(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(raw) or total <= 0:
        raise UsageError(f"`{shown(str(text), 30)}` is not a duration; use {DURATION_FORMS}.")
    if total > LONGEST.total_seconds():
        raise UsageError(f"`{shown(str(text), 30)}` is longer than ten years; give a shorter duration.")
    return timedelta(seconds=total)


def format_duration(delta: timedelta | float | None) -> str:
    """`4m 12s`, `1h 2m 5s`, `2d 3h`; None (an interval still open) reads as an em dash."""
    if delta is None:
        return "—"
    seconds = int(round(delta.total_seconds() if isinstance(delta, timedelta) else delta))
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts: list[str] = []
    if days:
        parts.append(f"{days}d")
    if hours:
        parts.append(f"{hours}h")
    if minutes:
        parts.append(f"{minutes}m")
    if secs or not parts:
        parts.append(f"{secs}s")
    if days:  # seconds are noise at that scale
        parts = [p for p in parts if not p.endswith("s")] or parts
    return sign + " ".join(parts)
