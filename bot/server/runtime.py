"""Start-up for `firebreak serve`: validate config, migrate, then Socket Mode or HTTP."""

from __future__ import annotations

import logging

from bot.config.settings import Settings
from bot.slack.app import Bot, build
from bot.store.migrate import upgrade

log = logging.getLogger(__name__)


def start_bot(settings: Settings) -> Bot:
    """Build (validating every config file) and migrate. Raises ConfigError on invalid configuration."""
    bot = build(settings)
    upgrade(bot.ctx.db.engine)
    if settings.scheduler_mode == "embedded":  # else a `firebreak scheduler` process runs the timers
        bot.ctx.timers.start(settings.scheduler_interval)
    return bot


def serve(settings: Settings, *, http: bool, host: str, port: int) -> None:
    bot = start_bot(settings)
    try:
        if settings.slack_app_token is not None and not http:
            from slack_bolt.adapter.socket_mode import SocketModeHandler

            log.info("firebreak: Socket Mode")
            SocketModeHandler(bot.app, settings.slack_app_token.get_secret_value()).start()
            return
        from bot.server.http import HttpServer

        server = HttpServer(bot, host=host, port=port)
        log.info("firebreak: HTTP on %s (POST /slack/events, GET /healthz)", server.url)
        server.serve_forever()
    finally:
        bot.close()
