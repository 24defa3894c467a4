"""Status-update reminders, their buttons, escalation re-planning and stopping at resolution."""

from __future__ import annotations

from datetime import timedelta

from bot.core import timeline
from bot.slack.harness import Harness, block_text


def open_incident(h: Harness, sev: int, title: str = "Jailbreak spreading on social media") -> str:
    h.command(f"open {title} --sev {sev}")
    return h.incident_channel(1)


def reminders(h: Harness, channel: str) -> list:
    return [m for m in h.fake.history(channel) if ":hourglass:" in m.text]


def kinds(h: Harness, n: int = 1) -> list[str]:
    with h.ctx.db.session() as s:
        return [e.kind for e in timeline.events(s, n)]


def test_sev1_reminds_every_30_minutes_without_update_with_buttons(db_harness: Harness, clock) -> None:
    h = db_harness
    ch = open_incident(h, 1)
    clock.advance(minutes=29)
    h.ctx.timers.run_due()
    assert reminders(h, ch) == []
    clock.advance(minutes=1)
    h.ctx.timers.run_due()
    [msg] = reminders(h, ch)
    assert "no status update on INC-1 since it opened 30m" in msg.text
    assert "No incident commander yet" in msg.text
    buttons = [el for b in msg.blocks if b["type"] == "actions" for el in b["elements"]]
    assert [(b["text"]["text"], b["action_id"], b["value"]) for b in buttons] == [
        ("Post update", "scheduler_post_update", "1"), ("Snooze 15m", "scheduler_snooze", "1")]
    assert kinds(h).count("reminder_posted") == 1
    clock.advance(minutes=30)
    h.ctx.timers.run_due()
    assert len(reminders(h, ch)) == 2


def test_no_reminder_when_an_update_was_posted_within_the_interval(db_harness: Harness, clock) -> None:
    h = db_harness
    ch = open_incident(h, 1)
    clock.advance(minutes=20)
    h.command("status Filter tightened, watching", channel=ch)
    clock.advance(minutes=10)  # 30 min after opening, 10 after the update
    h.ctx.timers.run_due()
    assert reminders(h, ch) == []
    clock.advance(minutes=20)  # 30 min after the update
    h.ctx.timers.run_due()
    [msg] = reminders(h, ch)
    assert "no status update on INC-1 in 30m" in msg.text


def test_cadence_per_severity_and_none_for_sev4(make_harness, clock) -> None:
    h = make_harness()
    ch = open_incident(h, 4)
    clock.advance(hours=24)
    h.ctx.timers.run_due()
    assert reminders(h, ch) == []
    assert h.ctx.timers.pending("inc-1:status") == []


def test_configured_cadence(make_harness, write_yaml, clock) -> None:
    cfg = write_yaml("org.yml", {"scheduler": {"status_cadence": {3: "2h"}, "snooze": "10m"}})
    h = make_harness(config_file=cfg)
    ch = open_incident(h, 3)
    clock.advance(hours=2)
    h.ctx.timers.run_due()
    [msg] = reminders(h, ch)
    assert "SEV3 cadence: every 2h" in msg.text and "Snooze 10m" in "\n".join(block_text(b) for b in msg.blocks)


def test_snooze_button_moves_the_reminder_by_15_minutes(db_harness: Harness, clock) -> None:
    h = db_harness
    ch = open_incident(h, 1)
    clock.advance(minutes=30)
    h.ctx.timers.run_due()
    [msg] = reminders(h, ch)
    h.click("scheduler_snooze", "1", channel=ch, message_ts=msg.ts, user="U0BOB")
    assert any("<@U0BOB> snoozed the status reminder of INC-1 until 2026-01-05 09:45:00 UTC" in t
               for t in h.fake.texts(ch))
    assert "reminder_snoozed" in kinds(h)
    clock.advance(minutes=14)
    h.ctx.timers.run_due()
    assert len(reminders(h, ch)) == 1
    clock.advance(minutes=1)
    h.ctx.timers.run_due()
    assert len(reminders(h, ch)) == 2


def test_post_update_button_opens_a_modal_that_posts_the_update(db_harness: Harness, clock) -> None:
    h = db_harness
    ch = open_incident(h, 1)
    clock.advance(minutes=30)
    h.ctx.timers.run_due()
    [msg] = reminders(h, ch)
    h.click("scheduler_post_update", "1", channel=ch, message_ts=msg.ts, user="U0BOB")
    view = h.last_view()
    assert view["callback_id"] == "scheduler_status_update"
    empty = h.submit_view(view, {"status_text": ""}, user="U0BOB")
    assert "Write the update to post." in empty.ack.body and "response_action" in empty.ack.body
    assert "status_update" not in kinds(h)
    h.submit_view(view, {"status_text": "Rolled back the prompt; monitoring"}, user="U0BOB")
    assert any("Status update* on INC-1 from <@U0BOB>:\nRolled back the prompt" in t for t in h.fake.texts(ch))
    assert "status_update" in kinds(h)
    clock.advance(minutes=29)
    h.ctx.timers.run_due()
    assert len(reminders(h, ch)) == 1  # the cadence restarted at the update


