"""Parse the metrics filters users type: periods (`30d`, `12w`, `2026-01-01`, `all`), severities, categories."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from bot.core.durations import parse_duration
from bot.core.errors import UsageError

PERIOD_FORMS = ("a length back from now such as 24h, 7d, 30d or 12w; a start date such as 2026-01-01; "
                "or `all`")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_period(text: str, now: datetime, *, usage: str | None = None) -> datetime | None:
    """The start of the period (UTC), or None for `all`. Raises UsageError naming the accepted forms."""
    raw = (text or "").strip().lower()
    if raw in ("all", "ever"):
        return None
    if _DATE.match(raw):
        try:
            start = datetime.combine(date.fromisoformat(raw), datetime.min.time(), tzinfo=UTC)
        except ValueError:
            raise UsageError(f"`{text}` is not a real date. Use {PERIOD_FORMS}.", usage=usage) from None
        if start > now:
            raise UsageError(f"`{text}` is in the future. Use {PERIOD_FORMS}.", usage=usage)
        return start
    try:
        return now - parse_duration(raw)
    except UsageError:
        raise UsageError(f"`{text}` is not a period. Use {PERIOD_FORMS}.", usage=usage) from None


def describe_period(since: datetime | None, now: datetime) -> str:
    if since is None:
        return "all time"
    return f"{since:%Y-%m-%d %H:%M} → {now:%Y-%m-%d %H:%M} UTC"
