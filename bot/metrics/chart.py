"""The weekly MTTC chart, a PNG via the optional `charts` extra (matplotlib). Without matplotlib,
`render_png` returns None and callers post the table alone.

One panel per severity, because targets run from an hour (SEV1) to three days (SEV4) and one linear axis
cannot show both: in each, the weekly median and p90 MTTC, the severity's target as a line and the
incidents opened per week as grey steps behind them. Every panel spans the report period (a single week of data
is a point in that span, not a span of its own), the y axis is linear in minutes or hours, the legend sits
above the panels (never over data) and the colours are the Okabe–Ito colour-blind-safe palette, each
severity with its own marker as well. A period without incidents still gives a chart that says so.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from bot.core.durations import format_duration
from bot.metrics.compute import MetricsReport, WeekPoint

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

INSTALL_HINT = "install the charts extra (`pip install firebreak[charts]`) to get the MTTC chart"
# Okabe–Ito: distinguishable with every common colour-vision deficiency (no red/green pair, no yellow).
STYLE: dict[int, tuple[str, str]] = {1: ("#D55E00", "o"), 2: ("#E69F00", "s"), 3: ("#0072B2", "^"),
                                     4: ("#009E73", "D")}
COUNTS = "#BBBBBB"
TARGET = "#000000"
WIDTH, PANEL_HEIGHT, HEADER_HEIGHT, DPI = 10.0, 2.4, 1.5, 100


def available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass(frozen=True)
class Period:
    """What the x axis spans (UTC)."""

    start: datetime
    end: datetime


def period(report: MetricsReport, now: datetime | None = None) -> Period:
    """The report period: its `since` (or, for `all`, the first week with data) to its `until` (or now)."""
    weeks = [_at(p.week) for p in report.weekly_mttc]
    end = report.until or now or (max(weeks) + timedelta(days=7) if weeks else datetime.now(UTC))
    start = report.since or (min(weeks) - timedelta(days=3) if weeks else end - timedelta(days=28))
    if end - start < timedelta(days=7):
        start = end - timedelta(days=7)
    return Period(start, end)


def _at(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def _unit(top_seconds: float) -> tuple[float, str]:
    """Minutes up to three hours, hours beyond: linear either way."""
    return (60.0, "minutes") if top_seconds <= 3 * 3600 else (3600.0, "hours")


def figure(report: MetricsReport, rules: Any, *, now: datetime | None = None) -> Figure | None:
    """The chart as a matplotlib Figure (None without matplotlib). Drawn without pyplot: no global state,
    safe in the bot's worker threads."""
    try:
        from matplotlib.figure import Figure
        from matplotlib.lines import Line2D
        from matplotlib.patches import Patch
    except ImportError:
        return None
    span = period(report, now)
    severities = sorted({p.severity for p in report.weekly_mttc})
    panels = max(len(severities), 1)
    height = HEADER_HEIGHT + PANEL_HEIGHT * panels
    fig = Figure(figsize=(WIDTH, height), dpi=DPI)
    # Fixed margins in inches (a layout engine costs more than the drawing): title on top, legend at the foot.
    fig.subplots_adjust(left=0.08, right=0.97, top=1 - 0.55 / height, bottom=0.95 / height,
                        hspace=0.4)
    axes = fig.subplots(panels, 1, sharex=True, squeeze=False)[:, 0]
    scope = "exercises included" if report.include_exercises else "exercises excluded"
    fig.suptitle(f"Weekly MTTC by severity — {span.start:%Y-%m-%d} to {span.end:%Y-%m-%d} (UTC), {scope}",
                 fontsize="large", y=1 - 0.12 / height)
    if not severities:
        ax = axes[0]
        ax.text(0.5, 0.5, "No incidents were opened in this period.", ha="center", va="center",
                transform=ax.transAxes, fontsize="large", color="#444444")
        ax.set_yticks([])
        ax.set_ylabel("MTTC")
    for ax, sev in zip(axes, severities, strict=False):
        _panel(ax, sev, [p for p in report.weekly_mttc if p.severity == sev], rules.mttc_target(sev))
    axes[-1].set_xlim(span.start, span.end)
    _date_axis(axes[-1])
    handles = [Line2D([], [], color="#555555", marker="o", label="median MTTC of the week"),
               Line2D([], [], color="#555555", marker="o", markerfacecolor="white", linestyle="--",
                      label="p90 MTTC of the week"),
               Line2D([], [], color=TARGET, linestyle=":", linewidth=1.5, label="MTTC target"),
               Patch(color=COUNTS, alpha=0.6, label="incidents opened per week (scaled)")]
    fig.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 0.02 / height * 4), ncol=4,
               frameon=False, fontsize="small")
    return fig


def _panel(ax: Axes, sev: int, points: list[WeekPoint], target: timedelta) -> None:
    from matplotlib.dates import date2num

    color, marker = STYLE.get(sev, ("#555555", "o"))
    contained = [p for p in points if p.median is not None]
    top = max([target.total_seconds(), *(p.p90 or 0 for p in contained)]) * 1.15
    scale, unit = _unit(top)
    # Incidents opened per week as grey steps under the lines, scaled so the busiest week fills 45% of the
    # panel (its count is in the title): one filled artist, no second axis to lay out.
    per_week = {p.week: p.contained + p.open for p in points}
    first, last = min(per_week), max(per_week)
    weeks = [first + timedelta(days=7 * k) for k in range((last - first).days // 7 + 1)]
    most = max(per_week.values())
    edges = date2num([_at(w) for w in weeks] + [_at(last) + timedelta(days=7)])
    ax.stairs([per_week.get(w, 0) * 0.45 * top / scale / most for w in weeks], edges, fill=True, color=COUNTS,
              alpha=0.6, label="incidents opened per week", zorder=1)
    middle = date2num([_at(p.week) + timedelta(days=3.5) for p in contained])
    ax.plot(middle, [(p.p90 or 0) / scale for p in contained], color=color, marker=marker, linestyle="--",
            markerfacecolor="white", linewidth=1.2, markersize=5, label=f"SEV{sev} p90")
    ax.plot(middle, [(p.median or 0) / scale for p in contained], color=color, marker=marker, linewidth=1.8,
            markersize=5, label=f"SEV{sev} median")  # drawn last: on top where the two meet
    ax.axhline(target.total_seconds() / scale, color=TARGET, linestyle=":", linewidth=1.5)
    ax.set_ylim(0, top / scale)
    ax.set_ylabel(f"MTTC ({unit})")
    total = sum(per_week.values())
    ax.set_title(f"SEV{sev} · target {format_duration(target)} · {total} incident{'s' * (total != 1)}",
                 loc="left", fontsize="medium", color=color, fontweight="bold")
    ax.set_title(f"grey: incidents per week (busiest {most})", loc="right", fontsize="small", color="#666666")
    ax.grid(True, axis="y", alpha=0.3)


def _date_axis(ax: Axes) -> None:
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    locator = AutoDateLocator(minticks=3, maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    ax.set_xlabel("week the incidents were opened (UTC)")


def render_png(report: MetricsReport, rules: Any, *, now: datetime | None = None) -> bytes | None:
    """The chart as PNG bytes; None when matplotlib is not installed."""
    fig = figure(report, rules, now=now)
    if fig is None:
        return None
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
