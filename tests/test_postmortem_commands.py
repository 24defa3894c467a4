"""`/incident postmortem` through signed requests and the fake Slack (files_upload_v2), templates, and
`firebreak postmortem`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli.main import cli
from bot.core import timeline
from bot.postmortem.templates import PACKAGED, REPOSITORY
from bot.slack.harness import Harness
from tests.postmortem_fixtures import full_incident, providers


def uploaded(h: Harness) -> list[dict]:
    return [f for f in h.fake.files.values() if f["content"] is not None]


def drafted(h: Harness, n: int = 1) -> list:
    with h.ctx.db.session() as s:
        return timeline.events(s, n, kinds=["postmortem_drafted"])


def open_jailbreak(h: Harness, clock) -> str:
    h.command("open Roleplay jailbreak gets weapon instructions --category jailbreak")
    ch = h.incident_channel(1)
    h.command("ic <@U0BOB|bob>", channel=ch)
    clock.advance(minutes=47)
    return ch


def test_postmortem_uploads_draft_and_posts_intervals(db_harness: Harness, clock) -> None:
    h = db_harness
    h.fake.add_user("U0BOB", "bob")
    ch = open_jailbreak(h, clock)
    h.command("contained roleplay filter deployed", channel=ch, user="U0BOB")
    reply = h.command("postmortem", channel=ch)
    assert "Uploaded the postmortem draft for INC-1 as `INC-1-postmortem.md`" in reply.text
    files = uploaded(h)
    assert [f["name"] for f in files] == ["INC-1-postmortem.md"]
    assert files[0]["channels"] == [ch]
    draft = files[0]["content"].decode()
    assert draft.startswith("# Postmortem: INC-1 — Roleplay jailbreak gets weapon instructions")
    assert "Jailbreak / policy bypass (MITRE ATLAS AML.T0054)" in draft
    assert "| Incident commander | @Bob |" in draft  # names resolved through users.info
    assert "DRAFT OF AN OPEN INCIDENT" in draft  # contained, not resolved
    summary = h.fake.texts(ch)[-1]
    assert "Postmortem draft for INC-1 uploaded" in summary
    assert "MTTD 0s · MTTA 0s · MTTC 47m (target 1d) · MTTR open" in summary
    assert "still open" in summary
    assert len(drafted(h)) == 1


def test_postmortem_of_resolved_incident_named_from_elsewhere(harness: Harness, clock) -> None:
    h = harness
    ch = open_jailbreak(h, clock)
    h.command("contained done", channel=ch)
    h.command("resolve fixed", channel=ch, user="U0BOB")  # the IC resolves
    reply = h.command("postmortem INC-1")  # from #general, by the reporter (a member)
    assert "Uploaded the postmortem draft for INC-1" in reply.text
    (f,) = uploaded(h)
    assert f["channels"] == [ch]  # the draft goes to the incident channel
    assert "DRAFT OF AN OPEN INCIDENT" not in f["content"].decode()


def test_regulator_summary_upload(harness: Harness, clock) -> None:
    h = harness
    providers(h)
    full_incident(h, clock)
    reply = h.command("postmortem INC-1 --regulator")
    assert "Uploaded the regulator summary for INC-1 as `INC-1-regulator-summary.md`" in reply.text
    (f,) = uploaded(h)
    text = f["content"].decode()
    assert text.startswith("# Incident summary INC-1")
    assert not re.search(r"\bU0[A-Z0-9]+", text) and "agent-browse" not in text


@pytest.mark.parametrize("command, message", [
    ("postmortem INC-99", "INC-99 does not exist"),
    ("postmortem", "This is not an incident channel"),
    ("postmortem INC-1 now please", "Unexpected `now please`"),
    ("postmortem INC-1 --pdf", "Unknown option `--pdf`"),
])
def test_postmortem_bad_input(harness: Harness, clock, command: str, message: str) -> None:
    open_jailbreak(harness, clock)
    reply = harness.command(command)
    assert message in reply.text
    assert "Usage: `/incident postmortem [--regulator]`" in reply.text or "does not exist" in reply.text
    assert uploaded(harness) == [] and drafted(harness) == []


def test_upload_failure_is_reported_and_recorded(harness: Harness, clock) -> None:
    h = harness
    ch = open_jailbreak(h, clock)
    h.fake.fail_next("files.getUploadURLExternal", "internal_error")
    reply = h.command("postmortem", channel=ch)
    assert "Uploading the postmortem draft to Slack failed" in reply.text
    assert "firebreak postmortem INC-1 -o INC-1-postmortem.md" in reply.text
    with h.ctx.db.session() as s:
        errors = timeline.events(s, 1, kinds=["slack_error"])
    assert errors and "internal_error" in errors[-1].text
    assert uploaded(h) == [] and drafted(h) == []


def test_organization_templates_override_one_and_keep_the_other(make_harness, clock, tmp_path: Path) -> None:
    (tmp_path / "postmortem.md.j2").write_text("# Our format for {{ incident.ref }} ({{ incident.sev }})\n")
    h = make_harness(templates_dir=tmp_path)
    ch = open_jailbreak(h, clock)
    h.command("postmortem", channel=ch)
    h.command("postmortem --regulator", channel=ch)
    texts = [f["content"].decode() for f in uploaded(h)]
    assert texts[0] == "# Our format for INC-1 (SEV3)\n"
    assert texts[1].startswith("# Incident summary INC-1")  # the shipped one


@pytest.mark.parametrize("body, where", [
    ("# {{ incident.ref }}\n{% if %}\n", "line 2"),
    ("# ok\n\n{{ incident.nope }}\n", "line 3"),
    ("{% for x in timeline %}\n{{ x.text | nosuchfilter }}\n{% endfor %}\n", "line 2"),
])
def test_broken_template_names_template_and_line(make_harness, clock, tmp_path: Path, body: str, where: str) -> None:
    (tmp_path / "postmortem.md.j2").write_text(body)
    h = make_harness(templates_dir=tmp_path)
    ch = open_jailbreak(h, clock)
    reply = h.command("postmortem", channel=ch)
    assert "Template `postmortem.md.j2`" in reply.text and where in reply.text
    assert str(tmp_path / "postmortem.md.j2") in reply.text
    assert uploaded(h) == [] and drafted(h) == []


def test_missing_templates_dir_is_a_clear_error(make_harness, clock, tmp_path: Path) -> None:
    h = make_harness(templates_dir=tmp_path / "nope")
    ch = open_jailbreak(h, clock)
    reply = h.command("postmortem", channel=ch)
    assert f"FIREBREAK_TEMPLATES_DIR `{tmp_path / 'nope'}` is not a directory" in reply.text
    assert uploaded(h) == []


def test_packaged_templates_match_the_repository() -> None:
    for name in ("postmortem.md.j2", "regulator_summary.md.j2"):
        assert (PACKAGED / name).read_text() == (REPOSITORY / name).read_text(), \
            f"copy templates/{name} to bot/postmortem/default_templates/"


def test_cli_writes_the_draft(harness: Harness, clock, tmp_path: Path, monkeypatch) -> None:
    h = harness
    ch = open_jailbreak(h, clock)
    h.command("contained done", channel=ch)
    monkeypatch.setenv("DATABASE_URL", h.settings.database_url)
    monkeypatch.setenv("SLACK_API_URL", h.fake.url)
    out = tmp_path / "pm.md"
    result = CliRunner().invoke(cli, ["postmortem", "INC-1", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output
    text = out.read_text()
    assert text.startswith("# Postmortem: INC-1") and "| Incident commander | @U0BOB |" in text
    result = CliRunner().invoke(cli, ["postmortem", "INC-1", "--regulator"])
    assert result.exit_code == 0 and result.output.startswith("# Incident summary INC-1")


@pytest.mark.parametrize("ref, message", [("INC-9", "INC-9 does not exist"),
                                          ("banana", "`banana` is not an incident id")])
def test_cli_bad_incident(harness: Harness, tmp_path: Path, monkeypatch, ref: str, message: str) -> None:
    monkeypatch.setenv("DATABASE_URL", harness.settings.database_url)
    out = tmp_path / "pm.md"
    result = CliRunner().invoke(cli, ["postmortem", ref, "-o", str(out)])
    assert result.exit_code == 2 and message in result.output
    assert not out.exists()




def test_installed_wheel_uses_the_packaged_templates(harness: Harness, clock, monkeypatch, tmp_path: Path) -> None:
    """Outside a source checkout (no top-level templates/), the copy inside the package renders the draft."""
    from bot.postmortem import render_draft, templates

    monkeypatch.setattr(templates, "REPOSITORY", tmp_path / "site-packages" / "templates")
    assert templates.search_path(None) == [PACKAGED]
    open_jailbreak(harness, clock)
    assert render_draft(harness.ctx, 1).startswith("# Postmortem: INC-1")
