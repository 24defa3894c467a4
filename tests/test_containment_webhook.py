"""Webhook levers against a local HTTP service: templated body, secrets from the environment, verify, revert."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bot.core import timeline
from bot.store.models import ContainmentAction, Incident
from tests.containment_support import fast_retries, open_incident

SECRET = "tool-service-secret-5e3f9a"


class ToolService:
    """A tool-permission service: PUT sets `enabled`, GET reports it. Records what it was sent."""

    def __init__(self) -> None:
        self.enabled = True
        self.received: list[dict] = []
        self.fail: list[int] = []
        svc = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_a):
                pass

            def _answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):  # noqa: N802
                self._answer(200, {"tool": {"enabled": svc.enabled}})

            def do_PUT(self):  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                svc.received.append({"path": self.path, "auth": self.headers.get("Authorization"),
                                     "body": json.loads(raw)})
                if svc.fail:
                    return self._answer(svc.fail.pop(0), {"message": "busy"})
                svc.enabled = json.loads(raw)["enabled"]
                self._answer(204 if not svc.enabled else 200, {})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def tool():
    t = ToolService()
    yield t
    t.stop()


def levers(url: str) -> dict:
    auth = {"Authorization": "Bearer {{ secret('TOOL_TOKEN') }}"}
    return {"levers": [{
        "name": "revoke-code-exec", "type": "webhook", "confirm": False, "on_resolve": "revert",
        "target": {"url": url + "/permissions/code-exec", "method": "PUT", "headers": auth,
                   "body": {"enabled": False, "reason": "{{ incident.ref }} {{ incident.sev }}: {{ reason }}"},
                   "expect": [204],
                   "revert": {"method": "PUT", "headers": auth, "body": {"enabled": True}, "expect": [200]},
                   "verify": {"url": url + "/permissions/code-exec", "field": "tool.enabled", "equals": False}}}]}


def test_webhook_lever_applies_verifies_and_reverts(make_harness, write_yaml, tool, monkeypatch, clock) -> None:
    monkeypatch.setenv("TOOL_TOKEN", SECRET)
    h = make_harness(levers_file=write_yaml("levers.yml", levers(tool.url)))
    fast_retries(h)
    channel = open_incident(h)
    clock.advance(minutes=2)
    tool.fail = [503]
    h.command("contain revoke-code-exec model runs shell", channel=channel)
    assert tool.enabled is False and len(tool.received) == 2  # one 503, one success
    sent = tool.received[-1]
    assert sent["auth"] == f"Bearer {SECRET}"
    with h.ctx.db.session() as s:
        sev = s.get(Incident, 1).sev
    assert sent["body"] == {"enabled": False, "reason": f"INC-1 {sev}: model runs shell"}
    with h.ctx.db.session() as s:
        row = s.query(ContainmentAction).one()
        assert row.outcome == "verified" and row.attempts == 2
        assert s.get(Incident, 1).contained_at is not None
    assert "MTTC: 2m" in h.summary(1)
    h.command("resolve fixed", channel=channel)  # on_resolve: revert
    assert tool.enabled is True and tool.received[-1]["body"] == {"enabled": True}
    slack = repr([c.params for c in h.fake.calls])
    with h.ctx.db.session() as s:
        stored = repr([(e.text, e.data) for e in timeline.events(s, 1)])
    assert SECRET not in slack and SECRET not in stored


def test_webhook_unexpected_status_fails_without_containing(make_harness, write_yaml, tool, monkeypatch) -> None:
    monkeypatch.setenv("TOOL_TOKEN", SECRET)
    h = make_harness(levers_file=write_yaml("levers.yml", levers(tool.url)))
    fast_retries(h)
    channel = open_incident(h)
    tool.fail = [403]
    h.command("contain revoke-code-exec", channel=channel)
    assert len(tool.received) == 1  # 403 is not retried
    with h.ctx.db.session() as s:
        assert s.query(ContainmentAction).one().outcome == "failed"
        assert s.get(Incident, 1).contained_at is None
    text = h.fake.texts(channel)[-1]
    assert f"webhook PUT {tool.url}/permissions/code-exec answered HTTP 403" in text
    assert "Manual fallback" in text


def test_missing_secret_is_a_clear_failure(make_harness, write_yaml, tool, monkeypatch) -> None:
    monkeypatch.delenv("TOOL_TOKEN", raising=False)
    h = make_harness(levers_file=write_yaml("levers.yml", levers(tool.url)))
    channel = open_incident(h)
    h.command("contain revoke-code-exec", channel=channel)
    assert tool.received == []
    assert "environment variable TOOL_TOKEN (used by the lever's template) is not set" in h.fake.texts(channel)[-1]


def test_webhook_dry_run_sends_nothing_and_revert_without_request_is_refused(make_harness, write_yaml, tool,
                                                                              monkeypatch) -> None:
    monkeypatch.setenv("TOOL_TOKEN", SECRET)
    spec = levers(tool.url)
    spec["levers"].append({"name": "rollback-prompt", "type": "webhook", "confirm": False, "on_resolve": "leave",
                           "target": {"url": tool.url + "/prompts/rollback", "method": "PUT",
                                      "body": {"enabled": False}}})
    h = make_harness(levers_file=write_yaml("levers.yml", spec))
    channel = open_incident(h)
    h.command("contain revoke-code-exec --dry-run", channel=channel)
    assert tool.received == [] and tool.enabled is True
    assert f"would send PUT {tool.url}/permissions/code-exec" in h.fake.texts(channel)[-1]
    h.command("revert revoke-code-exec", channel=channel)  # a dry-run pull reverts as a dry run
    assert tool.received == []
    h.command("contain rollback-prompt", channel=channel)
    assert len(tool.received) == 1
    reply = h.command("revert rollback-prompt", channel=channel)
    assert "`rollback-prompt` has no revert request; undo it by hand" in reply.text
    assert len(tool.received) == 1


class EchoService:
    """A careless webhook: its error answers repeat the URL it was called on and the Authorization it got."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.seen: list[str] = []
        svc = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_a):
                pass

            def do_PUT(self):  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                svc.seen.append(self.path)
                status = svc.statuses.pop(0) if svc.statuses else 200
                data = json.dumps({"message": f"rejected PUT {self.path} with {self.headers.get('Authorization')}"}
                                  if status >= 400 else {}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


PATH_SECRET, QUERY_SECRET = "hook-path-secret-71c2e0", "hook-query-secret-9d41aa"


def test_webhook_secrets_in_url_and_headers_reach_no_output(make_harness, write_yaml, monkeypatch, caplog) -> None:
    import logging

    from bot.core import secrets

    monkeypatch.setenv("HOOK_PATH", PATH_SECRET)
    monkeypatch.setenv("HOOK_TOKEN", QUERY_SECRET)
    echo = EchoService()
    lever = {"name": "pause-agents", "type": "webhook", "confirm": False, "on_resolve": "leave",
             "target": {"url": echo.url + "/hooks/{{ secret('HOOK_PATH') }}/pause?token={{ secret('HOOK_TOKEN') }}",
                        "method": "PUT", "headers": {"Authorization": "Bearer {{ secret('HOOK_TOKEN') }}"},
                        "body": {"paused": True}}}
    guard = secrets.LogFilter()
    caplog.handler.addFilter(guard)  # what `firebreak serve` puts on its log handlers
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="httpx")  # even with the HTTP library's request lines on
    try:
        h = make_harness(levers_file=write_yaml("levers.yml", {"levers": [lever]}))
        fast_retries(h)
        channel = open_incident(h)
        echo.statuses = [400]
        h.command("contain pause-agents", channel=channel)  # refused, the secrets echoed in the answer
        h.command("contain pause-agents", channel=channel)  # accepted
    finally:
        caplog.handler.removeFilter(guard)
        echo.stop()
    assert echo.seen == [f"/hooks/{PATH_SECRET}/pause?token={QUERY_SECRET}"] * 2  # the secrets were sent
    slack = repr([c.params for c in h.fake.calls])
    with h.ctx.db.session() as s:
        stored = repr([(e.text, e.data) for e in timeline.events(s, 1)])
        stored += repr([(a.error, a.detail, a.target) for a in s.query(ContainmentAction).all()])
    assert "HTTP Request: PUT" in caplog.text and "[redacted]" in caplog.text
    assert "answered HTTP 400" in slack and "[redacted]" in slack
    for secret in (PATH_SECRET, QUERY_SECRET):
        for where in (slack, stored, caplog.text):
            assert secret not in where
