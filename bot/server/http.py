"""HTTP mode: Bolt's POST /slack/events and GET /healthz, served by waitress (threaded WSGI)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from bot.slack.app import Bot
from bot.slack.request import WsgiHandler

log = logging.getLogger(__name__)


def make_wsgi(bot: Bot, is_ready: Callable[[], bool]) -> Callable[..., Iterable[bytes]]:
    slack = WsgiHandler(bot.app)

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/healthz" and method == "GET":
            ready = is_ready()
            body = json.dumps({"ok": ready}).encode()
            start_response("200 OK" if ready else "503 Service Unavailable",
                           [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        if path == "/slack/events" and method == "POST":
            return slack(environ, start_response)
        body = b"not found"
        start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]

    return wsgi


class HttpServer:
    """Serve the bot in a background thread (tests, bench) or the foreground (`firebreak serve`)."""

    def __init__(self, bot: Bot, host: str = "0.0.0.0", port: int = 3000, threads: int = 16) -> None:
        from waitress.server import create_server

        self._ready = threading.Event()
        self.server = create_server(make_wsgi(bot, self._ready.is_set), host=host, port=port, threads=threads,
                                    channel_timeout=30, ident="firebreak")
        self.port = self.server.effective_port  # type: ignore[union-attr]
        self.host = host

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"

    def mark_ready(self) -> None:
        self._ready.set()

    def serve_forever(self) -> None:
        self.mark_ready()
        self.server.run()

    def start_background(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="firebreak-http", daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        self.server.close()
