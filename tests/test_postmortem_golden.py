"""Golden tests on rendered drafts: a fully-populated incident and a minimal one, on SQLite and PostgreSQL.

Regenerate after an intended template change: FIREBREAK_UPDATE_GOLDEN=1 pytest tests/test_postmortem_golden.py
and review the diff of tests/golden/.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from bot.core import incidents
from bot.postmortem import render_draft, render_regulator_summary
from bot.postmortem.context import build
from bot.postmortem.model import PostmortemContext, RegulatorContext
from bot.slack.harness import Harness
from tests.postmortem_fixtures import full_incident, minimal_incident, providers

GOLDEN = Path(__file__).with_name("golden")


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("FIREBREAK_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} differs from the golden file"


def test_full_incident_draft(db_harness: Harness, clock) -> None:
    providers(db_harness)
    n = full_incident(db_harness, clock)
    text = render_draft(db_harness.ctx, n)
    check_golden("postmortem_full.md", text)
    # what a reviewer relies on, spelled out beyond the golden file
    assert "Agent or tool misuse" in text and "SEV3 → SEV1 by @U0BOB" in text
    assert "Containment took 17m from detection (9m after the IC was assigned), within the SEV1 target" in text
    assert "Applying `agent-browse` failed twice on LaunchDarkly 503." in text
    assert "| MTTD | opened − detected | 6m |" in text
    assert "Runbook step “Tell legal” was skipped: no personal data left the sandbox." in text
    assert "| 1 | Add a spending cap to the browse tool | @U0DAVE | 2026-01-19 | open |" in text
    assert "| `agent-browse` | LaunchDarkly flag off | agent-browse-enabled |" in text and "| 4m 30s | 30s |" in text
    assert "repro case `case-1` (sha256 `9f2c4e1d0b7a`)" in text
    assert "DRAFT OF AN OPEN INCIDENT" not in text and "EXERCISE" not in text
    assert text.count("✍️ **To write:**") >= 6


def test_minimal_incident_draft(db_harness: Harness, clock) -> None:
    n = minimal_incident(db_harness, clock)
    clock.advance(minutes=30)
    # Degrade cleanly: a build without the runbook, containment and evidence features has no providers.
    for name in ("runbook", "containment", "evidence"):
        db_harness.ctx.postmortem_providers.pop(name, None)
    text = render_draft(db_harness.ctx, n)
    check_golden("postmortem_minimal.md", text)
    assert "DRAFT OF AN OPEN INCIDENT" in text
    assert "## Runbook progress" not in text and "## Containment actions" not in text
    assert "## Evidence" not in text
    assert "No incident commander was ever assigned." in text
    assert "Not contained when this draft was generated, 30m after detection" in text


def test_exercise_draft_carries_the_banner(harness: Harness, clock) -> None:
    minimal_incident(harness, clock)
    with harness.ctx.db.session() as s:
        inc = incidents.get(s, 1)
        inc.is_exercise = True
        s.add(inc)
    assert "🎭 **EXERCISE**" in render_draft(harness.ctx, 1)
    assert "🎭 **EXERCISE**" in render_regulator_summary(harness.ctx, 1)


def test_regulator_summary_has_facts_but_no_internal_names(harness: Harness, clock) -> None:
    providers(harness)
    full_incident(harness, clock)
    text = render_regulator_summary(harness.ctx, 1)
    check_golden("regulator_full.md", text)
    assert "- Category: Agent or tool misuse" in text and "- Internal severity: SEV1" in text
    assert "- MTTC (contained − detected): 17m" in text
    assert "1 containment measure(s) applied (launchdarkly_kill); 1 later reverted." in text
    assert not re.search(r"\bU0[A-Z0-9]+", text), "a Slack user id leaked"
    for internal in ("agent-browse", "gift cards", "inc-1-", "spending cap", "still making purchases"):
        assert internal not in text, internal


def test_the_regulator_context_carries_no_people(harness: Harness, clock) -> None:
    """The people-free variant is its own model: a template (the shipped one or an organization's) cannot
    reach a name, a title or the timeline through it."""
    providers(harness)
    full_incident(harness, clock)
    with harness.ctx.db.session() as s:
        incident = incidents.get(s, 1)
        full = build(harness.ctx, s, incident)
        regulator = build(harness.ctx, s, incident, regulator=True)
    assert isinstance(full, PostmortemContext) and isinstance(regulator, RegulatorContext)
    assert full.incident.reporter and full.timeline and full.roles and full.containment
    names = set(regulator.variables())
    assert not names & {"roles", "timeline", "runbook", "containment", "evidence", "actions", "facts"}
    assert {"containment_count", "containment_types", "containment_reverted"} <= names
    for person_or_text in ("title", "description", "resolution", "channel_name", "reporter", "reasons"):
        assert not hasattr(regulator.incident, person_or_text), person_or_text
    assert all(not hasattr(h, "by") for h in regulator.impact.history)
    assert all(not hasattr(c, "by") and not hasattr(c, "reason") for c in regulator.severity_history)
    assert (regulator.containment_count, regulator.containment_reverted) == (
        len(full.containment), sum(1 for c in full.containment if c.reverted_at))
