"""firebreak's Socket Mode client: stays connected to Slack and hands each envelope to Bolt once.

slack_sdk ships four Socket Mode clients; measured against the stand-in (docs/socket-mode.md) each fails at
least one of Slack's faults: a first ack 3 s late or lost after a refresh request, a minute deaf (and a
spinning CPU) after a close without a frame, a silent path never noticed, 10-70 s to come back. The
websocket-client library reconnects fastest, so this runner keeps its WebSocket, keeps the parts that
matter from Bolt (the request built from the envelope, the middleware and listeners, the ack built from
Bolt's response), and owns the connections itself, one per `Link` (bot/server/socket_link.py):

* `disconnect` with `refresh_requested` or `warning`: a new connection is opened at once; the old one stays
  open, keeps delivering, and every envelope is acked on the connection that delivered it. The old one is
  closed when Slack closes it, or `drain_seconds` after Slack asked.
* `link_disabled` (Socket Mode turned off in the app settings): reported, retried on the slow end of the
  backoff.
* A close frame, a close without a frame, a reset, or a ping left unanswered: reconnect at once.
* `apps.connections.open` failing: exponential backoff with jitter, capped (bot/server/backoff.py), never
  shorter than a Retry-After. While disconnected every thread sleeps; nothing polls.
* An envelope id already dispatched is not dispatched again (the last `remember_envelopes` ids); if its ack
  was already sent it is sent again on the connection that delivered the copy.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.socket_mode.internals import run_bolt_app, send_response
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from bot.server.backoff import Backoff
from bot.server.socket_link import Link

log = logging.getLogger(__name__)

ENVELOPE_TYPES = {"slash_commands", "interactive", "events_api"}
# apps.connections.open errors that no retry will fix: the app-level token is wrong.
LINK_DISABLED = ("Slack turned Socket Mode off for this app (disconnect: link_disabled); turn it on in the app "
                 "settings, or serve over HTTP")
TOKEN_ERRORS = {"invalid_auth", "not_authed", "not_allowed_token_type", "token_revoked", "token_expired",
                "account_inactive", "missing_scope"}


@dataclass(frozen=True)
class SocketModeOptions:
    ping_interval: float = 3.0  # seconds without any frame before we ping
    pong_timeout: float = 4.0  # seconds a ping may go unanswered: a dead path is noticed within 7 s
    connect_timeout: float = 10.0  # apps.connections.open, and TCP + TLS + WebSocket handshake
    hello_timeout: float = 10.0  # seconds from handshake to Slack's hello
    drain_seconds: float = 30.0  # an old connection Slack asked us to leave stays open at most this long
    stable_seconds: float = 2.0  # a connection that lived this long may end without counting as a failure
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    workers: int = 10  # envelopes dispatched to Bolt at once
    remember_envelopes: int = 10_000  # envelope ids kept to refuse duplicates


class OpenError(Exception):
    """apps.connections.open (or the WebSocket it pointed to) failed."""

    def __init__(self, error: str, *, token: bool = False, retry_after: float = 0.0) -> None:
        super().__init__(error)
        self.error = error
        self.token = token  # the app-level token is at fault: retrying will not help
        self.retry_after = retry_after


@dataclass
class Status:
    """What the health port reports: connected or not, and why not."""

    state: str  # starting, connected, reconnecting, stopped
    connections: int = 0
    down_since: float | None = None  # time.monotonic() of the loss; None while connected
    last_error: str | None = None
    reconnects: int = 0
    app_id: str | None = None  # from Slack's hello

    @property
    def connected(self) -> bool:
        return self.state == "connected"


@dataclass
class _Seen:
    links: list[Link] = field(default_factory=list)  # connections that delivered it, while its ack is pending
    ack: str | None = None
    done: bool = False


class SocketModeRunner:
    """Connect, stay connected, dispatch envelopes to a Bolt App. `start()` returns at once; `close()` stops."""

    def __init__(self, app: App, app_token: str, *, web_client: WebClient | None = None,
                 options: SocketModeOptions | None = None, backoff: Backoff | None = None) -> None:
        self.app = app
        self._token = app_token
        self.options = options or SocketModeOptions()
        self.web_client = web_client or WebClient(timeout=int(self.options.connect_timeout))
        self.backoff = backoff or Backoff(self.options.backoff_base, self.options.backoff_cap)
        self.logger = log  # Bolt's send_response logs through its client's logger
        self._cond = threading.Condition()
        self._links: list[Link] = []
        self._next_id = 1
        self._closed = False
        self._failures = 0
        self._retry_after = 0.0
        self._token_error: str | None = None
        self._disabled = False  # Slack said link_disabled; cleared by the next hello
        self._status = Status(state="starting", down_since=time.monotonic())
        self._seen: OrderedDict[str, _Seen] = OrderedDict()
        self._seen_lock = threading.Lock()
        self._workers = ThreadPoolExecutor(max_workers=self.options.workers, thread_name_prefix="firebreak-envelope")
        self._thread = threading.Thread(target=self._supervise, name="firebreak-socket-mode", daemon=True)

    # ----- lifecycle -------------------------------------------------------------------------------
    def start(self) -> SocketModeRunner:
        self._thread.start()
        return self

    def wait_connected(self, timeout: float) -> Status:
        """Block until connected; raise OpenError on a token error or when `timeout` passes first."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                status = self._status
                if status.connected:
                    return status
                if self._token_error is not None:
                    raise OpenError(self._token_error, token=True)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise OpenError(status.last_error or "no connection yet")
                self._cond.wait(left)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._status.state = "stopped"
            links = list(self._links)
            self._cond.notify_all()
        for link in links:
            link.close()
        for link in links:
            link.join(2.0)
        if self._thread.is_alive():
            self._thread.join(5.0)
        self._workers.shutdown(wait=True, cancel_futures=False)

    def status(self) -> Status:
        with self._cond:
            s = self._status
            return Status(s.state, sum(1 for lk in self._links if lk.ended is None and lk.hello_at), s.down_since,
                          s.last_error, s.reconnects, s.app_id)

    # ----- keeping a connection -------------------------------------------------------------------
    def _needs_link(self) -> bool:
        return not self._closed and not any(lk.live or (lk.ended is None and lk.hello_at is None)
                                            for lk in self._links)

    def _supervise(self) -> None:
        while True:
            with self._cond:
                while not self._closed and not self._needs_link():
                    self._cond.wait(self._drain_wait())
                    self._close_drained()
                if self._closed:
                    return
                delay = self.backoff.delay(self._failures, at_least=self._retry_after) if self._failures else 0.0
                if delay:
                    self._cond.wait_for(lambda: self._closed, timeout=delay)
                    if self._closed:
                        return
            try:
                link = self._open_link()
            except OpenError as err:
                self._failed(err)
                continue
            def greeted_or_over(lk: Link = link) -> object:
                return lk.hello_at or lk.ended or self._closed

            with self._cond:
                self._cond.wait_for(greeted_or_over, self.options.hello_timeout)
                if self._closed:
                    link.close()
                    return
                greeted, ended = link.hello_at is not None, link.ended
            if not greeted:
                link.close()
                self._failed(OpenError(f"connection ended before Slack's hello ({ended})" if ended
                                       else f"no hello from Slack within {self.options.hello_timeout:g} s"))

    def _open_link(self) -> Link:
        url = self._open_url()
        with self._cond:
            link_id = self._next_id
            self._next_id += 1
        try:
            link = Link.connect(link_id, url, timeout=self.options.connect_timeout, on_message=self._on_message,
                                on_end=self._on_end, ping_interval=self.options.ping_interval,
                                pong_timeout=self.options.pong_timeout)
        except Exception as exc:  # noqa: BLE001 - refused, timed out, bad handshake: all retried the same way
            # The message may quote the URL, whose ticket is a credential: name the failure only.
            status = getattr(exc, "status_code", None)
            raise OpenError(f"WebSocket connection failed ({type(exc).__name__}"
                            + (f", HTTP {status})" if status else ")")) from None
        with self._cond:
            self._links.append(link)
        return link.start()

    def _open_url(self) -> str:
        try:
            resp = self.web_client.apps_connections_open(app_token=self._token)
        except SlackApiError as err:
            code = str(err.response.get("error") or f"HTTP {err.response.status_code}")
            retry_after = 0.0
            with contextlib.suppress(TypeError, ValueError):
                retry_after = float(err.response.headers.get("Retry-After") or 0)
            raise OpenError(f"apps.connections.open: {code}", token=code in TOKEN_ERRORS,
                            retry_after=retry_after) from None
        except Exception as exc:  # noqa: BLE001 - network errors of every kind
            raise OpenError(f"apps.connections.open unreachable ({type(exc).__name__})") from None
        url = resp.get("url")
        if not isinstance(url, str) or not url.startswith(("wss://", "ws://")):
            raise OpenError("apps.connections.open returned no WebSocket URL")
        return url

    def _failed(self, err: OpenError) -> None:
        with self._cond:
            self._failures += 1
            self._retry_after = err.retry_after
            if err.token:
                self._token_error = err.error
            self._set_down(err.error)
            self._cond.notify_all()
        log.warning("socket mode: %s (retry %d)", err.error, self._failures)

    def _set_down(self, why: str) -> None:
        """Not connected as it should be (called with the lock held); a bot still starting stays `starting`."""
        if self._status.state == "connected":
            self._status.state = "reconnecting"
            self._status.down_since = time.monotonic()
        self._status.last_error = why

    def _drain_wait(self) -> float | None:
        draining = [lk.draining_since for lk in self._links if lk.draining_since and lk.ended is None]
        if not draining:
            return None
        return max(0.05, min(draining) + self.options.drain_seconds - time.monotonic())

    def _close_drained(self) -> None:
        now = time.monotonic()
        for lk in self._links:
            if lk.draining_since and lk.ended is None and now - lk.draining_since >= self.options.drain_seconds:
                lk.close()

    # ----- events from connections (reader threads) ------------------------------------------------
    def _on_end(self, link: Link, why: str) -> None:
        with self._cond:
            if link in self._links:
                self._links.remove(link)
            if not self._closed:
                if link.hello_at and time.monotonic() - link.hello_at < self.options.stable_seconds:
                    self._failures += 1  # one that dies young again and again must not reconnect in a loop
                if not any(lk.live for lk in self._links):
                    self._set_down(LINK_DISABLED if self._disabled else f"connection {link.id} ended: {why}")
            self._cond.notify_all()
        if not self._closed:
            log.info("socket mode: connection %s ended (%s)", link.id, why)

    def _on_message(self, link: Link, raw: str) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            log.warning("socket mode: ignored a message that is not JSON on connection %s", link.id)
            return
        if not isinstance(message, dict):
            return
        kind = message.get("type")
        if kind == "hello":
            self._on_hello(link, message)
        elif kind == "disconnect":
            self._on_disconnect(link, str(message.get("reason") or ""))
        elif kind in ENVELOPE_TYPES and isinstance(message.get("envelope_id"), str):
            self._on_envelope(link, message)

    def _on_hello(self, link: Link, message: dict[str, Any]) -> None:
        info = message.get("connection_info")
        with self._cond:
            link.hello_at = time.monotonic()
            if self._status.state == "reconnecting":
                self._status.reconnects += 1
            if self._status.state != "stopped":
                self._status.state = "connected"
            self._status.down_since = None
            self._status.last_error = None
            self._token_error = None
            self._disabled = False
            if isinstance(info, dict) and isinstance(info.get("app_id"), str):
                self._status.app_id = info["app_id"][:32]
            self._failures = 0
            self._retry_after = 0.0
            self._cond.notify_all()
        log.info("socket mode: connected (connection %s)", link.id)

    def _on_disconnect(self, link: Link, reason: str) -> None:
        log.info("socket mode: Slack asked connection %s to disconnect (%s)", link.id, reason or "no reason")
        with self._cond:
            link.draining_since = time.monotonic()
            if reason == "link_disabled":
                # Socket Mode was turned off in the app settings: nothing to move to until it is on again.
                self._disabled = True
                self._failures = max(self._failures, 6)
                link.close()
                if not any(lk.live for lk in self._links):
                    self._set_down(LINK_DISABLED)
            elif reason == "too_many_websockets":
                self._failures += 1
            # Otherwise (refresh_requested, warning) the status stays connected: the old connection still
            # delivers while the supervisor opens the new one.
            self._cond.notify_all()

    # ----- envelopes -------------------------------------------------------------------------------
    def _on_envelope(self, link: Link, message: dict[str, Any]) -> None:
        if self._closed:  # shutting down: Slack redelivers what is not acked
            return
        eid = message["envelope_id"][:128]
        resend: str | None = None
        with self._seen_lock:
            seen = self._seen.get(eid)
            if seen is None:
                entry = self._seen[eid] = _Seen(links=[link])
                while len(self._seen) > self.options.remember_envelopes:
                    self._seen.popitem(last=False)  # an entry still in flight keeps its own reference below
            elif seen.done:
                resend = seen.ack
            else:
                seen.links.append(link)
        if seen is not None:
            log.info("socket mode: envelope %s delivered again; not dispatched twice", eid)
            if resend is not None:
                link.send(resend)
            return
        self._workers.submit(self._dispatch, entry, eid, message)

    def _dispatch(self, entry: _Seen, eid: str, message: dict[str, Any]) -> None:
        req = SocketModeRequest.from_dict(message)
        if req is None:  # no payload: nothing to run, but Slack still wants the envelope acknowledged
            self.send_ack(entry, eid, json.dumps({"envelope_id": eid}))
            return
        started = time.time()
        try:
            resp = run_bolt_app(self.app, req)
            # arg-type: _AckRoute is the part of a Bolt socket-mode client that send_response uses (a logger
            # and send_socket_mode_response); the runner owns its connections itself.
            send_response(_AckRoute(self, entry, eid), req, resp, started)  # type: ignore[arg-type]
        except Exception:  # noqa: BLE001 - one envelope must never stop the others
            log.exception("socket mode: envelope %s failed", eid)
        finally:
            self._settle(entry, None, only_if_pending=True)  # Bolt sent no ack (non-200): nothing to repeat

    def _settle(self, entry: _Seen, ack: str | None, *, only_if_pending: bool = False) -> list[Link]:
        """Mark the envelope answered; returns the connections waiting for its ack."""
        with self._seen_lock:
            if only_if_pending and entry.done:
                return []
            entry.done, entry.ack = True, ack
            links, entry.links = entry.links, []
            return links

    def send_ack(self, entry: _Seen, eid: str, text: str) -> None:
        """Send an ack on every connection that delivered the envelope (normally one)."""
        sent = [link.send(text) for link in self._settle(entry, text)]  # every one, not just the first
        if not any(sent):
            log.warning("socket mode: the ack for envelope %s was not sent: its connection closed; Slack will "
                        "redeliver it", eid)


class _AckRoute:
    """What Bolt's send_response needs from a client: a logger, and a way to send one envelope's ack."""

    def __init__(self, runner: SocketModeRunner, entry: _Seen, eid: str) -> None:
        self.runner = runner
        self.entry = entry
        self.eid = eid
        self.logger = log

    def send_socket_mode_response(self, response: SocketModeResponse | dict[str, Any]) -> None:
        body = response.to_dict() if isinstance(response, SocketModeResponse) else response
        self.runner.send_ack(self.entry, self.eid, json.dumps(body))
