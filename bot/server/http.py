"""HTTP mode: Bolt's POST /slack/events, GET /healthz (readiness) and /livez (liveness), served by waitress."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from bot.server.health import Readiness, respond
from bot.slack.app import Bot
from bot.slack.request import WsgiHandler

log = logging.getLogger(__name__)


def make_wsgi(bot: Bot, readiness: Readiness, *, alerts_only: bool = False) -> Callable[..., Iterable[bytes]]:
    """`alerts_only`: the listener Socket Mode opens for alert sources (no /slack/events there)."""
    slack = WsgiHandler(bot.app)
    alerts = alert_wsgi(bot)

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if method == "GET" and (answer := respond(path, readiness)) is not None:
            status, body = answer
            start_response("200 OK" if status == 200 else "503 Service Unavailable",
                           [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        if path == "/slack/events" and method == "POST" and not alerts_only:
            return slack(environ, start_response)
        if path.startswith("/alerts/"):
            return alerts(environ, start_response)
        body = b"not found"
        start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]

    return wsgi


def alert_wsgi(bot: Bot) -> Callable[..., Iterable[bytes]]:
    """POST /alerts/<source> (docs/alerts.md): stored before the answer, worked on the alerts lane after it."""
    from bot.alerts.intake import wsgi

    def intake():  # noqa: ANN202
        svc = bot.ctx.alerts
        return svc.intake if svc is not None and svc.alert_rules.sources else None

    return wsgi(intake)


class HttpServer:
    """Serve the bot in a background thread (tests, bench, `firebreak serve`) or the foreground.

    Readiness starts with a `serving` check that passes once the server runs; `serve` adds the Slack
    installation check, so /healthz answers 503 (saying why) until `auth.test` has succeeded.
    """

    def __init__(self, bot: Bot, host: str = "0.0.0.0", port: int = 3000, threads: int = 16,
                 readiness: Readiness | None = None, *, alerts_only: bool = False) -> None:
        from waitress.server import create_server

        self._serving = threading.Event()
        self.readiness = readiness or Readiness()
        self.readiness.add("serving", lambda: None if self._serving.is_set() else "not serving yet")
        wsgi = make_wsgi(bot, self.readiness, alerts_only=alerts_only)
        self.server = create_server(wsgi, host=host, port=port, threads=threads,
                                    channel_timeout=30, ident="firebreak")
        self.port = self.server.effective_port  # type: ignore[union-attr]
        self.host = host

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"

    def serve_forever(self) -> None:
        self._serving.set()
        self.server.run()

    def start_background(self) -> threading.Thread:
        self._thread = threading.Thread(target=self.serve_forever, name="firebreak-http", daemon=True)
        self._thread.start()
        return self._thread

    def close(self) -> None:
        """Let in-flight requests finish, then close every socket from the server's own loop thread.

        Closing them from this thread instead races the loop's select() (EBADF in the loop, and in
        request threads that wake it): the stop would be noisy and could drop a response.
        """
        from waitress import wasyncore

        server = self.server
        server.task_dispatcher.shutdown(timeout=5)
        thread = getattr(self, "_thread", None)
        if thread is not None and thread.is_alive():
            sockets = server._map  # type: ignore[union-attr]  # waitress's socket map, owned by the loop
            server.trigger.pull_trigger(lambda: wasyncore.close_all(sockets))  # type: ignore[union-attr]
            thread.join(5)
        else:
            server.close()
