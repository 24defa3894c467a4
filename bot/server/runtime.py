"""Start-up for `firebreak serve`: check the secrets, migrate, confirm the Slack installation, then serve.

Order matters: nothing answers Slack before `auth.test` has confirmed the bot token and told us which
installation we are (the guard refuses everything until then); the HTTP port and the Socket Mode health
port open first so a supervisor can read why start-up is waiting. Every failure becomes one StartupError
line (bot/server/startup.py); the CLI prints it and exits non-zero.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Callable
from typing import TypeVar

from slack_sdk import WebClient

from bot.config.settings import Settings
from bot.server.health import HealthServer, Readiness
from bot.server.socket_mode import OpenError, SocketModeRunner, Status
from bot.server.startup import (
    StartupError,
    check_secrets,
    installation_for,
    learn_identity,
    migrate,
    where,
)
from bot.slack import guard
from bot.slack.app import Bot, build
from bot.store.migrate import upgrade

log = logging.getLogger(__name__)
S = TypeVar("S")


def start_bot(settings: Settings) -> Bot:
    """Build (validating every config file) and migrate. Raises ConfigError on invalid configuration."""
    bot = build(settings)
    upgrade(bot.ctx.db.engine)
    bot.ctx.effects.start()  # finishes side effects a crash interrupted, then keeps the ledger moving
    if settings.scheduler_mode == "embedded":  # else a `firebreak scheduler` process runs the timers
        bot.ctx.timers.start(settings.scheduler_interval)
    return bot


def socket_problem(status: Status) -> str | None:
    """The Socket Mode readiness check: None when connected, else what is wrong."""
    if status.connected:
        return None
    return f"{status.state}: {status.last_error or 'no connection yet'}"


def serve(settings: Settings, *, http: bool, host: str, port: int) -> None:
    """Run until SIGTERM / Ctrl-C. Raises StartupError (one line) or ConfigError when it cannot start."""
    socket_mode = settings.slack_app_token is not None and not http
    stop = _stop_on_sigterm()  # from the first moment: a supervisor stopping us mid-start-up gets a clean stop
    bot = build(settings)  # validates every configuration file first; connects to nothing
    closers: list[Callable[[], None]] = []
    try:
        check_secrets(settings)
        migrate(bot.ctx.db.engine, settings.database_url)
        readiness = Readiness()
        readiness.set("slack", "auth.test has not succeeded yet")
        bot_guard = guard.of(bot.app)
        bot_guard.require()
        if socket_mode:
            if (health_port := settings.health_port):
                closers.append(_listen(lambda: HealthServer(readiness, host, health_port).start(),
                                       f"FIREBREAK_HEALTH_PORT {settings.health_port}").close)
                log.info("firebreak: health on %s:%s (GET /healthz, /livez)", host, settings.health_port)
            if bot.ctx.alerts is not None and bot.ctx.alerts.alert_rules.sources:  # docs/alerts.md
                from bot.server.http import HttpServer

                alerts = _listen(lambda: HttpServer(bot, host=host, port=settings.alerts_port, readiness=readiness,
                                                    alerts_only=True), f"FIREBREAK_ALERTS_PORT {settings.alerts_port}")
                alerts.start_background()
                closers.append(alerts.close)
                log.info("firebreak: alerts on %s (POST /alerts/<source>)", alerts.url)
        else:
            from bot.server.http import HttpServer

            server = _listen(lambda: HttpServer(bot, host=host, port=port, readiness=readiness), f"port {port}")
            server.start_background()
            closers.append(server.close)
            log.info("firebreak: HTTP on %s (POST /slack/events, GET /healthz, /livez)", server.url)
        token = settings.slack_bot_token.get_secret_value()
        api = WebClient(token=token, base_url=settings.api_url(), timeout=int(settings.slack_timeout_seconds))
        config = bot.ctx.config.installation
        identity = learn_identity(api, timeout=settings.startup_timeout_seconds, config_app_id=config.app_id,
                                  on_retry=lambda problem: readiness.set("slack", problem))
        bot_guard.expect(installation_for(identity, config))
        log.info("firebreak: Slack installation confirmed (team %s, app %s)",
                 identity.team_id or identity.enterprise_id, identity.app_id)
        if socket_mode:
            assert settings.slack_app_token is not None
            runner = SocketModeRunner(bot.app, settings.slack_app_token.get_secret_value().strip(),
                                      web_client=WebClient(base_url=settings.api_url(), timeout=10))
            readiness.add("socket_mode", lambda: socket_problem(runner.status()))
            closers.insert(0, runner.close)
            runner.start()
            _connected(runner, settings, identity.app_id)
        bot.ctx.effects.start()  # finishes side effects a crash interrupted, then keeps the ledger moving
        if bot.ctx.alerts is not None:
            bot.ctx.alerts.kick()  # alerts stored (answered 202) but not yet worked on when the last process stopped
        if settings.scheduler_mode == "embedded":  # else a `firebreak scheduler` process runs the timers
            bot.ctx.timers.start(settings.scheduler_interval)
        readiness.set("slack", None)  # ready only once everything that serves has started
        log.info("firebreak: ready (%s)", "Socket Mode" if socket_mode else "HTTP")
        wait_until(stop)
    finally:
        for close in closers:
            with contextlib.suppress(Exception):
                close()
        bot.close()


def _listen(open_server: Callable[[], S], what: str) -> S:
    """Open a listening server; a port in use becomes one StartupError line."""
    try:
        return open_server()
    except OSError as err:
        raise StartupError(f"cannot listen on {what}: {err.strerror or err}; choose a free port") from err


def _connected(runner: SocketModeRunner, settings: Settings, app_id: str) -> None:
    try:
        status = runner.wait_connected(settings.startup_timeout_seconds)
    except OpenError as err:
        if err.token:
            raise StartupError(f"SLACK_APP_TOKEN was refused by Slack ({err.error}); set it to an app-level "
                               "token (xapp-…) with the connections:write scope, from the app's Basic "
                               "Information page") from None
        raise StartupError(f"cannot connect to Slack over Socket Mode at {where(settings.api_url())} within "
                           f"{settings.startup_timeout_seconds:g} s ({err.error}); check the network, SLACK_API_URL "
                           "or FIREBREAK_STARTUP_TIMEOUT") from None
    if status.app_id and status.app_id != app_id:
        raise StartupError(f"SLACK_APP_TOKEN belongs to app {status.app_id} but SLACK_BOT_TOKEN to app {app_id}; "
                           "use the two tokens of the same Slack app")


SIGNAL_CHECK = 0.5  # seconds between the main thread's looks for a stop signal


def wait_until(stop: threading.Event) -> None:
    """Block the main thread until `stop` is set, in short waits: Python runs a signal's handler in the main
    thread only once that thread wakes, and the kernel may hand a SIGTERM to any other thread, so one long wait
    could leave a supervisor's SIGTERM unanswered until it ends (seen: a stop that took past 20 s under load)."""
    while not stop.wait(SIGNAL_CHECK):
        pass


def _stop_on_sigterm() -> threading.Event:
    """An event SIGTERM (a supervisor stopping us) sets; Ctrl-C is KeyboardInterrupt, handled by the CLI."""
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    return stop
