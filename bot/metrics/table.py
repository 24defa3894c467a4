"""The metrics as text (Slack code block, terminal) and as CSV. MTTC cells over the severity's target
carry a `!` and each MTTC row says how many incidents were contained after the target."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

from bot.core.durations import format_duration
from bot.core.facts import Metric
from bot.metrics.compute import LABELS, METRICS, MetricsReport, Row, Stat

OVER = "!"
LEGEND = (f"{OVER} = over the severity's MTTC target · over target = contained after it "
          "(still-open incidents are counted in Open)")


def _d(seconds: float | None) -> str:
    return format_duration(seconds) if seconds is not None else "—"


def _marked(seconds: float | None, target: timedelta | None) -> str:
    """A duration, with the miss marker when it is over the target."""
    over = seconds is not None and target is not None and seconds > target.total_seconds()
    return _d(seconds) + (OVER if over else "")


def _over(stat: Stat) -> str:
    return "" if stat.over_target is None else f"{stat.over_target} of {stat.done}"


def _grid(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return lines


def _stat_cells(stat: Stat, target: timedelta | None) -> list[str]:
    return [str(stat.done), str(stat.open), _marked(stat.mean, target), _marked(stat.median, target),
            _marked(stat.p90, target)]


def by_severity_lines(report: MetricsReport, rules: Any) -> list[str]:
    header = ["Severity", "Metric", "Done", "Open", "Mean", "Median", "p90", "Target", "Over target"]
    rows: list[list[str]] = []
    groups: list[tuple[str, Row]] = [(f"SEV{r.severity}", r) for r in report.by_severity]
    if len(report.by_severity) > 1:
        groups.append(("All", report.overall))
    for label, row in groups:
        for k, metric in enumerate(METRICS):
            stat = row.stats[metric]
            target = rules.mttc_target(row.severity) if metric == Metric.MTTC and row.severity is not None else None
            rows.append([label if k == 0 else "", LABELS[metric], *_stat_cells(stat, target),
                         format_duration(target) if target is not None else "",
                         _over(stat) if metric == Metric.MTTC else ""])
    return _grid(header, rows)


def mttc_by_category_lines(report: MetricsReport, rules: Any) -> list[str]:
    header = ["Severity", "Category", "Incidents", "Contained", "Open", "Mean", "Median", "p90", "Over target"]
    rows = []
    for row in report.by_category:
        s = row.stats[Metric.MTTC]
        target = rules.mttc_target(row.severity)
        rows.append([f"SEV{row.severity}", rules.category_label(row.category), str(row.incidents), str(s.done),
                     str(s.open), _marked(s.mean, target), _marked(s.median, target), _marked(s.p90, target),
                     _over(s)])
    return _grid(header, rows)


def format_table(report: MetricsReport, rules: Any) -> str:
    """Every metric by severity, then MTTC by severity and category; misses marked against the rubric."""
    if report.overall.incidents == 0:
        return "No incidents in this period."
    lines = by_severity_lines(report, rules)
    lines += ["", "MTTC by severity and category:", *mttc_by_category_lines(report, rules), "", LEGEND]
    return "\n".join(lines)


def describe_filters(report: MetricsReport, rules: Any, period: str) -> str:
    parts = [period]
    if report.severity is not None:
        parts.append(f"SEV{report.severity} only")
    if report.category is not None:
        parts.append(rules.category_label(report.category))
    parts.append("exercises included" if report.include_exercises else "exercises excluded")
    return " · ".join(parts)


def to_csv(report: MetricsReport) -> str:
    """Long format: one line per group and metric; seconds as numbers, empty when nothing ended."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["severity", "category", "incidents", "metric", "done", "open", "mean_seconds",
                     "median_seconds", "p90_seconds", "over_target"])
    rows = [report.overall, *report.by_severity, *report.by_category]
    for row in rows:
        if row.incidents == 0:
            continue
        for metric in METRICS:
            if metric not in row.stats:
                continue  # not broken down by category for this metric
            s = row.stats[metric]
            writer.writerow([row.severity if row.severity is not None else "all", row.category or "all",
                             row.incidents, metric.value, s.done, s.open,
                             *("" if v is None else f"{v:.3f}" for v in (s.mean, s.median, s.p90)),
                             "" if s.over_target is None else s.over_target])
    return out.getvalue()
