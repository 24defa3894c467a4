"""Durable and exactly-once: two processes working the same stored storm on one database (SQLite and
PostgreSQL) declare one incident and process every alert once; a declare cut short by a crash is finished by
the next run, without a second incident."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func
from sqlmodel import select

from bot.alerts import formats
from bot.config.settings import Settings
from bot.slack.harness import Harness
from bot.store.models import Incident, TimelineEvent
from bot.store.models.alerts import Alert, AlertGroup
from tests.test_alerts_support import BEARER_SECRET, HMAC_SECRET, detector_alert
from tests.test_alerts_support import alerts_file as make_file


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv("TEST_ALERT_HMAC", HMAC_SECRET)
    monkeypatch.setenv("TEST_ALERT_BEARER", BEARER_SECRET)


def incoming(h, payloads):
    source = h.ctx.alerts.alert_rules.sources["guardrail"]
    return [a for p in payloads for a in formats.parse(source, p, h.ctx.rules)]


def test_two_processes_declare_one_incident_for_one_group(env, make_harness, write_yaml, db_url, clock, request):
    path = write_yaml("alerts.yml", make_file())
    one = make_harness(database_url=db_url, alerts_file=path)
    two = Harness(Settings(database_url=db_url, alerts_file=path), clock=clock, fake=one.fake)  # the same Slack
    request.addfinalizer(two.close)
    at = clock.now() - timedelta(minutes=4)
    alerts = incoming(one, [detector_alert(at - timedelta(seconds=i), dedup_key=f"k{i}") for i in range(40)])
    one.ctx.alerts.intake.store("guardrail", alerts[:20])
    two.ctx.alerts.intake.store("guardrail", alerts[20:])
    barrier = threading.Barrier(2)
    done: list[int] = []

    def work(h):
        barrier.wait()
        done.append(h.ctx.alerts.process_pending())

    threads = [threading.Thread(target=work, args=(h,)) for h in (one, two)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    one.wait()
    two.wait()
    with one.ctx.db.session() as s:
        incidents = list(s.exec(select(Incident)))
        group = s.exec(select(AlertGroup)).one()
        attached = s.exec(select(func.count()).select_from(Alert).where(Alert.incident_id == group.incident_id)).one()
        unprocessed = s.exec(select(func.count()).select_from(Alert).where(Alert.processed == False)).one()  # noqa: E712
        events = list(s.exec(select(TimelineEvent).where(TimelineEvent.kind.in_(("alert_attached", "alerts_attached")))))
    assert len(incidents) == 1 and group.incident_id == incidents[0].id
    assert sum(done) == 40 and group.alert_count == 40 and attached == 40 and unprocessed == 0
    ids = [i for e in events for i in (e.data.get("alert_ids") or [e.data.get("alert_id")])]
    assert sorted(ids) == sorted(set(ids)) and len(ids) == 40  # each alert attached exactly once
    assert incidents[0].detected_at == at - timedelta(seconds=39)  # the group's first signal


def test_a_declare_cut_short_is_finished_once_by_the_next_run(env, make_harness, write_yaml, clock):
    h = make_harness(alerts_file=write_yaml("alerts.yml", make_file()))
    svc = h.ctx.alerts
    opener = svc.opener
    calls = []

    def crashing(req):
        calls.append(req)
        opener(req)  # the incident is opened and committed ...
        raise SystemExit  # ... and the process dies before the group learns it

    svc.opener = crashing
    svc.intake.store("guardrail", incoming(h, [detector_alert(clock.now())]))
    with pytest.raises(SystemExit):
        svc.process_pending()
    svc.opener = opener
    h.wait()
    clock.advance(minutes=3)  # the claim runs out
    svc.process_pending()
    h.wait()
    with h.ctx.db.session() as s:
        assert s.exec(select(func.count()).select_from(Incident)).one() == 1
        group = s.exec(select(AlertGroup)).one()
        assert group.state == "incident" and group.incident_id == 1
        assert s.exec(select(Alert)).one().incident_id == 1


def test_an_accepted_alert_is_stored_before_the_answer_and_processed_after_a_restart(env, make_harness, write_yaml,
                                                                                     clock, sqlite_url):
    path = write_yaml("alerts.yml", make_file())
    first = make_harness(alerts_file=path)
    first.ctx.alerts.intake.store("guardrail", incoming(first, [detector_alert(clock.now())]))  # answered, then ...
    first.close()  # ... the process stops before the lane ran
    second = make_harness(alerts_file=path, database_url=sqlite_url)
    second.ctx.alerts.process_pending()
    second.wait()
    with second.ctx.db.session() as s:
        assert s.exec(select(func.count()).select_from(Incident)).one() == 1


def test_an_exercise_inject_goes_through_the_same_intake_and_stays_apart_from_real_alerts(env, make_harness,
                                                                                           write_yaml, clock):
    h = make_harness(alerts_file=write_yaml("alerts.yml", make_file()))
    at = clock.now() - timedelta(minutes=2)
    assert h.ctx.alerts.inject("guardrail", detector_alert(at)) == 1
    h.wait()
    h.ctx.alerts.intake.store("guardrail", incoming(h, [detector_alert(at)]), exercise=False)
    h.ctx.alerts.process_pending()
    h.wait()
    with h.ctx.db.session() as s:
        incidents = list(s.exec(select(Incident).order_by(Incident.id)))
        alerts = list(s.exec(select(Alert).order_by(Alert.id)))
    assert [i.is_exercise for i in incidents] == [True, False]  # the same alert twice: an exercise and a real one
    assert [a.exercise for a in alerts] == [True, False] and alerts[0].incident_id == incidents[0].id
    channel = incidents[0].channel_id
    assert all(m.text.startswith("[EXERCISE]") for m in h.fake.history(channel) if m.user != "U0ALICE")


def test_the_same_alert_delivered_to_two_processes_at_once_is_stored_once(env, make_harness, write_yaml, db_url,
                                                                          clock, request):
    path = write_yaml("alerts.yml", make_file())
    one = make_harness(database_url=db_url, alerts_file=path)
    two = Harness(Settings(database_url=db_url, alerts_file=path), clock=clock, fake=one.fake)
    request.addfinalizer(two.close)
    results: list[tuple[int, int]] = []
    for round_ in range(5):
        batch = [detector_alert(clock.now(), dedup_key=f"race-{round_}-{i}") for i in range(20)]
        barrier = threading.Barrier(2)

        def work(h, batch=batch, barrier=barrier):
            alerts = incoming(h, batch)
            barrier.wait()
            results.append(h.ctx.alerts.intake.store("guardrail", alerts))

        threads = [threading.Thread(target=work, args=(h,)) for h in (one, two)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    with one.ctx.db.session() as s:
        assert s.exec(select(func.count()).select_from(Alert)).one() == 100
        assert s.exec(select(func.max(Alert.count))).one() == 1
    assert sum(stored for stored, _ in results) == 100 and sum(same for _, same in results) == 100
