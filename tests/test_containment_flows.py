"""Confirmation by buttons, hooks, verification and revert failures, SDK client reuse, the migration."""

from __future__ import annotations

import json

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from bot.core import hooks, timeline
from bot.slack.harness import Harness
from bot.store.db import Database
from bot.store.migrate import upgrade
from bot.store.models import ContainmentAction, Incident
from tests.containment_support import open_incident


def test_buttons_confirm_when_the_modal_cannot_open(make_ld, fake_ld) -> None:
    h = make_ld()
    channel = open_incident(h)
    h.fake.fail_next("views.open", "trigger_expired")
    reply = h.command("contain kill-browsing spreading", channel=channel)
    assert "This will turn OFF LaunchDarkly flag `agent-browsing`" in reply.text
    assert not fake_ld.patches
    blocks = reply.ephemeral[-1]["blocks"]
    cancel, pull = blocks[-1]["elements"][1], blocks[-1]["elements"][0]
    assert cancel["value"] == pull["value"] and len(pull["value"]) < 40  # one opaque token, nothing else
    cancelled = h.click(cancel["action_id"], cancel["value"], channel=channel)
    assert "Cancelled: `kill-browsing` was not pulled." in cancelled.text
    late = h.click(pull["action_id"], pull["value"], channel=channel)  # a cancelled confirmation is spent
    assert "out of date" in late.text and not fake_ld.patches
    h.fake.fail_next("views.open", "trigger_expired")
    reply = h.command("contain kill-browsing spreading", channel=channel)
    pull = reply.ephemeral[-1]["blocks"][-1]["elements"][0]
    done = h.click(pull["action_id"], pull["value"], channel=channel)
    assert len(fake_ld.patches) == 1 and "spreading" in fake_ld.patches[0]["comment"]
    assert "`kill-browsing` verified — the incident is now contained." in done.text
    again = h.click(pull["action_id"], pull["value"], channel=channel)  # a second click pulls nothing
    assert "out of date" in again.text and len(fake_ld.patches) == 1
    assert h.fake.violations == []


def test_hooks_fire_with_lever_kwargs(make_ld, fake_ld) -> None:
    h = make_ld()
    seen: list[tuple[str, dict]] = []
    for signal in (hooks.LEVER_APPLIED, hooks.LEVER_REVERTED, hooks.CONTAINED):
        h.ctx.hooks.on(signal, lambda signal=signal, **kw: seen.append((signal, kw)))
    channel = open_incident(h)
    h.command("contain kill-staging", channel=channel)
    h.command("revert kill-staging", channel=channel)
    names = [s for s, _ in seen]
    assert names == [hooks.LEVER_APPLIED, hooks.CONTAINED, hooks.LEVER_REVERTED]
    applied = seen[0][1]
    assert applied["lever"] == "kill-staging" and applied["dry_run"] is False and applied["incident_id"] == 1
    assert isinstance(applied["action_id"], int)
    # a second pull after the revert does not move contained_at nor emit CONTAINED again
    with h.ctx.db.session() as s:
        first = s.get(Incident, 1).contained_at
    h.command("contain kill-staging", channel=channel)
    assert [s for s, _ in seen].count(hooks.CONTAINED) == 1
    with h.ctx.db.session() as s:
        assert s.get(Incident, 1).contained_at == first


def test_sdk_that_never_sees_the_change_does_not_contain(make_ld, fake_ld) -> None:
    h = make_ld(lever_verify_timeout_seconds=0.5)
    fake_ld.fail_next("stream", 503, times=1000)
    channel = open_incident(h)
    h.command("contain kill-browsing", channel=channel)
    h.submit_view(h.last_view(), {})
    assert fake_ld.env("agent-browsing")["on"] is False  # applied
    with h.ctx.db.session() as s:
        row = s.query(ContainmentAction).one()
        assert row.outcome == "applied" and row.verified_at is None
        assert "the SDK did not observe the change" in row.error
        assert s.get(Incident, 1).contained_at is None
        failed = timeline.events(s, 1, kinds=["lever_failed"])
        assert failed[0].data["phase"] == "verify"
    assert "applied but could not be verified" in h.fake.texts(channel)[-1]


def test_failed_revert_leaves_the_lever_standing(make_ld, fake_ld) -> None:
    h = make_ld()
    channel = open_incident(h)
    h.command("contain kill-staging", channel=channel)
    fake_ld.fail_next("patch", 400)
    reply = h.command("revert kill-staging", channel=channel)
    assert "Reverting `kill-staging` failed" in reply.text
    assert fake_ld.env("agent-browsing", "staging")["on"] is False
    assert "Reverting lever *kill-staging* FAILED" in h.fake.texts(channel)[-1]
    with h.ctx.db.session() as s:
        row = s.query(ContainmentAction).one()
        assert row.reverted_at is None and row.slot == "live" and row.revert_error
    h.command("revert kill-staging", channel=channel)
    assert fake_ld.env("agent-browsing", "staging")["on"] is True


def test_sdk_clients_are_reused_and_closed(make_ld, fake_ld) -> None:
    h = make_ld()
    channel = open_incident(h)
    for lever in ("kill-browsing", "strict-moderation"):
        h.command(f"contain {lever}", channel=channel)
        h.submit_view(h.last_view(), {})
    sdk = h.ctx.containment.runtime.sdk
    assert sdk.created == 1 and fake_ld.count("stream") == 1
    h.ctx.containment.close()
    assert sdk._clients == {}


def test_migration_matches_the_model(db_url: str) -> None:
    db = Database(db_url)
    try:
        upgrade(db.engine, "0003_containment")
        with db.engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
        ours = [d for d in diffs if "containment_action" in repr(d)]
        assert ours == []
    finally:
        db.dispose()


def test_levers_listing_says_when_none_are_configured(harness: Harness) -> None:
    reply = harness.command("open Something odd --category other")
    channel = harness.incident_channel(1)
    reply = harness.command("levers", channel=channel)
    assert "No levers are configured" in reply.text
    assert json.dumps(harness.summary(1)).count("Levers") == 0
