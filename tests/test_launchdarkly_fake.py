"""The fake LaunchDarkly itself: semantic-patch checks, and an SSE stream the real SDK understands."""

from __future__ import annotations

import http.client
import json
import time

import httpx
import pytest
from ldclient import Config, Context, LDClient

from bot.fakes.launchdarkly import FakeLaunchDarkly

CT = "application/json; domain-model=launchdarkly.semanticpatch"


@pytest.fixture
def fake():
    f = FakeLaunchDarkly().start()
    f.add_flag("agent-browsing")
    yield f
    f.stop()


def patch(fake: FakeLaunchDarkly, body: dict, *, token: str | None = None, ctype: str = CT,
          flag: str = "agent-browsing") -> httpx.Response:
    return httpx.patch(f"{fake.url}/api/v2/flags/default/{flag}", json=body,
                       headers={"Authorization": token or fake.api_token, "Content-Type": ctype})


def test_patch_checks_token_content_type_and_flag(fake) -> None:
    body = {"environmentKey": "production", "instructions": [{"kind": "turnFlagOff"}]}
    assert patch(fake, body, token="wrong").status_code == 401
    assert patch(fake, body, ctype="application/json").status_code == 400
    assert patch(fake, body, flag="nope").status_code == 404
    assert patch(fake, {"environmentKey": "production", "instructions": [{"kind": "explode"}]}).status_code == 400
    # An environment that is not a name (a list, an object) is an unknown environment, not a crash.
    for env in (["production"], {"key": "production"}, 7):
        assert patch(fake, {"environmentKey": env, "instructions": [{"kind": "turnFlagOff"}]}).status_code == 400
    assert fake.patches == [] and fake.env("agent-browsing")["version"] == 1
    resp = patch(fake, {**body, "comment": "INC-1"})
    assert resp.status_code == 200 and resp.json()["environments"]["production"]["on"] is False
    assert fake.env("agent-browsing")["version"] == 2
    assert fake.patches == [{"project": "default", "flag": "agent-browsing", "environment": "production",
                             "instructions": [{"kind": "turnFlagOff"}], "comment": "INC-1"}]
    # Only the PATCH that changed the flag is timed (the bench reads these); it is recorded after answering.
    until(lambda: fake.patch_times)
    [timed] = fake.patch_times
    assert (timed["flag"], timed["environment"], timed["version"]) == ("agent-browsing", "production", 2)
    assert timed["received_at"] <= timed["answered_at"]


def until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.005)


def test_stream_is_chunked_sse_put_then_patch(fake) -> None:
    host, port = fake.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    conn.request("GET", "/all", headers={"Authorization": fake.sdk_key("production")})
    resp = conn.getresponse()
    assert resp.status == 200 and resp.getheader("Transfer-Encoding") == "chunked"
    assert resp.getheader("Content-Type") == "text/event-stream"

    def next_event() -> tuple[str, dict]:
        lines: list[str] = []
        while True:
            line = resp.readline().decode()
            if line == "\n" and lines:
                break
            if line.strip() and not line.startswith(":"):
                lines.append(line.strip())
        event = lines[0].removeprefix("event: ")
        return event, json.loads(lines[1].removeprefix("data: "))

    event, data = next_event()
    assert event == "put" and data["data"]["flags"]["agent-browsing"]["on"] is True
    patch(fake, {"environmentKey": "production", "instructions": [{"kind": "turnFlagOff"}]})
    event, data = next_event()
    assert event == "patch" and data["path"] == "/flags/agent-browsing"
    assert data["data"]["on"] is False and data["data"]["version"] == 2
    until(lambda: fake.stream_pushes)
    assert [(p["flag"], p["environment"], p["version"]) for p in fake.stream_pushes] == [
        ("agent-browsing", "production", 2)]
    conn.close()


def test_the_real_sdk_sees_the_kill(fake) -> None:
    config = Config(sdk_key=fake.sdk_key("production"), base_uri=fake.url, stream_uri=fake.url,
                    events_uri=fake.url, send_events=False, diagnostic_opt_out=True)
    client = LDClient(config=config, start_wait=5)
    try:
        assert client.is_initialized()
        user = Context.create("someone")
        assert client.variation("agent-browsing", user, None) is True
        patch(fake, {"environmentKey": "production", "instructions": [{"kind": "turnFlagOff"}]})
        deadline = time.monotonic() + 5
        while client.variation("agent-browsing", user, None) is not False and time.monotonic() < deadline:
            time.sleep(0.02)
        detail = client.variation_detail("agent-browsing", user, None)
        assert detail.value is False and detail.reason["kind"] == "OFF"
    finally:
        client.close()
