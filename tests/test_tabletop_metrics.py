"""An exercise incident never counts in a production metric: bot.metrics.compute, `/incident metrics`,
`firebreak metrics` and the App Home MTTC. It is included only when exercises are asked for."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli.main import cli
from bot.metrics import compute
from bot.slack.harness import Harness, block_text
from bot.store.models import Incident
from bot.tabletop.references import EXERCISE_LEVERS

SANDBOX = "C0SANDBOX"
FACIL = "U0FACIL"


@pytest.fixture
def played(make_harness, write_yaml, db_url: str, clock) -> Harness:
    """One exercise contained in 5m (and ended), one real SEV1 incident contained in 40m."""
    h = make_harness(config_file=write_yaml("config.yml", {"sandbox_channels": ["tabletop-*"]}),
                     database_url=db_url, levers_file=EXERCISE_LEVERS)
    h.fake.add_channel("tabletop-drills", channel_id=SANDBOX, members=["U0MAYA", FACIL])
    h.command("tabletop start jailbreak-viral", user=FACIL, channel=SANDBOX)
    drill = h.incident_channel(1)
    clock.advance(minutes=1)
    h.command("ic <@U0MAYA>", user="U0MAYA", channel=drill)
    h.command("sev 1 trending", user="U0MAYA", channel=drill)
    h.command("contain emergency-filter", user="U0MAYA", channel=drill)  # a dry run: contains nothing
    clock.advance(minutes=4)
    assert "MTTC: 5m" in h.command("contained filter verified", user="U0MAYA", channel=drill).text
    h.command("tabletop end", user=FACIL, channel=SANDBOX)
    assert "Opened *INC-2*" in h.command("open Real jailbreak --sev 1 --category jailbreak", user="U0MAYA").text
    real = h.incident_channel(2)
    h.command("ic <@U0MAYA>", user="U0MAYA", channel=real)
    clock.advance(minutes=40)
    assert "MTTC: 40m" in h.command("contained filter live", user="U0MAYA", channel=real).text
    with h.ctx.db.session() as s:
        assert s.get(Incident, 1).is_exercise and s.get(Incident, 1).contained_at is not None
        assert not s.get(Incident, 2).is_exercise
    return h


def test_compute_excludes_the_exercise_from_every_metric(played: Harness) -> None:
    with played.ctx.db.session() as s:
        prod = compute(s)
        both = compute(s, include_exercises=True)
    for metric in ("mttd", "mtta", "mttc", "mttr"):
        p, b = prod.overall.stats[metric], both.overall.stats[metric]
        assert p.done + p.open == 1, metric       # only the real incident
        assert b.done + b.open == 2, metric       # the exercise too, when asked for
    assert prod.overall.incidents == 1 and both.overall.incidents == 2
    assert prod.overall.stats["mttc"].mean == pytest.approx(40 * 60, abs=0.5)
    assert both.overall.stats["mttc"].median == pytest.approx((5 * 60 + 40 * 60) / 2, abs=0.5)
    assert [(r.severity, r.category, r.incidents) for r in prod.by_category] == [(1, "jailbreak", 1)]
    assert sum(w.contained for w in prod.weekly_mttc) == 1 and sum(w.contained for w in both.weekly_mttc) == 2


def posted(h: Harness) -> str:
    msg = [m for m in h.fake.history("C0GENERAL") if m.blocks][-1]
    return "\n".join(block_text(b) for b in msg.blocks)


def mttc_line(text: str) -> list[str]:
    return next(line for line in text.split("\n") if line.split()[:1] == ["MTTC"]).split()


def test_slash_metrics_excludes_it_unless_asked(played: Harness) -> None:
    played.command("metrics", user="U0MAYA")
    text = posted(played)
    assert "exercises excluded" in text
    assert mttc_line(text)[1:3] == ["1", "0"] and "40m" in mttc_line(text)
    played.command("metrics --exercises", user="U0MAYA")
    text = posted(played)
    assert "exercises included" in text
    assert mttc_line(text)[1:3] == ["2", "0"]


def test_app_home_mttc_excludes_it(played: Harness) -> None:
    played.event({"type": "app_home_opened", "user": "U0CAROL", "tab": "home", "channel": "D0CAROL"})
    text = "\n".join(block_text(b) for b in played.fake.home_views["U0CAROL"]["blocks"])
    assert "*SEV1* · median 40m · mean 40m · 1 contained, 0 open" in text
    assert "exercises excluded" in text


def test_cli_metrics_excludes_it_unless_asked(played: Harness, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", played.settings.database_url)
    for flags, done in (([], "1"), (["--exercises"], "2")):
        out = tmp_path / f"m{done}.csv"
        result = CliRunner().invoke(cli, ["metrics", "--since", "all", "--csv", str(out), *flags])
        assert result.exit_code == 0, result.output

        rows = list(csv.DictReader(out.open()))
        sev1 = next(r for r in rows if r["severity"] == "1" and r["category"] == "all" and r["metric"] == "mttc")
        assert sev1["done"] == done
