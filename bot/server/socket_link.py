"""One Socket Mode WebSocket connection: read it, keep it honest with pings, send acks on it.

Each connection has its own reader thread. The thread sleeps in `select()` until a frame arrives, a ping is
due, or someone asks the connection to close, so an idle or broken connection costs no CPU. A path that
goes quiet is probed with a ping after `ping_interval` seconds of silence and declared dead when the ping
is not answered within `pong_timeout` (any frame counts as an answer). A close frame, a close without a
frame and a TCP reset all end the reader at once, and the owner is told why through `on_end`.

The connection never reconnects by itself: the runner (bot/server/socket_mode.py) decides when to open
another, which is what lets it keep an old connection open while a new one comes up.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import threading
import time
from collections.abc import Callable

import websocket
from websocket import ABNF, WebSocketConnectionClosedException, WebSocketTimeoutException

log = logging.getLogger(__name__)

MAX_MESSAGE = 1 << 20  # bytes: Slack's envelopes are a few KB; anything larger is dropped unread


class Link:
    """An open WebSocket to Slack. `start()` begins reading; `on_end(link, why)` is called exactly once."""

    def __init__(self, link_id: int, ws: websocket.WebSocket, *, on_message: Callable[[Link, str], None],
                 on_end: Callable[[Link, str], None], ping_interval: float, pong_timeout: float,
                 frame_timeout: float = 10.0) -> None:
        self.id = link_id
        self.ws = ws
        self.on_message = on_message
        self.on_end = on_end
        self.ping_interval = ping_interval
        self.pong_timeout = pong_timeout
        self.opened_at = time.monotonic()
        self.hello_at: float | None = None
        self.draining_since: float | None = None  # Slack asked us to move to a new connection
        self.ended: str | None = None
        self._stopping = False
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread = threading.Thread(target=self._run, name=f"firebreak-socket-{link_id}", daemon=True)
        ws.settimeout(frame_timeout)  # for a frame already begun, and for sends

    @classmethod
    def connect(cls, link_id: int, url: str, *, timeout: float, on_message: Callable[[Link, str], None],
                on_end: Callable[[Link, str], None], ping_interval: float, pong_timeout: float) -> Link:
        """Open the WebSocket (TCP, TLS, handshake) within `timeout` seconds."""
        ws = websocket.create_connection(url, timeout=timeout, enable_multithread=True)
        return cls(link_id, ws, on_message=on_message, on_end=on_end, ping_interval=ping_interval,
                   pong_timeout=pong_timeout)

    def start(self) -> Link:
        self._thread.start()
        return self

    @property
    def live(self) -> bool:
        """Open, greeted by Slack, and not being left: a connection that counts as connected."""
        return self.ended is None and self.hello_at is not None and self.draining_since is None

    def send(self, text: str) -> bool:
        """Send a text frame; False when the connection is gone (the caller decides what that means)."""
        if self.ended is not None:
            return False
        try:
            self.ws.send(text)
            return True
        except (OSError, websocket.WebSocketException) as exc:
            log.info("socket mode: could not send on connection %s (%s)", self.id, type(exc).__name__)
            return False

    def close(self) -> None:
        """Ask the reader to send a close frame and stop; returns at once."""
        self._stopping = True
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    def join(self, timeout: float) -> None:
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    # ----- the reader -------------------------------------------------------------------------------
    def _run(self) -> None:
        why = "stopped"
        try:
            why = self._read()
        except ConnectionResetError:
            why = "connection reset"
        except WebSocketConnectionClosedException:
            why = "closed without a close frame"
        except WebSocketTimeoutException:
            why = "a frame stalled mid-way"
        except Exception as exc:  # noqa: BLE001 - any failure of one connection ends only that connection
            why = f"{type(exc).__name__}: {exc}"[:200]
        finally:
            self._finish(why)

    def _read(self) -> str:
        sock = self.ws.sock
        assert sock is not None
        last_rx = time.monotonic()
        ping_at: float | None = None
        while not self._stopping:
            now = time.monotonic()
            if ping_at is None:
                wait = last_rx + self.ping_interval - now
                if wait <= 0:
                    self.ws.ping(b"firebreak")
                    ping_at = now
                    continue
            else:
                wait = ping_at + self.pong_timeout - now
                if wait <= 0:
                    return f"no answer to a ping within {self.pong_timeout:g} s"
            if not _pending(sock):
                ready, _, _ = select.select([sock, self._wake_r], [], [], wait)
                if self._wake_r in ready or sock not in ready:
                    continue
            opcode, frame = self.ws.recv_data_frame(True)
            last_rx = time.monotonic()
            ping_at = None
            if opcode == ABNF.OPCODE_CLOSE:  # the library has answered it with our close frame
                return "close frame"
            if opcode in (ABNF.OPCODE_TEXT, ABNF.OPCODE_BINARY):
                data = frame.data
                if len(data) > MAX_MESSAGE:
                    log.warning("socket mode: dropped a %d-byte message on connection %s", len(data), self.id)
                    continue
                self.on_message(self, data.decode("utf-8", "replace") if isinstance(data, bytes) else data)
        return "stopped"

    def _finish(self, why: str) -> None:
        if why == "stopped":
            with contextlib.suppress(Exception):
                self.ws.close(timeout=1)  # close frame, then wait up to 1 s for Slack's
        with contextlib.suppress(Exception):
            self.ws.shutdown()
        for s in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                s.close()
        self.ended = why
        self.on_end(self, why)


def _pending(sock: socket.socket) -> bool:
    """Bytes TLS has already decrypted are invisible to select(); read them before sleeping."""
    pending = getattr(sock, "pending", None)
    return bool(pending and pending())
