"""Status-update reminders, their buttons and modal, escalation re-planning and stopping at resolution."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.core import timeline
from bot.scheduler import jobs
from bot.slack.harness import Harness, block_text
from tests.scheduler_support import findings, texts


def open_incident(h: Harness, sev: int, title: str = "Jailbreak spreading on social media") -> str:
    h.command(f"open {title} --sev {sev}")
    return h.incident_channel(1)


def reminders(h: Harness, channel: str) -> list:
    return [m for m in h.fake.history(channel) if ":hourglass:" in m.text]


def kinds(h: Harness, n: int = 1) -> list[str]:
    with h.ctx.db.session() as s:
        return [e.kind for e in timeline.events(s, n)]


def buttons(msg) -> dict[str, str]:
    """action_id -> value of a message's buttons."""
    return {el["action_id"]: el["value"] for b in msg.blocks if b["type"] == "actions" for el in b["elements"]}


def first_reminder(h: Harness, ch: str, clock, minutes: int = 30):
    clock.advance(minutes=minutes)
    h.ctx.timers.run_due()
    return reminders(h, ch)[-1]


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
    shown = [el for b in msg.blocks if b["type"] == "actions" for el in b["elements"]]
    assert [(b["text"]["text"], b["action_id"]) for b in shown] == [
        ("Post update", "scheduler_post_update"), ("Snooze 15m", "scheduler_snooze")]
    token = shown[0]["value"]
    assert shown[1]["value"] == token and len(token) >= 20 and "1" != token  # opaque: no incident number
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
    h.join("U0BOB", ch)
    h.click("scheduler_snooze", buttons(msg)["scheduler_snooze"], channel=ch, message_ts=msg.ts, user="U0BOB")
    assert any("<@U0BOB> snoozed the status reminder of INC-1 until 2026-01-05 09:45:00 UTC" in t
               for t in texts(h, ch))
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
    h.join("U0BOB", ch)
    h.click("scheduler_post_update", buttons(msg)["scheduler_post_update"], channel=ch, message_ts=msg.ts,
            user="U0BOB")
    view = h.last_view()
    assert view["callback_id"] == "scheduler_status_update"
    assert "incident" not in view["private_metadata"] and len(view["private_metadata"]) <= 40  # a token
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
    reply = h.click("scheduler_snooze", buttons(msg)["scheduler_snooze"], channel=ch, message_ts=msg.ts)
    assert "INC-1 is resolved" in reply.text
    assert h.ctx.timers.pending("inc-1:") == []
    assert "reminder_snoozed" not in kinds(h)


def test_escalation_replans_every_timer_and_says_so(make_harness, db_url, write_yaml, clock) -> None:
    h = make_harness(database_url=db_url, config_file=write_yaml("org.yml", {"commanders": ["U0ALICE"]}))
    ch = open_incident(h, 3)
    t = h.ctx.timers
    assert t.when("inc-1:status-reminder") == clock.now() + timedelta(hours=4)
    clock.advance(minutes=10)
    h.command("sev 1 data access confirmed", channel=ch)
    text = next(x for x in texts(h, ch) if "Timers re-planned" in x)
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
    t.at("inc-99:status-reminder", clock.now(), "status_reminder", incident_id=99, due=clock.now().isoformat())
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
            ticker = bot.ctx.effects._ticker  # noqa: SLF001 - the effects runner runs in both modes
            assert ticker is not None and ticker.is_alive()
        finally:
            bot.close()


def test_a_reminder_run_again_after_a_crash_posts_nothing_new_and_refreshes_the_summary(harness: Harness,
                                                                                         clock) -> None:
    h = harness
    ch = open_incident(h, 1)
    updates = len(h.fake.calls_to("chat.update"))
    first_reminder(h, ch, clock)
    assert len(h.fake.calls_to("chat.update")) > updates  # the pinned summary's clocks were refreshed
    with h.ctx.db.session() as s:
        [event] = timeline.events(s, 1, kinds=["reminder_posted"])
    jobs.status_reminder(h.ctx, incident_id=1, due=event.data["due"])  # as re-queued after a crash
    h.wait()
    assert len(reminders(h, ch)) == 1 and kinds(h).count("reminder_posted") == 1
    assert h.ctx.timers.when("inc-1:status-reminder") == clock.now() + timedelta(minutes=30)


