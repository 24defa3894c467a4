"""The filters shared by `/incident metrics` and `firebreak metrics`, validated with clear messages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.core.errors import UsageError
from bot.core.severity import parse_severity
from bot.metrics.period import parse_period

DEFAULT_SINCE = "30d"


@dataclass(frozen=True)
class Filters:
    since: datetime | None
    severity: int | None
    category: str | None
    include_exercises: bool
    period_text: str


def parse_filters(rules: Any, now: datetime, *, since: str | None, sev: str | None, category: str | None,
                  exercises: bool, usage: str) -> Filters:
    start = parse_period(since or DEFAULT_SINCE, now, usage=usage)
    severity = parse_severity(sev, usage) if sev is not None else None
    cat = None
    if category is not None:
        try:
            cat = rules.check_category(category)
        except UsageError as err:
            raise UsageError(err.message, usage=usage) from None
    return Filters(start, severity, cat, exercises, since or DEFAULT_SINCE)
