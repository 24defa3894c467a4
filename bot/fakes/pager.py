"""A stateful stand-in for the PagerDuty Events API v2 (`POST /v2/enqueue`) and a generic webhook
(`POST /webhook`), served on 127.0.0.1. It keeps alerts by dedup key and records every call.

Faults can be scripted: `fail_next(status=500)` answers the next N calls with an error; `hold_next(seconds)`
holds the next N calls that long before handling them (a slow pager, or one a test kills the bot during).
Alerts are kept by dedup key, as PagerDuty does: a trigger re-sent with the same key is the same alert.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any

from bot.fakes.base import QuietHandler, close, host_port, serve

PD_ACTIONS = {"trigger", "acknowledge", "resolve"}
PD_SEVERITIES = {"critical", "error", "warning", "info"}


@dataclass
class PagerCall:
    path: str
    body: Any
    headers: dict[str, str]
    status: int
    at: float = field(default_factory=time.time)


class FakePager:
    """`start()` serves it; `events_url` is the PagerDuty URL to configure, `webhook_url` the webhook's."""

    def __init__(self, routing_key: str = "R0UTINGKEY0000000000000000000000", token: str | None = None) -> None:
        self.routing_key = routing_key
        self.token = token
        self.lock = threading.RLock()
        self.calls: list[PagerCall] = []
        self.alerts: dict[str, dict[str, Any]] = {}  # dedup_key -> {"status": triggered|resolved, "summary": ...}
        self.webhook_events: list[dict[str, Any]] = []
        self._faults: list[int | str] = []  # an HTTP status, or "echo"
        self._holds: list[float] = []
        self.received = 0  # requests that arrived, answered or still held
        self._server: ThreadingHTTPServer | None = None

    def fail_next(self, count: int = 1, *, status: int = 500) -> None:
        with self.lock:
            self._faults.extend([status] * count)

    def echo_next(self, count: int = 1) -> None:
        """Answer the next `count` calls 400 with the request echoed back, secrets and all (some gateways do)."""
        with self.lock:
            self._faults.extend(["echo"] * count)

    def hold_next(self, seconds: float, count: int = 1) -> None:
        with self.lock:
            self._holds.extend([seconds] * count)

    @property
    def origin(self) -> str:
        assert self._server is not None, "start() the fake pager first"
        host, port = host_port(self._server)
        return f"http://{host}:{port}"

    @property
    def events_url(self) -> str:
        return self.origin + "/v2/enqueue"

    @property
    def webhook_url(self) -> str:
        return self.origin + "/webhook"

    def start(self) -> FakePager:
        fake = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, payload = fake.handle(self.path, {k.lower(): v for k, v in self.headers.items()}, raw)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = serve(Handler, "fake-pager")
        return self

    def stop(self) -> None:
        close(self._server)
        self._server = None

    def handle(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, Any]]:
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = None
        with self.lock:
            self.received += 1
            hold = self._holds.pop(0) if self._holds else 0.0
        if hold:
            time.sleep(hold)
        with self.lock:
            if self._faults:
                fault = self._faults.pop(0)
                if fault == "echo":
                    self.calls.append(PagerCall(path, body, headers, 400))
                    return 400, {"status": "invalid event", "message": f"could not process {json.dumps(body)}"}
                self.calls.append(PagerCall(path, body, headers, int(fault)))
                return int(fault), {"status": "error", "message": "scripted failure"}
            status, payload = self._route(path, headers, body)
            self.calls.append(PagerCall(path, body, headers, status))
            return status, payload

    def _route(self, path: str, headers: dict[str, str], body: Any) -> tuple[int, dict[str, Any]]:
        if path == "/v2/enqueue":
            return self._events(body)
        if path == "/webhook":
            if self.token and headers.get("authorization") != f"Bearer {self.token}":
                return 401, {"error": "unauthorized"}
            if not isinstance(body, dict) or body.get("event") not in ("page", "resolve"):
                return 400, {"error": "event must be page or resolve"}
            self.webhook_events.append(body)
            key = body.get("dedup_key")
            if key:
                self.alerts[key] = {"status": "triggered" if body["event"] == "page" else "resolved",
                                    "summary": body.get("summary")}
            return 200, {"ok": True}
        return 404, {"error": "not found"}

    def _events(self, body: Any) -> tuple[int, dict[str, Any]]:
        if not isinstance(body, dict):
            return 400, {"status": "invalid event", "message": "Event object is invalid"}
        errors = []
        if body.get("routing_key") != self.routing_key:
            errors.append("routing_key is invalid")
        action = body.get("event_action")
        if action not in PD_ACTIONS:
            errors.append("event_action is invalid")
        key = body.get("dedup_key")
        if action in ("acknowledge", "resolve") and not key:
            errors.append("dedup_key is required")
        if action == "trigger":
            payload = body.get("payload") or {}
            if not payload.get("summary") or not payload.get("source"):
                errors.append("payload.summary and payload.source are required")
            if payload.get("severity") not in PD_SEVERITIES:
                errors.append("payload.severity is invalid")
        if errors:
            return 400, {"status": "invalid event", "message": "Event object is invalid", "errors": errors}
        key = key or f"pd-{len(self.alerts) + 1}"
        if action == "trigger":
            self.alerts[key] = {"status": "triggered", "summary": body["payload"]["summary"],
                                "severity": body["payload"]["severity"]}
        elif key in self.alerts:
            self.alerts[key]["status"] = "resolved" if action == "resolve" else "acknowledged"
        return 202, {"status": "success", "message": "Event processed", "dedup_key": key}

    def triggers(self) -> list[dict[str, Any]]:
        with self.lock:
            return [c.body for c in self.calls if c.status == 202 and c.body.get("event_action") == "trigger"]
