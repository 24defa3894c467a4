"""`/incident metrics` (table + chart upload, or the table alone without matplotlib), the App Home tab and
`firebreak metrics`."""

from __future__ import annotations

import csv
import io
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli.main import cli
from bot.core import facts
from bot.slack.harness import Harness, block_text
from bot.store.models import Incident

PNG = b"\x89PNG\r\n\x1a\n"


def seed(h: Harness, clock) -> None:
    """Two SEV1 (contained 10m and 30m), one open SEV3, one SEV1 exercise (contained 1m)."""
    now = clock.now()

    def inc(sev: int, cat: str, days: int, contained_min: float | None, exercise: bool = False) -> Incident:
        det = now - timedelta(days=days)
        row = Incident(title="seeded", category=cat, severity=sev, reporter_id="U0ALICE", detected_at=det,
                       opened_at=det + timedelta(minutes=1), acknowledged_at=det + timedelta(minutes=2),
                       contained_at=det + timedelta(minutes=contained_min) if contained_min else None,
                       status="contained" if contained_min else "active", is_exercise=exercise)
        facts.fill(row)  # what the lifecycle's stamp writes
        return row

    with h.ctx.db.session() as s:
        s.add_all([inc(1, "jailbreak", 20, 10), inc(1, "data_leakage", 3, 30), inc(3, "bias", 2, None),
                   inc(1, "jailbreak", 1, 1, exercise=True), inc(2, "other", 60, 5)])


def cells(line: str) -> list[str]:
    """A table line's cells (columns are two or more spaces apart; a cell has at most single spaces)."""
    return re.split(r"\s{2,}", line.strip())


def posted_text(h: Harness, channel: str = "C0GENERAL") -> str:
    msg = [m for m in h.fake.history(channel) if m.blocks][-1]  # the table (a file share has none)
    return "\n".join(block_text(b) for b in msg.blocks)


def test_metrics_posts_table_and_chart(db_harness: Harness, clock) -> None:
    h = db_harness
    seed(h, clock)
    h.command("metrics")
    text = posted_text(h)
    assert "MTTx metrics (30d)" in text and "exercises excluded" in text
    lines = text.split("\n")
    mttc = next(line for line in lines if line.split()[:1] == ["MTTC"])  # the SEV1 block comes first
    assert mttc.split()[1:3] == ["2", "0"]  # two contained, none open (the exercise is excluded)
    assert "20m" in mttc and "1h" in mttc  # mean/median 20m, target 1h
    assert any(line.startswith("SEV3") for line in lines)
    assert "SEV2" not in text  # 60 days ago: outside 30d
    sev3_mttc = [cells(line) for line in lines if "Bias or unfair outcome" in line]
    # Severity, Category, Incidents, Contained, Open, …: not contained, so counted as open
    assert sev3_mttc and sev3_mttc[0][2:5] == ["1", "0", "1"]
    assert "! = over the severity's MTTC target" in text
    (f,) = [f for f in h.fake.files.values() if f["content"]]
    assert f["name"] == "mttc-by-week.png" and f["content"].startswith(PNG) and f["channels"] == ["C0GENERAL"]


def test_metrics_without_matplotlib_posts_the_table_alone(harness: Harness, clock, monkeypatch) -> None:
    for mod in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, mod, None)  # import now raises ImportError
    seed(harness, clock)
    harness.command("metrics --since all --exercises")
    text = posted_text(harness)
    assert "No chart: install the charts extra" in text
    assert "exercises included" in text and "SEV2" in text
    assert harness.fake.calls_to("files.getUploadURLExternal") == []


def test_metrics_filters(harness: Harness, clock) -> None:
    seed(harness, clock)
    harness.command("metrics --since 12w --sev SEV1 --category jailbreak")
    text = posted_text(harness)
    assert "SEV1 only" in text and "Jailbreak / policy bypass" in text
    assert "SEV3" not in text and "Data or PII leakage" not in text


@pytest.mark.parametrize("args, message", [
    ("--since 3x", "`3x` is not a period. Use a length back from now such as 24h, 7d, 30d or 12w"),
    ("--since 2027-01-01", "is in the future"),
    ("--since 2026-13-01", "is not a real date"),
    ("--sev 7", "`7` is not a severity; use 1, 2, 3 or 4"),
    ("--category nope", "Unknown category `nope`. Categories: jailbreak, prompt_injection"),
    ("--since", "`--since` needs a value"),
    ("--weeks 3", "Unknown option `--weeks`"),
    ("sev1", "Unexpected `sev1`"),
])
def test_metrics_bad_input(harness: Harness, clock, args: str, message: str) -> None:
    seed(harness, clock)
    reply = harness.command(f"metrics {args}")
    assert message in reply.text and "Usage: `/incident metrics [--since" in reply.text
    assert harness.fake.calls_to("chat.postMessage") == [] and harness.fake.files == {}


def test_metrics_when_the_bot_cannot_post(harness: Harness, clock) -> None:
    seed(harness, clock)
    harness.fake.fail_next("chat.postMessage", "not_in_channel")
    reply = harness.command("metrics")
    assert "I could not post in this channel" in reply.text and "MTTC" in reply.text
    assert harness.fake.files == {}


def test_metrics_with_no_incidents(harness: Harness) -> None:
    harness.command("metrics")
    assert "No incidents in this period." in posted_text(harness)
    assert harness.fake.files == {}


