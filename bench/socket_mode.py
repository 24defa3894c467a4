"""`python -m bench.socket_mode`: Socket Mode clients under the faults Slack's servers produce.

Each client runs the real firebreak Bolt app (on a temporary SQLite file) against the Socket Mode stand-in
(`bot/fakes/socket_mode.py`) in this process. For every fault it measures, on the stand-in's own clock:

* refresh / warning: Slack sends `disconnect` and leaves the old socket open; a command is delivered on the
  old socket at once. `first_ack_ms`: its ack latency; `ack_link`: whether it came back on the old socket
  ("old") or another ("new"); `back_s`: seconds until a new connection got `hello`.
* close / drop / reset / silent: a close frame, a close without a frame (TCP FIN), a TCP reset, or a path
  that stays open but answers nothing. `back_s`: seconds from the fault to the next `hello`;
  `cpu_s`: this process's CPU seconds over that gap (a busy loop shows here).
* open_fails: the connection drops and the next five `apps.connections.open` calls fail (HTTP 500).
  `back_s`, `cpu_s`, and `opens`: the calls made before success.

After each reconnection a command is delivered on the new connection; `ack_ms` is its ack latency.
A fault that does not recover within `--limit` seconds is reported as `> limit`.

Only 127.0.0.1 is contacted; each run is bounded by `--limit` per fault. The `aiohttp` and `websockets`
clients need `pip install aiohttp websockets` (firebreak does not depend on them).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from bot.config.settings import Settings
from bot.fakes.socket_mode import FakeSocketMode, Link
from bot.slack.harness import Harness

APP_TOKEN = "xapp-1-A0FIREBRK-1-bench"
SETTLE = 2.5  # seconds between the first hello and the fault
OPEN_FAILURES = 5
FAULTS = ["refresh", "warning", "close", "drop", "reset", "silent", "open_fails"]
CLIENTS = ["builtin", "websocket_client", "aiohttp", "websockets", "firebreak"]


class Client:
    """A Socket Mode client driving a Bolt app: start() connects, stop() closes."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError


class SyncBolt(Client):
    """slack_bolt's sync handlers (builtin, websocket_client) with their defaults."""

    def __init__(self, kind: str, app: Any, api_url: str) -> None:
        from slack_sdk import WebClient

        if kind == "builtin":
            from slack_bolt.adapter.socket_mode.builtin import SocketModeHandler
        else:
            from slack_bolt.adapter.socket_mode.websocket_client import SocketModeHandler  # type: ignore[no-redef]
        self.handler = SocketModeHandler(app, APP_TOKEN, web_client=WebClient(base_url=api_url))

    def start(self) -> None:
        self.handler.connect()

    def stop(self) -> None:
        self.handler.close()


class AsyncBolt(Client):
    """slack_bolt's asyncio handlers for a sync App (aiohttp, websockets), on a loop in its own thread."""

    def __init__(self, kind: str, app: Any, api_url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=f"bench-{kind}", daemon=True)
        self.thread.start()

        async def build() -> Any:
            from slack_sdk.web.async_client import AsyncWebClient

            if kind == "aiohttp":
                from slack_bolt.adapter.socket_mode.aiohttp import SocketModeHandler
            else:
                from slack_bolt.adapter.socket_mode.websockets import SocketModeHandler  # type: ignore[no-redef]
            return SocketModeHandler(app, APP_TOKEN, web_client=AsyncWebClient(base_url=api_url))

        self.handler = asyncio.run_coroutine_threadsafe(build(), self.loop).result(10)

    def start(self) -> None:
        asyncio.run_coroutine_threadsafe(self.handler.connect_async(), self.loop).result(10)

    def stop(self) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self.handler.close_async(), self.loop).result(10)
        except Exception:  # noqa: BLE001 - a client that cannot close cleanly is still stopped below
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


class Firebreak(Client):
    """firebreak's own client (bot/server/socket_mode.py) with the settings `serve` uses."""

    def __init__(self, app: Any, api_url: str) -> None:
        from slack_sdk import WebClient

        from bot.server.socket_mode import SocketModeRunner

        self.runner = SocketModeRunner(app, APP_TOKEN, web_client=WebClient(base_url=api_url))

    def start(self) -> None:
        self.runner.start()

    def stop(self) -> None:
        self.runner.close()


def make_client(kind: str, app: Any, api_url: str) -> Client:
    if kind in ("builtin", "websocket_client"):
        return SyncBolt(kind, app, api_url)
    if kind in ("aiohttp", "websockets"):
        return AsyncBolt(kind, app, api_url)
    if kind == "firebreak":
        return Firebreak(app, api_url)
    raise ValueError(f"unknown client {kind!r}")


def command_payload(h: Harness, text: str) -> dict[str, Any]:
    body, _ = h.command_body(text)
    return dict(parse_qsl(body, keep_blank_values=True))


