"""The postmortem and the regulator summary read cleanly outside Slack: people by their workspace names,
every value as words, runbook steps by id with their full text, timeline entries as words, and the impact at
its latest assessment with the history."""

from __future__ import annotations

import re
from datetime import timedelta

from bot.core import incidents
from bot.core.severity import Inputs
from bot.core.timeline import headline
from bot.postmortem import render_draft, render_regulator_summary
from bot.postmortem.context import as_text
from bot.postmortem.providers import register_provider
from bot.slack.harness import Harness
from tests.postmortem_fixtures import T0, full_incident, providers

LONG_STEP = ("Preserve the agent's full traces (prompts, reasoning, tool calls with arguments and results), its "
             "memory store, model version, system prompt, tool manifest and permission scopes, before anything is "
             "purged or revoked.")


def _workspace(h: Harness) -> None:
    for uid, name in (("U0ALICE", "alice"), ("U0BOB", "bob"), ("U0CAROL", "carol"), ("U0DAVE", "dave")):
        h.fake.add_user(uid, name)


def test_draft_names_people_renders_values_as_words_and_keeps_full_step_text(harness: Harness, clock) -> None:
    providers(harness)
    _workspace(harness)

    def containment(ctx, session, incident):  # the real provider's shape: a target is a mapping
        return [{"lever": "agent-browse", "type": "launchdarkly_kill",
                 "target": {"project": "shop", "flag": "agent-browse-enabled", "environment": "production",
                            "variation": None, "context": {"kind": "user", "key": "check", "attributes": {}}},
                 "requested_at": T0 + timedelta(minutes=10), "applied_at": T0 + timedelta(minutes=11),
                 "verified_at": None, "reverted_at": None, "by": "U0BOB", "outcome": "dry_run",
                 "error": {"status": 503, "detail": "unavailable"}, "attempts": 1, "dry_run": True}]

    register_provider(harness.ctx, "containment", containment)
    n = full_incident(harness, clock)
    text = render_draft(harness.ctx, n)
    # People by the workspace's names, never `@U0…` or `<@U0…>`.
    assert "SEV3 → SEV1 by @Bob" in text and "| 1 | Add a spending cap to the browse tool | @Dave |" in text
    assert not re.search(r"@U0[A-Z]", text) and "<@" not in text
    # Every value as text: no Python reprs in the containment table; internal values as words.
    assert "{'" not in text and "None" not in text
    assert ("| `agent-browse` (dry run) | LaunchDarkly flag off | flag agent-browse-enabled, environment "
            "production, project shop |") in text
    assert "| dry run: status 503, detail unavailable |" in text
    # Timeline entries as words from the one label table, with their key fact.
    assert "| @Bob | Severity changed SEV3 → SEV1 | Escalated SEV3 → SEV1: it is still making purchases" in text
    assert "| Severity classified SEV3 |" in text and "| Role assigned: Incident commander |" in text
    assert "severity_changed" not in text and "lever_failed" not in text and "| Lever failed: agent-browse |" in text
    # Runbook steps by id with their full text.
    assert "| `kill-tools` Kill the browse tool *(required)* |" in text
    # The regulator summary names nobody.
    regulator = render_regulator_summary(harness.ctx, n)
    assert "@Bob" not in regulator and "Bob" not in regulator and not re.search(r"\bU0[A-Z]", regulator)


def test_step_events_carry_the_full_step_text_not_the_stored_cut(harness: Harness, clock) -> None:
    _workspace(harness)
    clock.set(T0)
    harness.command("open Agent emails contacts --category agent_tool_misuse --reach lt_100")
    ch = harness.incident_channel(1)
    with harness.ctx.db.session() as s:
        from sqlmodel import select

        from bot.store.models.runbook import RunbookStep

        step = s.exec(select(RunbookStep).where(RunbookStep.incident_id == 1)).first()
        step.text = LONG_STEP
        s.add(step)
        step_id = step.step_id
    clock.advance(minutes=3)
    harness.invite("U0BOB", ch)
    reply = harness.command(f"step {step_id} done", channel=ch, user="U0BOB")
    assert "done" in reply.text, reply.text
    text = render_draft(harness.ctx, 1)
    row = next(line for line in text.splitlines() if line.startswith("| 2026-01-05 09:03:00"))
    assert f"| @Bob | Runbook step done: {step_id} | `{step_id}` {LONG_STEP} |" in row, row


def test_impact_at_its_latest_assessment_with_the_history(harness: Harness, clock) -> None:
    _workspace(harness)
    clock.set(T0)
    harness.command("open Chatbot leaks order history --category data_leakage --reach single_user "
                    "--exposure internal --data pii", user="U0ALICE")
    clock.advance(minutes=20)
    with harness.ctx.db.session() as s:
        inc = incidents.get(s, 1)
        incidents.reassess(s, harness.ctx.clock, harness.ctx.rules, inc,
                           Inputs("data_leakage", "lt_10k", "public", "sensitive", True, None), actor="U0BOB")
    text = render_draft(harness.ctx, 1)
    impact = text.split("## Impact", 1)[1].split("## Severity", 1)[0]
    assert "| Reach | fewer than 10,000 users |" in impact and "| Exposure | public or on social media |" in impact
    assert "| Harm ongoing | yes |" in impact
    assert ("- 2026-01-05 09:20:00 UTC (+20m) by @Bob: reach a single user → fewer than 10,000 users; exposure "
            "internal only → public or on social media; data involved personal data (PII) → sensitive PII or "
            "credentials; harm ongoing not recorded → yes") in impact
    regulator = render_regulator_summary(harness.ctx, 1)
    assert "- Users reached: fewer than 10,000 users" in regulator
    assert "- Impact re-assessed at 2026-01-05 09:20:00 UTC: reach a single user → fewer than 10,000 users" in regulator
    assert "Bob" not in regulator


def test_values_and_headlines_as_words() -> None:
    assert as_text({"url": "https://hooks.test/x", "method": "POST", "headers": None}) == \
        "URL https://hooks.test/x, method POST"
    assert as_text(["a", 2, None]) == "a, 2, —" and as_text(None) == "—" and as_text("plain") == "plain"
    assert headline("lever_requested", {"lever": "kill-agent-browse"}) == "Lever requested: kill-agent-browse"
    assert headline("severity_classified", {"severity": 2}) == "Severity classified SEV2"
    assert headline("something_new", {}) == "Something new"


def test_a_secret_a_provider_echoes_never_reaches_the_draft(harness: Harness, clock) -> None:
    from bot.core import secrets

    providers(harness)
    secrets.register("routing-key-5f3e9a7c1b")

    def containment(ctx, session, incident):  # a pager-style error that repeats the request it was sent
        return [{"lever": "page-oncall", "type": "webhook", "target": {"url": "https://pager.test/v2/enqueue"},
                 "requested_at": T0, "applied_at": None, "verified_at": None, "reverted_at": None, "by": "U0BOB",
                 "outcome": "failed", "error": "400 bad request: {routing_key: routing-key-5f3e9a7c1b}",
                 "attempts": 2, "dry_run": False}]

    register_provider(harness.ctx, "containment", containment)
    n = full_incident(harness, clock)
    text = render_draft(harness.ctx, n)
    assert "routing-key-5f3e9a7c1b" not in text and "[redacted]" in text
    assert "| webhook | URL https://pager.test/v2/enqueue |" in text
