"""WebClient factory: every client uses SLACK_API_URL and retries rate limits, 5xx and connection errors."""

from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.config.settings import Settings


def make_client(settings: Settings) -> WebClient:
    client = WebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.api_url(),
        timeout=int(settings.slack_timeout_seconds),
    )
    client.retry_handlers.extend(
        [
            RateLimitErrorRetryHandler(max_retry_count=3),
            ServerErrorRetryHandler(max_retry_count=2),
            ConnectionErrorRetryHandler(max_retry_count=2),
        ]
    )
    return client
