"""MTTC per week by severity, with each severity's target as a dashed line: a PNG, via the optional
`charts` extra (matplotlib). Without matplotlib, `render_png` returns None and callers post the table alone.
"""

from __future__ import annotations

import io
from typing import Any

from bot.metrics.compute import MetricsReport

INSTALL_HINT = "install the charts extra (`pip install firebreak[charts]`) to get the MTTC chart"
COLORS = {1: "#d62728", 2: "#ff7f0e", 3: "#bcbd22", 4: "#7f7f7f"}


def available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def render_png(report: MetricsReport, rules: Any) -> bytes | None:
    """The chart as PNG bytes; None when matplotlib is not installed or there is nothing to plot."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    points = [p for p in report.weekly_mttc if p.median is not None]
    if not points:
        return None
    # A Figure without pyplot: no global state, safe in the bot's worker threads.
    fig = Figure(figsize=(8, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for sev in sorted({p.severity for p in points}):
        series = [p for p in points if p.severity == sev]
        color = COLORS.get(sev, "#1f77b4")
        ax.plot([p.week for p in series], [p.median / 60 for p in series], marker="o", color=color,
                label=f"SEV{sev} median MTTC")
        ax.axhline(rules.mttc_target(sev).total_seconds() / 60, color=color, linestyle="--", linewidth=1,
                   label=f"SEV{sev} target")
    ax.set_yscale("log")
    ax.set_ylabel("minutes (log scale)")
    ax.set_xlabel("week (opened, UTC Monday)")
    ax.set_title("MTTC per week by severity")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small", ncol=2)
    fig.autofmt_xdate()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
