"""Text at the runbook's edges: what people type is stored as typed and shown escaped (no broadcast, no broken
formatting), inputs are capped, and every shipped runbook's checklist fits Slack's Block Kit limits compactly."""

from __future__ import annotations

import json

import pytest

from bot.core.severity import load_rules
from bot.runbooks.loader import load_library
from bot.slack.harness import Harness, block_text
from tests.runbook_support import (
    checklist_message,
    choose,
    events,
    message_text,
    open_incident,
    step_blocks,
    step_row,
    violations,
)

HOSTILE = "<!channel> & <b>bold</b> <!subteam^S0PRIVACY> <@U0BOB>"


def findings(h: Harness) -> list[str]:
    return [f"{f.method} {f.kind} {f.token}" for f in h.fake.broadcasts()]


def test_a_skip_reason_typed_in_a_command_is_stored_as_typed_and_shown_escaped(harness: Harness) -> None:
    h = harness
    channel = open_incident(h)
    # What Slack sends when someone types `@channel & <b>bold</b>` (should_escape: true): a token and entities.
    h.command("step reproduce skip <!channel> &amp; &lt;b&gt;bold&lt;/b&gt;", channel=channel)
    assert step_row(h, "reproduce").reason == "@channel & <b>bold</b>"
    assert events(h, "step_skipped")[0].data["reason"] == "@channel & <b>bold</b>"
    posted = [t for t in h.fake.raw_texts(channel) if "skipped `reproduce`" in t]
    assert posted and "@channel &amp; &lt;b&gt;bold&lt;/b&gt;" in posted[0]
    assert "_@channel &amp; &lt;b&gt;bold&lt;/b&gt;_" in str(checklist_message(h, channel).blocks)
    assert findings(h) == [] and violations(h) == []


def test_a_skip_reason_typed_in_the_form_cannot_broadcast(harness: Harness) -> None:
    h = harness
    channel = open_incident(h)
    choose(h, channel, "reproduce", "skip")
    h.submit_view(h.last_view(), {"reason": HOSTILE})  # modal values arrive as typed
    assert step_row(h, "reproduce").reason == HOSTILE
    assert findings(h) == [] and violations(h) == []
    assert "&lt;!channel&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in "\n".join(h.fake.raw_texts(channel))


def test_skip_reasons_are_capped_and_plain(harness: Harness) -> None:
    h = harness
    channel = open_incident(h)
    choose(h, channel, "reproduce", "skip")
    view = h.last_view()
    assert view["blocks"][-1]["element"]["max_length"] == 1000
    for answer, error in (("x" * 1001, "The reason is 1,001 characters; the limit is 1,000."),
                          ("line\x00break", "The reason contains control characters; type it as plain text.")):
        reply = h.submit_view(view, {"reason": answer})
        assert json.loads(reply.ack.body) == {"response_action": "errors", "errors": {"reason": error}}
    assert step_row(h, "reproduce").state == "pending" and events(h, "step_skipped") == []
    reply = h.command("step reproduce skip " + "é" * 1001, channel=channel)
    assert "The skip reason is 1,001 characters; the limit is 1,000." in reply.text and "é" * 80 not in reply.text
    assert step_row(h, "reproduce").state == "pending"


def test_an_organizations_runbook_text_is_shown_never_obeyed(make_harness, tmp_path) -> None:
    folder = tmp_path / "runbooks"
    folder.mkdir()
    (folder / "acme.yml").write_text(
        "key: acme_injection\n"
        "title: 'ACME <!here> & <injection>'\n"
        "summary: 'Page <!channel> first & hard'\n"
        "applies_to: {categories: [prompt_injection]}\n"
        "phases:\n"
        "  - phase: triage\n"
        "    steps:\n"
        "      - {id: page-acme, text: 'Tell <!everyone> & <b>security</b>', owner: ic, due: 15m}\n"
        "      - {id: scope, text: 'Scope it', owner: ic, required: false}\n")
    h = make_harness(runbooks_dir=folder)
    channel = open_incident(h)
    msg = checklist_message(h, channel)
    assert msg.blocks[0]["text"]["text"] == "INC-1 runbook: ACME <!here> & <injection>"  # plain text: shown as is
    assert "Tell <!everyone> & <b>security</b>" in message_text(msg)  # what a reader sees
    h.command("runbooks", channel=channel)
    assert findings(h) == [] and violations(h) == []


def shipped() -> list[tuple[str, int]]:
    library = load_library(load_rules(None).categories)
    return [(r.key, sev) for r in library.runbooks.values() for sev in sorted(r.severities)]


@pytest.mark.parametrize(("key", "sev"), shipped())
def test_every_shipped_runbook_is_one_block_per_step_within_slacks_limits(make_harness, key, sev) -> None:
    h = make_harness()
    runbook = h.ctx.runbooks.get(key)
    category = runbook.categories[0]
    h.command(f"open Checklist check --category {category} --sev {sev}")
    channel = h.incident_channel(1)
    if h.ctx.runbooks.match(category, sev).key != key:
        h.command(f"runbook use {key}", channel=channel)
    msg = checklist_message(h, channel)
    count = len(runbook.steps_for(sev))
    # Header, progress line, then one block per step: each one line of text with its menu.
    assert len(msg.blocks) == count + 2 <= 50
    assert len(step_blocks(msg)) == count and all("\n" not in block_text(b) for b in step_blocks(msg))
    assert all(b["accessory"]["type"] == "overflow" for b in step_blocks(msg))
    required = [s.required for s in runbook.steps_for(sev)]
    shown = [not block_text(b).startswith("_optional_") for b in step_blocks(msg)]
    assert shown == sorted(required, reverse=True)  # required steps first
    assert violations(h) == [] and findings(h) == []


def test_every_runbook_at_once_still_fits(harness: Harness) -> None:
    h = harness
    channel = open_incident(h)
    for key in h.ctx.runbooks.runbooks:
        if key != "prompt_injection":
            h.command(f"runbook use {key} --add", channel=channel)
    msg = checklist_message(h, channel)
    assert len(msg.blocks) == 50
    assert "*More pending steps* (finish them with `/incident step <id> done`):" in message_text(msg)
    assert violations(h) == [] and findings(h) == []
