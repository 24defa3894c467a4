"""End to end through fake Slack and fake LaunchDarkly with the real launchdarkly-server-sdk."""

from __future__ import annotations

import json

import pytest

from bot.core import timeline
from bot.slack.harness import Harness
from bot.store.models import ContainmentAction
from tests.containment_support import LEVERS, fast_retries, ld_settings, open_incident


@pytest.fixture
def ld_harness(db_url, make_harness, write_yaml, fake_ld):  # db_url first: dropped after the bot is closed
    h = make_harness(database_url=db_url, **ld_settings(fake_ld, write_yaml("levers.yml", LEVERS)))
    fast_retries(h)
    return h


def confirm(h: Harness, user: str = "U0ALICE", reason: str | None = None):
    view = h.last_view()
    assert view["callback_id"] == "firebreak_lever_confirm"
    return h.submit_view(view, {"reason": reason}, user=user)


def test_kill_is_applied_seen_by_sdk_and_sets_mttc(ld_harness: Harness, fake_ld, clock) -> None:
    h = ld_harness
    channel = open_incident(h)
    clock.advance(minutes=3, seconds=7)
    reply = h.command("contain kill-browsing browsing leaks data", channel=channel)
    view = h.last_view()
    text = json.dumps(view["blocks"])
    assert "turn OFF LaunchDarkly flag `agent-browsing` in environment `production`" in text
    assert not fake_ld.patches, "nothing is sent before the confirmation"
    assert reply.text == ""
    confirm(h, reason="browsing leaks data")
    assert len(fake_ld.patches) == 1
    patch = fake_ld.patches[0]
    assert patch["instructions"] == [{"kind": "turnFlagOff"}]
    assert patch["environment"] == "production"
    assert "INC-1" in patch["comment"] and "U0ALICE" in patch["comment"]
    assert fake_ld.env("agent-browsing")["on"] is False
    # the real SDK saw the change over the stream
    sdk = h.ctx.containment.runtime.sdk
    assert sdk.created == 1
    with h.ctx.db.session() as s:
        row = s.query(ContainmentAction).one()
        assert row.outcome == "verified" and row.verified_at is not None and row.applied_at is not None
        kinds = [e.kind for e in timeline.events(s, 1)]
    assert kinds.count("lever_requested") == 1 and "lever_applied" in kinds and "lever_verified" in kinds
    assert "contained" in kinds
    texts = "\n".join(h.fake.texts(channel))
    assert "Lever *kill-browsing* applied" in texts
    assert "INC-1 *contained*" in texts and "MTTC: 3m 7s" in texts
    # The flag change goes out before any Slack post about the pull: no Slack round trip delays containment.
    posts = [c for c in h.fake.calls_to("chat.postMessage") if "pulled lever" in c.params.get("text", "")]
    assert len(posts) == 1 and fake_ld.patch_times[0]["received_at"] < posts[0].at
    assert texts.index("pulled lever *kill-browsing*") < texts.index("Lever *kill-browsing* applied")
    summary = h.summary(1)
    assert "MTTC: 3m 7s" in summary
    assert "`kill-browsing` — applied and verified" in summary
    status = h.command("status", channel=channel)
    assert "MTTC: 3m 7s" in status.text


def test_variation_lever_records_previous_fallthrough_and_reverts_exactly(ld_harness: Harness, fake_ld) -> None:
    h = ld_harness
    channel = open_incident(h)
    h.command("contain strict-moderation", channel=channel)
    confirm(h)
    env = fake_ld.env("moderation-strictness")
    assert env["fallthrough"] == {"variation": 1}
    with h.ctx.db.session() as s:
        row = s.query(ContainmentAction).one()
        assert row.outcome == "verified"
        assert row.previous["fallthrough"] == {"variation": 0}
    reply = h.command("revert strict-moderation", channel=channel)
    assert "reverted" in reply.text
    assert fake_ld.env("moderation-strictness")["fallthrough"] == {"variation": 0}
    with h.ctx.db.session() as s:
        row = s.query(ContainmentAction).one()
        assert row.reverted_at is not None and row.slot is None
        assert [e.kind for e in timeline.events(s, 1, kinds=["lever_reverted"])] == ["lever_reverted"]


def test_lever_without_sdk_key_is_applied_unverified_and_says_so(ld_harness: Harness, fake_ld, clock) -> None:
    h = ld_harness
    channel = open_incident(h)
    clock.advance(minutes=1)
    reply = h.command("contain kill-staging", channel=channel)  # confirm: false -> pulled at once
    assert "applied" in reply.text
    assert fake_ld.env("agent-browsing", "staging")["on"] is False
    assert fake_ld.env("agent-browsing", "production")["on"] is True
    texts = "\n".join(h.fake.texts(channel))
    assert "applied without verification (no SDK key for `staging` (LAUNCHDARKLY_SDK_KEY_STAGING is not set))" in texts
    with h.ctx.db.session() as s:
        row = s.query(ContainmentAction).one()
        assert row.verified_at is None and row.outcome == "applied"
    assert "MTTC: 1m" in h.summary(1)
