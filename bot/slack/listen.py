"""How every Slack listener behaves: acknowledge at once, then hand the work to a lane, exactly once.

- The ack never waits on the database or the network. A request is identified from its payload (a command's
  or a click's trigger id, an event's id), and a repeat seen moments ago in this process is dropped before
  any listener runs; the durable check — a `processed_request` row, shared by every process — happens on the
  work lane, so a Slack retry or a Socket Mode redelivery never runs a handler twice, whichever process gets it.
- If the database cannot be reached (PostgreSQL restarting, SQLite locked past a short bound), the person is
  told "firebreak cannot reach its database; your command was not applied — try again", never a 5xx and
  never a late ack.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from slack_bolt import BoltResponse
from slack_bolt.request import BoltRequest
from sqlalchemy import insert
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from bot.app.lanes import COMMANDS
from bot.slack.context import AppContext
from bot.store.db import DatabaseBusy
from bot.store.models import ProcessedRequest

log = logging.getLogger(__name__)

KEY = "firebreak_request_key"
DB_DOWN = (":warning: firebreak cannot reach its database right now, so your command was not applied. "
           "Try again in a moment.")
RECENT = 4096
DatabaseUnavailable = (OperationalError, PoolTimeout, DBAPIError, DatabaseBusy)


def identity(body: dict[str, Any]) -> str | None:
    """What makes a request itself, the same on every redelivery: never the raw bytes (empty in Socket Mode)."""
    if not isinstance(body, dict):
        return None
    if body.get("event_id"):
        return f"event:{body['event_id']}"
    kind = body.get("type") or ("command" if body.get("command") else None)
    trigger = body.get("trigger_id")
    if kind == "view_submission" and not trigger:  # a resubmission after errors is a new request: hash it all
        trigger = None
    if kind == "block_actions":
        actions = body.get("actions") or [{}]
        return f"action:{trigger}:{actions[0].get('action_ts')}" if trigger else None
    if trigger:
        return f"{kind or 'request'}:{trigger}"
    try:
        return "body:" + hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()
    except (TypeError, ValueError):
        return None


class Recent:
    """Request identities seen lately in this process (bounded): a redelivery is dropped before any work."""

    def __init__(self, size: int = RECENT) -> None:
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self.size = size

    def first(self, key: str) -> bool:
        with self._lock:
            if key in self._seen:
                self._seen.move_to_end(key)
                return False
            self._seen[key] = None
            if len(self._seen) > self.size:
                self._seen.popitem(last=False)
            return True


def middleware(ctx: AppContext) -> Callable[..., BoltResponse | None]:
    recent = Recent()

    def identify(request: BoltRequest, next: Callable[[], BoltResponse]) -> BoltResponse | None:  # noqa: A002
        key = identity(request.body)
        if key is not None:
            if not recent.first(key):
                log.info("ignoring a redelivered request (%s)", key.split(":", 1)[0])
                return BoltResponse(status=200, body="")
            request.context[KEY] = key
        return next()

    return identify


def first_time(ctx: AppContext, key: str) -> bool:
    """Record a request durably; False when some process already handled it."""
    try:
        ctx.db.write_one(_PROCESSED, {"key": hashlib.sha256(key.encode()).hexdigest(), "received_at": ctx.clock.now()})
    except IntegrityError:
        return False
    return True


_PROCESSED = insert(ProcessedRequest.__table__)  # type: ignore[attr-defined]  # SQLModel's table


def after_ack(ctx: AppContext, context: dict[str, Any], fn: Callable[..., None], *args: Any,
              lane: str = COMMANDS, tell: Callable[[str], object] | None = None) -> None:
    """Run `fn(*args)` on a work lane once per request; `tell(text)` answers the person if the database is down."""
    key = context.get(KEY) if context is not None else None
    ctx.lanes.run(lane, _once, ctx, key, fn, args, tell)


def _once(ctx: AppContext, key: str | None, fn: Callable[..., None], args: tuple[Any, ...],
          tell: Callable[[str], object] | None) -> None:
    try:
        if key is not None and not first_time(ctx, key):
            log.info("ignoring a request another process already handled")
            return
        fn(*args)
    except DatabaseUnavailable:
        log.warning("the database is unreachable; a request was not applied", exc_info=True)
        if tell is not None:
            try:
                tell(DB_DOWN)
            except Exception:  # noqa: BLE001 - Slack may be unreachable too; the log has it
                log.warning("could not tell the user that the database is unreachable")
