"""WebClient factory: every client uses SLACK_API_URL, keeps its connections open between calls, and retries rate
limits, 5xx and connection errors.

The SDK's own transport opens a new connection for every call (and asks the server to close it): against Slack
that is a TCP and a TLS handshake, one to two extra round trips and the handshake's CPU, before every one of
the ten or so calls an open makes. `KeepAliveWebClient` sends the same requests over HTTP/1.1 connections it
keeps (a few per host, closed after `IDLE_SECONDS` unused) and answers the SDK exactly as its transport does:
the same response shape, `HTTPError` for a status outside 2xx, the same retry handlers.
"""

from __future__ import annotations

import http.client
import io
import ssl
import threading
import time
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit
from urllib.request import Request

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.config.settings import Settings

IDLE_SECONDS = 20.0  # an idle connection is closed before servers commonly close theirs (30–60 s)
MAX_IDLE = 8         # idle connections kept per host (the effect lanes make up to 8 calls at once)
# A kept connection the server closed meanwhile fails before any answer comes back (the request never reached it):
# sent again once on a new connection. Any other failure is the SDK's to handle (its connection-error retry), as
# before; an answer that breaks off half-way is never sent again.
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, ConnectionAbortedError)

_Key = tuple[str, str, int]


class KeepAliveWebClient(WebClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._idle: dict[_Key, list[tuple[float, http.client.HTTPConnection]]] = {}
        self._pool_lock = threading.Lock()
        self._closed = False

    # ----- the transport ---------------------------------------------------------------------------------
    def _perform_urllib_http_request_internal(self, url: str, req: Request) -> dict[str, Any]:
        parts = urlsplit(url)
        if self.proxy is not None or parts.scheme not in ("http", "https") or not parts.hostname:
            return super()._perform_urllib_http_request_internal(url, req)
        key: _Key = (parts.scheme, parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = {name.title(): value for name, value in req.header_items()}  # as urllib sends them
        conn, reused = self._take(key)
        try:
            resp = self._send(conn, req, path, headers)
        except (URLError, *_STALE) as err:
            conn.close()
            stale = isinstance(err, _STALE) or isinstance(getattr(err, "reason", None), _STALE)
            if not (reused and stale):
                raise
            self._drop(key)  # the others idled as long: as likely closed
            conn, _ = self._take(key)
            try:
                resp = self._send(conn, req, path, headers)
            except BaseException:
                conn.close()
                raise
        except BaseException:
            conn.close()
            raise
        try:
            body = resp.read()
        except BaseException:  # the answer broke off: the request may have been acted on, so it is not sent again
            conn.close()
            raise
        if resp.will_close:
            conn.close()
        else:
            self._give(key, conn)
        if not 200 <= resp.status < 300:  # as urllib does: the SDK reads the error's status, headers and body
            raise HTTPError(url, resp.status, resp.reason, resp.headers, io.BytesIO(body))
        if resp.headers.get_content_type() == "application/gzip":
            return {"status": resp.status, "headers": resp.headers, "body": body}
        charset = resp.headers.get_content_charset() or "utf-8"
        return {"status": resp.status, "headers": resp.headers, "body": body.decode(charset)}

    @staticmethod
    def _send(conn: http.client.HTTPConnection, req: Request, path: str, headers: dict[str, str]
              ) -> http.client.HTTPResponse:
        try:
            conn.request(req.get_method(), path, body=req.data, headers=headers)  # type: ignore[arg-type]
        except OSError as err:  # as urllib: failing to connect or to send is a URLError (the SDK retries those)
            raise URLError(err) from err
        return conn.getresponse()

    # ----- the pool ----------------------------------------------------------------------------------------
    def _take(self, key: _Key) -> tuple[http.client.HTTPConnection, bool]:
        """An idle connection to `key` (True: it was used before), else a new one."""
        now = time.monotonic()
        stale: list[http.client.HTTPConnection] = []
        found: http.client.HTTPConnection | None = None
        with self._pool_lock:
            idle = self._idle.get(key, [])
            while idle:
                since, conn = idle.pop()
                if now - since < IDLE_SECONDS:
                    found = conn
                    break
                stale.append(conn)
        for conn in stale:
            conn.close()
        if found is not None:
            return found, True
        scheme, host, port = key
        if scheme == "https":
            context = self.ssl if isinstance(self.ssl, ssl.SSLContext) else ssl.create_default_context()
            return http.client.HTTPSConnection(host, port, timeout=self.timeout, context=context), False
        return http.client.HTTPConnection(host, port, timeout=self.timeout), False

    def _give(self, key: _Key, conn: http.client.HTTPConnection) -> None:
        with self._pool_lock:
            idle = self._idle.setdefault(key, [])
            if not self._closed and len(idle) < MAX_IDLE:
                idle.append((time.monotonic(), conn))
                return
        conn.close()

    def _drop(self, key: _Key) -> None:
        with self._pool_lock:
            idle = self._idle.pop(key, [])
        for _since, conn in idle:
            conn.close()

    def close(self) -> None:
        """Close the kept connections (the process is stopping)."""
        with self._pool_lock:
            self._closed = True
            keys = list(self._idle)
        for key in keys:
            self._drop(key)


def make_client(settings: Settings) -> KeepAliveWebClient:
    client = KeepAliveWebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.api_url(),
        timeout=int(settings.slack_timeout_seconds),
    )
    client.retry_handlers.extend(
        [
            RateLimitErrorRetryHandler(max_retry_count=3),
            ServerErrorRetryHandler(max_retry_count=2),
            ConnectionErrorRetryHandler(max_retry_count=2),
        ]
    )
    return client
