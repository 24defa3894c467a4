"""Shared set-up for the containment tests: a fake LaunchDarkly, a lever file, a harness wired to both."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from bot.containment.retry import RetryPolicy
from bot.fakes.launchdarkly import FakeLaunchDarkly

LEVERS: dict[str, Any] = {"levers": [
    {"name": "kill-browsing", "description": "Turn off the agent's browsing tool", "type": "launchdarkly_kill",
     "target": {"project": "default", "flag": "agent-browsing", "environment": "production"},
     "on_resolve": "revert", "categories": ["agent_tool_misuse"]},
    {"name": "strict-moderation", "description": "Moderation filter to strict", "type": "launchdarkly_variation",
     "target": {"project": "default", "flag": "moderation-strictness", "environment": "production",
                "variation": "strict"}, "on_resolve": "ask"},
    {"name": "kill-staging", "description": "A flag in an environment without an SDK key",
     "type": "launchdarkly_kill", "confirm": False,
     "target": {"project": "default", "flag": "agent-browsing", "environment": "staging"}, "on_resolve": "leave"},
]}


def start_fake_ld() -> FakeLaunchDarkly:
    fake = FakeLaunchDarkly(sdk_keys={"production": "sdk-prod-key-0123456789",
                                      "staging": "sdk-staging-key-012345"}).start()
    fake.add_flag("agent-browsing", environments=("production", "staging"))
    fake.add_flag("moderation-strictness", variations=["standard", "strict", "off"],
                  names=["standard", "strict", "off"], fallthrough=0, off_variation=0)
    return fake


def ld_settings(fake: FakeLaunchDarkly, levers_file, **extra: Any) -> dict[str, Any]:
    return {"levers_file": levers_file, "launchdarkly_api_url": fake.url,
            "launchdarkly_api_token": SecretStr(fake.api_token), "launchdarkly_base_uri": fake.url,
            "launchdarkly_stream_uri": fake.url, "launchdarkly_events_uri": fake.url,
            "launchdarkly_sdk_keys": {"production": SecretStr(fake.sdk_key("production"))},
            "lever_verify_timeout_seconds": 5.0, **extra}


def fast_retries(h, budget: float = 2.0) -> None:
    """Keep retries real but quick: tiny backoff inside a small budget."""
    svc = h.ctx.containment
    svc.runtime.retry = RetryPolicy(budget_seconds=budget, base_delay=0.01, max_delay=0.05)


def open_incident(h, text: str = "Agent browsing exfiltrates data --category agent_tool_misuse") -> str:
    reply = h.command(f"open {text}")
    assert "Opened *INC-1*" in reply.text, reply.text
    return h.incident_channel(1)
