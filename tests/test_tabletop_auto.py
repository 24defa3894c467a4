"""`firebreak tabletop run --auto`: a whole exercise offline through the real app, in seconds."""

from __future__ import annotations

import re
import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from rich.console import Console
from typer.testing import CliRunner

from bot.cli.main import cli
from bot.cli.tabletop_auto import run_auto
from bot.config.settings import Settings
from bot.core.severity import load_rules
from bot.runbooks.loader import load_library
from bot.tabletop.scenario import load_catalog

SCENARIOS = sorted(load_catalog().scenarios)


@pytest.mark.parametrize("key", SCENARIOS)
def test_auto_run_plays_every_shipped_scenario(key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Record every outbound connection: in an exercise, only the (local) Slack stand-in may be reached.
    connects: list[tuple] = []
    real_connect = socket.socket.connect

    def spy(self, address):  # noqa: ANN001
        connects.append(address)
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", spy)
    console = Console(record=True, width=140, color_system=None)
    result = run_auto(key, out_dir=tmp_path / "out", settings=Settings(), console=console)
    out = console.export_text()
    scenario = load_catalog().get(key)
    card = result.card
    assert card.scenario.key == key
    assert f"Scorecard · INC-1 · {scenario.title}" in out
    assert "Time to contain (MTTC)" in out
    # Every inject arrived, at its offset, and the scripted team made none of its moves in vain.
    assert [i.posted for i in card.injects] == [int(i.at.total_seconds()) for i in scenario.injects]
    assert all(o.result in ("ok", "unavailable") for o in result.outcomes), \
        [(o.command, o.answer) for o in result.outcomes if o.result == "refused"]
    unavailable = {o.command.split()[0] for o in result.outcomes if o.result == "unavailable"}
    # Runbook steps, levers and reporting clocks are all real commands now: nothing is unavailable.
    assert unavailable == set()
    if unavailable:
        assert "Not available in this build: " + ", ".join(sorted(unavailable)) in out
    # Every scripted `step <id> done` finished a real runbook step, on time or late, and the scorecard says so.
    scripted_steps = [o.command.split()[1] for o in result.outcomes if o.command.startswith("step ")]
    assert scripted_steps and all(o.answer == f"`{o.command.split()[1]}` done."
                                  for o in result.outcomes if o.command.startswith("step ")), result.outcomes
    rb = card.runbook
    # Every scripted `contain` pulled a configured lever as a dry run (the exercise forces it), none live.
    pulled = [o.command.split()[1] for o in result.outcomes if o.command.startswith("contain ")]
    # ...and a pulled lever ticks off the runbook steps that offer it: the team need not mark those by hand.
    offering = {s.id for r in load_library(load_rules(None).categories).runbooks.values() for s in r.steps
                if s.lever in pulled}
    done = {n.split("/", 1)[1] for n in rb.done_on_time + rb.done_late}
    assert set(scripted_steps) <= done and done - set(scripted_steps) <= offering
    assert pulled and [lv.lever for lv in card.levers] == pulled
    assert all(lv.dry_run and not lv.verified for lv in card.levers)
    assert all(o.answer == f"Dry run of `{o.command.split()[1]}` recorded; nothing was sent."
               for o in result.outcomes if o.command.startswith("contain "))
    assert re.search(rf"✅\s+Levers pulled\s+{len(pulled)} dry runs?\s", out), out
    # A scripted well-run team: acknowledged, reached the expected severity, contained inside the target.
    assert card.acknowledge.seconds is not None
    assert card.severity.reached_seconds is not None
    assert card.containment.met is True
    assert card.status.kept is True
    # ...and every scripted answer counted: each expectation of every delivered inject was met in time.
    assert card.answers.answered == card.answers.expected == card.answers.on_time > 0
    text = result.scorecard_path.read_text()
    assert text.startswith("# [EXERCISE] Scorecard")
    readable(text, markdown=True)
    # Headings and lists say things in words: no internal keys such as `## Runbook (runbooks)` or `runbook/step`.
    headings = re.findall(r"^#+ .*$", text, re.M)
    assert headings and not [h for h in headings if re.search(r"\([a-z_]+\)|\b[a-z]+_[a-z_]+\b", h)], headings
    assert not re.search(r"\b[a-z_]+/[a-z0-9-]+\b", text), "a runbook key leaked into the scorecard"
    transcript = result.transcript_path.read_text()
    assert "Inject 1 of" in transcript
    assert "Revert it?" not in transcript  # the exercise levers leave dry runs alone at the end
    bot_lines = [line for line in transcript.splitlines() if re.match(r"^\+\d+:\d\d\s+firebreak: ", line)]
    assert bot_lines and all(line.split(": ", 1)[1].startswith("[EXERCISE]") for line in bot_lines)
    readable(transcript)
    # One line per message: every line is a channel heading, a stamped message, or blank.
    assert all(re.match(r"^(== #[a-z0-9-]+ ==|\+\d+:\d\d(:\d\d)?  \S.*|)$", line) for line in transcript.splitlines())
    # One stamped line per message, on the exercise clock: the first inject at its offset.
    first = scenario.injects[0]
    stamp = f"+{int(first.at.total_seconds()) // 60:02d}:{int(first.at.total_seconds()) % 60:02d}"
    assert re.search(rf"^\{stamp}\s+firebreak: \[EXERCISE\] 📨 Inject 1 of", transcript, re.M), transcript[:2000]
    # People by their workspace names (the scripted team is in the stand-in's directory), never by id.
    responder = sorted({a.user for a in scenario.responders})[0]
    assert f"@{responder.removeprefix('U0').title()}" in transcript + (result.postmortem_path.read_text())
    draft = result.postmortem_path.read_text()  # the postmortem feature is installed: the draft is written
    assert "EXERCISE" in draft and scenario.title in draft
    readable(draft, markdown=True)
    # Runbook steps appear with their id and full text, never cut mid-word.
    books = load_library(load_rules(None).categories).runbooks.values()
    for o in result.outcomes:
        if o.command.startswith("step "):
            step = o.command.split()[1]
            texts = [" ".join(s.text.split()) for r in books if scenario.category in r.categories
                     for s in r.steps if s.id == step]
            assert any(f"`{step}` {text}" in draft for text in texts), step
    assert f"Postmortem {result.postmortem_path}" in out.replace("\n", "")
    # Every connection went to the local Slack stand-in: no lever, pager or webhook reached anything else.
    assert connects, "the spy saw no connection at all"
    slack = urlsplit(result.slack_api_url)
    assert {(a[0], a[1]) for a in connects if isinstance(a, tuple)} == {(slack.hostname, slack.port)}, connects


def readable(text: str, *, markdown: bool = False) -> None:
    """What someone outside Slack can read: no Slack tokens, ids, emoji codes, Python reprs or mid-word cuts."""
    for token in ("<@", "<#", "<!", "{'", "UFIREBREAK", "&lt;", "&gt;", "&amp;"):
        assert token not in text, (token, text[text.find(token) - 200:text.find(token) + 200])
    assert not re.search(r"(?<![\w:]):[a-z][a-z0-9_+-]*:(?![\w:])", text), "an emoji code was left"
    assert not re.search(r"@U0[A-Z0-9]+\b", text), "a person shown by id although the workspace names them"
    # A cut (Slack messages shorten long step texts) ends on a whole word of what was cut.
    books = load_library(load_rules(None).categories).runbooks.values()
    vocabulary = {w.lower() for r in books for s in r.steps for w in re.findall(r"[\w'-]+", s.text)}
    for m in re.finditer(r"([\w'-]+)…", text):
        assert m.group(1).lower() in vocabulary, ("cut mid-word", text[m.start() - 80:m.end() + 10])
    if not markdown:
        assert not re.search(r"(?<!\w)\*[^*\n]+\*(?!\w)|`", text), "markup left in the transcript"


def test_cli_auto_and_its_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FIREBREAK_SCENARIOS_DIR", raising=False)
    runner = CliRunner()
    result = runner.invoke(cli, ["tabletop", "run", "model-regression-release", "--auto", "--out",
                                 str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert "What went well" in result.output
    assert (tmp_path / "o" / "scorecard.md").exists() and (tmp_path / "o" / "exercise.db").exists()
    live = runner.invoke(cli, ["tabletop", "run", "model-regression-release"])
    assert live.exit_code == 2
    assert "Live exercises run in Slack: `/incident tabletop start <scenario>`" in live.output
    unknown = runner.invoke(cli, ["tabletop", "run", "nope", "--auto", "--out", str(tmp_path / "n")])
    assert unknown.exit_code == 2
    assert "Unknown scenario `nope`." in unknown.output
    assert not (tmp_path / "n").exists()
