"""A stateful stand-in for the Slack Web API, as strict as Slack: channels, members, messages, pins, topics,
views, files, and the rules Slack enforces on them.

It refuses what Slack refuses, with Slack's error codes: Block Kit limits (`invalid_blocks` /
`invalid_arguments` with `response_metadata.messages`, see slack_blockkit), message text over 40,000
characters (`msg_too_long`), topics over 250 (`too_long`), trigger ids used twice or after 3 seconds,
membership and scope rules that follow slack-manifest.yml (`not_in_channel`, `missing_scope`,
`channel_not_found` for a private channel the bot is not in, `already_in_channel`), and per-method rate
limits (HTTP 429 `ratelimited` with Retry-After, see slack_rates). Every refusal is kept in `violations`
so a test can assert that none happened.

Every call is recorded with its start and end, and every answer can be delayed by `latency` seconds (a far
Slack; settable while running; concurrent requests are delayed independently), so `critical_path()` can
count the round trips a user waits for. `broadcasts()` lists texts that would notify a channel or break
formatting (see slack_markup). Faults can be scripted per method
(`fail_next("conversations.create", error="ratelimited", status=429, retry_after=1)`).

This module serves it over HTTP; the state and Slack's rules are in slack_state, the methods in
slack_conversations and slack_messaging.
"""
from __future__ import annotations

import json
import time
from collections.abc import Iterable
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from bot.fakes.base import QuietHandler, close, host_port, serve
from bot.fakes.slack_calls import Call, Violation, critical_path
from bot.fakes.slack_conversations import Conversations
from bot.fakes.slack_markup import Finding, normalize, scan
from bot.fakes.slack_messaging import Messaging
from bot.fakes.slack_rates import POST_BURST, RateLimits
from bot.fakes.slack_state import (
    BOT_ID,
    BOT_USER,
    MANIFEST_SCOPES,
    TRIGGER_TTL,
    Fault,
    Message,
    SlackError,
)

__all__ = ["BOT_ID", "BOT_USER", "MANIFEST_SCOPES", "Call", "FakeSlack", "Fault", "Finding", "Message",
           "SlackError", "Violation"]


IDLE_TIMEOUT = 5.0  # shorter than most servers keep an idle connection: a client's stale connections get exercised


