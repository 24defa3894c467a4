"""Alert intake: the answer's latency at a steady 200 alerts/s, and a 10,000-alert storm of one group.

A second bot process is started on the run's database and fake Slack with an alerts file (one signed source,
one declaring route), so the scenario measures the intake as deployed: real HTTP, HMAC checked, stored before
the answer. Both parts are bounded in count and time and stay on 127.0.0.1.
"""

from __future__ import annotations

import http.client
import json
import secrets
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import yaml
from sqlalchemy import create_engine, text

from bench.botproc import BotProcess
from bench.run import Run
from bench.scenarios import scenario
from bench.stats import summarize

RATE = 200          # alerts a second, steady
STEADY_SECONDS = 10
STORM = 10_000      # alerts of one group
STORM_BATCH = 100   # alerts to a delivery in the storm
DEADLINE = 180.0    # seconds the storm may take to be worked off before the scenario gives up
SLACK_WRITES = ("chat.postMessage", "chat.update", "conversations.create", "conversations.invite", "pins.add",
                "conversations.setTopic", "chat.postEphemeral")


def _sign(secret: str, body: bytes) -> dict[str, str]:
    from bot.alerts.auth import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature

    stamp = str(int(time.time()))
    return {TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: signature(secret, stamp, body),
            "content-type": "application/json"}


def _alert(key: str, group: str, title: str) -> dict[str, Any]:
    return {"title": title, "category": "jailbreak", "dedup_key": key, "group_key": group, "reach": "lt_10k",
            "detected_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "labels": {"kind": "block-rate"}, "scores": {"block_rate": 0.3}}


def _count(url: str, sql: str, **params: Any) -> int:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(sql), params).scalar() or 0)
    finally:
        engine.dispose()


@scenario("alerts", f"POST /alerts/<source>: answer at {RATE}/s; a {STORM:,}-alert storm of one group")
def alerts(run: Run) -> dict[str, Any]:
    run.require_module("bot.alerts.intake", "alert intake, issue 18")
    secret = secrets.token_hex(24)
    with tempfile.TemporaryDirectory(prefix="firebreak-bench-alerts-") as tmp:
        wd = Path(tmp)
        doc = {"sources": {"bench": {"format": "firebreak", "auth": "hmac", "secret_env": "BENCH_ALERT_SECRET",
                                     "rate_per_second": 10_000, "burst": 100_000}},
               "routes": [{"name": "bench", "when": {"equals": {"source": "bench"}}, "action": "declare"}],
               "window": "5m"}
        (wd / "alerts.yml").write_text(yaml.safe_dump(doc))
        bot = BotProcess(database_url=run.database_url, slack_api_url=run.fake.url, bot_token=run.fake.token,
                         signing_secret=secrets.token_hex(16), announce_channel=run.announce, workdir=wd,
                         extra_env={"FIREBREAK_ALERTS_FILE": str(wd / "alerts.yml"), "BENCH_ALERT_SECRET": secret})
        bot.start()
        try:
            url = f"{bot.url}/alerts/bench"
            steady = _steady(url, secret)
            storm = _storm(run, bot, url, secret)
        finally:
            bot.stop()
    return {"steady": steady, "storm": storm}


def _steady(url: str, secret: str) -> dict[str, Any]:
    """One alert a delivery, sent on a fixed schedule (RATE/s) by a few threads, each on its own kept-alive
    connection (the standard library's client: the load generator shares the two cores, so it stays light);
    latency is send -> answer."""
    n = RATE * STEADY_SECONDS
    senders = 8
    samples: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    start = time.perf_counter() + 0.2
    groups = 20
    parts = urlsplit(url)

    def sender(k: int) -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        try:
            for i in range(k, n, senders):
                due = start + i / RATE
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                body = json.dumps(_alert(f"steady-{i}", f"steady-{i % groups}",
                                         f"Bench steady group {i % groups}")).encode()
                t0 = time.perf_counter()
                conn.request("POST", parts.path, body=body, headers=_sign(secret, body))
                resp = conn.getresponse()
                resp.read()
                ms = (time.perf_counter() - t0) * 1000
                with lock:
                    samples.append(ms)
                    statuses[resp.status] = statuses.get(resp.status, 0) + 1
        finally:
            conn.close()

    threads = [threading.Thread(target=sender, args=(k,)) for k in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    return {"answer": summarize(samples), "statuses": statuses, "rate_per_s": round(n / elapsed, 1)}


def _quiet(run: Run, quiet: float = 2.0, limit: float = 60.0) -> None:
    """Until the fake Slack has had no call for `quiet` seconds (at most `limit`)."""
    end = time.perf_counter() + limit
    seen, since = len(run.fake.calls), time.perf_counter()
    while time.perf_counter() < end:
        time.sleep(0.2)
        now_seen = len(run.fake.calls)
        if now_seen != seen:
            seen, since = now_seen, time.perf_counter()
        elif time.perf_counter() - since >= quiet:
            return


def _storm(run: Run, bot: BotProcess, url: str, secret: str) -> dict[str, Any]:
    """STORM alerts of one group in STORM_BATCH-alert deliveries as fast as they are answered; then wait until
    the bot has worked them all off, and count the incidents and the Slack calls they caused."""
    title = f"Bench storm {secrets.token_hex(4)}"
    _quiet(run)  # the steady part's incidents finish their Slack calls first: count only the storm's
    first_call = len(run.fake.calls)
    samples: list[float] = []
    t_start = time.perf_counter()
    with httpx.Client(timeout=30) as client:
        for b in range(STORM // STORM_BATCH):
            batch = [_alert(f"{title}-{b}-{i}", "storm", title) for i in range(STORM_BATCH)]
            body = json.dumps({"alerts": batch}).encode()
            t0 = time.perf_counter()
            resp = client.post(url, content=body, headers=_sign(secret, body))
            samples.append((time.perf_counter() - t0) * 1000)
            if resp.status_code != 202:
                raise RuntimeError(f"storm delivery refused: {resp.status_code} {resp.text[:200]}")
    sent_s = time.perf_counter() - t_start
    deadline = time.perf_counter() + DEADLINE
    pending = STORM
    while time.perf_counter() < deadline:
        pending = _count(run.database_url, "SELECT count(*) FROM alert WHERE processed = false")
        if pending == 0:
            break
        time.sleep(0.5)
    worked_s = time.perf_counter() - t_start
    time.sleep(2.0)  # the effects the last alerts recorded
    incidents = _count(run.database_url, "SELECT count(*) FROM incident WHERE title = :t", t=title)
    with run.fake.lock:
        calls = [c for c in run.fake.calls[first_call:] if c.method in SLACK_WRITES]
    return {"alerts": STORM, "deliveries": STORM // STORM_BATCH, "delivery": summarize(samples),
            "sent_s": round(sent_s, 2), "worked_off_s": round(worked_s, 2), "unprocessed": pending,
            "incidents": incidents, "slack_writes": len(calls),
            "slack_methods": sorted({c.method for c in calls})}
