"""Acknowledgement paging through a local HTTP stand-in for PagerDuty Events API v2 and a webhook.

Pager calls are effects performed on real time (their backoff is real seconds), so the tests that fail the
pager configure a backoff of one second.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from bot.app.opening import open_and_provision
from bot.core import timeline
from bot.core.incidents import OpenRequest
from bot.core.severity import Inputs
from bot.fakes.pager import FakePager
from bot.scheduler import paging
from bot.scheduler.durable import DurableTimers
from bot.slack.harness import Harness
from bot.store.models import PageState
from tests.scheduler_support import findings, texts

ROUTING_KEY = "R0UTINGKEY0000000000000000000000"


@pytest.fixture
def pager() -> Iterator[FakePager]:
    fake = FakePager(routing_key=ROUTING_KEY, token="hook-token-123").start()
    yield fake
    fake.stop()


@pytest.fixture
def paged(make_harness, db_url, write_yaml, pager) -> Harness:
    cfg = write_yaml("org.yml", {"scheduler": {"pager": {"kind": "pagerduty", "url": pager.events_url,
                                                          "backoff_seconds": 1, "max_attempts": 3}}})
    return make_harness(database_url=db_url, config_file=cfg, pager_routing_key=SecretStr(ROUTING_KEY))


def kinds(h: Harness, n: int = 1) -> list[str]:
    with h.ctx.db.session() as s:
        return [e.kind for e in timeline.events(s, n)]


def run(h: Harness) -> int:
    return h.ctx.timers.run_due()


def test_no_ic_within_5_minutes_pages_then_ic_resolves_the_page(paged: Harness, pager: FakePager, clock) -> None:
    h = paged
    h.command("open Agent emailing customers --sev 1")
    ch = h.incident_channel(1)
    clock.advance(minutes=4, seconds=59)
    run(h)
    assert pager.calls == []
    clock.advance(seconds=1)
    run(h)
    [trigger] = pager.triggers()
    assert trigger["dedup_key"] == "firebreak-inc-1-ack" and trigger["payload"]["severity"] == "critical"
    assert "INC-1 SEV1" in trigger["payload"]["summary"]
    assert pager.alerts["firebreak-inc-1-ack"]["status"] == "triggered"
    announced = h.fake.texts("C0ANNOUNCE")
    assert any("INC-1 (SEV1) has had no incident commander for 5m: paging on-call" in t for t in announced)
    assert any("paging on-call" in t for t in h.fake.texts(ch))
    assert kinds(h).count("page_sent") == 1 and "pager_trigger" in kinds(h)
    clock.advance(minutes=30)
    run(h)
    assert len(pager.triggers()) == 1  # one page per incident
    h.command("ic <@U0BOB>", channel=ch)
    assert any("Page resolved: <@U0BOB> is incident commander" in t for t in h.fake.texts(ch))
    run(h)
    assert pager.alerts["firebreak-inc-1-ack"]["status"] == "resolved"
    assert pager.calls[-1].body["event_action"] == "resolve"
    assert "ROUTINGKEY" not in " ".join(h.fake.texts(ch))


def test_ic_assigned_in_time_means_no_page(paged: Harness, pager: FakePager, clock) -> None:
    h = paged
    h.command("open Agent emailing customers --sev 1")
    h.command("ic <@U0BOB>", channel=h.incident_channel(1))
    clock.advance(hours=1)
    run(h)
    assert pager.calls == [] and "page_sent" not in kinds(h)
    assert not any("paging on-call" in t for t in h.fake.texts("C0ANNOUNCE"))


def test_failing_pager_is_retried_with_backoff_and_reported(paged: Harness, pager: FakePager, clock) -> None:
    h = paged
    h.command("open Agent emailing customers --sev 1")
    ch = h.incident_channel(1)
    pager.fail_next(2, status=503)
    clock.advance(minutes=5)
    run(h)  # the page, and the pager event's three attempts (1 s, then 2 s apart)
    said = texts(h, ch)
    assert any("paging on-call" in t for t in said)  # the page went out in Slack regardless
    assert any("The pager trigger failed: the pager answered HTTP 503 (scripted failure). Retrying in 1s "
               "(attempt 1 of 3)" in t for t in said)
    assert any("Retrying in 2s (attempt 2 of 3)" in t for t in said)
    assert any("The pager accepted the trigger on attempt 3" in t for t in said)
    assert len(pager.triggers()) == 1 and len(pager.calls) == 3
    assert all(c.body["dedup_key"] == "firebreak-inc-1-ack" for c in pager.calls)  # one alert at the pager
    with h.ctx.db.session() as s:
        assert s.get(PageState, 1).pager_status == "triggered"
    assert kinds(h).count("pager_failed") == 2 and kinds(h).count("pager_trigger") == 1


def test_pager_gives_up_after_max_attempts_and_reminders_continue(paged: Harness, pager: FakePager, clock) -> None:
    h = paged
    h.command("open Agent emailing customers --sev 1")
    ch = h.incident_channel(1)
    pager.fail_next(10, status=500)
    clock.advance(minutes=5)
    run(h)
    assert len(pager.calls) == 3
    said = texts(h, ch)
    assert any("The pager trigger failed 3 times" in t and "Page the on-call by hand" in t for t in said)
    clock.advance(minutes=25)
    run(h)
    assert any(":hourglass:" in t for t in texts(h, ch))  # the status reminder at 30 min was not blocked
    assert len(pager.calls) == 3  # given up means given up
    with h.ctx.db.session() as s:
        assert s.get(PageState, 1).pager_status == "failed"


def test_unreachable_pager_is_reported_without_secrets(make_harness, write_yaml, clock) -> None:
    cfg = write_yaml("org.yml", {"scheduler": {"pager": {"kind": "pagerduty", "url": "http://127.0.0.1:9/v2/enqueue",
                                                          "max_attempts": 1, "timeout_seconds": 2}}})
    h = make_harness(config_file=cfg, pager_routing_key=SecretStr("SECRET-ROUTING-KEY"))
    h.command("open Agent emailing customers --sev 1")
    clock.advance(minutes=5)
    run(h)
    texts = " ".join(h.fake.texts(h.incident_channel(1)))
    assert "The pager trigger failed once (ConnectError reaching the pager); firebreak gave up" in texts
    assert "SECRET-ROUTING-KEY" not in texts


def test_webhook_pager_with_bearer_token(make_harness, write_yaml, pager: FakePager, clock) -> None:
    cfg = write_yaml("org.yml", {"scheduler": {"pager": {"kind": "webhook", "url": pager.webhook_url},
                                               "ack_page_after": {2: "10m"}}})
    h = make_harness(config_file=cfg, pager_webhook_token=SecretStr("hook-token-123"))
    h.command("open Filter regression --sev 2")
    clock.advance(minutes=10)
    run(h)
    [event] = pager.webhook_events
    assert event["event"] == "page" and event["incident"] == "INC-1" and event["severity"] == "SEV2"
    assert pager.calls[0].headers["authorization"] == "Bearer hook-token-123"
    h.command("resolve fixed", channel=h.incident_channel(1))
    run(h)
    assert [e["event"] for e in pager.webhook_events] == ["page", "resolve"]


def open_exercise(h: Harness) -> int:
    n, _, _ = open_and_provision(h.ctx, OpenRequest(title="Simulated jailbreak campaign", reporter_id="U0ALICE",
                                                    inputs=Inputs(category="jailbreak"), severity_override=1,
                                                    is_exercise=True))
    return n


def test_exercises_never_page_people_unless_the_scenario_opts_in(paged: Harness, pager: FakePager, clock) -> None:
    h = paged
    n = open_exercise(h)
    clock.advance(minutes=5)
    run(h)
    assert pager.calls == []
    assert not any("paging on-call" in t for t in h.fake.texts("C0ANNOUNCE"))
    texts = h.fake.texts(h.incident_channel(n))
    assert any(t.startswith("[EXERCISE]") and "the pager was not called" in t for t in texts)
    with h.ctx.db.session() as s:
        [event] = timeline.events(s, n, kinds=["page_sent"])
    assert event.data["simulated"] is True

    m = open_exercise(h)
    h.ctx.scheduler.allow_exercise_pages(m)  # what the tabletop feature calls
    clock.advance(minutes=5)
    run(h)
    assert [t["dedup_key"] for t in pager.triggers()] == [f"firebreak-inc-{m}-ack"]


def test_config_rejects_a_webhook_without_url(make_harness, write_yaml) -> None:
    from bot.core.errors import ConfigError

    cfg = write_yaml("org.yml", {"scheduler": {"pager": {"kind": "webhook"}}})
    with pytest.raises(ConfigError, match="pager.kind webhook needs pager.url"):
        make_harness(config_file=cfg)


def test_a_private_incident_is_paged_without_its_title_outside_its_channel(paged: Harness, pager: FakePager,
                                                                          clock) -> None:
    h = paged
    h.command("open Customer records of Jane Roe in answers --sev 1 --private")
    ch = h.incident_channel(1)
    clock.advance(minutes=5)
    run(h)
    [announced] = [t for t in texts(h, "C0ANNOUNCE") if ":pager:" in t]
    assert "A private SEV1 incident, INC-1, has had no incident commander for 5m: paging on-call" in announced
    assert "Jane Roe" not in " ".join(h.fake.texts("C0ANNOUNCE"))
    [trigger] = pager.triggers()
    assert "Jane Roe" not in str(trigger) and trigger["payload"]["custom_details"]["channel"] is None
    assert any("paging on-call" in t and "Jane Roe" in t for t in texts(h, ch))  # its own channel has it all
    assert findings(h) == []


def test_a_page_run_again_after_a_crash_pages_once(paged: Harness, pager: FakePager, clock) -> None:
    h = paged
    h.command("open Agent emailing customers --sev 1")
    ch = h.incident_channel(1)
    clock.advance(minutes=5)
    run(h)
    before = (texts(h, ch), texts(h, "C0ANNOUNCE"), len(pager.calls), kinds(h).count("page_sent"))
    paging.ack_page(h.ctx, incident_id=1)  # the job again, as after a crash before its ledger row was stamped
    h.wait()
    assert (texts(h, ch), texts(h, "C0ANNOUNCE"), len(pager.calls), kinds(h).count("page_sent")) == before
    assert sum("paging on-call" in t for t in texts(h, "C0ANNOUNCE")) == 1


def test_an_ic_assigned_while_the_pager_is_retrying_leaves_no_open_alert(paged: Harness, pager: FakePager,
                                                                         clock) -> None:
    h = paged
    h.command("open Agent emailing customers --sev 1")
    ch = h.incident_channel(1)
    pager.fail_next(1, status=503)
    clock.advance(minutes=5)
    DurableTimers.run_due(h.ctx.timers)  # the page, without waiting for the pager
    h.command("ic <@U0BOB>", channel=ch)  # waits for everything, the pager's retry and resolve included
    assert len(pager.triggers()) <= 1
    assert all(alert["status"] == "resolved" for alert in pager.alerts.values())
    with h.ctx.db.session() as s:
        assert s.get(PageState, 1).pager_status in ("cancelled", "resolved")
    assert any("Page resolved: <@U0BOB> is incident commander" in t for t in h.fake.texts(ch))


def test_a_pager_that_echoes_the_routing_key_back_never_shows_it(paged: Harness, pager: FakePager, clock,
                                                                 caplog) -> None:
    """A gateway answering an error with the request in it (routing key included): the failure is reported
    everywhere people read it, the key nowhere: channel, announcements, timeline, postmortem draft, log."""
    caplog.set_level(logging.DEBUG)
    h = paged
    pager.echo_next(3)
    h.command("open Agent emailing customers --sev 1")
    for _ in range(4):
        clock.advance(minutes=5)
        run(h)
    assert any(c.status == 400 for c in pager.calls)
    seen = json.dumps([c.params for c in h.fake.calls], default=str, ensure_ascii=False)
    assert "pager trigger failed" in seen  # the failure is told
    with h.ctx.db.session() as s:
        timeline_text = " ".join(f"{e.text} {e.data}" for e in timeline.events(s, 1))
    draft = h.command("postmortem", channel=h.incident_channel(1)).text
    files = json.dumps(list(h.fake.files.values()), default=str)
    for where, text in (("Slack", seen), ("timeline", timeline_text), ("postmortem", draft + files),
                        ("log", caplog.text)):
        assert ROUTING_KEY not in text, where
