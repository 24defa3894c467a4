"""Bot behaviour the strict Slack stand-in shows to break a real Slack rule, each a reproduction.

Each test asserts what must hold against a real Slack and is marked xfail(strict=True) naming the rule
until the bot is fixed (issues 13 and 15): when a fix lands the test passes, strict xfail turns that into
a failure, and the mark comes off. The Slack rule is the stand-in's (bot/fakes/slack_api.py); the bot
code at fault is named in each reason.
"""

from __future__ import annotations

from bot.slack.harness import Harness


def opened(h: Harness, text: str = "open Model leaks system prompt --sev 3", user: str = "U0ALICE") -> str:
    reply = h.command(text, user=user)
    assert "INC-1" in reply.text, reply.text
    return h.incident_channel(1)


def test_escalation_reaches_every_target_when_one_is_already_in_the_channel(make_harness, write_yaml) -> None:
    config = write_yaml("firebreak.yml", {"escalation": [
        {"when": {"severity_at_most": 1}, "notify": ["U0ALICE", "U0PRIVACY"], "reason": "every SEV1"}]})
    h = make_harness(config_file=config)
    channel = opened(h, "open Customer PII in answers --sev 1")  # U0ALICE, the reporter, is invited first
    assert {"U0ALICE", "U0PRIVACY"} <= h.fake.channels[channel]["members"]


def test_naming_a_member_ic_makes_no_refused_call(harness: Harness) -> None:
    channel = opened(harness)
    harness.command("ic <@U0ALICE>", channel=channel)
    assert [str(v) for v in harness.fake.violations] == []


def test_a_status_update_does_not_reset_an_unchanged_topic(harness: Harness) -> None:
    channel = opened(harness)
    reply = harness.command("status rolling back the prompt", channel=channel)
    assert "conversations.setTopic" not in reply.methods()


def test_topics_carry_no_slack_markup(harness: Harness) -> None:
    channel = opened(harness)
    harness.command("ic <@U0BOB>", channel=channel)
    assert [f.token for f in harness.fake.broadcasts() if f.method == "conversations.setTopic"] == []


def test_user_text_cannot_broadcast(harness: Harness) -> None:
    channel = opened(harness)
    harness.command("status <!channel> rollback done", channel=channel)
    assert [f.token for f in harness.fake.broadcasts() if f.kind == "broadcast"] == []


def test_an_overlong_status_is_refused_before_posting(harness: Harness) -> None:
    channel = opened(harness)
    reply = harness.command("status " + "x" * 40_001, channel=channel)
    assert harness.fake.violations == [] and "posted" not in reply.text.lower()


def test_a_long_cyrillic_lever_reason_still_gets_a_confirmation(make_ld) -> None:
    h = make_ld()
    channel = opened(h)
    h.command("contain kill-browsing " + "Ж" * 575, channel=channel)
    assert len(h.fake.views) == 1 and h.fake.violations == []


def test_posted_texts_have_no_stray_angle_brackets(harness: Harness) -> None:
    opened(harness, "open Injected instructions in a page --category prompt_injection --sev 2")
    assert [f.token for f in harness.fake.broadcasts() if f.kind == "stray_lt"] == []