def test_buttons_on_a_resolved_incident_say_so_and_change_nothing(harness: Harness, clock) -> None:
    h = harness
    ch = open_incident(h, 1)
    clock.advance(minutes=30)
    h.ctx.timers.run_due()
    [msg] = reminders(h, ch)
    h.command("resolve false alarm", channel=ch)
    reply = h.click("scheduler_snooze", "1", channel=ch, message_ts=msg.ts)
    assert "INC-1 is resolved" in " ".join(c.params.get("text", "") for c in reply.calls
                                            if c.method == "chat.postEphemeral")
    assert h.ctx.timers.pending("inc-1:") == []
    assert "reminder_snoozed" not in kinds(h)


def test_escalation_replans_every_timer_and_says_so(make_harness, db_url, write_yaml, clock) -> None:
    h = make_harness(database_url=db_url, config_file=write_yaml("org.yml", {"commanders": ["U0ALICE"]}))
    ch = open_incident(h, 3)
    t = h.ctx.timers
    assert t.when("inc-1:status-reminder") == clock.now() + timedelta(hours=4)
    clock.advance(minutes=10)
    h.command("sev 1 data access confirmed", channel=ch)
    text = next(x for x in h.fake.texts(ch) if "Timers re-planned" in x)
    assert "Timers re-planned for SEV1 (was SEV3)" in text
    assert "status update reminders every 30m (next by 2026-01-05 09:30:00 UTC)" in text
    assert "page on-call if no incident commander by 2026-01-05 09:05:00 UTC" in text
    assert "MTTC target 1h: warnings 75% at 2026-01-05 09:45:00 UTC, breach at 2026-01-05 10:00:00 UTC" in text
    clock.advance(minutes=20)
    t.run_due()
    assert len(reminders(h, ch)) == 1


def test_resolution_cancels_every_timer_and_nothing_fires_after(db_harness: Harness, clock) -> None:
    h = db_harness
    ch = open_incident(h, 1)
    t = h.ctx.timers
    assert {p.key for p in t.pending("inc-1:")} >= {"inc-1:status-reminder", "inc-1:ack-page", "inc-1:sla-75"}
    h.command("resolve not reproducible", channel=ch)
    assert t.pending("inc-1:") == []
    before = len(h.fake.history(ch))
    clock.advance(days=3)
    t.run_due()
    assert len(h.fake.history(ch)) == before


def test_reopen_plans_again(harness: Harness, clock) -> None:
    h = harness
    ch = open_incident(h, 2)
    h.command("resolve fixed", channel=ch)
    h.command("reopen it came back", channel=ch)
    assert h.ctx.timers.when("inc-1:status-reminder") is not None


def test_reconcile_adds_missing_and_drops_resolved(harness: Harness, clock) -> None:
    h = harness
    ch = open_incident(h, 1)
    h.command("open Second one --sev 2")
    t = h.ctx.timers
    t.cancel_prefix("inc-1:")  # the job table lost them
    t.register("stray", lambda ctx, **kw: None)
    t.at("inc-2:stray", clock.now(), "stray")
    with h.ctx.db.session() as s:
        from bot.core import incidents

        incidents.resolve(s, clock, incidents.get(s, 2, lock=True), "done", actor="U0ALICE")
    planned, dropped = h.ctx.scheduler.reconcile()
    assert (planned, dropped) == (1, 1)
    assert t.pending("inc-2:") == []
    assert {p.key for p in t.pending("inc-1:")} == {"inc-1:status-reminder", "inc-1:ack-page", "inc-1:sla-75",
                                                    "inc-1:sla-100"}
    assert ch


def test_reminder_for_a_vanished_incident_is_dropped(harness: Harness, clock) -> None:
    t = harness.ctx.timers
    t.at("inc-99:status-reminder", clock.now(), "status_reminder", incident_id=99)
    assert t.run_due() == 1
    assert t.pending() == []


def test_slack_failure_on_a_reminder_is_recorded_and_reminders_continue(harness: Harness, clock) -> None:
    h = harness
    ch = open_incident(h, 1)
    clock.advance(minutes=5)
    h.ctx.timers.run_due()  # the page
    clock.advance(minutes=25)
    # Runbook nudges fall due at the same moment; drop them so the injected fault hits the reminder.
    h.ctx.timers.cancel_prefix("inc-1:runbook:")
    h.fake.fail_next("chat.postMessage", "channel_not_found")
    h.ctx.timers.run_due()
    assert reminders(h, ch) == []
    assert "slack_error" in kinds(h) and "reminder_posted" in kinds(h)
    clock.advance(minutes=30)
    h.ctx.timers.run_due()
    assert len(reminders(h, ch)) == 1


def test_serve_starts_the_scheduler_only_in_embedded_mode(tmp_path, clock) -> None:
    from bot.config.settings import Settings
    from bot.server.runtime import start_bot

    for mode, running in (("embedded", True), ("dedicated", False)):
        bot = start_bot(Settings(database_url=f"sqlite:///{tmp_path}/{mode}.db", scheduler_mode=mode,
                                 slack_api_url="http://127.0.0.1:9/"))
        try:
            assert bot.ctx.timers.running is running
        finally:
            bot.close()
