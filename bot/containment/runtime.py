"""What lever types need from the outside world: settings, clock, an HTTP client, retries, the SDK verifier.

Secrets are not kept here: every value a lever's template reads with `secret("NAME")` is registered with the
process-wide redaction step (`bot.core.secrets`) before it is used, so no message, timeline event, file or
log line (httpx's own request line included) can carry it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from bot.containment.retry import RetryPolicy
from bot.containment.sdk import SdkVerifier
from bot.core import secrets


@dataclass
class Runtime:
    settings: Any
    clock: Any
    http: httpx.Client
    retry: RetryPolicy
    sdk: SdkVerifier

    @staticmethod
    def remember_secret(value: str) -> None:
        """A value read for a template (`secret("NAME")`): never to be shown."""
        secrets.register(value)

    @staticmethod
    def redact(text: str | None) -> str | None:
        """Every known secret replaced, for text meant for Slack, the timeline or logs."""
        return secrets.redact(text)
