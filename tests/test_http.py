"""HTTP mode: /healthz, signed requests to /slack/events, and refusal of bad or stale signatures."""

from __future__ import annotations

import time

import httpx
import pytest

from bot.server.http import HttpServer
from bot.slack.harness import Harness
from tests.helpers import counts


@pytest.fixture
def served(harness: Harness):
    server = HttpServer(harness.bot, host="127.0.0.1", port=0, threads=4)
    server.start_background()
    for _ in range(100):
        try:
            if httpx.get(server.url + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.02)
    yield harness, server
    server.close()


def test_healthz_and_signed_command_over_http(served) -> None:
    h, server = served
    assert httpx.get(server.url + "/healthz").json() == {"ok": True}
    assert httpx.get(server.url + "/nope").status_code == 404
    body, _ = h.command_body("open Jailbreak over HTTP --category jailbreak --exposure public --ongoing")
    headers = h.sign(body, "application/x-www-form-urlencoded")
    resp = httpx.post(server.url + "/slack/events", content=body, headers=headers)
    assert resp.status_code == 200
    h.wait()
    assert counts(h)[0] == 1
    assert any("Opened *INC-1* — SEV1" in r.get("text", "") for r in h.fake.responses)


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
