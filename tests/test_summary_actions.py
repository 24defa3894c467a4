"""The pinned summary's buttons do exactly what their commands do, under the same permission policy."""

from __future__ import annotations

from bot.slack.harness import Harness
from bot.slack.summary import CHANGE_SEVERITY, RESOLVE, TAKE_IC, UPDATE_STATUS
from tests.helpers import counts, incident, kinds, open_incident


def summary_ts(h: Harness, number: int) -> str:
    return incident(h, number).summary_ts or ""


def test_the_summary_carries_the_next_actions(harness: Harness) -> None:
    ch = open_incident(harness)
    [pinned] = harness.fake.pinned(ch)
    actions = [b for b in pinned.blocks if b.get("type") == "actions"]
    assert [e["action_id"] for e in actions[0]["elements"]] == [TAKE_IC, UPDATE_STATUS, CHANGE_SEVERITY, RESOLVE]
    assert not harness.fake.violations


def test_take_ic_acknowledges_and_the_button_goes(harness: Harness, clock) -> None:
    h = harness
    ch = open_incident(h)
    clock.advance(minutes=2)
    h.join("U0BOB", ch)
    reply = h.click(TAKE_IC, "1", user="U0BOB", channel=ch, message_ts=summary_ts(h, 1))
    assert "You are the incident commander of INC-1" in reply.text
    inc = incident(h, 1)
    assert inc.acknowledged_at is not None and (inc.acknowledged_at - inc.opened_at).total_seconds() == 120
    [pinned] = h.fake.pinned(ch)
    ids = [e["action_id"] for b in pinned.blocks if b.get("type") == "actions" for e in b["elements"]]
    assert TAKE_IC not in ids and "Incident commander: <@U0BOB>" in h.summary(1)


def test_update_status_modal_posts_with_the_next_update_time(harness: Harness, clock) -> None:
    h = harness
    ch = open_incident(h)
    h.click(UPDATE_STATUS, "1", channel=ch, message_ts=summary_ts(h, 1))
    view = h.last_view()
    errors = h.submit_view(view, {"text": "   "})
    assert "Write the update to post." in (errors.ack.body or "")
    reply = h.submit_view(view, {"text": "Filter tightened in EU <!channel> & co", "next": "1h"})
    assert "Status update posted to INC-1" in reply.text
    post = [t for t in h.fake.texts(ch) if "Status update" in t][-1]
    assert "Filter tightened in EU <!channel> & co" in post and "Next update by 10:00 UTC" in post
    raw = [t for t in h.fake.raw_texts(ch) if "Status update" in t][-1]
    assert "&lt;!channel&gt; &amp; co" in raw and "<!channel>" not in raw
    h.submit_view(view, {"text": "again"})  # the form works once: a second submission is told so, privately
    assert any("out of date" in t for t in h.fake.texts("DU0ALICE"))
    assert sum("Status update" in t for t in h.fake.texts(ch)) == 1


def test_severity_modal_raises_for_a_member_and_lowers_only_for_the_ic(harness: Harness) -> None:
    h = harness
    ch = open_incident(h, "Jailbreak spreading --category jailbreak")
    h.command("ic <@U0BOB>", channel=ch)
    h.join("U0CAROL", ch)
    h.click(CHANGE_SEVERITY, "1", user="U0CAROL", channel=ch, message_ts=summary_ts(h, 1))
    reply = h.submit_view(h.last_view(), {"severity": "1", "reason": "it is on the front page",
                                          "exposure": "public"}, user="U0CAROL")
    assert "INC-1 is SEV1" in reply.text and incident(h, 1).severity == 1 and incident(h, 1).exposure == "public"
    assert "impact_reassessed" in kinds(h, 1) and "severity_changed" in kinds(h, 1)
    h.click(CHANGE_SEVERITY, "1", user="U0CAROL", channel=ch, message_ts=summary_ts(h, 1))
    before = counts(h)
    reply = h.submit_view(h.last_view(), {"severity": "3", "reason": "calmer"}, user="U0CAROL")
    assert "Only the incident commander" in reply.text and "may lower the severity of INC-1" in reply.text
    assert incident(h, 1).severity == 1 and counts(h)[0] == before[0]


def test_resolve_from_the_summary_is_the_ics(harness: Harness) -> None:
    h = harness
    ch = open_incident(h)
    h.command("ic <@U0BOB>", channel=ch)
    h.join("U0CAROL", ch)
    assert "Only the incident commander" in h.click(RESOLVE, "1", user="U0CAROL", channel=ch,
                                                    message_ts=summary_ts(h, 1)).text
    h.click(RESOLVE, "1", user="U0BOB", channel=ch, message_ts=summary_ts(h, 1))
    reply = h.submit_view(h.last_view(), {"summary": "rolled back the prompt"}, user="U0BOB")
    assert "INC-1 resolved." in reply.text and incident(h, 1).status == "resolved"


