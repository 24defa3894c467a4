"""What lever types need from the outside world, and the redaction of every secret they might touch."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any

import httpx

from bot.containment.retry import RetryPolicy
from bot.containment.sdk import SdkVerifier


@dataclass
class Runtime:
    """What lever types need from the outside: settings, clock, an HTTP client, retries, the SDK verifier."""

    settings: Any
    clock: Any
    http: httpx.Client
    retry: RetryPolicy
    sdk: SdkVerifier
    secrets: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def remember_secret(self, value: str) -> None:
        """A value read for a template (`secret("NAME")`): never to be shown."""
        with self._lock:
            self.secrets.add(value)

    def redact(self, text: str | None) -> str | None:
        """Replace every known secret in a text meant for Slack, the timeline or logs."""
        if not text:
            return text
        with self._lock:
            values = set(self.secrets)
        token = self.settings.launchdarkly_api_token
        if token is not None and token.get_secret_value():
            values.add(token.get_secret_value())
        values.update(k.get_secret_value() for k in self.settings.launchdarkly_sdk_keys.values())
        values.update(v for k, v in os.environ.items() if k.startswith("LAUNCHDARKLY_SDK_KEY_"))
        for value in sorted((v for v in values if v and len(v) >= 4), key=len, reverse=True):
            text = text.replace(value, "[redacted]")
        return text
