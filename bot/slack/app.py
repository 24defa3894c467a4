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

from bot.app.context import AppContext
from bot.config.org import load_config
from bot.config.settings import Settings
from bot.core.clock import Clock, SystemClock
from bot.core.hooks import Hooks
from bot.core.severity import load_rules
from bot.slack import guard
from bot.slack.client import make_client
from bot.slack.commands import CommandRegistry
from bot.store.db import Database
from bot.store.models import ProcessedRequest

log = logging.getLogger(__name__)

# Feature modules, each with `register(app, ctx)`. Order matters only for `/incident help`'s tie-breaks.
FEATURES = [
    "bot.slack.commands.dispatch",
    "bot.slack.commands.open",
    "bot.slack.commands.roles",
    "bot.slack.commands.severity",
    "bot.slack.commands.status",
    "bot.slack.commands.close",
    "bot.slack.commands.listing",
    "bot.slack.commands.reactions",
    "bot.slack.commands.repro",
    "bot.slack.commands.probe",
    "bot.slack.commands.tabletop",
    "bot.slack.commands.postmortem",
    "bot.slack.commands.actions",
    "bot.slack.commands.metrics",
    "bot.slack.home",
    "bot.slack.commands.contain",
    "bot.slack.commands.runbook",
    "bot.scheduler.feature",
    "bot.slack.commands.report_clock",
]


class TrackingExecutor(Executor):
    """Two thread pools that know when all submitted work has finished (tests, console, bench).

    `submit` is Bolt's listener lane: listeners ack there. `submit_work` is the work lane for what a
    listener does after its ack. Keeping the two apart means a busy bot still acks at once: a new
    request's listener never queues behind earlier requests' work.
    """

    def __init__(self, max_workers: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="firebreak")
        self._work = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="firebreak-work")
        self._pending = 0
        self._cond = threading.Condition()

    def _track(self, pool: ThreadPoolExecutor, fn, /, *args, **kwargs) -> Future:
        with self._cond:
            self._pending += 1

        def run() -> Any:
            try:
                return fn(*args, **kwargs)
            finally:
                with self._cond:
                    self._pending -= 1
                    self._cond.notify_all()

        return pool.submit(run)

    def submit(self, fn, /, *args, **kwargs) -> Future:  # type: ignore[override]
        return self._track(self._pool, fn, *args, **kwargs)

    def submit_work(self, fn, /, *args, **kwargs) -> Future:
        """Run slow work after an ack, on the work lane."""
        return self._track(self._work, fn, *args, **kwargs)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._pending == 0, timeout=timeout)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)  # listeners may still queue work
        self._work.shutdown(wait=wait, cancel_futures=cancel_futures)


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

    guard.install(app)  # refuses other workspaces / apps before anything below runs or writes

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
    ctx.services["work"] = executor  # `ctx.services["work"].submit_work(fn, ...)`: slow work after an ack
    for name in FEATURES:
        importlib.import_module(name).register(app, ctx)
    return Bot(app=app, ctx=ctx, executor=executor)


def create_app(settings: Settings, clock: Clock | None = None) -> App:
    return build(settings, clock).app
