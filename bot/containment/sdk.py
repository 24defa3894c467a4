"""Verify a flag change the way the product sees it: through launchdarkly-server-sdk, streaming.

One client per environment, created on first use and reused (the SDK keeps a streaming connection and an
in-memory copy of every flag), closed by `close()`. `wait_for` evaluates the flag for the lever's
evaluation context until the expected answer appears; the moment it does is the lever's verified_at.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from ldclient import Config, Context, LDClient
from ldclient.evaluation import EvaluationDetail

from bot.config.settings import Settings
from bot.containment.spec import EvalContext

log = logging.getLogger(__name__)

POLL_SECONDS = 0.05


def build_context(spec: EvalContext) -> Context:
    builder = Context.builder(spec.key).kind(spec.kind)
    for name, value in spec.attributes.items():
        builder.set(name, value)
    return builder.build()


class SdkVerifier:
    def __init__(self, settings: Settings, *, start_wait: float | None = None) -> None:
        self.settings = settings
        # How long creating a client may block waiting for the first `put`; `wait_for` keeps polling after.
        self.start_wait = start_wait if start_wait is not None else min(5.0, settings.lever_verify_timeout_seconds)
        self._clients: dict[str, LDClient] = {}
        self._lock = threading.Lock()
        self.created = 0  # how many clients were built (tests check reuse)

    def available(self, environment: str) -> bool:
        return self.settings.launchdarkly_sdk_key(environment) is not None

    def client(self, environment: str) -> LDClient | None:
        key = self.settings.launchdarkly_sdk_key(environment)
        if key is None:
            return None
        with self._lock:
            client = self._clients.get(environment)
            if client is None:
                config = Config(
                    sdk_key=key.get_secret_value(),
                    base_uri=self.settings.launchdarkly_base_uri,
                    stream_uri=self.settings.launchdarkly_stream_uri,
                    events_uri=self.settings.launchdarkly_events_uri,
                    stream=True,
                    # Verification evaluations are not product traffic: keep them out of LaunchDarkly's
                    # analytics and insights.
                    send_events=False,
                    diagnostic_opt_out=True,
                    initial_reconnect_delay=0.2,
                )
                client = LDClient(config=config, start_wait=self.start_wait)
                self._clients[environment] = client
                self.created += 1
            return client

    def wait_for(self, environment: str, flag: str, context: EvalContext,
                 check: Callable[[EvaluationDetail], bool], timeout: float) -> EvaluationDetail | None:
        """Evaluate until `check(detail)` holds; the detail that passed, or None on timeout."""
        client = self.client(environment)
        if client is None:
            return None
        ctx = build_context(context)
        deadline = time.monotonic() + timeout
        while True:
            if client.is_initialized():
                detail = client.variation_detail(flag, ctx, None)
                if check(detail):
                    return detail
            if time.monotonic() >= deadline:
                return None
            time.sleep(POLL_SECONDS)

    def last_seen(self, environment: str, flag: str, context: EvalContext) -> Any:
        client = self.client(environment)
        if client is None or not client.is_initialized():
            return None
        detail = client.variation_detail(flag, build_context(context), None)
        return {"value": detail.value, "reason": detail.reason}

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            try:
                client.close()
            except Exception:  # noqa: BLE001
                log.exception("closing a LaunchDarkly SDK client failed")
