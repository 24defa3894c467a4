"""Readiness and liveness for process supervisors.

`GET /healthz` is readiness: 200 only when every check passes (Slack accepted the bot token through
`auth.test`; in Socket Mode, a connection is up), else 503 with what is wrong. `GET /livez` is liveness:
200 while the process serves HTTP at all. In HTTP mode both live on the main port (bot/server/http.py);
in Socket Mode, where there is no port, FIREBREAK_HEALTH_PORT opens a small one (`HealthServer`).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# A check answers None when all is well, else a short sentence saying what is wrong (never a secret).
Check = Callable[[], "str | None"]


class Readiness:
    """Named checks; ready when none reports a problem. Thread-safe; checks are called on every probe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._checks: dict[str, Check] = {}

    def add(self, name: str, check: Check) -> None:
        with self._lock:
            self._checks[name] = check

    def set(self, name: str, problem: str | None) -> None:
        """A check with a fixed answer, changed by calling `set` again."""
        self.add(name, lambda: problem)

    def report(self) -> tuple[bool, dict[str, Any]]:
        with self._lock:
            checks = dict(self._checks)
        results: dict[str, str] = {}
        for name, check in checks.items():
            try:
                problem = check()
            except Exception as exc:  # noqa: BLE001 - a failing check is a problem to report, not a crash
                problem = f"check failed ({type(exc).__name__})"
            results[name] = "ok" if problem is None else problem
        ok = all(v == "ok" for v in results.values())
        return ok, {"ok": ok, "checks": results}


def respond(path: str, readiness: Readiness) -> tuple[int, bytes] | None:
    """The status and JSON body for a health path, or None for any other path."""
    if path == "/livez":
        return 200, b'{"ok": true}'
    if path == "/healthz":
        ok, body = readiness.report()
        return (200 if ok else 503), json.dumps(body).encode()
    return None


class HealthServer:
    """GET /healthz and /livez on their own port, for Socket Mode deployments. `close()` stops it."""

    def __init__(self, readiness: Readiness, host: str, port: int) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                answer = respond(self.path.split("?", 1)[0], readiness)
                status, body = answer or (404, b'{"ok": false, "error": "not found"}')
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:  # probes every few seconds would flood the log
                return

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.port: int = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.5},
                                        name="firebreak-health", daemon=True)

    def start(self) -> HealthServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
