"""Names shared by the alert modules: the triage message's view, the timer jobs, how a window is said."""

from __future__ import annotations

from datetime import timedelta

TRIAGE_VIEW = "alert_triage"
FLUSH_JOB, REMIND_JOB = "alerts_flush", "alerts_remind"


def span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds % 3600 == 0 and seconds >= 3600:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0 and seconds >= 60:
        return f"{seconds // 60} min"
    return f"{seconds} s"