def test_a_crafted_button_naming_a_private_incident_does_nothing_for_an_outsider(harness: Harness) -> None:
    h = harness
    h.command("open Customer PII echoed --category data_leakage")  # private by default
    ch = h.incident_channel(1)
    before, events_before = counts(h), len(kinds(h, 1))
    for action in (TAKE_IC, UPDATE_STATUS, CHANGE_SEVERITY, RESOLVE):
        reply = h.click(action, "1", user="U0MALLORY", channel=h.general)
        assert "INC-1 is private" in reply.text, action
        assert "PII" not in reply.text
    assert counts(h)[0] == before[0] and "U0MALLORY" not in h.fake.channels[ch]["members"]
    assert set(kinds(h, 1)[events_before:]) == {"permission_denied"}  # audited, nothing else written
    assert not [v for v in h.fake.views.values() if v.get("callback_id", "").startswith("summary_")]


def test_malformed_and_unknown_buttons_are_answered_out_of_date(harness: Harness) -> None:
    h = harness
    ch = open_incident(h)
    for action_id, value in ((UPDATE_STATUS, "not-a-number"), (UPDATE_STATUS, "99999999999999999999"),
                             ("no_such_button", "1")):
        reply = h.click(action_id, value, channel=ch)
        assert reply.ack.status == 200 and "out of date" in reply.text, (action_id, value)


def test_detected_at_from_the_command_and_a_correction(harness: Harness, clock) -> None:
    h = harness
    h.command("open Model leaked a prompt --category data_leakage --detected-at 45m ago")
    inc = incident(h, 1)
    assert (inc.opened_at - inc.detected_at).total_seconds() == 45 * 60 and inc.mttd_seconds == 45 * 60
    ch = h.incident_channel(1)
    clock.advance(minutes=10)
    reply = h.command("detected 08:00 the first user report came in at eight", channel=ch)
    assert "INC-1 detected at 2026-01-05 08:00:00 UTC" in reply.text
    inc = incident(h, 1)
    assert inc.mttd_seconds == 3600 and "detected_at_corrected" in kinds(h, 1)
    before = counts(h)
    for text, expected in (("detected 10:30 later", "still to come"),
                           ("detected 2026-01-05 09:05 after the opening", "cannot be after INC-1 was opened"),
                           ("detected yesterday sometime", "is not a time for detection time"),
                           ("detected 20m ago", "Give the time the harm was first detected and why")):
        reply = h.command(text, channel=ch)
        assert expected in reply.text, text
    assert counts(h) == before


def test_private_titles_stay_out_of_lists_homes_and_announcements(harness: Harness) -> None:
    h = harness
    h.command("open Customer PII echoed to another tenant --category data_leakage")  # private
    ch = h.incident_channel(1)
    outsider = h.command("list", user="U0MALLORY").text
    assert "INC-1" in outsider and "PII" not in outsider and "members only" in outsider
    assert "Customer PII echoed" in h.command("list").text  # the reporter is a member
    h.event({"type": "app_home_opened", "user": "U0MALLORY", "tab": "home"})
    home = "\n".join(str(b) for b in h.fake.home_views["U0MALLORY"]["blocks"])
    assert "PII" not in home and "members only" in home
    h.command("sev 1 the whole tenant is exposed", channel=ch)
    h.command("ic @me", channel=ch)
    h.command("resolve purged the cache", channel=ch)
    announced = "\n".join(h.fake.texts(h.settings.announce_channel))
    assert "INC-1" in announced and "PII" not in announced and "purged the cache" not in announced
    assert "private" in announced


def test_a_listing_of_many_private_incidents_asks_slack_once_and_fails_closed(harness: Harness) -> None:
    """Whether a person is in each private incident's channel is answered by one users.conversations lookup
    for that person, not one conversations.members per incident (which Slack rate-limits); when it fails, the
    private rows are redacted, never shown."""
    h = harness
    for i in range(12):
        open_incident(h, f"Secret leak {i} --category data_leakage --private", user="U0ALICE")
    h.ctx.directory.forget_all()  # a cold cache, as after a restart
    before = len(h.fake.calls)
    mine = h.command("list", user="U0ALICE")
    methods = [c.method for c in h.fake.calls[before:]]
    assert methods.count("users.conversations") == 1 and "conversations.members" not in methods
    assert all(f"Secret leak {i}" in mine.text + str(mine.ephemeral) for i in (0, 11))
    outsider = h.command("list", user="U0MALLORY")
    assert "Secret leak" not in outsider.text + str(outsider.ephemeral)
    h.ctx.directory.forget_all()
    h.fake.fail_next("users.conversations", error="internal_error", times=50)  # Slack down for a while
    failed = h.command("list", user="U0ALICE")
    assert "Secret leak" not in failed.text + str(failed.ephemeral)  # unknown means redacted
