"""Points in time as people type them: `2026-01-05T08:00Z`, `2026-01-05 08:00` (UTC), `08:40` (today, UTC),
`45m ago`. Used for detection times, awareness times of reporting clocks, and corrections of either."""

from __future__ import annotations

import re
from datetime import datetime, time

from bot.core.clock import ensure_utc
from bot.core.durations import parse_duration
from bot.core.errors import UsageError
from bot.core.limits import shown

FORMS = ("an ISO time like 2026-01-05T08:00Z or 2026-01-05 08:00 (UTC), a time today like 08:40 (UTC), "
         "or a time ago like 45m ago")
_AGO = re.compile(r"^(.+?)\s*ago$")
_CLOCK = re.compile(r"^([01]?[0-9]|2[0-3]):([0-5][0-9])$")
# Flags whose values may contain a space (`--detected-at 45m ago`): joined before the flag parser sees them.
SPACED = r"(\S+\s+ago|\d{4}-\d{2}-\d{2}\s+\d{1,2}:\d{2}(?::\d{2})?)"


def join_spaced(args: str, *flags: str) -> str:
    names = "|".join(re.escape(f) for f in flags)
    return re.sub(rf"(--(?:{names}))\s+{SPACED}(?=\s|$)", lambda m: f'{m.group(1)}="{m.group(2)}"', args)


def parse_when(text: str, now: datetime, what: str, *, usage: str | None = None) -> datetime:
    """A point in time, timezone-aware UTC; never later than `now`."""
    raw = " ".join(str(text).split())
    found: datetime | None = None
    m = _AGO.match(raw.lower())
    if m:
        try:
            found = now - parse_duration(m.group(1))
        except UsageError:
            found = None
    elif (c := _CLOCK.match(raw)) is not None:
        found = datetime.combine(now.date(), time(int(c.group(1)), int(c.group(2))), tzinfo=now.tzinfo)
        if found > now:
            raise UsageError(f"{raw} (UTC) today is still to come; for yesterday give the date, e.g. "
                             f"{(now.date()).isoformat()} {raw}.", usage=usage)
    else:
        try:
            found = ensure_utc(datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00")))
        except (ValueError, OverflowError):
            found = None
    if found is None:
        raise UsageError(f"`{shown(raw, 40)}` is not a time for {what}; use {FORMS}.", usage=usage)
    if found > now:
        raise UsageError(f"The {what} is in the future; give when it happened.", usage=usage)
    return found
