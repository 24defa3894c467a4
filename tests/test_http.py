"""HTTP mode: readiness and liveness, signed requests to /slack/events, refusal of bad or stale signatures,
and of requests from another workspace or app (the installation guard), with nothing written."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import select

from bot.server.health import Readiness
from bot.server.http import HttpServer
from bot.slack import guard
from bot.slack.guard import NOT_INSTALLED, Installation
from bot.slack.harness import APP_ID, TEAM, Harness
from bot.store.models import ProcessedRequest
from tests.helpers import counts

HERE = Installation(team_ids=frozenset({TEAM}), enterprise_ids=frozenset(), app_id=APP_ID)


def start(h: Harness, readiness: Readiness | None = None) -> HttpServer:
    server = HttpServer(h.bot, host="127.0.0.1", port=0, threads=4, readiness=readiness)
    server.start_background()
    for _ in range(200):
        try:
            httpx.get(server.url + "/livez", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.02)
    return server


@pytest.fixture
def served(harness: Harness):
    server = start(harness)
    yield harness, server
    server.close()


def processed(h: Harness) -> int:
    with h.ctx.db.session() as s:
        return s.exec(select(func.count()).select_from(ProcessedRequest)).one()


def test_healthz_and_signed_command_over_http(served) -> None:
    h, server = served
    assert httpx.get(server.url + "/healthz").json() == {"ok": True, "checks": {"serving": "ok"}}
    assert httpx.get(server.url + "/livez").json() == {"ok": True}
    assert httpx.get(server.url + "/nope").status_code == 404
    body, _ = h.command_body("open Jailbreak over HTTP --category jailbreak --exposure public --ongoing")
    headers = h.sign(body, "application/x-www-form-urlencoded")
    resp = httpx.post(server.url + "/slack/events", content=body, headers=headers)
    assert resp.status_code == 200
    h.wait()
    assert counts(h)[0] == 1
    assert any("Opened *INC-1* — SEV1" in r.get("text", "") for r in h.fake.responses)


def test_readiness_is_503_saying_why_until_slack_confirmed_the_token(harness: Harness) -> None:
    readiness = Readiness()
    readiness.set("slack", "auth.test failed (invalid_auth)")
    server = start(harness, readiness)
    try:
        resp = httpx.get(server.url + "/healthz")
        assert resp.status_code == 503
        assert resp.json() == {"ok": False, "checks": {"slack": "auth.test failed (invalid_auth)", "serving": "ok"}}
        assert httpx.get(server.url + "/livez").status_code == 200  # alive, just not ready
        readiness.set("slack", None)
        assert httpx.get(server.url + "/healthz").status_code == 200
    finally:
        server.close()


def test_before_the_installation_is_known_every_request_is_refused(served) -> None:
    h, server = served
    guard.of(h.bot.app).require()  # what `serve` does before auth.test answers
    body, _ = h.command_body("open Too early --category other")
    resp = httpx.post(server.url + "/slack/events", content=body,
                      headers=h.sign(body, "application/x-www-form-urlencoded"))
    assert resp.status_code == 503
    h.wait()
    assert counts(h) == (0, 0, 0) and processed(h) == 0


@pytest.mark.parametrize("field, value", [("team_id", "T0ELSEWHERE"), ("api_app_id", "A0OTHERAPP"),
                                          ("api_app_id", None)])
def test_a_command_from_another_workspace_or_app_is_refused_with_nothing_written(served, field, value) -> None:
    h, server = served
    guard.of(h.bot.app).expect(HERE)
    body, _ = h.command_body("open Forged from elsewhere --category jailbreak --exposure public --ongoing")
    form = dict(pair.split("=", 1) for pair in body.split("&"))
    if value is None:
        form.pop(field)
    else:
        form[field] = value
    body = "&".join(f"{k}={v}" for k, v in form.items())
    resp = httpx.post(server.url + "/slack/events", content=body,
                      headers=h.sign(body, "application/x-www-form-urlencoded"))
    assert resp.status_code == 200 and resp.text == NOT_INSTALLED
    h.wait()
    assert counts(h) == (0, 0, 0)
    assert processed(h) == 0  # refused before the duplicate-request record
    assert h.fake.calls == [] or all(c.method == "auth.test" for c in h.fake.calls)


def test_an_event_or_button_from_another_workspace_runs_no_handler(served) -> None:
    h, server = served
    guard.of(h.bot.app).expect(HERE)
    event = json.dumps({"token": "legacy-unused", "team_id": "T0ELSEWHERE", "api_app_id": APP_ID,
                        "type": "event_callback", "event_id": "Ev0FOREIGN1", "event_time": int(time.time()),
                        "event": {"type": "app_home_opened", "user": "U0ALICE", "tab": "home"}})
    resp = httpx.post(server.url + "/slack/events", content=event, headers=h.sign(event, "application/json"))
    assert resp.status_code == 200 and resp.text == ""
    button = urlencode({"payload": json.dumps({
        "type": "block_actions", "team": {"id": "T0ELSEWHERE"}, "api_app_id": APP_ID, "token": "legacy-unused",
        "user": {"id": "U0ALICE"}, "trigger_id": "1.2", "response_url": h.fake.response_url("b"),
        "actions": [{"type": "button", "action_id": "firebreak_anything", "value": "1", "block_id": "b"}]})})
    resp = httpx.post(server.url + "/slack/events", content=button,
                      headers=h.sign(button, "application/x-www-form-urlencoded"))
    assert resp.status_code == 200 and resp.text == NOT_INSTALLED
    h.wait()
    assert h.fake.home_views == {} and processed(h) == 0
    assert not [c for c in h.fake.calls if c.method not in ("auth.test",)]


def test_the_installations_own_requests_still_pass_the_guard(served) -> None:
    h, server = served
    guard.of(h.bot.app).expect(HERE)
    body, _ = h.command_body("open Ours --category jailbreak --exposure public --ongoing")
    resp = httpx.post(server.url + "/slack/events", content=body,
                      headers=h.sign(body, "application/x-www-form-urlencoded"))
    assert resp.status_code == 200
    h.wait()
    assert counts(h)[0] == 1


@pytest.mark.parametrize("problem", ["bad", "missing", "stale"])
def test_bad_missing_or_stale_signatures_get_401_and_run_nothing(served, problem: str) -> None:
    h, server = served
    body, _ = h.command_body("open Should never open --category other")
    ctype = "application/x-www-form-urlencoded"
    if problem == "bad":
        headers = h.sign(body, ctype)
        headers["x-slack-signature"] = "v0=" + "0" * 64
    elif problem == "missing":
        headers = {"content-type": ctype}
    else:
        headers = h.sign(body, ctype, timestamp=int(time.time()) - 6 * 60)
    resp = httpx.post(server.url + "/slack/events", content=body, headers=headers)
    assert resp.status_code == 401
    h.wait()
    assert counts(h) == (0, 0, 0)
    assert not h.fake.calls_to("conversations.create")


def test_command_text_containing_payload_is_handled_over_http(served) -> None:
    # Bolt's own form parser drops any body containing "payload"; firebreak's adapter must not.
    h, server = served
    body, _ = h.command_body("open Exfiltration payloads hidden in retrieved pages --category prompt_injection")
    resp = httpx.post(server.url + "/slack/events", content=body,
                      headers=h.sign(body, "application/x-www-form-urlencoded"))
    assert resp.status_code == 200
    h.wait()
    assert counts(h)[0] == 1
    assert any("Opened *INC-1*" in r.get("text", "") for r in h.fake.responses)
