"""Signed Slack requests, built the way Slack builds them, and the two HTTP clients that send them.

A request is prepared (body signed) before its clock starts, so the measured latency is the bot's and
the network's, not the bench's HMAC. Every request opens a fresh connection, as Slack's do.
"""

from __future__ import annotations

import asyncio
import http.client
import itertools
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from slack_sdk.signature import SignatureVerifier

TEAM = "T0FIREBRK"
APP_ID = "A0FIREBRK"
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Prepared:
    """One signed request ready to send; `key` names its response_url, which correlates the reply."""

    key: str
    label: str
    body: bytes
    headers: dict[str, str]


class Signer:
    """Builds `/incident ...` slash-command requests for one bot (its signing secret, the fake's origin)."""

    def __init__(self, signing_secret: str, fake_origin: str, trigger: Callable[[], str] | None = None) -> None:
        self._verifier = SignatureVerifier(signing_secret)
        self._origin = fake_origin
        seq = itertools.count(1)
        # Trigger ids come from the fake Slack, which honours each once within 3 s of being issued, as Slack
        # does; no scenario opens a modal, so a request prepared early carries one that may have expired.
        self._trigger = trigger or (lambda: f"{next(seq)}.{int(time.time() * 1000)}.{uuid.uuid4().hex}")

    def command(self, text: str, *, user: str, channel: str, channel_name: str = "bench",
                label: str = "") -> Prepared:
        key = uuid.uuid4().hex[:16]
        body = urlencode({
            "token": "legacy-unused", "team_id": TEAM, "team_domain": "firebreak-local",
            "channel_id": channel, "channel_name": channel_name, "user_id": user, "user_name": user.lower(),
            "command": "/incident", "text": text, "api_app_id": APP_ID,
            "response_url": f"{self._origin}/response/{key}",
            "trigger_id": self._trigger(),
        })
        ts = str(int(time.time()))
        headers = {"Content-Type": FORM, "X-Slack-Request-Timestamp": ts,
                   "X-Slack-Signature": self._verifier.generate_signature(timestamp=ts, body=body)}
        return Prepared(key=key, label=label or text.split(" ", 1)[0], body=body.encode(), headers=headers)


    def event(self, event: dict, *, label: str = "event") -> Prepared:
        """An Events API callback as Slack posts it (JSON), e.g. member_joined_channel."""
        key = uuid.uuid4().hex[:16]
        body = json.dumps({"token": "legacy-unused", "team_id": TEAM, "api_app_id": APP_ID,
                           "type": "event_callback", "event_id": f"Ev{key}", "event_time": int(time.time()),
                           "event": event})
        ts = str(int(time.time()))
        headers = {"Content-Type": "application/json", "X-Slack-Request-Timestamp": ts,
                   "X-Slack-Signature": self._verifier.generate_signature(timestamp=ts, body=body)}
        return Prepared(key=key, label=label, body=body.encode(), headers=headers)

    def interaction(self, payload: dict, *, label: str) -> Prepared:
        """An interactive payload (block_actions, view_submission) as Slack posts it: form field `payload`."""
        key = uuid.uuid4().hex[:16]
        full = {"team": {"id": TEAM}, "api_app_id": APP_ID, "token": "legacy-unused",
                "trigger_id": self._trigger(),
                "response_url": f"{self._origin}/response/{key}", **payload}
        body = urlencode({"payload": json.dumps(full)})
        ts = str(int(time.time()))
        headers = {"Content-Type": FORM, "X-Slack-Request-Timestamp": ts,
                   "X-Slack-Signature": self._verifier.generate_signature(timestamp=ts, body=body)}
        return Prepared(key=key, label=label, body=body.encode(), headers=headers)

    def click(self, action_id: str, value: str, *, user: str, channel: str, message_ts: str,
              message_text: str = "", label: str = "click") -> Prepared:
        """A button click (block_actions) on a message in a channel."""
        return self.interaction({
            "type": "block_actions", "user": {"id": user, "name": user.lower()}, "channel": {"id": channel},
            "container": {"type": "message", "message_ts": message_ts, "channel_id": channel},
            "message": {"ts": message_ts, "text": message_text},
            "actions": [{"type": "button", "action_id": action_id, "block_id": "b", "value": value,
                         "action_ts": str(time.time())}],
        }, label=label)


def post_sync(url: str, req: Prepared, *, timeout: float = 10.0) -> tuple[int, float, float]:
    """POST on a new connection; (status, sent_at, acked_at) in time.time() seconds. Status 0 on failure."""
    parts = urlsplit(url)
    sent = time.time()
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request("POST", parts.path or "/", body=req.body, headers=req.headers)
        resp = conn.getresponse()
        resp.read()
        status = resp.status
    except OSError:
        status = 0
    finally:
        conn.close()
    return status, sent, time.time()


def _raw(parts, req: Prepared) -> bytes:
    head = [f"POST {parts.path or '/'} HTTP/1.1", f"Host: {parts.hostname}:{parts.port}",
            f"Content-Length: {len(req.body)}", "Connection: close"]
    head += [f"{k}: {v}" for k, v in req.headers.items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + req.body


async def post_async(url: str, req: Prepared, *, timeout: float = 10.0) -> tuple[int, float, float]:
    """The asyncio twin of post_sync, for many concurrent responders in one driver process."""
    parts = urlsplit(url)
    data = _raw(parts, req)
    sent = time.time()
    writer = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
            writer.write(data)
            await writer.drain()
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            if length:
                await reader.readexactly(length)
            status = int(status_line.split()[1])
    except (OSError, TimeoutError, asyncio.IncompleteReadError, IndexError, ValueError):
        status = 0
    finally:
        if writer is not None:
            writer.close()
    return status, sent, time.time()
