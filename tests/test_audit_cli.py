"""`firebreak audit INC-n`: what a security officer reads after the fact — privileged actions taken and every
refused attempt, with why, from the timeline; the terminal gets no markup and no control characters."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from bot.cli.main import cli
from tests.helpers import open_incident


def test_audit_lists_privileged_actions_and_refusals(make_harness, tmp_path, monkeypatch) -> None:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    h = make_harness(database_url=url)
    channel = open_incident(h, "Customer PII echoed in answers --category data_leakage --private")
    h.command("ic @me", channel=channel)  # the reporter takes IC: a privileged action
    h.command("resolve INC-1 nothing to see", user="U0MALLORY", channel=h.general)  # an outsider: refused
    h.command("sev 4 calm down", user="U0MALLORY", channel=channel)  # refused too
    monkeypatch.setenv("DATABASE_URL", url)
    result = CliRunner().invoke(cli, ["audit", "INC-1"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("INC-1: ") and "refused attempts" in lines[0]
    refused = [line for line in lines if "REFUSED" in line]
    assert len(refused) >= 2 and all("U0MALLORY" in line for line in refused)
    assert any("resolve" in line for line in refused) and any("lower severity" in line for line in refused)
    assert any("U0ALICE" in line and "REFUSED" not in line for line in lines[1:])  # the IC taken
    assert "\x1b" not in result.output and "<@" not in result.output

    as_json = CliRunner().invoke(cli, ["audit", "INC-1", "--json"])
    records = [json.loads(line) for line in as_json.output.splitlines()]
    assert {r["kind"] for r in records} >= {"permission_denied"}
    assert all(r["incident"] == "INC-1" and r["at"] for r in records)

    missing = CliRunner().invoke(cli, ["audit", "INC-99"])
    assert missing.exit_code == 2 and "INC-99 does not exist" in missing.output
    bad = CliRunner().invoke(cli, ["audit", "yesterday"])
    assert bad.exit_code == 2 and len(bad.output.strip().splitlines()) == 1