class FakeSlack(Conversations, Messaging):
    """The state and the API. `start()` serves it on 127.0.0.1; `url` is the SLACK_API_URL to use.

    latency: seconds before each answer (half before Slack acts, half after), 0 by default.
    rate_limits: enforce Slack's per-method tiers and chat.postMessage's per-channel limit.
    scopes: the bot token's scopes (default: slack-manifest.yml's).
    clock: the bot's clock (anything with `now()` -> datetime); rate limits also refill when it jumps ahead.
    idle_timeout: seconds a kept-alive connection may sit unused before the server closes it, as servers do
    (`connections` counts the connections accepted).
    """

    def __init__(self, token: str = "xoxb-test-token", *, latency: float = 0.0, rate_limits: bool = True,
                 scopes: Iterable[str] = MANIFEST_SCOPES, post_burst: int = POST_BURST,
                 trigger_ttl: float = TRIGGER_TTL, clock: Any = None, idle_timeout: float = IDLE_TIMEOUT) -> None:
        super().__init__(token, scopes=scopes, trigger_ttl=trigger_ttl)
        self.latency = latency
        self.rate_limits = rate_limits
        self._rates = RateLimits(post_burst=post_burst,
                                 clock=(lambda: clock.now().timestamp()) if clock is not None else None)
        self._clock = clock  # message timestamps follow the bot's clock, as Slack's follow real time
        self._in_flight = 0
        self.idle_timeout = idle_timeout
        self.connections = 0
        self._server: ThreadingHTTPServer | None = None

    def in_flight(self) -> int:
        """Requests received and not yet answered."""
        with self.lock:
            return self._in_flight

    def broadcasts(self, *, allow: Iterable[str] = (), calls: Iterable[Call] | None = None) -> list[Finding]:
        """Every sent text (message and block texts, ephemerals, views, topics) that would broadcast, break
        formatting with a stray `<`, or show Slack markup raw. `allow` names tokens the caller meant, e.g. the
        escalation notice's `<!subteam^S0PRIVACY>` (a `|label` is ignored when comparing)."""
        allowed = {normalize(a) for a in allow}
        with self.lock:
            chosen = list(self.calls if calls is None else calls)
        return [f for c in chosen for f in scan(c.method, c.params) if f.key not in allowed]

    @staticmethod
    def critical_path(calls: Iterable[Call]) -> int:
        """Round trips standing one after another among `calls` (see slack_calls.critical_path)."""
        return critical_path(calls)

    # ----- server ---------------------------------------------------------------------------------
    @property
    def origin(self) -> str:
        assert self._server is not None, "start() the fake first"
        host, port = host_port(self._server)
        return f"http://{host}:{port}"

    @property
    def url(self) -> str:
        return self.origin + "/api/"

    def response_url(self, key: str) -> str:
        return f"{self.origin}/response/{key}"

    def start(self) -> FakeSlack:
        fake = self

        class Handler(QuietHandler):
            timeout = fake.idle_timeout  # an idle kept-alive connection is closed by the server

            def setup(self) -> None:
                super().setup()
                with fake.lock:
                    fake.connections += 1

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                # Header names are case-insensitive: the fake reads them in one spelling, whatever the client's.
                status, headers, body = fake.handle(self.path, {k.title(): v for k, v in self.headers.items()}, raw)
                is_text = isinstance(body, str)
                payload = body.encode() if is_text else json.dumps(body).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                ctype = "text/plain" if is_text else "application/json"
                self.send_header("Content-Type", f"{ctype}; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST  # noqa: N815

        self._server = serve(Handler, "fake-slack")
        return self

    def stop(self) -> None:
        close(self._server)
        self._server = None

    # ----- request handling -------------------------------------------------------------------------
    def handle(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, str], Any]:
        """Record the call, wait half the round trip, act, wait the other half, answer."""
        parsed = urlparse(path)
        if parsed.path.startswith("/upload/"):  # raw file bytes (binary for images): never parsed as a form
            self._wait()
            file_id = parsed.path.rsplit("/", 1)[-1]
            with self.lock:
                if file_id in self.files:
                    self.files[file_id]["content"] = raw
            self._wait()
            return 200, {}, {"ok": True}
        params = self._params(headers, raw, parsed.query)
        is_response = parsed.path.startswith("/response/")
        method = "response_url" if is_response else parsed.path.removeprefix("/api/")
        call = Call(method, params, time.time())
        with self.lock:
            self.calls.append(call)
            self._in_flight += 1
        try:
            self._wait()
            if is_response:
                answer = self._respond(parsed.path.rsplit("/", 1)[-1], params)
            else:
                answer = self._answer(method, headers, params)
            self._wait()
            return answer
        finally:
            with self.lock:
                call.end = time.time()
                self._in_flight -= 1

    def _wait(self) -> None:
        if self.latency > 0:
            time.sleep(self.latency / 2)

    def _answer(self, method: str, headers: dict[str, str], params: dict[str, Any]) -> tuple[int, dict, Any]:
        with self.lock:
            fault = self.faults[method].pop(0) if self.faults.get(method) else None
        if fault:
            if fault.delay:
                time.sleep(fault.delay)
            hdrs = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            if fault.error is not None:
                return fault.status, hdrs, {"ok": False, "error": fault.error}
        auth = headers.get("Authorization") or headers.get("authorization") or ""
        token = auth.removeprefix("Bearer ").strip() or params.get("token", "")
        if not token:
            return 200, {}, {"ok": False, "error": "not_authed"}
        if token != self.token:
            return 200, {}, {"ok": False, "error": "invalid_auth"}
        fn = getattr(self, "api_" + method.replace(".", "_"), None)
        if fn is None:
            return 200, {}, {"ok": False, "error": "unknown_method"}
        if self.rate_limits:
            retry = self._rates.check(method, str(params.get("channel") or "") or None)
            if retry is not None:
                self._violate(method, "ratelimited", (f"retry after {retry} s",), params)
                return 429, {"Retry-After": str(retry)}, {"ok": False, "error": "ratelimited"}
        with self.lock:
            try:
                result = fn(params)
            except SlackError as err:
                self._violate(method, err.code, err.messages, params)
                return 200, {}, {"ok": False, "error": err.code, **err.extra}
        if fault and fault.delay_after:
            time.sleep(fault.delay_after)
        return 200, {}, {"ok": True, **result}

    def _respond(self, key: str, params: dict[str, Any]) -> tuple[int, dict, Any]:
        """A post to a response_url. Slack checks it as a message and answers 400 with the error as text."""
        try:
            self._check_message(params, require_text=not params.get("delete_original"))
        except SlackError as err:
            with self.lock:
                self._violate("response_url", err.code, err.messages, params)
            return 400, {}, err.code
        with self.lock:
            self.responses.append({"key": key, **params})
        return 200, {}, {"ok": True}

    @staticmethod
    def _params(headers: dict[str, str], raw: bytes, query: str) -> dict[str, Any]:
        ctype = (headers.get("Content-Type") or headers.get("content-type") or "").lower()
        params: dict[str, Any] = {k: v[0] for k, v in parse_qs(query).items()}
        if not raw:
            return params
        if "json" in ctype:
            params.update(json.loads(raw))
        elif "form" in ctype:
            params.update({k: v[0] for k, v in parse_qs(raw.decode()).items()})
        for key in ("blocks", "view", "files", "attachments", "metadata"):
            if isinstance(params.get(key), str):
                try:
                    params[key] = json.loads(params[key])
                except ValueError:
                    pass
        return params
