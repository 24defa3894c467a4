"""MTTx metrics: `compute(session, since=..., ...)` in SQL, a text table, a CSV and an optional chart."""

from bot.metrics.compute import DEFINITIONS, LABELS, METRICS, MetricsReport, Row, Stat, WeekPoint, compute

__all__ = ["compute", "MetricsReport", "Row", "Stat", "WeekPoint", "METRICS", "LABELS", "DEFINITIONS"]
