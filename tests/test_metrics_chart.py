"""The weekly MTTC chart for 0, 1 and 3,000 incidents: a real PNG of the expected size, and — read back
from the figure object — axes that span the report period, one linear panel per severity with its median,
p90, target line and weekly counts, a legend outside every panel and the colour-blind-safe palette."""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

pytest.importorskip("matplotlib")

from matplotlib.dates import num2date  # noqa: E402
from PIL import Image  # noqa: E402

from bot.core import facts  # noqa: E402
from bot.core.severity import load_rules  # noqa: E402
from bot.metrics import chart, compute, rubric_targets  # noqa: E402
from bot.store.db import Database  # noqa: E402
from bot.store.models import Incident  # noqa: E402

NOW = datetime(2026, 3, 30, 12, 0, tzinfo=UTC)
RULES = load_rules(None)
OKABE_ITO = {"#d55e00", "#e69f00", "#0072b2", "#009e73"}


@pytest.fixture
def db(sqlite_url: str) -> Iterator[Database]:
    database = Database(sqlite_url)
    database.create_all()
    yield database
    database.dispose()


def seed(db: Database, n: int, days: float, severities: tuple[int, ...] = (1, 2, 3, 4)) -> None:
    rng = random.Random(n)
    with db.session() as s:
        for _ in range(n):
            sev = rng.choice(severities)
            detected = NOW - timedelta(days=rng.uniform(0.5, days))
            took = RULES.mttc_target(sev) * rng.uniform(0.1, 1.5)
            contained = detected + took if rng.random() < 0.9 and detected + took < NOW else None
            row = Incident(title="t", category="jailbreak", severity=sev, reporter_id="U0A", detected_at=detected,
                           opened_at=detected + timedelta(minutes=rng.uniform(0, 15)), contained_at=contained,
                           status="contained" if contained else "active")
            facts.fill(row)
            s.add(row)


def draw(db: Database, since: datetime | None):
    with db.session() as s:
        report = compute(s, since=since, until=NOW, targets=rubric_targets(RULES))
    return report, chart.figure(report, RULES), chart.render_png(report, RULES)


def span(ax) -> tuple[datetime, datetime]:
    lo, hi = ax.get_xlim()
    return num2date(lo), num2date(hi)


def png_size(png: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(png)) as image:
        image.verify()
        return image.size


def panels(fig) -> list:
    """The MTTC panels, top to bottom."""
    return [ax for ax in fig.axes if ax.get_ylabel().startswith("MTTC")]


def test_no_incidents_still_draws_the_period(db: Database) -> None:
    since = NOW - timedelta(days=30)
    report, fig, png = draw(db, since)
    assert png_size(png) == (chart.WIDTH * chart.DPI, (chart.HEADER_HEIGHT + chart.PANEL_HEIGHT) * chart.DPI)
    (ax,) = panels(fig)
    assert span(ax) == (since, NOW)
    assert "No incidents were opened in this period." in [t.get_text() for t in ax.texts]


def test_one_incident_sits_in_the_whole_period(db: Database) -> None:
    seed(db, 1, days=3, severities=(1,))
    since = NOW - timedelta(days=30)
    report, fig, png = draw(db, since)
    (ax,) = panels(fig)
    assert span(ax) == (since, NOW)  # not an axis around the single point
    assert ax.get_yscale() == "linear" and ax.get_ylabel() == "MTTC (minutes)"
    assert png_size(png)[1] == (chart.HEADER_HEIGHT + chart.PANEL_HEIGHT) * chart.DPI
    # The target line at 60 minutes; the single week's median and p90 plotted mid-week.
    assert any(line.get_linestyle() == ":" and list(line.get_ydata()) == [60, 60] for line in ax.lines)
    (point,) = report.weekly_mttc
    medians = [line for line in ax.lines if line.get_linestyle() == "-"]
    assert [list(m.get_ydata()) for m in medians] == [[point.median / 60]]
    # "all": the first week with data (less a few days) to now, never years around one point.
    _, fig_all, _ = draw(db, None)
    start, end = span(panels(fig_all)[0])
    assert end == NOW and timedelta(days=7) <= end - start <= timedelta(days=14)


def test_three_thousand_incidents_over_a_year(db: Database) -> None:
    seed(db, 3000, days=360)
    since = NOW - timedelta(days=365)
    report, fig, png = draw(db, since)
    axes = panels(fig)
    assert [ax.get_title(loc="left").split(" ·")[0] for ax in axes] == ["SEV1", "SEV2", "SEV3", "SEV4"]
    assert png_size(png) == (chart.WIDTH * chart.DPI, (chart.HEADER_HEIGHT + 4 * chart.PANEL_HEIGHT) * chart.DPI)
    for ax in axes:
        assert span(ax) == (since, NOW)
        assert ax.get_yscale() == "linear"
    # Minutes for SEV1 (target 1h), hours for SEV3 (target 24h), each with its target line inside the axis.
    assert axes[0].get_ylabel() == "MTTC (minutes)" and axes[2].get_ylabel() == "MTTC (hours)"
    for ax, target in zip(axes, (60, 4, 24, 72), strict=True):
        assert any(list(line.get_ydata()) == [target, target] for line in ax.lines)
        assert ax.get_ylim()[1] > target
    # Colour-blind-safe: every series colour is from the Okabe–Ito palette, a different one per severity.
    colours = [{str(line.get_color()).lower() for line in ax.lines if line.get_linestyle() != ":"} for ax in axes]
    assert all(len(c) == 1 and c <= OKABE_ITO for c in colours) and len(set().union(*colours)) == 4
    # Counts per week: grey steps scaled to the busiest week (whose count the panel names), every week.
    total = 0
    for ax, sev in zip(axes, (1, 2, 3, 4), strict=True):
        weekly = {p.week: p.contained + p.open for p in report.weekly_mttc if p.severity == sev}
        (steps,) = ax.patches
        heights = steps.get_data().values
        most = max(weekly.values())
        assert ax.get_title(loc="right") == f"grey: incidents per week (busiest {most})"
        assert sorted(round(h / max(heights) * most) for h in heights if h) == sorted(weekly.values())
        total += sum(weekly.values())
    assert total == report.overall.incidents == 3000
    # The legend is outside every panel.
    fig.canvas.draw()
    legend = fig.legends[0].get_window_extent()
    assert all(not legend.overlaps(ax.get_window_extent()) for ax in fig.axes)
