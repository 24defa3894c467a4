"""Socket Mode against the stand-in (bot/fakes/socket_mode.py): every fault Slack's servers produce.

The bounds asserted are the protocol's, read from the stand-in's own timestamps (delivery -> ack, fault ->
the next `hello`), with margins: the targets (docs/socket-mode.md) are tighter than what is asserted here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from urllib.parse import parse_qsl

import pytest
from slack_sdk import WebClient
from sqlalchemy import func
from sqlmodel import select

from bot.fakes.socket_mode import FakeSocketMode
from bot.server.runtime import socket_problem
from bot.server.socket_mode import OpenError, SocketModeOptions, SocketModeRunner
from bot.slack import guard
from bot.slack.guard import NOT_INSTALLED, Installation
from bot.slack.harness import APP_ID, TEAM, Harness
from bot.store.models import ProcessedRequest
from tests.helpers import counts

APP_TOKEN = "xapp-1-A0FIREBRK-1-tests"
ACK_BOUND = 1.0  # seconds; the target is < 0.1 s, Slack's deadline 3 s
BACK_BOUND = 2.0  # seconds from a dropped connection to the next hello
DEAD_BOUND = 10.0  # seconds from a silent path to the next hello


class Rig:
    """The bot (a Harness), the Socket Mode stand-in in front of its fake Slack, and the runner between."""

    def __init__(self, h: Harness, options: SocketModeOptions | None = None) -> None:
        self.h = h
        self.sm = FakeSocketMode(h.fake, app_token=APP_TOKEN).start()
        self.runner = SocketModeRunner(h.bot.app, APP_TOKEN, web_client=WebClient(base_url=self.sm.api_url),
                                       options=options)

    def connect(self):
        self.runner.start()
        self.runner.wait_connected(10)
        return self.sm.wait_ready()

    def command(self, text: str, *, link=None, envelope_id: str | None = None, **fields: str) -> str:
        body, _ = self.h.command_body(text)
        payload = dict(parse_qsl(body, keep_blank_values=True)) | fields
        return self.sm.deliver("slash_commands", payload, link=link, envelope_id=envelope_id)

    def close(self) -> None:
        self.runner.close()
        self.sm.stop()


@pytest.fixture
def rig(harness: Harness) -> Iterator[Rig]:
    r = Rig(harness)
    yield r
    r.close()


def incidents(h: Harness) -> int:
    return counts(h)[0]


def test_commands_buttons_and_events_work_and_are_acked_on_their_connection(rig: Rig) -> None:
    link = rig.connect()
    eid = rig.command("open Jailbreak over a socket --category jailbreak --exposure public --ongoing")
    ack = rig.sm.wait_ack(eid)
    assert ack.link == link.id and rig.sm.ack_latency(eid) < ACK_BOUND
    rig.h.wait()
    assert incidents(rig.h) == 1
    assert any("Opened *INC-1*" in t for t in rig.h.fake.response_texts())
    event = rig.sm.deliver("events_api", {"token": "x", "team_id": TEAM, "api_app_id": APP_ID, "type": "event_callback",
                                          "event_id": "Ev0HOME0001", "event_time": int(time.time()),
                                          "event": {"type": "app_home_opened", "user": "U0ALICE", "tab": "home"}})
    assert rig.sm.wait_ack(event).link == link.id
    rig.h.wait()
    assert "U0ALICE" in rig.h.fake.home_views
    status = rig.runner.status()
    assert status.connected and status.app_id == APP_ID and socket_problem(status) is None


@pytest.mark.parametrize("reason", ["refresh_requested", "warning"])
def test_refresh_request_keeps_the_old_socket_and_acks_on_it_at_once(rig: Rig, reason: str) -> None:
    old = rig.connect()
    opens = len(rig.sm.opens)
    rig.sm.disconnect(reason, link=old)  # Slack leaves the old socket open for a while
    eid = rig.command("status", link=old)
    ack = rig.sm.wait_ack(eid)
    assert ack.link == old.id  # acked on the socket that delivered it
    assert rig.sm.ack_latency(eid) < ACK_BOUND
    new = rig.sm.wait_ready(exclude=old, timeout=5)
    assert old.open  # opened the new one first; the old one is Slack's to close
    eid = rig.command("status", link=new)
    assert rig.sm.wait_ack(eid).link == new.id
    rig.sm.close(old)
    rig.sm.wait_for(lambda: not old.open)
    assert old.ended_by == "server_close"  # the client answered the close frame
    time.sleep(0.3)
    assert len(rig.sm.opens) == opens + 1 and rig.runner.status().connected
    assert rig.runner.status().reconnects == 0  # never down


@pytest.mark.parametrize("fault", ["close", "drop", "reset"])
def test_back_within_two_seconds_after_a_close_frame_a_close_without_frame_or_a_reset(rig: Rig, fault: str) -> None:
    old = rig.connect()
    t0 = time.monotonic()
    getattr(rig.sm, fault)(old)
    new = rig.sm.wait_ready(exclude=old, after=t0, timeout=10)
    assert new.hello_at - t0 < BACK_BOUND
    assert old.ended_by == {"close": "server_close", "drop": "drop", "reset": "reset"}[fault]
    eid = rig.command("status", link=new)
    assert rig.sm.wait_ack(eid).link == new.id
    assert rig.runner.status().connected


def test_a_silent_path_is_noticed_by_ping_and_replaced_within_ten_seconds(rig: Rig) -> None:
    old = rig.connect()
    t0 = time.monotonic()
    rig.sm.silence(old)  # TCP stays open; no pongs, no messages
    new = rig.sm.wait_ready(exclude=old, after=t0, timeout=20)
    assert new.hello_at - t0 < DEAD_BOUND
    assert old.pings >= 1 and old.pongs == 0
    eid = rig.command("status", link=new)
    assert rig.sm.wait_ack(eid).link == new.id


def test_failing_connections_open_backs_off_exponentially_without_spinning(harness: Harness) -> None:
    rig = Rig(harness, SocketModeOptions(stable_seconds=0.0))
    try:
        old = rig.connect()
        rig.sm.fail_open(3, status=500)
        before = len(rig.sm.opens)
        t0, cpu0 = time.monotonic(), time.process_time()
        rig.sm.drop(old)
        assert rig.sm.wait_for(lambda: not rig.runner.status().connected, timeout=5)
        status = rig.runner.status()
        assert status.state == "reconnecting" and "connection" in (socket_problem(status) or "")
        new = rig.sm.wait_ready(exclude=old, after=t0, timeout=20)
        rig.sm.wait_for(lambda: rig.runner.status().connected)
        wall, cpu = time.monotonic() - t0, time.process_time() - cpu0
        calls = rig.sm.opens[before:]
        assert [c.ok for c in calls] == [False, False, False, True]
        gaps = [b.at - a.at for a, b in zip(calls, calls[1:], strict=False)]
        # Each wait is at least half of 0.5 s, 1 s, 2 s (the jitter takes up to the other half).
        for gap, ceiling in zip(gaps, (0.5, 1.0, 2.0), strict=True):
            assert gap >= ceiling / 2 - 0.05
        assert cpu < 0.25 * wall  # asleep while disconnected, not polling
        assert new.hello_at is not None and rig.runner.status().reconnects == 1
    finally:
        rig.close()


def test_a_duplicate_envelope_is_dispatched_once_and_its_ack_repeated(rig: Rig) -> None:
    link = rig.connect()
    eid = rig.command("open Duplicate delivery --category jailbreak --exposure public --ongoing")
    first = rig.sm.wait_ack(eid)
    rig.h.wait()
    again = rig.command("open Duplicate delivery --category jailbreak --exposure public --ongoing",
                        envelope_id=eid)
    assert again == eid
    rig.sm.wait_for(lambda: len(rig.sm.acks_for(eid)) == 2)
    rig.h.wait()
    assert incidents(rig.h) == 1
    second = rig.sm.acks_for(eid)[1]
    assert second.link == link.id and second.payload == first.payload


def test_a_duplicate_on_the_new_socket_during_a_refresh_is_not_run_twice(rig: Rig) -> None:
    old = rig.connect()
    rig.sm.disconnect("refresh_requested", link=old)
    new = rig.sm.wait_ready(exclude=old, timeout=5)
    eid = rig.command("open Seen twice --category jailbreak --exposure public --ongoing", link=old)
    rig.command("open Seen twice --category jailbreak --exposure public --ongoing", link=new, envelope_id=eid)
    rig.sm.wait_for(lambda: {a.link for a in rig.sm.acks_for(eid)} == {old.id, new.id})
    rig.h.wait()
    assert incidents(rig.h) == 1


def test_link_disabled_is_reported_and_not_retried_in_a_loop(rig: Rig) -> None:
    old = rig.connect()
    opens = len(rig.sm.opens)
    rig.sm.disconnect("link_disabled", link=old)
    rig.sm.wait_for(lambda: not old.open)
    problem = rig.sm.wait_for(lambda: socket_problem(rig.runner.status()))
    assert "link_disabled" in problem
    time.sleep(1.0)
    assert len(rig.sm.opens) == opens  # waits on the slow end of the backoff (8-16 s)


def test_a_request_from_another_workspace_over_socket_mode_is_refused_with_nothing_written(rig: Rig) -> None:
    guard.of(rig.h.bot.app).expect(Installation(team_ids=frozenset({TEAM}), enterprise_ids=frozenset(),
                                                app_id=APP_ID))
    rig.connect()
    eid = rig.command("open Forged --category jailbreak --exposure public --ongoing", team_id="T0ELSEWHERE")
    assert rig.sm.wait_ack(eid).payload == {"text": NOT_INSTALLED}
    other_app = rig.command("open Forged --category jailbreak", api_app_id="A0OTHERAPP")
    assert rig.sm.wait_ack(other_app).payload == {"text": NOT_INSTALLED}
    rig.h.wait()
    with rig.h.ctx.db.session() as s:
        assert s.exec(select(func.count()).select_from(ProcessedRequest)).one() == 0
    assert counts(rig.h) == (0, 0, 0)
    assert not [c for c in rig.h.fake.calls if c.method != "auth.test"]
    ours = rig.command("open Ours --category jailbreak --exposure public --ongoing")
    rig.sm.wait_ack(ours)
    rig.h.wait()
    assert incidents(rig.h) == 1


def test_a_wrong_app_token_is_a_token_error_at_once(harness: Harness) -> None:
    sm = FakeSocketMode(harness.fake, app_token=APP_TOKEN).start()
    runner = SocketModeRunner(harness.bot.app, "xapp-1-A0FIREBRK-1-wrong", web_client=WebClient(base_url=sm.api_url))
    try:
        runner.start()
        with pytest.raises(OpenError) as err:
            runner.wait_connected(10)
        assert err.value.token and "invalid_auth" in err.value.error
        assert not runner.status().connected
    finally:
        runner.close()
        sm.stop()


def test_the_stand_in_enforces_the_protocol(harness: Harness) -> None:
    """What the stand-in refuses, so a client kinder to it than Slack would be cannot pass by luck."""
    import httpx
    import websocket

    sm = FakeSocketMode(harness.fake, app_token=APP_TOKEN).start()
    try:
        url = sm.api_url + "apps.connections.open"
        assert httpx.post(url, data={"token": APP_TOKEN}).json()["error"] == "not_authed"  # header only
        assert httpx.post(url, headers={"Authorization": f"Bearer {harness.fake.token}"}).json()["error"] \
            == "not_allowed_token_type"
        ws_url = httpx.post(url, headers={"Authorization": f"Bearer {APP_TOKEN}"}).json()["url"]
        ws = websocket.create_connection(ws_url, timeout=5)
        assert '"hello"' in ws.recv()
        with pytest.raises(websocket.WebSocketBadStatusException):
            websocket.create_connection(ws_url, timeout=5)  # a ticket is good once
        first = sm.deliver("events_api", {"type": "event_callback", "event_id": "Ev0RETRY01"})
        assert json.loads(ws.recv())["retry_attempt"] == 0
        retry = json.loads(ws.recv())  # not acked within 3 s: Slack delivers it again
        assert retry["envelope_id"] != first and retry["retry_attempt"] == 1 and retry["retry_reason"] == "timeout"
        assert retry["payload"]["event_id"] == "Ev0RETRY01"
        ws.close()
    finally:
        sm.stop()


def test_the_memory_of_envelope_ids_is_bounded(harness: Harness) -> None:
    rig = Rig(harness, SocketModeOptions(remember_envelopes=2))
    try:
        rig.connect()
        ids = [rig.command("status") for _ in range(3)]
        for eid in ids:
            rig.sm.wait_ack(eid)
        rig.h.wait()
        asked = len(rig.h.fake.calls_to("response_url"))
        rig.command("status", envelope_id=ids[-1])  # remembered: not run again, ack repeated
        rig.sm.wait_for(lambda: len(rig.sm.acks_for(ids[-1])) == 2)
        rig.h.wait()
        assert len(rig.h.fake.calls_to("response_url")) == asked
        rig.command("status", envelope_id=ids[0])  # forgotten (only the last two are kept): runs again
        rig.sm.wait_for(lambda: len(rig.sm.acks_for(ids[0])) == 2)
        rig.h.wait()
        assert len(rig.h.fake.calls_to("response_url")) == asked + 1
    finally:
        rig.close()
