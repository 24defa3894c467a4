"""The metrics as text (Slack code block, terminal) and as CSV."""

from __future__ import annotations

import csv
import io
from typing import Any

from bot.core.durations import format_duration
from bot.metrics.compute import LABELS, METRICS, MetricsReport, Row, Stat


def _d(seconds: float | None) -> str:
    return format_duration(seconds) if seconds is not None else "—"


def _grid(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return lines


def _stat_cells(stat: Stat) -> list[str]:
    return [str(stat.done), str(stat.open), _d(stat.mean), _d(stat.median), _d(stat.p90)]


def by_severity_lines(report: MetricsReport, rules: Any) -> list[str]:
    header = ["Severity", "Metric", "Done", "Open", "Mean", "Median", "p90", "Target"]
    rows: list[list[str]] = []
    groups: list[tuple[str, Row]] = [(f"SEV{r.severity}", r) for r in report.by_severity]
    if len(report.by_severity) > 1:
        groups.append(("All", report.overall))
    for label, row in groups:
        for k, metric in enumerate(METRICS):
            target = (format_duration(rules.mttc_target(row.severity))
                      if metric == "mttc" and row.severity is not None else "")
            rows.append([label if k == 0 else "", LABELS[metric], *_stat_cells(row.stats[metric]), target])
    return _grid(header, rows)


def mttc_by_category_lines(report: MetricsReport, rules: Any) -> list[str]:
    header = ["Severity", "Category", "Incidents", "Contained", "Open", "Mean", "Median", "p90"]
    rows = []
    for row in report.by_category:
        s = row.stats["mttc"]
        rows.append([f"SEV{row.severity}", rules.category_label(row.category), str(row.incidents), str(s.done),
                     str(s.open), _d(s.mean), _d(s.median), _d(s.p90)])
    return _grid(header, rows)


def format_table(report: MetricsReport, rules: Any) -> str:
    """Every metric by severity, then MTTC by severity and category."""
    if report.overall.incidents == 0:
        return "No incidents in this period."
    lines = by_severity_lines(report, rules)
    lines += ["", "MTTC by severity and category:", *mttc_by_category_lines(report, rules)]
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
                     "median_seconds", "p90_seconds"])
    rows = [report.overall, *report.by_severity, *report.by_category]
    for row in rows:
        if row.incidents == 0:
            continue
        for metric in METRICS:
            s = row.stats[metric]
            writer.writerow([row.severity if row.severity is not None else "all", row.category or "all",
                             row.incidents, metric, s.done, s.open,
                             *("" if v is None else f"{v:.3f}" for v in (s.mean, s.median, s.p90))])
    return out.getvalue()
