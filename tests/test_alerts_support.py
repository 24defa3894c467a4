"""Helpers for the alert tests: an alerts file, a running HTTP server on 127.0.0.1, signed deliveries."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from typing import Any

import httpx

from bot.alerts.auth import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature
from bot.server.http import HttpServer
from bot.slack.harness import Harness

HMAC_SECRET = "hmac-secret-for-guardrail-0123456789"
BEARER_SECRET = "bearer-token-for-alertmanager-98765"
TRIAGE = "C0TRIAGE"


def alerts_file(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "sources": {
            "guardrail": {"format": "firebreak", "auth": "hmac", "secret_env": "TEST_ALERT_HMAC",
                          "rate_per_second": 1000, "burst": 1000},
            "prom": {"format": "alertmanager", "auth": "bearer", "secret_env": "TEST_ALERT_BEARER",
                     "mapping": {"category": "labels.ai_category"}, "defaults": {"category": "jailbreak"}},
        },
        "routes": [
            {"name": "pii", "when": {"in": {"category": ["data_leakage"]}}, "action": "declare",
             "levers": ["disable-memory"]},
            {"name": "jailbreak-spike", "when": {"equals": {"labels.kind": "block-rate"},
                                                 "scores": {"block_rate": {"at_least": 0.2}}},
             "action": "declare"},
            {"name": "prom-declare", "when": {"equals": {"source": "prom"}}, "action": "declare"},
            {"name": "review", "when": {"regex": {"title": "(?i)eval"}}, "action": "triage"},
            {"name": "attach", "when": {"equals": {"labels.kind": "followup"}}, "action": "attach_only"},
        ],
        "triage": {"channel": TRIAGE, "remind_after": "15m"},
        "window": "5m",
    }
    doc.update(overrides)
    return doc


def start(h: Harness) -> HttpServer:
    server = HttpServer(h.bot, host="127.0.0.1", port=0, threads=4)
    server.start_background()
    for _ in range(200):
        try:
            httpx.get(server.url + "/livez", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.02)
    return server


def signed(body: bytes, *, secret: str = HMAC_SECRET, ts: int | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if ts is None else ts)
    return {TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: signature(secret, stamp, body),
            "content-type": "application/json"}


def post(server: HttpServer, source: str, payload: Any, *, headers: dict[str, str] | None = None,
         raw: bytes | None = None) -> httpx.Response:
    body = raw if raw is not None else json.dumps(payload).encode()
    if headers is None:
        headers = signed(body) if source == "guardrail" else {"authorization": f"Bearer {BEARER_SECRET}"}
    return httpx.post(f"{server.url}/alerts/{source}", content=body, headers=headers, timeout=10)


def detector_alert(at: datetime, **fields: Any) -> dict[str, Any]:
    alert = {"title": "Guardrail block rate spike on chat-prod", "category": "jailbreak",
             "detected_at": at.isoformat().replace("+00:00", "Z"), "dedup_key": "gw-block-1",
             "group_key": "gw-block", "status": "firing", "source_url": "https://grafana.example/d/gw",
             "labels": {"kind": "block-rate", "model": "chat-prod"}, "scores": {"block_rate": 0.31},
             "reach": "lt_10k"}
    alert.update(fields)
    return alert


def am_payload(at: datetime, *alerts: dict[str, Any], status: str = "firing") -> dict[str, Any]:
    return {"receiver": "firebreak", "status": status, "alerts": list(alerts), "groupLabels": {"alertname": "PII"},
            "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am.example:9093", "version": "4",
            "groupKey": "{}:{alertname=\"PII\"}", "truncatedAlerts": 0}


def am_alert(at: datetime, fingerprint: str = "1a30ba71cca2921f", status: str = "firing",
             **labels: str) -> dict[str, Any]:
    return {"status": status, "labels": {"alertname": "PIIInOutput", "ai_category": "data_leakage", **labels},
            "annotations": {"summary": "PII detector firing on support-bot outputs",
                            "prompt": "what is the email of the last customer", "output": "jane@example.com"},
            "startsAt": at.isoformat().replace("+00:00", "Z"),
            "endsAt": (at + timedelta(minutes=30)).isoformat().replace("+00:00", "Z") if status == "resolved"
            else "0001-01-01T00:00:00Z",
            "generatorURL": "http://prom.example:9090/graph?g0.expr=pii", "fingerprint": fingerprint}
