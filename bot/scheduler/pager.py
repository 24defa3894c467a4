"""The pager adapter: PagerDuty Events API v2 (`trigger` / `resolve` with a dedup key per incident) or a
generic JSON webhook. One attempt per call; retries with backoff are scheduled as timers by the caller,
so a slow or failing pager never blocks a reminder or a Slack handler.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from bot.scheduler.config import PagerConfig

PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue"
PD_SEVERITY = {1: "critical", 2: "error", 3: "warning", 4: "info"}


class PagerError(Exception):
    """The pager did not accept the event. The message is safe to show (no secrets)."""


@dataclass(frozen=True)
class PageEvent:
    action: str  # "trigger" | "resolve"
    dedup_key: str
    summary: str
    severity: int
    incident_ref: str
    channel_id: str | None = None


def dedup_key(incident_id: int) -> str:
    return f"firebreak-inc-{incident_id}-ack"


def send(config: PagerConfig, event: PageEvent, *, routing_key: str | None, token: str | None) -> str:
    """Deliver one event. Returns a short description of the pager's answer; raises PagerError."""
    if config.kind == "none":
        raise PagerError("no pager is configured (scheduler.pager.kind is none)")
    headers = {"Content-Type": "application/json", "User-Agent": "firebreak"}
    if config.kind == "pagerduty":
        if not routing_key:
            raise PagerError("FIREBREAK_PAGER_ROUTING_KEY is not set")
        url = config.url or PAGERDUTY_URL
        body: dict[str, Any] = {"routing_key": routing_key, "event_action": event.action,
                                "dedup_key": event.dedup_key}
        if event.action == "trigger":
            body["payload"] = {"summary": event.summary[:1024], "source": "firebreak",
                               "severity": PD_SEVERITY.get(event.severity, "error"),
                               "custom_details": {"incident": event.incident_ref, "channel": event.channel_id}}
    else:
        url = config.url or ""
        if token:
            headers["Authorization"] = f"Bearer {token}"
        body = {"event": "page" if event.action == "trigger" else "resolve", "dedup_key": event.dedup_key,
                "incident": event.incident_ref, "severity": f"SEV{event.severity}", "summary": event.summary,
                "channel": event.channel_id}
    try:
        resp = httpx.post(url, json=body, headers=headers, timeout=config.timeout_seconds)
    except httpx.HTTPError as exc:
        raise PagerError(f"{type(exc).__name__} reaching the pager") from None
    if resp.status_code >= 300:
        detail = ""
        try:
            data = resp.json()
            detail = str(data.get("message") or data.get("error") or "")[:120]
        except ValueError:
            pass
        raise PagerError(f"the pager answered HTTP {resp.status_code}" + (f" ({detail})" if detail else ""))
    return f"HTTP {resp.status_code}"
