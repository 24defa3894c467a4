"""A local stand-in for an OpenAI-compatible model endpoint and a moderation endpoint.

Real HTTP on 127.0.0.1, stateful, recording calls. A test switches its behaviour: `harmful` (answers and
repeats the harmful text), `refusing`, `blocked` (HTTP 403), `filtered` (finish_reason content_filter),
`error` (HTTP 500), `not_json`, `rate_limited` (429 with Retry-After), `slow` (answers after `delay`).
`per_prompt` maps a substring of the last user message to a mode, so one case can stay harmful while the
others are refused. POST /v1/moderations scores a text high when it contains any of `flag_terms`.
`required_key`: like the real service, a request without that API key is refused (HTTP 401) — and, as some
gateways do, the refusal repeats the key it was sent, which is what a bot must never pass on.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any

from bot.fakes.base import QuietHandler, close, serve

MODES = ("harmful", "refusing", "blocked", "filtered", "error", "not_json", "rate_limited", "slow")
REFUSAL = "I'm sorry, but I can't help with that request."


@dataclass
class ModelCall:
    path: str
    body: Any
    authorization: str | None


@dataclass
class FakeModelEndpoint:
    mode: str = "harmful"
    harmful_reply: str = "Sure! Step 1: acquire the MARKER-7731 precursor, then..."
    per_prompt: dict[str, str] = field(default_factory=dict)
    delay: float = 2.0
    retry_after: int = 30
    rate_limit_times: int | None = None  # answer 429 this many times, then behave per mode
    flag_terms: list[str] = field(default_factory=lambda: ["MARKER-7731"])
    moderation_mode: str = "ok"  # ok | error | not_json
    required_key: str | None = None  # when set, any other key gets a 401 that echoes the key sent
    calls: list[ModelCall] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0  # the most chat requests it was serving at once (checks probe concurrency)

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._stopping = threading.Event()

    # ----- control ------------------------------------------------------------------------------------
    def switch(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; modes: {', '.join(MODES)}")
        with self.lock:
            self.mode = mode

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def chat_calls(self) -> list[ModelCall]:
        with self.lock:
            return [c for c in self.calls if c.path.endswith("/chat/completions")]

    def moderation_calls(self) -> list[ModelCall]:
        with self.lock:
            return [c for c in self.calls if c.path.endswith("/moderations")]

    def start(self) -> FakeModelEndpoint:
        fake = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                with fake.lock:
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                try:
                    status, headers, payload = fake.handle(self.path, self.headers.get("Authorization"), raw)
                finally:
                    with fake.lock:
                        fake.in_flight -= 1
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server = serve(Handler, "fake-model")
        return self

    def stop(self) -> None:
        self._stopping.set()
        close(self._server)
        self._server = None

    # ----- behaviour -----------------------------------------------------------------------------------
    def handle(self, path: str, authorization: str | None, raw: bytes) -> tuple[int, dict[str, str], bytes]:
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return _json(400, {"error": {"message": "invalid JSON", "type": "invalid_request_error"}})
        with self.lock:
            self.calls.append(ModelCall(path, body, authorization))
            mode = self.mode
            if self.rate_limit_times is not None and path.endswith("/chat/completions"):
                if self.rate_limit_times > 0:
                    self.rate_limit_times -= 1
                    mode = "rate_limited"
        if self.required_key is not None and authorization != f"Bearer {self.required_key}":
            sent = (authorization or "").removeprefix("Bearer ")
            return _json(401, {"error": {"message": f"Incorrect API key provided: {sent}.", "type":
                                         "invalid_request_error", "code": "invalid_api_key"}})
        if path.endswith("/moderations"):
            return self._moderate(body)
        if not path.endswith("/chat/completions"):
            return _json(404, {"error": {"message": "not found"}})
        messages = body.get("messages") or []
        last = next((m.get("content", "") for m in reversed(messages) if m.get("role") == "user"), "")
        mode = next((m for key, m in self.per_prompt.items() if key in last), mode) if mode != "rate_limited" \
            else mode
        if mode == "slow":
            self._stopping.wait(self.delay)
            mode = "harmful"
        if mode == "rate_limited":
            return _json(429, {"error": {"message": "Rate limit reached", "type": "rate_limit_error"}},
                         {"Retry-After": str(self.retry_after)})
        if mode == "error":
            return _json(500, {"error": {"message": "internal error", "type": "server_error"}})
        if mode == "not_json":
            return 502, {"Content-Type": "text/html"}, b"<html><body>502 Bad Gateway</body></html>"
        if mode == "blocked":
            return _json(403, {"error": {"message": "blocked by policy", "code": "content_policy_violation"}})
        if mode == "filtered":
            return _json(200, _completion(body, "", "content_filter"))
        text = REFUSAL if mode == "refusing" else self.harmful_reply
        return _json(200, _completion(body, text, "stop"))

    def _moderate(self, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        if self.moderation_mode == "error":
            return _json(500, {"error": {"message": "moderation down"}})
        if self.moderation_mode == "not_json":
            return 502, {"Content-Type": "text/plain"}, b"bad gateway"
        text = str(body.get("input") or "")
        hit = any(t.lower() in text.lower() for t in self.flag_terms)
        score = 0.97 if hit else 0.02
        return _json(200, {"id": "modr-fake", "model": body.get("model") or "fake-moderation", "results": [
            {"flagged": hit, "categories": {"violence": hit, "illicit": hit},
             "category_scores": {"violence": score, "illicit": score / 2}}]})


def _completion(body: dict[str, Any], text: str, finish: str) -> dict[str, Any]:
    return {"id": "chatcmpl-fake", "object": "chat.completion", "model": body.get("model", "fake"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(payload).encode()
