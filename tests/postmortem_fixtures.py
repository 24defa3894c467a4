"""Build a fully-populated incident and a minimal one through the real commands (plus feature providers
in the shapes of bot/postmortem/providers.py: the runbook steps judged by bot.core.facts), for the
postmortem tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.core import facts, incidents, timeline
from bot.postmortem.providers import register_provider
from bot.slack.harness import Harness

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@dataclass
class Step:
    """A checklist row in the columns bot.core.facts judges (bot.store.models.runbook.RunbookStep's)."""

    runbook_key: str
    step_id: str
    phase: str
    text: str
    owner_role: str
    owner_id: str | None
    required: bool
    state: str
    reason: str | None
    due_at: datetime | None
    finished_at: datetime | None
    finished_by: str | None


def providers(h: Harness) -> None:
    def runbook(ctx, session, incident):
        rows = [
            Step("agent-misuse", "kill-tools", "contain", "Kill the browse tool", "ic", "U0BOB", True, "done", None,
                 T0 + timedelta(minutes=20), T0 + timedelta(minutes=18), "U0BOB"),
            Step("agent-misuse", "notify-legal", "assess", "Tell legal", "privacy", None, False, "skipped",
                 "no personal data left the sandbox", None, T0 + timedelta(minutes=30), "U0CAROL"),
            Step("agent-misuse", "eval", "recover", "Add a regression eval", "safety", "U0CAROL", True, "done", None,
                 T0 + timedelta(minutes=60), T0 + timedelta(minutes=95), "U0CAROL"),
        ]
        return facts.load_steps(session, incident, rows, ctx.clock.now())

    def containment(ctx, session, incident):
        return [
            {"lever": "agent-browse", "type": "launchdarkly_kill", "target": "agent-browse-enabled",
             "requested_at": T0 + timedelta(minutes=10), "applied_at": T0 + timedelta(minutes=14, seconds=30),
             "verified_at": T0 + timedelta(minutes=15), "reverted_at": T0 + timedelta(hours=3),
             "by": "U0BOB", "outcome": "verified", "error": None, "attempts": 3, "dry_run": False},
        ]

    def evidence(ctx, session, incident):
        return [{"id": "case-1", "sha256": "9f2c4e1d0b7a66aa0123456789abcdef0123456789abcdef0123456789abcdef",
                 "added_at": T0 + timedelta(minutes=25), "by": "U0CAROL",
                 "summary": "prompt that makes the agent buy gift cards"}]

    register_provider(h.ctx, "runbook", runbook)
    register_provider(h.ctx, "containment", containment)
    register_provider(h.ctx, "evidence", evidence)


def full_incident(h: Harness, clock) -> int:
    """INC-1: SEV2 raised to SEV1, IC, lever failures, containment at +17m, action items, resolved."""
    clock.set(T0 + timedelta(minutes=6))
    h.command("open Agent bought gift cards from a browsing session --category agent_tool_misuse "
              "--reach lt_100 --exposure customer_reported --data internal --not-ongoing", user="U0ALICE")
    with h.ctx.db.session() as s:  # detected six minutes before the report
        inc = incidents.get(s, 1)
        inc.detected_at = T0
        s.add(inc)
    ch = h.incident_channel(1)
    clock.advance(minutes=2)
    h.command("ic <@U0BOB|bob>", channel=ch)
    clock.advance(minutes=2)
    h.command("sev 1 it is still making purchases | for real", channel=ch, user="U0BOB")
    for delay in (60, 90):
        clock.advance(seconds=delay)
        with h.ctx.db.session() as s:
            timeline.record(s, h.ctx.clock, 1, "lever_failed", "Kill of agent-browse failed: LaunchDarkly 503",
                            actor="firebreak", data={"lever": "agent-browse", "action_id": "a1", "dry_run": False,
                                                      "error": "LaunchDarkly 503"})
    clock.set(T0 + timedelta(minutes=17))
    h.command("contained agent-browse flag is off and verified", channel=ch, user="U0BOB")
    clock.advance(minutes=5)
    h.command("action add Add a spending cap to the browse tool <@U0DAVE|dave> 2026-01-19", channel=ch)
    h.command("action add Write a purchase-intent eval", channel=ch, user="U0BOB")
    h.command("action done 2", channel=ch, user="U0BOB")
    clock.set(T0 + timedelta(hours=4))
    h.command("resolve browse tool re-enabled behind a spending cap", channel=ch, user="U0BOB")
    return 1


def minimal_incident(h: Harness, clock) -> int:
    """INC-n: opened, nothing else (still open)."""
    clock.set(T0)
    h.command("open Odd refusal on a harmless question --category other")
    return 1
