"""MTTx metrics: `compute(session, since=..., ...)` in SQL, a text table, a CSV and an optional chart."""

from bot.metrics.compute import (
    DEFINITIONS,
    LABELS,
    METRICS,
    MetricsReport,
    Row,
    Stat,
    WeekPoint,
    compute,
    rubric_targets,
)

__all__ = ["compute", "rubric_targets", "MetricsReport", "Row", "Stat", "WeekPoint", "METRICS", "LABELS",
           "DEFINITIONS"]