def test_app_home(db_harness: Harness, clock) -> None:
    h = db_harness
    seed(h, clock)
    h.command("open Prompt injection in retrieved doc --sev 1 --category prompt_injection")
    h.command("open Customer emails leaked to another tenant --sev 4 --category data_leakage --private")
    clock.advance(minutes=70)
    h.event({"type": "app_home_opened", "user": "U0CAROL", "tab": "home", "channel": "D0CAROL"})
    view = h.fake.home_views["U0CAROL"]
    assert view["type"] == "home"
    text = "\n".join(block_text(b) for b in view["blocks"])
    assert "Open incidents (7)" in text
    assert "Customer emails leaked" not in text and "*INC-7* SEV4 · Active · :lock: _a private incident (members only)_" in text
    inc_lines = [line for line in text.split("\n") if "*INC-" in line]
    # SEV1 first, the uncontained one (timer running) before the contained ones; then SEV2, SEV3
    assert [line.split("*")[1] for line in inc_lines] == ["INC-6", "INC-1", "INC-2", "INC-4", "INC-5", "INC-3",
                                                                  "INC-7"]
    assert "MTTC running 1h 10m / target 1h :rotating_light: over target · *no IC yet*" in inc_lines[0]
    assert "[EXERCISE]" in text
    assert "*SEV1* · median 20m · mean 20m · 2 contained, 1 open · target 1h" in text
    clock.advance(minutes=5)
    h.click("home_refresh", "refresh", user="U0CAROL", channel="D0CAROL")
    assert "MTTC running 1h 15m" in "\n".join(block_text(b) for b in h.fake.home_views["U0CAROL"]["blocks"])


def test_cli_metrics_table_csv_chart(harness: Harness, clock, tmp_path: Path, monkeypatch) -> None:
    seed(harness, clock)
    monkeypatch.setenv("DATABASE_URL", harness.settings.database_url)
    out_csv, out_png = tmp_path / "m.csv", tmp_path / "m.png"
    result = CliRunner().invoke(cli, ["metrics", "--since", "all", "--csv", str(out_csv), "--chart", str(out_png)])
    assert result.exit_code == 0, result.output
    assert "SEV1" in result.output and "MTTC by severity and category:" in result.output
    rows = list(csv.DictReader(io.StringIO(out_csv.read_text())))
    sev1 = next(r for r in rows if r["severity"] == "1" and r["category"] == "all" and r["metric"] == "mttc")
    assert (sev1["done"], sev1["open"], sev1["median_seconds"]) == ("2", "0", "1200.000")
    assert out_png.read_bytes().startswith(PNG)


@pytest.mark.parametrize("args, message", [
    (["--since", "yesterday"], "`yesterday` is not a period"),
    (["--sev", "0"], "`0` is not a severity"),
    (["--category", "nope"], "Unknown category `nope`"),
])
def test_cli_metrics_bad_input(harness: Harness, tmp_path: Path, monkeypatch, args: list[str], message: str) -> None:
    monkeypatch.setenv("DATABASE_URL", harness.settings.database_url)
    out_csv = tmp_path / "m.csv"
    result = CliRunner().invoke(cli, ["metrics", *args, "--csv", str(out_csv)])
    assert result.exit_code == 2 and message in result.output and "Usage: firebreak metrics" in result.output
    assert not out_csv.exists()


def test_cli_metrics_on_a_database_never_set_up(tmp_path: Path, monkeypatch) -> None:
    """No traceback and nothing created: a missing SQLite file, or one with no tables, has no incidents yet."""
    missing = tmp_path / "never.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{missing}")
    result = CliRunner().invoke(cli, ["metrics", "--chart", str(tmp_path / "c.png")])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "No incidents yet: this database has never been set up (the bot creates it on start)."
    assert not missing.exists() and not (tmp_path / "c.png").exists()
    empty = tmp_path / "empty.db"
    empty.touch()
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{empty}")
    result = CliRunner().invoke(cli, ["metrics"])
    assert result.exit_code == 0 and result.output.startswith("No incidents yet")
    assert "Traceback" not in result.output


def test_cli_metrics_migrates_a_database_from_an_older_version(db_url: str, monkeypatch) -> None:
    from alembic.script import ScriptDirectory
    from sqlalchemy import insert

    from bot.store.db import Database
    from bot.store.migrate import alembic_config, current, upgrade

    db = Database(db_url)
    try:
        upgrade(db.engine, "0005_scheduler")  # before the stored intervals
        t0 = datetime.now(UTC) - timedelta(days=2)
        with db.engine.begin() as conn:
            conn.execute(insert(Incident.__table__).values(
                title="old", category="jailbreak", severity=1, status="contained", is_exercise=False,
                reporter_id="U0A", detected_at=t0, opened_at=t0 + timedelta(minutes=1),
                contained_at=t0 + timedelta(minutes=25)))
        monkeypatch.setenv("DATABASE_URL", db_url)
        result = CliRunner().invoke(cli, ["metrics"])
        assert result.exit_code == 0, result.output
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        assert f"Upgraded the database from 0005_scheduler to {head}." in result.output
        mttc = next(cells(line) for line in result.output.splitlines() if line.split()[:1] == ["MTTC"])
        assert mttc[:5] == ["MTTC", "1", "0", "25m", "25m"]  # backfilled by the migration
        assert current(db.engine) == head
    finally:
        db.dispose()


def test_cli_metrics_when_the_database_does_not_answer(monkeypatch) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("DATABASE_URL", f"postgresql+psycopg://firebreak:s3cret@127.0.0.1:{port}/x")
    result = CliRunner().invoke(cli, ["metrics"])
    assert result.exit_code == 2
    assert result.output.startswith("Cannot read the database: ") and len(result.output.strip().splitlines()) == 1
    assert "s3cret" not in result.output and "Traceback" not in result.output