def deliver_and_time(fake: FakeSocketMode, h: Harness, link: Link, limit: float) -> tuple[float | None, int | None]:
    eid = fake.deliver("slash_commands", command_payload(h, "help"), link=link)
    try:
        ack = fake.wait_ack(eid, timeout=limit)
    except TimeoutError:
        return None, None
    return (ack.at - fake.delivery(eid).at) * 1000, ack.link


def run_fault(kind: str, fault: str, limit: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        h = Harness(Settings(database_url=f"sqlite:///{tmp}/bench.db"))
        fake = FakeSocketMode(h.fake, app_token=APP_TOKEN).start()
        client = make_client(kind, h.bot.app, fake.api_url)
        out: dict[str, Any] = {"client": kind, "fault": fault}
        try:
            client.start()
            first = fake.wait_ready(timeout=10)
            time.sleep(SETTLE)  # a connection that has been up a while, as in production
            t0 = time.monotonic()
            cpu0 = time.process_time()
            if fault in ("refresh", "warning"):
                fake.disconnect("refresh_requested" if fault == "refresh" else "warning", link=first)
                ms, ack_link = deliver_and_time(fake, h, first, 5.0)
                out["first_ack_ms"] = None if ms is None else round(ms, 1)
                out["ack_link"] = None if ack_link is None else ("old" if ack_link == first.id else "new")
            elif fault == "open_fails":
                fake.fail_open(OPEN_FAILURES, status=500)
                fake.drop(first)
            else:
                {"close": fake.close, "drop": fake.drop, "reset": fake.reset, "silent": fake.silence}[fault](first)
            opens_before = len(fake.opens)
            try:
                new = fake.wait_ready(exclude=first, after=t0, timeout=limit)
            except TimeoutError:
                out["back_s"] = f"> {limit:g}"
                out["cpu_s"] = round(time.process_time() - cpu0, 2)
                return out
            out["back_s"] = round((new.hello_at or 0) - t0, 2)
            out["cpu_s"] = round(time.process_time() - cpu0, 2)
            if fault == "open_fails":
                out["opens"] = len(fake.opens) - opens_before
            time.sleep(0.2)
            ms, _ = deliver_and_time(fake, h, fake.newest(), 5.0)
            out["ack_ms"] = None if ms is None else round(ms, 1)
            return out
        finally:
            stopper = threading.Thread(target=client.stop, daemon=True)
            stopper.start()
            stopper.join(10)
            fake.stop()
            h.close()


def markdown(rows: list[dict[str, Any]]) -> str:
    cols = ["client", "fault", "first_ack_ms", "ack_link", "back_s", "cpu_s", "opens", "ack_ms"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join("" if r.get(c) is None else str(r.get(c)) for c in cols) + " |")
    return "\n".join(lines)


def cell(row: dict[str, Any]) -> str:
    """One client under one fault, in the words of docs/socket-mode.md."""
    if "error" in row:
        return "error: " + row["error"]
    if "first_ack_ms" in row:
        ms = row.get("first_ack_ms")
        return "– (never acked)" if ms is None else f"{ms:.0f} ms on the {row['ack_link']} socket"
    back = row.get("back_s")
    text = f"{back} s" if isinstance(back, str) else f"{back:.2f} s"
    text += f", CPU {row.get('cpu_s', 0):.2f} s"
    if row.get("opens"):
        text += f", {row['opens']} opens"
    return text


def pivot(rows: list[dict[str, Any]]) -> str:
    """Faults down, clients across: the table in docs/socket-mode.md."""
    clients = list(dict.fromkeys(r["client"] for r in rows))
    faults = list(dict.fromkeys(r["fault"] for r in rows))
    by = {(r["client"], r["fault"]): r for r in rows}
    lines = ["| fault | " + " | ".join(clients) + " |", "|---|" + "---|" * len(clients)]
    for fault in faults:
        lines.append(f"| {fault} | " + " | ".join(cell(by[(c, fault)]) if (c, fault) in by else ""
                                                   for c in clients) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.socket_mode", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", default=",".join(CLIENTS), help="comma list (default all): " + ", ".join(CLIENTS))
    p.add_argument("--faults", default=",".join(FAULTS), help="comma list (default all): " + ", ".join(FAULTS))
    p.add_argument("--limit", type=float, default=75.0, help="seconds to wait for a recovery (default 75)")
    p.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.CRITICAL)
    rows: list[dict[str, Any]] = []
    report: Callable[[dict[str, Any]], None] = lambda r: print(json.dumps(r), file=sys.stderr, flush=True)  # noqa: E731
    for kind in [c for c in args.clients.split(",") if c]:
        for fault in [f for f in args.faults.split(",") if f]:
            try:
                row = run_fault(kind, fault, args.limit)
            except Exception as exc:  # noqa: BLE001 - a client that cannot even start is a result too
                row = {"client": kind, "fault": fault, "error": f"{type(exc).__name__}: {exc}"[:200]}
            rows.append(row)
            report(row)
    print(markdown(rows))
    print()
    print(pivot(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
