"""create_app(settings, clock=...) builds the Bolt app. Nothing connects, schedules or calls Slack at import."""

from __future__ import annotations

import hashlib
import importlib
import logging
import threading
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from slack_bolt import App, BoltResponse
from slack_bolt.request import BoltRequest
from sqlalchemy.exc import IntegrityError

from bot.clock import Clock, SystemClock
from bot.commands import CommandRegistry
from bot.config import load_config
from bot.context import AppContext
from bot.db import Database
from bot.hooks import Hooks
from bot.models import ProcessedRequest
from bot.settings import Settings
from bot.severity import load_rules
from bot.slack.client import make_client

log = logging.getLogger(__name__)

# Feature modules, each with `register(app, ctx)`. Order matters only for `/incident help`'s tie-breaks.
FEATURES = [
    "bot.commands.dispatch",
    "bot.commands.open",
    "bot.commands.roles",
    "bot.commands.severity",
    "bot.commands.status",
    "bot.commands.close",
    "bot.commands.listing",
    "bot.commands.reactions",
    "bot.commands.repro",
    "bot.commands.probe",
    "bot.commands.tabletop",
    "bot.commands.postmortem",
    "bot.commands.actions",
    "bot.commands.metrics",
    "bot.home",
    "bot.commands.contain",
    "bot.commands.runbook",
    "bot.scheduler.feature",
    "bot.commands.report_clock",
]


class TrackingExecutor(Executor):
    """A thread pool that knows when all submitted listener work has finished (tests, console, bench)."""

    def __init__(self, max_workers: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="firebreak")
        self._pending = 0
        self._cond = threading.Condition()

    def submit(self, fn, /, *args, **kwargs) -> Future:  # type: ignore[override]
        with self._cond:
            self._pending += 1

        def run() -> Any:
            try:
                return fn(*args, **kwargs)
            finally:
                with self._cond:
                    self._pending -= 1
                    self._cond.notify_all()

        return self._pool.submit(run)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._pending == 0, timeout=timeout)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)


@dataclass
class Bot:
    app: App
    ctx: AppContext
    executor: TrackingExecutor

    def close(self) -> None:
        for svc in list(self.ctx.services.values()):
            stop = getattr(svc, "close", None)
            if callable(stop):
                try:
                    stop()
                except Exception:  # noqa: BLE001
                    log.exception("closing %s failed", svc)
        self.executor.shutdown(wait=True)
        self.ctx.db.dispose()


def request_key(raw_body: str) -> str:
    return hashlib.sha256(raw_body.encode("utf-8")).hexdigest()


def first_time(ctx: AppContext, key: str) -> bool:
    """Record a request; False when this exact request was already handled (a Slack retry)."""
    try:
        with ctx.db.session() as session:
            session.add(ProcessedRequest(key=key, received_at=ctx.clock.now()))
    except IntegrityError:
        return False
    return True


def build(settings: Settings, clock: Clock | None = None, *, db: Database | None = None) -> Bot:
    """Build the app and its context; validates every configuration file and raises ConfigError if invalid."""
    clock = clock or SystemClock()
    config = load_config(settings.config_file)
    rules = load_rules(settings.severity_rules_file)
    client = make_client(settings)
    ctx = AppContext(settings=settings, config=config, clock=clock, db=db or Database(settings.database_url),
                     rules=rules, hooks=Hooks(), client=client, commands=CommandRegistry())
    executor = TrackingExecutor(max_workers=settings.worker_threads)
    app = App(
        client=client,
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        token_verification_enabled=False,
        listener_executor=executor,
        process_before_response=False,
        ignoring_self_events_enabled=True,
    )

    @app.middleware
    def once_only(request: BoltRequest, next) -> BoltResponse | None:  # noqa: A002 - Bolt's name
        # Slack retries a request it thinks timed out with the same body (X-Slack-Retry-Num). The body
        # carries a unique trigger_id / event_id, so its hash identifies the request across processes.
        if request.raw_body and not first_time(ctx, request_key(request.raw_body)):
            log.info("ignoring repeated request (retry %s)", request.headers.get("x-slack-retry-num"))
            return BoltResponse(status=200, body="")
        return next()

    from bot.scheduler.durable import DurableTimers

    ctx.services["timers"] = DurableTimers(ctx, database_url=settings.scheduler_database_url)
    for name in FEATURES:
        importlib.import_module(name).register(app, ctx)
    return Bot(app=app, ctx=ctx, executor=executor)


def create_app(settings: Settings, clock: Clock | None = None) -> App:
    return build(settings, clock).app
