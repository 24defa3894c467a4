"""A stand-in for Slack's Socket Mode: `apps.connections.open` and a real WebSocket server on 127.0.0.1.

It speaks the protocol as Slack documents it: `apps.connections.open` takes the app-level token in the
Authorization header only and answers a one-time `ws://…/link/?ticket=…` URL; a connection gets `hello`
(with `connection_info.app_id` and `num_connections`), then envelopes (`slash_commands`, `interactive`,
`events_api`, each with an `envelope_id`) that the app acks with `{"envelope_id", "payload"?}`; at most
ten connections at once (the eleventh is told `too_many_websockets` and closed); `disconnect` messages
(`refresh_requested`, `warning`, `link_disabled`); un-acked `events_api` envelopes are delivered again with
a new envelope id and `retry_attempt` / `retry_reason`, as Slack retries events.

Faults a test can cause on any connection: a close frame, a close without a frame (TCP FIN), a TCP reset,
silence (pings unanswered, nothing sent), a duplicate envelope, and failing `apps.connections.open` calls.
Every delivery, ack and connection is recorded with `time.monotonic()` timestamps, so tests measure ack
latency and reconnection time from the stand-in's own clock.

The WebSocket framing (RFC 6455) is written here rather than borrowed so that every fault is under the
test's control: client frames must be masked, fragments are reassembled, frames are capped at 1 MiB.

Other Web API methods are passed to a `FakeSlack` when one is given, so one URL serves the whole API.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import heapq
import itertools
import json
import select
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlparse

from bot.fakes.base import QuietHandler, close, host_port, serve

if TYPE_CHECKING:
    from bot.fakes.slack_api import FakeSlack

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_FRAME = 1 << 20  # bytes; Slack's envelopes are far smaller
MAX_LINKS = 10  # Slack allows ten Socket Mode connections per app
ACK_DEADLINE = 3.0  # seconds Slack waits for an ack
TICKET_TTL = 30.0  # seconds a connection URL stays usable
EVENT_RETRY_DELAYS = (0.0, 60.0, 300.0)  # after the ack deadline, as Slack retries events

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


@dataclass
class Link:
    """One WebSocket connection as the server sees it."""

    id: int
    opened_at: float
    hello_at: float | None = None
    closed_at: float | None = None
    ended_by: str | None = None  # client_close, server_close, drop, reset, eof, too_many, protocol
    silent: bool = False
    disconnect_sent: str | None = None
    pings: int = 0
    pongs: int = 0
    close_code: int | None = None
    sock: socket.socket | None = field(default=None, repr=False)
    wake: socket.socket | None = field(default=None, repr=False)
    wake_in: socket.socket | None = field(default=None, repr=False)
    send_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    pending: list[str] = field(default_factory=list, repr=False)  # drop / reset / close asked from elsewhere

    @property
    def open(self) -> bool:
        return self.closed_at is None


@dataclass
class Delivery:
    envelope_id: str
    link: int
    at: float
    type: str
    retry_attempt: int | None = None
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass
class Ack:
    envelope_id: str
    link: int
    at: float
    payload: Any = None
    known: bool = True  # False: no such envelope was ever delivered


@dataclass
class OpenCall:
    at: float
    ok: bool
    error: str | None = None


@dataclass
class _Fault:
    error: str
    status: int


class FakeSocketMode:
    """Socket Mode on 127.0.0.1. `start()` serves it; `api_url` is the SLACK_API_URL to give the bot."""

    def __init__(self, web: FakeSlack | None = None, *, app_token: str = "xapp-1-A0FIREBRK-1-test",
                 app_id: str = "A0FIREBRK", bot_token: str = "xoxb-test-token",
                 ping_interval: float | None = None,
                 event_retry_delays: tuple[float, ...] = EVENT_RETRY_DELAYS) -> None:
        self.web = web
        self.app_token = app_token
        self.app_id = app_id
        self.bot_token = web.token if web is not None else bot_token
        self.ping_interval = ping_interval
        self.event_retry_delays = event_retry_delays
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.links: list[Link] = []
        self.deliveries: list[Delivery] = []
        self.acks: list[Ack] = []
        self.opens: list[OpenCall] = []
        self.tickets: dict[str, float] = {}
        self.open_faults: list[_Fault] = []
        self.accepting = True  # False: new WebSocket upgrades are refused (HTTP 503)
        self._ids = itertools.count(1)
        self._timers: list[tuple[float, int, Callable[[], object]]] = []
        self._timer_seq = itertools.count()
        self._timer_cond = threading.Condition()
        self._running = False
        self._server: ThreadingHTTPServer | None = None

    # ----- server ---------------------------------------------------------------------------------
    @property
    def origin(self) -> str:
        assert self._server is not None, "start() the stand-in first"
        host, port = host_port(self._server)
        return f"http://{host}:{port}"

    @property
    def api_url(self) -> str:
        """The Web API base URL: apps.connections.open here, every other method passed to the FakeSlack."""
        return self.origin + "/api/"

    def start(self) -> FakeSocketMode:
        fake = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = min(int(self.headers.get("Content-Length") or 0), MAX_FRAME)
                raw = self.rfile.read(length) if length else b""
                status, headers, body = fake.handle_api(self.path, dict(self.headers), raw)
                payload = json.dumps(body).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:  # noqa: N802
                if self.headers.get("Upgrade", "").lower() == "websocket":
                    fake._upgrade(self)
                    self.close_connection = True
                else:
                    self.do_POST()

        self._running = True
        threading.Thread(target=self._timer_loop, name="fake-socket-mode-timers", daemon=True).start()
        self._server = serve(Handler, "fake-socket-mode")
        return self

    def stop(self) -> None:
        with self._timer_cond:
            self._running = False
            self._timer_cond.notify_all()
        for link in self.open_links():
            self._ask(link, "drop")
        close(self._server)
        self._server = None

    def __enter__(self) -> FakeSocketMode:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ----- the Web API ------------------------------------------------------------------------------
    def fail_open(self, times: int = 1, error: str = "internal_error", *, status: int = 500) -> None:
        """The next `times` calls of apps.connections.open fail."""
        with self.lock:
            self.open_faults.extend(_Fault(error, status) for _ in range(times))

    def handle_api(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, str], Any]:
        method = urlparse(path).path.removeprefix("/api/")
        if method != "apps.connections.open":
            if self.web is None:
                return 404, {}, {"ok": False, "error": "unknown_method"}
            return self.web.handle(path, headers, raw)
        auth = headers.get("Authorization") or headers.get("authorization") or ""
        token = auth.removeprefix("Bearer ").strip()
        now = time.monotonic()
        with self.lock:
            fault = self.open_faults.pop(0) if self.open_faults else None
            if fault is not None:
                return self._open_result(now, fault.status, fault.error)
            if not token:
                return self._open_result(now, 200, "not_authed")
            if token == self.bot_token or not token.startswith("xapp-"):
                return self._open_result(now, 200, "not_allowed_token_type" if token == self.bot_token
                                         else "invalid_auth")
            if token != self.app_token:
                return self._open_result(now, 200, "invalid_auth")
            ticket = uuid.uuid4().hex
            self.tickets[ticket] = now
            self.opens.append(OpenCall(now, True))
            self.changed.notify_all()
        assert self._server is not None
        host, port = host_port(self._server)
        return 200, {}, {"ok": True, "url": f"ws://{host}:{port}/link/?ticket={ticket}&app_id={self.app_id}"}

    def _open_result(self, now: float, status: int, error: str) -> tuple[int, dict[str, str], Any]:
        self.opens.append(OpenCall(now, False, error))
        self.changed.notify_all()
        return status, {}, {"ok": False, "error": error}

    # ----- WebSocket connections --------------------------------------------------------------------
    def _upgrade(self, handler: QuietHandler) -> None:
        query = parse_qs(urlparse(handler.path).query)
        ticket = (query.get("ticket") or [""])[0]
        key = handler.headers.get("Sec-WebSocket-Key", "")
        with self.lock:
            issued = self.tickets.pop(ticket, None)  # a ticket is good for one connection only
        if not self.accepting:
            self._refuse(handler, 503, "unavailable")
            return
        if issued is None or time.monotonic() - issued > TICKET_TTL:
            self._refuse(handler, 401, "invalid ticket")
            return
        if handler.headers.get("Sec-WebSocket-Version") != "13" or not key:
            self._refuse(handler, 400, "not a WebSocket handshake")
            return
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        handler.send_response(101, "Switching Protocols")
        handler.send_header("Upgrade", "websocket")
        handler.send_header("Connection", "Upgrade")
        handler.send_header("Sec-WebSocket-Accept", accept)
        handler.end_headers()
        handler.wfile.flush()
        # The connection is ours from here: drop the HTTP reader's reference so closing the socket closes
        # it for real (a reset needs the last close() to happen with SO_LINGER 0).
        handler.rfile.close()
        sock: socket.socket = handler.connection
        wake_in, wake = socket.socketpair()
        with self.lock:
            link = Link(id=next(self._ids), opened_at=time.monotonic(), sock=sock, wake=wake, wake_in=wake_in)
            self.links.append(link)
            crowded = len(self.open_links()) > MAX_LINKS
        if crowded:
            self._send_json(link, {"type": "disconnect", "reason": "too_many_websockets",
                                   "debug_info": {"host": "fake-socket-mode"}})
            self._end(link, "too_many", close_code=1008)
            return
        with self.lock:
            link.hello_at = time.monotonic()
            self.changed.notify_all()
        self._send_json(link, {"type": "hello", "num_connections": len(self.open_links()),
                               "connection_info": {"app_id": self.app_id},
                               "debug_info": {"host": "fake-socket-mode", "approximate_connection_time": 3600}})
        if self.ping_interval:
            self._schedule(self.ping_interval, lambda: self._server_ping(link))
        try:
            self._serve_link(link)
        finally:
            if link.open:
                self._end(link, "eof")

    @staticmethod
    def _refuse(handler: QuietHandler, status: int, why: str) -> None:
        body = why.encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "text/plain")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def _serve_link(self, link: Link) -> None:
        """Read frames until the connection ends; act on faults asked for from other threads."""
        assert link.sock is not None and link.wake is not None
        buf = b""
        message: list[bytes] = []
        while link.open:
            ready, _, _ = select.select([link.sock, link.wake], [], [])
            if link.wake in ready:
                link.wake.recv(64)
                for action in self._take_pending(link):
                    self._act(link, action)
                if not link.open:
                    return
            if link.sock not in ready:
                continue
            try:
                chunk = link.sock.recv(65536)
            except OSError:
                self._end(link, "eof")
                return
            if not chunk:
                self._end(link, "eof")
                return
            buf += chunk
            while link.open:
                parsed = _parse_frame(buf)
                if parsed is None:
                    break
                if isinstance(parsed, str):  # "error"
                    self._end(link, "protocol", close_code=1002)
                    return
                fin, opcode, data, used = parsed
                buf = buf[used:]
                self._on_frame(link, fin, opcode, data, message)

    def _on_frame(self, link: Link, fin: bool, opcode: int, data: bytes, message: list[bytes]) -> None:
        if opcode == OP_PING:
            with self.lock:
                link.pings += 1
            if not link.silent:
                self._send_frame(link, OP_PONG, data)
            return
        if opcode == OP_PONG:
            with self.lock:
                link.pongs += 1
            return
        if opcode == OP_CLOSE:
            code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else 1005
            with self.lock:
                answered = link.ended_by == "server_closing"
            if not answered:
                self._send_frame(link, OP_CLOSE, data[:2])
            self._end(link, "server_close" if answered else "client_close", close_code=code)
            return
        if opcode in (OP_TEXT, OP_BINARY) or opcode == OP_CONT:
            message.append(data)
            if fin:
                text = b"".join(message)
                message.clear()
                self._on_message(link, text)

    def _on_message(self, link: Link, raw: bytes) -> None:
        now = time.monotonic()
        try:
            msg = json.loads(raw)
        except ValueError:
            return
        if not isinstance(msg, dict) or "envelope_id" not in msg:
            return
        eid = str(msg["envelope_id"])
        with self.lock:
            known = any(d.envelope_id == eid for d in self.deliveries)
            self.acks.append(Ack(eid, link.id, now, msg.get("payload"), known))
            self.changed.notify_all()

    def _take_pending(self, link: Link) -> list[str]:
        with self.lock:
            actions, link.pending = link.pending, []
            return actions

    def _ask(self, link: Link, action: str) -> None:
        """Have the link's own thread carry out `action` (drop / reset / close:<code> / silence)."""
        with self.lock:
            if not link.open:
                return
            link.pending.append(action)
        if link.wake_in is not None:
            with contextlib.suppress(OSError):
                link.wake_in.send(b"!")

    def _act(self, link: Link, action: str) -> None:
        if action == "drop":  # FIN without a close frame
            assert link.sock is not None, "a link has its socket from the start"
            with contextlib.suppress(OSError):
                link.sock.shutdown(socket.SHUT_RDWR)
            self._end(link, "drop")
        elif action == "reset":  # RST: linger 0, then close
            assert link.sock is not None, "a link has its socket from the start"
            with contextlib.suppress(OSError):
                link.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self._end(link, "reset")
        elif action.startswith("close:"):
            code = int(action.split(":", 1)[1])
            with self.lock:
                link.ended_by = "server_closing"
            self._send_frame(link, OP_CLOSE, struct.pack("!H", code))
            self._schedule(1.0, lambda: self._ask(link, "drop"))  # the client has a second to answer

    def _end(self, link: Link, how: str, *, close_code: int | None = None) -> None:
        with self.lock:
            if not link.open:
                return
            link.closed_at = time.monotonic()
            link.ended_by = how
            if close_code is not None:
                link.close_code = close_code
            self.changed.notify_all()
        for s in (link.sock, link.wake, link.wake_in):
            if s is not None:
                with contextlib.suppress(OSError):
                    s.close()

    def _send_frame(self, link: Link, opcode: int, data: bytes) -> bool:
        header = bytes([0x80 | opcode])
        n = len(data)
        if n < 126:
            header += bytes([n])
        elif n < 1 << 16:
            header += bytes([126]) + struct.pack("!H", n)
        else:
            header += bytes([127]) + struct.pack("!Q", n)
        with link.send_lock:
            if not link.open or link.sock is None:
                return False
            try:
                link.sock.sendall(header + data)
            except OSError:
                return False
        return True

    def _send_json(self, link: Link, message: dict[str, Any]) -> bool:
        return self._send_frame(link, OP_TEXT, json.dumps(message).encode())

    def _server_ping(self, link: Link) -> None:
        if link.open and self.ping_interval:
            if not link.silent:
                self._send_frame(link, OP_PING, b"fake")
            self._schedule(self.ping_interval, lambda: self._server_ping(link))

    # ----- what tests do --------------------------------------------------------------------------
    def open_links(self) -> list[Link]:
        with self.lock:
            return [link for link in self.links if link.open]

    def ready_links(self) -> list[Link]:
        with self.lock:
            return [link for link in self.links if link.open and link.hello_at is not None and not link.silent]

    def newest(self) -> Link:
        links = self.ready_links()
        if not links:
            raise LookupError("no open Socket Mode connection")
        return links[-1]

    def deliver(self, kind: str, payload: dict[str, Any], *, link: Link | None = None,
                envelope_id: str | None = None, retry_attempt: int | None = None,
                retry_reason: str | None = None, accepts_response_payload: bool | None = None) -> str:
        """Send one envelope (slash_commands, interactive, events_api) on `link` (default: the newest)."""
        target = link or self.newest()
        eid = envelope_id or str(uuid.uuid4())
        envelope: dict[str, Any] = {"envelope_id": eid, "type": kind, "payload": payload,
                                    "accepts_response_payload": kind != "events_api"
                                    if accepts_response_payload is None else accepts_response_payload}
        if kind == "events_api":
            envelope["retry_attempt"] = retry_attempt or 0
            envelope["retry_reason"] = retry_reason or ""
        elif retry_attempt is not None:
            envelope["retry_attempt"] = retry_attempt
            envelope["retry_reason"] = retry_reason or ""
        with self.lock:
            self.deliveries.append(Delivery(eid, target.id, time.monotonic(), kind, retry_attempt, payload))
        if not self._send_json(target, envelope):
            raise ConnectionError(f"connection {target.id} is closed")
        if kind == "events_api":
            attempt = retry_attempt or 0
            if attempt < len(self.event_retry_delays):
                delay = ACK_DEADLINE + self.event_retry_delays[attempt]
                self._schedule(delay, lambda: self._retry_event(eid, payload, attempt + 1))
        return eid

    def _retry_event(self, eid: str, payload: dict[str, Any], attempt: int) -> None:
        if self.ack_for(eid) is not None or not self.ready_links():
            return
        with contextlib.suppress(ConnectionError, LookupError):
            self.deliver("events_api", payload, retry_attempt=attempt, retry_reason="timeout")

    def disconnect(self, reason: str = "refresh_requested", *, link: Link | None = None,
                   close_after: float | None = None) -> Link:
        """Send `{"type": "disconnect", "reason": …}`; close with a frame `close_after` seconds later."""
        target = link or self.newest()
        with self.lock:
            target.disconnect_sent = reason
        self._send_json(target, {"type": "disconnect", "reason": reason,
                                 "debug_info": {"host": "fake-socket-mode"}})
        if close_after is not None:
            self._schedule(close_after, lambda: self.close(target))
        return target

    def close(self, link: Link | None = None, code: int = 1001) -> Link:
        """A close frame from the server (the client answers it, then TCP closes)."""
        target = link or self.newest()
        self._ask(target, f"close:{code}")
        return target

    def drop(self, link: Link | None = None) -> Link:
        """Close TCP without a close frame."""
        target = link or self.newest()
        self._ask(target, "drop")
        return target

    def reset(self, link: Link | None = None) -> Link:
        """Reset the TCP connection (RST)."""
        target = link or self.newest()
        self._ask(target, "reset")
        return target

    def silence(self, link: Link | None = None) -> Link:
        """Keep TCP open but answer nothing: no pongs, no messages (a dead path the client must notice)."""
        target = link or self.newest()
        with self.lock:
            target.silent = True
        return target

    # ----- queries --------------------------------------------------------------------------------
    def acks_for(self, envelope_id: str) -> list[Ack]:
        with self.lock:
            return [a for a in self.acks if a.envelope_id == envelope_id]

    def ack_for(self, envelope_id: str) -> Ack | None:
        acks = self.acks_for(envelope_id)
        return acks[0] if acks else None

    def delivery(self, envelope_id: str) -> Delivery:
        with self.lock:
            return next(d for d in self.deliveries if d.envelope_id == envelope_id)

    def ack_latency(self, envelope_id: str) -> float | None:
        """Seconds from the first delivery of the envelope to its first ack, on the stand-in's clock."""
        ack = self.ack_for(envelope_id)
        return None if ack is None else ack.at - self.delivery(envelope_id).at

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Block until `predicate()` is truthy (re-checked on every change); raise TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                value = predicate()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("the Socket Mode stand-in did not see the expected state in time")
                self.changed.wait(min(left, 0.1))

    def wait_ready(self, *, after: float | None = None, exclude: Link | None = None, timeout: float = 10.0) -> Link:
        """The first connection that got `hello` after `after` (and is not `exclude`)."""
        def found() -> Link | None:
            for link in self.ready_links():
                if link is not exclude and (after is None or (link.hello_at or 0) >= after):
                    return link
            return None

        return self.wait_for(found, timeout)

    def wait_ack(self, envelope_id: str, timeout: float = 10.0) -> Ack:
        return self.wait_for(lambda: self.ack_for(envelope_id), timeout)

    # ----- timers ---------------------------------------------------------------------------------
    def _schedule(self, delay: float, fn: Callable[[], object]) -> None:
        with self._timer_cond:
            heapq.heappush(self._timers, (time.monotonic() + delay, next(self._timer_seq), fn))
            self._timer_cond.notify_all()

    def _timer_loop(self) -> None:
        while True:
            with self._timer_cond:
                while self._running and (not self._timers or self._timers[0][0] > time.monotonic()):
                    wait = self._timers[0][0] - time.monotonic() if self._timers else None
                    self._timer_cond.wait(wait)
                if not self._running:
                    return
                _, _, fn = heapq.heappop(self._timers)
            with contextlib.suppress(Exception):
                fn()


def _parse_frame(buf: bytes) -> tuple[bool, int, bytes, int] | str | None:
    """One client frame from the front of `buf`: (fin, opcode, unmasked data, bytes used); None = need more."""
    if len(buf) < 2:
        return None
    fin = bool(buf[0] & 0x80)
    opcode = buf[0] & 0x0F
    masked = bool(buf[1] & 0x80)
    n = buf[1] & 0x7F
    pos = 2
    if n == 126:
        if len(buf) < 4:
            return None
        n = struct.unpack("!H", buf[2:4])[0]
        pos = 4
    elif n == 127:
        if len(buf) < 10:
            return None
        n = struct.unpack("!Q", buf[2:10])[0]
        pos = 10
    if not masked or n > MAX_FRAME or buf[0] & 0x70:  # clients must mask; no extensions were agreed
        return "error"
    if len(buf) < pos + 4 + n:
        return None
    mask = buf[pos:pos + 4]
    data = bytes(b ^ mask[i % 4] for i, b in enumerate(buf[pos + 4:pos + 4 + n]))
    return fin, opcode, data, pos + 4 + n
