"""Calls to OpenAI-compatible endpoints (chat completions, moderations) with httpx.

Returns what happened as a value (`Reply`), never raises for transport faults, and never puts the API key
anywhere but the Authorization header: errors carry the exception type and a short reason only. The key is
registered with the one redaction step (`bot.core.secrets`) before it is sent, so an endpoint that echoes it
back in an error (some gateways repeat the request) never gets it into a message, the timeline or a log.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Any

import httpx

from bot.core import secrets
from bot.evidence.settings import ModelEndpoint, ModerationEndpoint


@dataclass
class Reply:
    status: int | None = None
    body: Any = None  # parsed JSON, when the reply was JSON
    error: str | None = None  # a reason the reply could not be read (transport fault, non-JSON, 429...)
    latency_ms: int | None = None
    retry_after: float | None = None


def messages_for(prompt: str) -> list[dict[str, str]]:
    """A case's prompt is either plain text (one user turn) or a JSON list of {role, content} messages."""
    text = prompt.strip()
    if text.startswith("["):
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, list) and data and all(
                isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
                for m in data):
            return [{"role": m["role"], "content": m["content"]} for m in data]
    return [{"role": "user", "content": prompt}]


class MissingKey(Exception):
    pass


def _headers(api_key_env: str | None) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "User-Agent": "firebreak-probe"}
    if api_key_env:
        key = os.environ.get(api_key_env)
        if not key:
            raise MissingKey(f"the API key environment variable {api_key_env} is not set")
        secrets.register(key)
        headers["Authorization"] = f"Bearer {key}"
    return headers


def _retry_after(resp: httpx.Response) -> float | None:
    value = resp.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def post_json(url: str, payload: dict[str, Any], *, api_key_env: str | None, timeout: float) -> Reply:
    try:
        headers = _headers(api_key_env)
    except MissingKey as exc:
        return Reply(error=str(exc))
    started = time.monotonic()
    try:
        with httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=False) as http:
            resp = http.post(url, json=payload, headers=headers)
    except httpx.TimeoutException:
        return Reply(error=f"timed out after {timeout:g}s", latency_ms=int((time.monotonic() - started) * 1000))
    except httpx.ConnectError:
        return Reply(error="endpoint down (connection refused or unreachable)")
    except httpx.HTTPError as exc:
        return Reply(error=f"transport error ({type(exc).__name__})")
    latency = int((time.monotonic() - started) * 1000)
    reply = Reply(status=resp.status_code, latency_ms=latency, retry_after=_retry_after(resp))
    try:
        reply.body = resp.json()
    except ValueError:
        ctype = resp.headers.get("content-type", "unknown type").split(";")[0]
        reply.error = f"reply is not JSON ({ctype}, HTTP {resp.status_code})"
    return reply


def error_message(body: Any, limit: int = 160) -> str | None:
    """The endpoint's own short explanation of an error (`{"error": {"message": …}}`), secrets redacted."""
    if not isinstance(body, dict):
        return None
    err = body.get("error")
    message = err.get("message") if isinstance(err, dict) else err if isinstance(err, str) else None
    if not isinstance(message, str) or not message.strip():
        return None
    text = " ".join(secrets.redact(message).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def register_keys(*envs: str | None) -> None:
    """Register the API keys these variables hold now (at start-up; each call registers again)."""
    secrets.register(*(os.environ.get(name) for name in envs if name))


def chat(endpoint: ModelEndpoint, prompt: str, *, timeout: float) -> Reply:
    payload = {"model": endpoint.model, "messages": messages_for(prompt), "max_tokens": endpoint.max_tokens,
               "temperature": endpoint.temperature}
    return post_json(endpoint.url + "/chat/completions", payload, api_key_env=endpoint.api_key_env,
                     timeout=timeout)


def moderate(endpoint: ModerationEndpoint, text: str, *, timeout: float) -> tuple[float | None, str | None]:
    """The highest category score for `text`, or (None, reason) when it could not be scored."""
    payload: dict[str, Any] = {"input": text}
    if endpoint.model:
        payload["model"] = endpoint.model
    reply = post_json(endpoint.url + "/moderations", payload, api_key_env=endpoint.api_key_env, timeout=timeout)
    if reply.status == 429:
        return None, "moderation endpoint rate limited (HTTP 429)"
    if reply.error:
        return None, f"moderation: {reply.error}"
    if reply.status != 200:
        return None, f"moderation endpoint answered HTTP {reply.status}"
    try:
        result = reply.body["results"][0]
        scores = [float(v) for v in (result.get("category_scores") or {}).values()]
    except (KeyError, IndexError, TypeError, ValueError):
        return None, "moderation reply has no results[0].category_scores"
    if not scores:
        return (1.0 if result.get("flagged") else 0.0), None
    return max(scores), None
