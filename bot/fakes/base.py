"""What every local stand-in shares: a quiet HTTP/1.1 handler, and serving on 127.0.0.1 in a daemon thread."""

from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class QuietHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 (keep-alive), and no request log lines in test output."""

    protocol_version = "HTTP/1.1"
    # An answer's headers and body are two writes: without TCP_NODELAY, on a kept-alive connection the body waits
    # for the client's delayed ACK (40 ms on Linux). Servers in front of real APIs send at once.
    disable_nagle_algorithm = True

    def log_message(self, *_args: Any) -> None:
        return


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up before its answer was written (it gave up waiting) is not an error of the
        stand-in's; anything else is printed as usual."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


def serve(handler: type[BaseHTTPRequestHandler], name: str) -> ThreadingHTTPServer:
    """Serve `handler` on 127.0.0.1 at a free port until `close()`; stopping takes at most 50 ms."""
    server = _Server(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True).start()
    return server


def host_port(server: ThreadingHTTPServer) -> tuple[str, int]:
    """Where a stand-in listens: an IPv4 server's address is a (host, port) pair."""
    address = server.server_address
    assert isinstance(address, tuple), "an IPv4 server's address is (host, port)"
    host, port = address[0], address[1]
    assert isinstance(host, str), "an IPv4 server's host is a string"
    return host, port


def close(server: ThreadingHTTPServer | None) -> None:
    if server is not None:
        server.shutdown()
        server.server_close()
