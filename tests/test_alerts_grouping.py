"""De-duplication, grouping, first-signal clocks, resolved alerts, triage buttons, and the storm that Slack never
sees (counted at the fake Slack). Deliveries go through the intake's own handler (signed, as over HTTP)."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import select

from bot.store.models import Incident, ReproCase, TimelineEvent
from bot.store.models.alerts import Alert, AlertGroup
from tests.helpers import kinds
from tests.test_alerts_support import (
    BEARER_SECRET,
    HMAC_SECRET,
    TRIAGE,
    am_alert,
    am_payload,
    detector_alert,
    signed,
)
from tests.test_alerts_support import alerts_file as make_file

SLACK_WRITES = ("chat.postMessage", "chat.update", "conversations.create", "conversations.invite", "pins.add",
                "conversations.setTopic", "chat.postEphemeral")


@pytest.fixture
def h(monkeypatch, make_harness, write_yaml):
    monkeypatch.setenv("TEST_ALERT_HMAC", HMAC_SECRET)
    monkeypatch.setenv("TEST_ALERT_BEARER", BEARER_SECRET)
    harness = make_harness(alerts_file=write_yaml("alerts.yml", make_file()))
    harness.fake.add_channel("ai-triage", channel_id=TRIAGE)
    return harness


def deliver(h, source: str, payload: Any, *, wait: bool = True) -> int:
    body = json.dumps(payload).encode()
    headers = signed(body) if source == "guardrail" else {"authorization": f"Bearer {BEARER_SECRET}"}
    answer = h.ctx.alerts.intake.handle(source, headers, io.BytesIO(body).read, len(body))
    if wait:
        h.wait()
    return answer.status


def one(h, model, *where):
    with h.ctx.db.session() as s:
        return s.exec(select(model).where(*where)).one()


def count(h, model, *where) -> int:
    with h.ctx.db.session() as s:
        return s.exec(select(func.count()).select_from(model).where(*where)).one()


def channel_texts(h, channel: str) -> list[str]:
    return [m.text for m in h.fake.history(channel)]


def test_the_same_dedup_key_updates_the_alert_instead_of_creating_anything(h, clock):
    at = clock.now() - timedelta(minutes=2)
    assert deliver(h, "guardrail", detector_alert(at)) == 202
    inc = one(h, Incident)
    events = count(h, TimelineEvent, TimelineEvent.incident_id == inc.id)
    for i in range(3):  # the detector repeats itself with a newer score
        clock.advance(seconds=10)
        assert deliver(h, "guardrail", detector_alert(at, scores={"block_rate": 0.4 + i / 100})) == 202
    alert = one(h, Alert)
    assert alert.count == 4 and count(h, Alert) == 1 and count(h, Incident) == 1
    assert count(h, TimelineEvent, TimelineEvent.incident_id == inc.id) == events  # repeats say nothing


def test_a_group_collects_alerts_into_one_incident_and_an_earlier_signal_moves_detection(h, clock):
    now = clock.now()
    deliver(h, "guardrail", detector_alert(now - timedelta(minutes=5), dedup_key="a"))
    inc = one(h, Incident)
    assert inc.detected_at == now - timedelta(minutes=5)
    # a second detector instance reports the same group, with a first signal 20 minutes ago
    deliver(h, "guardrail", detector_alert(now - timedelta(minutes=20), dedup_key="b"))
    assert count(h, Incident) == 1
    inc = one(h, Incident)
    assert inc.detected_at == now - timedelta(minutes=20)
    assert "detected_at_from_alert" in kinds(h, inc.id) and "alert_attached" in kinds(h, inc.id)
    assert any("moves the first signal" in t for t in channel_texts(h, inc.channel_id))
    group = one(h, AlertGroup)
    assert group.alert_count == 2 and group.incident_id == inc.id


def test_a_storm_of_one_group_is_one_incident_and_a_handful_of_slack_calls(h, clock):
    start = len(h.fake.calls)
    at = clock.now() - timedelta(minutes=1)
    for batch in range(2):  # 1,000 alerts of one group within a minute, 500 to a delivery
        alerts = [detector_alert(at, dedup_key=f"storm-{batch}-{i}") for i in range(500)]
        assert deliver(h, "guardrail", {"alerts": alerts}) == 202
        clock.advance(seconds=20)
    assert count(h, Incident) == 1 and count(h, Alert) == 1000
    inc = one(h, Incident)
    # the window ends: one "N more alerts" update, whatever N is
    clock.advance(minutes=5)
    h.ctx.timers.run_due()
    h.wait()
    writes = [c for c in h.fake.calls[start:] if c.method in SLACK_WRITES]
    assert len(writes) <= 20, [c.method for c in writes]
    more = [t for t in channel_texts(h, inc.channel_id) if "more alert(s)" in t]
    assert len(more) == 1 and "(now 1000 in all)" in more[0]
    assert one(h, AlertGroup).alert_count == 1000


def test_resolved_before_firing_is_recorded_and_opens_nothing(h, clock):
    at = clock.now() - timedelta(minutes=40)
    assert deliver(h, "prom", am_payload(at, am_alert(at, status="resolved"), status="resolved")) == 202
    assert deliver(h, "prom", am_payload(at, am_alert(at))) == 202  # the older firing arrives late
    alert = one(h, Alert)
    assert alert.status == "resolved" and count(h, Incident) == 0


def test_when_every_alert_resolves_the_channel_is_told_and_nothing_is_marked_contained(h, clock):
    at = clock.now() - timedelta(minutes=10)
    deliver(h, "prom", am_payload(at, am_alert(at, "f1"), am_alert(at, "f2")))
    inc = one(h, Incident)
    deliver(h, "prom", am_payload(at, am_alert(at, "f1", status="resolved")))
    assert not any("alerts resolved" in t for t in channel_texts(h, inc.channel_id))
    deliver(h, "prom", am_payload(at, am_alert(at, "f2", status="resolved")))
    told = [t for t in channel_texts(h, inc.channel_id) if "All 2 alerts resolved" in t]
    assert len(told) == 1 and "/incident probe" in told[0]
    inc = one(h, Incident)
    assert inc.contained_at is None and "alerts_resolved" in kinds(h, inc.id)


def test_evidence_becomes_repro_cases_once_and_capped(monkeypatch, make_harness, write_yaml, clock):
    monkeypatch.setenv("TEST_ALERT_HMAC", HMAC_SECRET)
    monkeypatch.setenv("TEST_ALERT_BEARER", BEARER_SECRET)
    h = make_harness(alerts_file=write_yaml("alerts.yml", make_file(max_repro_cases=3)))
    pairs = [{"prompt": f"jailbreak attempt {i}", "output": f"leaked answer {i}"} for i in range(5)]
    deliver(h, "guardrail", detector_alert(clock.now(), dedup_key="e1", evidence=pairs[:2]))
    deliver(h, "guardrail", detector_alert(clock.now(), dedup_key="e2", evidence=pairs))  # 2 repeats, 3 new
    with h.ctx.db.session() as s:
        cases = list(s.exec(select(ReproCase).order_by(ReproCase.id)))
    assert [c.prompt for c in cases] == ["jailbreak attempt 0", "jailbreak attempt 1", "jailbreak attempt 2"]
    assert all(c.sha256 and c.source == "alert" for c in cases)


def triage_message(h):
    posted = [m for m in h.fake.history(TRIAGE) if m.blocks]
    assert posted, "no triage message"
    return posted[-1]


def test_triage_declare_button_declares_once(h, clock):
    deliver(h, "guardrail", detector_alert(clock.now(), title="Nightly eval regression on refusals",
                                           labels={"kind": "eval"}, dedup_key="ev1", group_key="evals"))
    msg = triage_message(h)
    assert "Alert for triage" in msg.text and count(h, Incident) == 0
    group = one(h, AlertGroup)
    h.click("alerts_triage_declare", str(group.id), channel=TRIAGE, message_ts=msg.ts)
    h.click("alerts_triage_declare", str(group.id), channel=TRIAGE, message_ts=msg.ts, user="U0BOB")
    assert count(h, Incident) == 1
    inc = one(h, Incident)
    assert inc.reporter_id == "U0ALICE" and "U0ALICE" in h.fake.channels[inc.channel_id]["members"]
    assert "Handled in INC-1" in "\n".join(str(b) for b in h.fake.message(TRIAGE, msg.ts).blocks)


def test_triage_dismiss_needs_a_reason_and_is_kept(h, clock):
    deliver(h, "guardrail", detector_alert(clock.now(), title="Eval flake", labels={"kind": "eval"}))
    msg = triage_message(h)
    group = one(h, AlertGroup)
    h.click("alerts_triage_dismiss", str(group.id), channel=TRIAGE, message_ts=msg.ts)
    view = h.last_view()
    reply = h.submit_view(view, {"reason": "   "})
    assert reply.ack.body and "reason" in str(reply.ack.body)
    h.submit_view(view, {"reason": "known flaky suite <!here>"})
    group = one(h, AlertGroup)
    assert group.state == "dismissed" and group.dismiss_reason == "known flaky suite <!here>"
    blocks = "\n".join(str(b) for b in h.fake.message(TRIAGE, msg.ts).blocks)
    assert "Dismissed by" in blocks and "<!here>" not in blocks
    # a later click on Declare of a dismissed group changes nothing
    h.click("alerts_triage_declare", str(group.id), channel=TRIAGE, message_ts=msg.ts)
    assert count(h, Incident) == 0


def test_triage_attach_checks_the_policy_on_the_incident_attached_to(h, clock):
    h.command("open PII of another user shown --category data_leakage", user="U0ALICE")  # private incident
    deliver(h, "guardrail", detector_alert(clock.now(), title="Eval: PII probe", labels={"kind": "eval"}))
    msg = triage_message(h)
    group = one(h, AlertGroup)
    reply = h.click("alerts_triage_attach", f"{group.id}:1", channel=TRIAGE, message_ts=msg.ts, user="U0MALLORY")
    assert one(h, AlertGroup).state == "triage" and count(h, Alert, Alert.incident_id == 1) == 0
    assert reply.text  # told why
    h.click("alerts_triage_attach", f"{group.id}:1", channel=TRIAGE, message_ts=msg.ts, user="U0ALICE")
    assert one(h, AlertGroup).incident_id == 1 and count(h, Alert, Alert.incident_id == 1) == 1
    for crafted in ("x", "1:abc", "99999999999:1", ""):
        h.click("alerts_triage_attach", crafted, channel=TRIAGE, message_ts=msg.ts, user="U0ALICE")
    h.click("alerts_triage_declare", "not-a-number", channel=TRIAGE, message_ts=msg.ts)
    assert count(h, Incident) == 1


def test_incident_alerts_lists_what_is_attached(h, clock):
    deliver(h, "guardrail", detector_alert(clock.now() - timedelta(minutes=3), dedup_key="l1"))
    deliver(h, "guardrail", detector_alert(clock.now() - timedelta(minutes=2), dedup_key="l2",
                                           title="Second <b>detector</b> & friends"))
    inc = one(h, Incident)
    reply = h.command("alerts", channel=inc.channel_id)
    assert "Alerts of INC-1 (2)" in reply.text and "Second <b>detector</b> & friends" in reply.text
    assert "2 firing, 0 resolved" in reply.text
    assert "*Alerts:* 1 from guardrail · 1 firing" in h.summary(inc.id)  # the counter follows at the window's pace
    clock.advance(minutes=5)
    h.ctx.timers.run_due()
    assert "*Alerts:* 2 from guardrail · 2 firing" in h.summary(inc.id)


def test_a_triage_message_nobody_acts_on_gets_one_reminder(h, clock):
    deliver(h, "guardrail", detector_alert(clock.now(), title="Eval drift", labels={"kind": "eval"}))
    msg = triage_message(h)
    clock.advance(minutes=16)
    h.ctx.timers.run_due()
    h.ctx.alerts.remind_due()  # again: still one reminder
    h.wait()
    replies = [m for m in h.fake.history(TRIAGE) if "Nobody has acted" in m.text]
    assert len(replies) == 1 and replies[0].thread_ts == msg.ts


def test_a_route_that_pages_invites_and_mentions_and_an_unknown_name_stops_the_start(monkeypatch, make_harness,
                                                                                       write_yaml, clock):
    from bot.core.errors import ConfigError

    monkeypatch.setenv("TEST_ALERT_HMAC", HMAC_SECRET)
    monkeypatch.setenv("TEST_ALERT_BEARER", BEARER_SECRET)
    doc = make_file()
    doc["routes"][1]["page"] = ["U0ONCALL"]
    doc["routes"][1]["levers"] = ["chat-prod-strict-mode"]
    h = make_harness(alerts_file=write_yaml("alerts.yml", doc))
    deliver(h, "guardrail", detector_alert(clock.now()))
    inc = one(h, Incident)
    declared = next(m for m in h.fake.history(inc.channel_id) if "Declared from" in m.text)
    assert "<@U0ONCALL>" in declared.text and "chat-prod-strict-mode" in declared.text
    assert "U0ONCALL" in h.fake.channels[inc.channel_id]["members"]
    doc["routes"][1]["page"] = ["safety-oncall"]  # not a group of FIREBREAK_CONFIG
    with pytest.raises(ConfigError, match=r"alerts2.yml: routes\[1\].page: `safety-oncall`"):
        make_harness(alerts_file=write_yaml("alerts2.yml", doc))


def test_the_app_home_lists_alerts_waiting_in_triage_without_their_titles(h, clock):
    """The App Home is the whole workspace's: sources, counts and times; titles (detector text that may carry
    personal data) stay in the triage channel."""
    from bot.slack.home import home_view

    deliver(h, "guardrail", detector_alert(clock.now(), title="Eval <!channel> drift for jane@example.com",
                                           labels={"kind": "eval"}))
    text = json.dumps(home_view(h.ctx, "U0SOMEONE")["blocks"], ensure_ascii=False)
    assert "Alerts in triage" in text and "guardrail · 1 alert(s)" in text
    assert "drift" not in text and "jane@" not in text and "!channel" not in text


def test_attach_only_joins_the_incident_of_its_group_key_or_of_its_category_or_records(h, clock):
    deliver(h, "guardrail", detector_alert(clock.now(), dedup_key="base", group_key="gw"))  # declares INC-1
    deliver(h, "guardrail", detector_alert(clock.now(), dedup_key="f1", group_key="gw", category="bias",
                                           labels={"kind": "followup"}))  # its group key's incident, any category
    assert one(h, Alert, Alert.dedup_key == "f1").incident_id == 1
    deliver(h, "guardrail", detector_alert(clock.now(), dedup_key="f2", group_key="other",
                                           labels={"kind": "followup"}))  # no group: the open jailbreak incident
    assert one(h, Alert, Alert.dedup_key == "f2").incident_id == 1
    deliver(h, "guardrail", detector_alert(clock.now(), dedup_key="f3", group_key="x", category="bias",
                                           labels={"kind": "followup"}))  # nothing open of its kind: recorded
    assert one(h, Alert, Alert.dedup_key == "f3").incident_id is None
    assert count(h, Incident) == 1


def test_all_resolved_counts_alerts_joining_in_the_same_chunk(h, clock):
    at = clock.now() - timedelta(minutes=10)
    deliver(h, "prom", am_payload(at, am_alert(at, "r1")))
    inc = one(h, Incident)
    # one delivery: r1 resolves while a new alert r2 of the same group fires
    deliver(h, "prom", am_payload(at, am_alert(at, "r1", status="resolved"), am_alert(at, "r2")))
    assert not any("alerts resolved" in t for t in channel_texts(h, inc.channel_id))
    assert count(h, Alert, Alert.incident_id == inc.id) == 2
