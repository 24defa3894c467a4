"""`webhook` levers: an HTTP request to a guardrail, moderation-config, tool-permission or prompt service.

URL, headers and body are Jinja templates (sandboxed, undefined names are errors) rendered with the
incident's fields; `{{ secret("NAME") }}` reads an environment variable, and every value read that way is
redacted from anything firebreak says. Optional `revert` (the undo request) and `verify` (a GET whose JSON
field must equal a value).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import httpx
from jinja2 import StrictUndefined, TemplateError, nodes
from jinja2.sandbox import SandboxedEnvironment

from bot.containment.base import Applied, LeverKind, Pull, Verified
from bot.containment.retry import LeverError
from bot.containment.spec import HttpRequestSpec, Lever, LeverRegistry, VerifySpec, template_texts
from bot.core import secrets


@lru_cache(maxsize=1)
def template_env() -> SandboxedEnvironment:
    env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)
    env.policies["json.dumps_kwargs"] = {"sort_keys": True}
    return env


def secret_names(lever: Lever) -> set[str]:
    """The environment variables a webhook lever's templates read with `secret("NAME")` (a constant name)."""
    if lever.type != "webhook":
        return set()
    names: set[str] = set()
    for _where, text in template_texts(lever.webhook):
        for call in template_env().parse(text).find_all(nodes.Call):
            if (isinstance(call.node, nodes.Name) and call.node.name == "secret" and call.args
                    and isinstance(call.args[0], nodes.Const)):
                names.add(str(call.args[0].value))
    return names


def register_secrets(registry: LeverRegistry) -> None:
    """At load: every secret a lever will send is known to the redaction step before any request carries it
    (so even an HTTP library's own request line, were it logged, shows `[redacted]`)."""
    for lever in registry.all():
        secrets.register(*(os.environ.get(name) for name in sorted(secret_names(lever))))


class Renderer:
    def __init__(self, variables: dict[str, Any], remember: Callable[[str], None]) -> None:
        self.variables = variables
        self.remember = remember

    def _secret(self, name: str) -> str:
        value = os.environ.get(str(name))
        if not value:
            raise LeverError(f"environment variable {name} (used by the lever's template) is not set", attempts=0)
        self.remember(value)
        return value

    def text(self, template: str, where: str) -> str:
        try:
            return template_env().from_string(template).render(**self.variables, secret=self._secret)
        except LeverError:
            raise
        except TemplateError as exc:
            raise LeverError(f"{where}: template error: {exc}", attempts=0) from exc

    def value(self, value: Any, where: str) -> Any:
        if isinstance(value, str):
            return self.text(value, where)
        if isinstance(value, dict):
            return {k: self.value(v, f"{where}.{k}") for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return value


def variables(lever: Lever, pull: Pull) -> dict[str, Any]:
    return {"incident": pull.incident, "lever": lever.name, "reason": pull.reason, "actor": pull.actor,
            "action_id": pull.action_id, "dry_run": pull.dry_run}


def dig(data: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            raise KeyError(path)
    return data


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"  # never the query string: it may carry a secret


class WebhookLever(LeverKind):
    def plan(self, lever: Lever) -> str:
        t = lever.webhook
        return f"send {t.method} {_where(t.url)} (expecting HTTP {', '.join(map(str, t.expect))})"

    def revert_plan(self, lever: Lever, previous: dict[str, Any]) -> str:
        r = lever.webhook.revert
        if r is None:
            return "nothing: this lever has no revert request"
        return f"send {r.method} {_where(r.url or lever.webhook.url)}"

    def fallback(self, lever: Lever) -> str:
        return (f"make the change by hand: {lever.description or lever.name} "
                f"({lever.webhook.method} {_where(lever.webhook.url)})")

    def can_revert(self, lever: Lever) -> bool:
        return lever.webhook.revert is not None

    def _send(self, lever: Lever, pull: Pull, spec: HttpRequestSpec, default_url: str, label: str) -> tuple[int, int]:
        r = Renderer(variables(lever, pull), self.runtime.remember_secret)
        url = r.text(spec.url or default_url, f"{label}.url")
        headers = {k: r.text(v, f"{label}.headers.{k}") for k, v in spec.headers.items()}
        kwargs: dict[str, Any] = {"headers": headers}
        if isinstance(spec.body, str):
            kwargs["content"] = r.text(spec.body, f"{label}.body").encode("utf-8")
        elif spec.body is not None:
            kwargs["content"] = json.dumps(r.value(spec.body, f"{label}.body")).encode("utf-8")
            headers.setdefault("Content-Type", "application/json")
        http: httpx.Client = self.runtime.http
        response, attempts = self.runtime.retry.run(
            f"webhook {spec.method} {_where(url)}",
            lambda: http.request(spec.method, url, **kwargs),
            lambda resp: resp.status_code in spec.expect)
        return response.status_code, attempts

    def _apply(self, lever: Lever, pull: Pull) -> Applied:
        t = lever.webhook
        status, attempts = self._send(lever, pull, t, t.url, "target")
        return Applied(attempts=attempts, detail=f"{t.method} {_where(t.url)} answered HTTP {status}")

    def _verify(self, lever: Lever, pull: Pull, applied: Applied) -> Verified:
        spec: VerifySpec | None = lever.webhook.verify
        if spec is None:
            return Verified(at=None, detail="not verified", skipped="the lever has no verify request")
        r = Renderer(variables(lever, pull), self.runtime.remember_secret)
        url = r.text(spec.url or lever.webhook.url, "target.verify.url")
        headers = {k: r.text(v, f"target.verify.headers.{k}") for k, v in spec.headers.items()}
        http: httpx.Client = self.runtime.http
        timeout = self.runtime.settings.lever_verify_timeout_seconds
        deadline = time.monotonic() + timeout
        seen: Any = None
        while True:
            response, _ = self.runtime.retry.run(f"webhook verify {spec.method} {_where(url)}",
                                                 lambda: http.request(spec.method, url, headers=headers),
                                                 lambda resp: resp.status_code == 200)
            try:
                seen = dig(response.json(), spec.field)
            except (ValueError, KeyError):
                seen = "(field missing)"
            if seen == spec.equals:
                return Verified(at=self.runtime.clock.now(),
                                detail=f"{_where(url)} reports `{spec.field}` = {seen!r}")
            if time.monotonic() >= deadline:
                raise LeverError(f"applied, but {_where(url)} still reports `{spec.field}` = {seen!r} "
                                 f"(expected {spec.equals!r}) after {timeout:g}s")
            time.sleep(0.1)

    def _revert(self, lever: Lever, pull: Pull, previous: dict[str, Any]) -> Applied:
        t = lever.webhook
        if t.revert is None:
            raise LeverError("this lever has no revert request; undo it by hand", attempts=0)
        status, attempts = self._send(lever, pull, t.revert, t.url, "target.revert")
        return Applied(attempts=attempts, detail=f"revert {t.revert.method} answered HTTP {status}")
