"""Secrets never leave: one redaction step, fed by every secret the process is configured with.

Error texts from outside services sometimes echo what they were sent (a pager that repeats the request with
its routing key, a webhook URL with a token in its query). Whatever firebreak writes — a Slack message, a
timeline event, a file, a log line — passes through `redact`, which replaces every known secret with
`[redacted]`. Secrets are registered when they are configured (`register`), including values only known at
run time (a secret a lever's template reads). Logging gets the same step through `LogFilter`, installed on the
process's handlers, and the HTTP libraries' chatty request lines are kept at WARNING.

The registry is process-wide: secrets are configuration of the process, and a redaction that depends on
plumbing an object to every writer is one that gets forgotten.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

REDACTED = "[redacted]"
MIN_LENGTH = 6  # shorter values are not secrets worth a search (and would redact ordinary words)
QUIET_LOGGERS = ("httpx", "httpcore", "urllib3", "slack_sdk", "slack_bolt", "launchdarkly", "ldclient", "websocket")

_lock = threading.Lock()
_values: set[str] = set()
_ordered: tuple[str, ...] = ()


def register(*values: Any) -> None:
    """Remember values that must never be shown (strings or pydantic SecretStr)."""
    global _ordered
    found = set()
    for value in values:
        if value is None:
            continue
        raw = value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
        if len(raw) >= MIN_LENGTH:
            found.add(raw)
    if not found:
        return
    with _lock:
        if found <= _values:
            return
        _values.update(found)
        _ordered = tuple(sorted(_values, key=len, reverse=True))


def redact(text: Any) -> Any:
    """The text with every known secret replaced; non-text passes through unchanged."""
    if not isinstance(text, str) or not text:
        return text
    for value in _ordered:
        if value in text:
            text = text.replace(value, REDACTED)
    return text


def redact_data(data: Any) -> Any:
    """Redact every string inside JSON-like data (timeline event data, effect payloads)."""
    if isinstance(data, str):
        return redact(data)
    if isinstance(data, dict):
        return {k: redact_data(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [redact_data(v) for v in data]
    return data


def url_password(url: str | None) -> str | None:
    try:
        return urlsplit(url).password if url else None
    except ValueError:
        return None


def register_settings(settings: Any) -> None:
    """Every secret the environment configures (tokens, keys, database passwords)."""
    register(settings.slack_bot_token, settings.slack_signing_secret, settings.slack_app_token,
             getattr(settings, "launchdarkly_api_token", None), getattr(settings, "pager_routing_key", None),
             getattr(settings, "pager_webhook_token", None), url_password(settings.database_url),
             url_password(getattr(settings, "scheduler_database_url", None)))
    register(*(getattr(settings, "launchdarkly_sdk_keys", {}) or {}).values())
    register(*(v for k, v in os.environ.items() if k.startswith(("LAUNCHDARKLY_SDK_KEY_", "FIREBREAK_SECRET_"))))


class LogFilter(logging.Filter):
    """Redacts every record's message (after formatting its arguments) before a handler writes it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is written as it is
            return True
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_text is None and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


def install_log_filter(handlers: Iterable[logging.Handler] | None = None) -> None:
    """Put the redaction on every handler of the root logger (or those given); quiet the HTTP libraries."""
    for handler in handlers if handlers is not None else logging.getLogger().handlers:
        if not any(isinstance(f, LogFilter) for f in handler.filters):
            handler.addFilter(LogFilter())
    for name in QUIET_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET or logger.level < logging.WARNING:
            logger.setLevel(logging.WARNING)