# ----- who may click, and crafted clicks -----------------------------------------------------------------------
@pytest.mark.parametrize(("who", "private", "allowed", "said"), [
    ("member", False, True, None),
    ("outsider", False, False, "Only members of INC-1's channel may post status updates on INC-1. Join"),
    ("reporter", False, True, None),
    ("ic", False, True, None),
    ("member", True, True, None),
    ("outsider", True, False, "INC-1 is private: only members of its channel may see or change it"),
])
def test_reminder_buttons_ask_the_policy_about_the_clicker(make_harness, db_url, clock, who: str, private: bool,
                                                           allowed: bool, said: str | None) -> None:
    h = make_harness(database_url=db_url)
    ch = open_incident(h, 1, "Jailbreak spreading on social media" + (" --private" if private else ""))
    user = {"member": "U0MEMBER", "outsider": "U0EVE", "reporter": "U0ALICE", "ic": "U0BOB"}[who]
    if who == "ic":
        h.command("ic <@U0BOB>", channel=ch)
    if who == "member":
        h.invite(user, ch)
    msg = first_reminder(h, ch, clock)
    reply = h.click("scheduler_snooze", buttons(msg)["scheduler_snooze"], channel=ch, message_ts=msg.ts, user=user)
    assert ("reminder_snoozed" in kinds(h)) is allowed
    assert (h.ctx.timers.when("inc-1:status-reminder") == clock.now() + timedelta(minutes=15)) is allowed
    if said:
        assert said in reply.text
    post = h.click("scheduler_post_update", buttons(msg)["scheduler_post_update"], channel=ch, message_ts=msg.ts,
                   user=user)
    assert ("views.open" in post.methods()) is allowed


def test_crafted_button_values_act_on_nothing(make_harness, clock) -> None:
    h = make_harness()
    public = open_incident(h, 1)
    h.command("open Customer records in answers --sev 1 --private")
    private = h.incident_channel(2)
    msg = first_reminder(h, public, clock)
    other = reminders(h, private)[-1]
    before = kinds(h, 1), kinds(h, 2), h.ctx.timers.scheduled("inc-")
    # An incident number instead of a token, a made-up token, and no value at all: out of date.
    for value in ("1", "2", "x" * 30, ""):
        reply = h.click("scheduler_snooze", value, channel=public, message_ts=msg.ts)
        assert "out of date" in reply.text
    # A real token of the private incident, clicked from the public one by someone who is no member of it.
    h.join("U0EVE", public)
    reply = h.click("scheduler_snooze", buttons(other)["scheduler_snooze"], channel=public, message_ts=msg.ts,
                    user="U0EVE")
    assert "INC-2 is private" in reply.text
    reply = h.click("scheduler_post_update", buttons(other)["scheduler_post_update"], channel=public,
                    message_ts=msg.ts, user="U0EVE")
    assert "INC-2 is private" in reply.text and "views.open" not in reply.methods()
    assert (kinds(h, 1), kinds(h, 2), h.ctx.timers.scheduled("inc-")) == before
    malformed = h.interaction({"type": "block_actions", "user": {"id": "U0EVE"},
                               "actions": [{"action_id": "scheduler_snooze"}]})
    assert malformed.ack.status == 200 and h.ctx.timers.scheduled("inc-") == before[2]


def open_modal(h: Harness, ch: str, clock, user: str = "U0BOB") -> dict:
    msg = first_reminder(h, ch, clock)
    h.join(user, ch)
    h.click("scheduler_post_update", buttons(msg)["scheduler_post_update"], channel=ch, message_ts=msg.ts, user=user)
    return h.last_view()


def test_the_status_modal_posts_hostile_text_escaped_and_stores_what_was_typed(db_harness: Harness, clock) -> None:
    h = db_harness
    ch = open_incident(h, 1)
    view = open_modal(h, ch, clock)
    typed = "<!channel> rolled back & watching <b>closely</b> <!subteam^S0ALL>"
    h.submit_view(view, {"status_text": typed}, user="U0BOB")
    [posted] = [m for m in h.fake.history(ch) if "Status update" in m.text]
    assert "&lt;!channel&gt; rolled back &amp; watching &lt;b&gt;closely&lt;/b&gt;" in posted.text
    with h.ctx.db.session() as s:
        [event] = timeline.events(s, 1, kinds=["status_update"])
    assert event.text == typed and event.actor == "U0BOB"
    assert findings(h) == [] and h.fake.violations == []


def test_the_status_modal_works_once_and_only_for_who_opened_it(harness: Harness, clock) -> None:
    h = harness
    ch = open_incident(h, 1)
    view = open_modal(h, ch, clock)
    h.join("U0CAROL", ch)
    stolen = h.submit_view(view, {"status_text": "not mine to post"}, user="U0CAROL")
    assert "out of date" in stolen.text  # answered privately after the ack
    forged = h.submit_view({**view, "private_metadata": '{"incident": 1}'}, {"status_text": "forged"}, user="U0BOB")
    assert "out of date" in forged.text
    h.submit_view(view, {"status_text": "Rolled back"}, user="U0BOB")
    h.submit_view(view, {"status_text": "Rolled back"}, user="U0BOB")  # a double click on Post
    assert kinds(h).count("status_update") == 1
    assert sum("Status update" in t for t in h.fake.texts(ch)) == 1


def test_the_status_modal_refuses_text_over_the_cap_and_writes_nothing(harness: Harness, clock) -> None:
    h = harness
    ch = open_incident(h, 1)
    view = open_modal(h, ch, clock)
    before = kinds(h)
    reply = h.submit_view(view, {"status_text": "x" * 3001}, user="U0BOB")
    assert "The status update is 3,001 characters; the limit is 3,000." in reply.ack.body
    assert "xxxxxxxxxx" not in reply.ack.body  # never the whole input echoed
    assert kinds(h) == before
    assert view["blocks"][0]["element"]["max_length"] == 3000  # Slack's own form says so first
