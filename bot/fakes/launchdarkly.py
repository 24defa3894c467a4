"""A stateful stand-in for LaunchDarkly: the REST API's semantic patch and the SDK streaming endpoint.

- `PATCH /api/v2/flags/{project}/{flag}` checks the token and the semantic-patch content type, applies
  `turnFlagOff`, `turnFlagOn`, `updateFallthroughVariationOrRollout` and `updateOffVariation`, records the
  instructions and comment, bumps the version, and pushes the new flag to every SDK stream of that
  environment. `GET /api/v2/flags/{project}/{flag}?env=...` answers the flag with that environment.
- `GET /all` (the SDK's stream, keyed by the SDK key in Authorization) answers server-sent events over
  chunked HTTP/1.1: one `put` with every flag, then a `patch` per change, so the real
  launchdarkly-server-sdk pointed here (base/stream URIs) sees a kill as it would in production.
- Events (`POST /bulk`, `/diagnostic`) are accepted and counted.
- Timing, for the benchmark (time.time() seconds): `patch_times` has one entry per answered PATCH that
  changed a flag (received, answered, new version); `stream_pushes` one per `patch` event written to an
  SDK stream (flag, environment, version, written at).
Faults are scripted per kind ("get", "patch", "stream"): `fail_next("patch", status=429,
headers={"Retry-After": "1"})`, `delay=` (a slow answer, for timeouts), `drop=True` (close without answer).
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from bot.fakes.base import QuietHandler, close, host_port, serve

SEMANTIC_PATCH = "domain-model=launchdarkly.semanticpatch"


@dataclass
class Fault:
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False
    body: dict[str, Any] | None = None


@dataclass
class Request:
    method: str
    path: str
    kind: str
    status: int
    headers: dict[str, str]
    body: Any = None


class FakeLaunchDarkly:
    def __init__(self, api_token: str = "api-test-token-0123456789",
                 sdk_keys: dict[str, str] | None = None, project: str = "default") -> None:
        self.api_token = api_token
        self.project = project
        # SDK key -> (project, environment)
        self.sdk_keys: dict[str, tuple[str, str]] = {
            key: (project, env) for env, key in (sdk_keys or {"production": "sdk-prod-key-0123456789"}).items()}
        self.lock = threading.RLock()
        self.flags: dict[tuple[str, str], dict[str, Any]] = {}
        self.requests: list[Request] = []
        self.patches: list[dict[str, Any]] = []
        self.events_posted = 0
        self.patch_times: list[dict[str, Any]] = []
        self.stream_pushes: list[dict[str, Any]] = []
        self.faults: dict[str, list[Fault]] = defaultdict(list)
        self._streams: dict[tuple[str, str], list[queue.Queue]] = defaultdict(list)
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None

    # ----- setup -----------------------------------------------------------------------------------
    def sdk_key(self, environment: str) -> str:
        return next(k for k, (_, env) in self.sdk_keys.items() if env == environment)

    def add_flag(self, key: str, *, variations: list[Any] | None = None, names: list[str] | None = None,
                 environments: tuple[str, ...] = ("production",), on: bool = True, fallthrough: int = 0,
                 off_variation: int | None = None, project: str | None = None) -> None:
        values = variations if variations is not None else [True, False]
        off = off_variation if off_variation is not None else (len(values) - 1)
        flag = {"key": key, "name": key, "kind": "boolean" if values == [True, False] else "multivariate",
                "variations": [{"_id": uuid.uuid4().hex[:12], "value": v,
                                **({"name": names[i]} if names else {})} for i, v in enumerate(values)],
                "environments": {env: {"on": on, "fallthrough": {"variation": fallthrough}, "offVariation": off,
                                       "version": 1} for env in environments}}
        with self.lock:
            self.flags[(project or self.project, key)] = flag

    def env(self, key: str, environment: str = "production", project: str | None = None) -> dict[str, Any]:
        with self.lock:
            return self.flags[(project or self.project, key)]["environments"][environment]

    def fail_next(self, kind: str, status: int = 500, *, headers: dict[str, str] | None = None,
                  delay: float = 0.0, drop: bool = False, times: int = 1, body: dict | None = None) -> None:
        with self.lock:
            for _ in range(times):
                self.faults[kind].append(Fault(status, headers or {}, delay, drop, body))

    def count(self, kind: str) -> int:
        with self.lock:
            return sum(1 for r in self.requests if r.kind == kind)

    def stream_count(self, environment: str = "production", project: str | None = None) -> int:
        """SDK streams open for an environment now."""
        with self.lock:
            return len(self._streams[(project or self.project, environment)])

    def external_requests(self) -> int:
        """REST calls (GET/PATCH of flags): what a dry run must never make."""
        with self.lock:
            return sum(1 for r in self.requests if r.kind in ("get", "patch"))

    def sdk_flag(self, project: str, key: str, environment: str) -> dict[str, Any]:
        flag = self.flags[(project, key)]
        e = flag["environments"][environment]
        return {"key": key, "version": e["version"], "on": e["on"], "prerequisites": [], "salt": key,
                "targets": [], "contextTargets": [], "rules": [], "fallthrough": e["fallthrough"],
                "offVariation": e["offVariation"], "variations": [v["value"] for v in flag["variations"]],
                "trackEvents": False, "trackEventsFallthrough": False, "clientSide": False, "deleted": False}

    def rest_flag(self, project: str, key: str, environment: str | None) -> dict[str, Any]:
        flag = self.flags[(project, key)]
        envs = {k: {**v, "_site": {"href": f"/{project}/{k}/features/{key}"}} for k, v in flag["environments"].items()
                if environment is None or k == environment}
        return {"key": key, "name": flag["name"], "kind": flag["kind"], "variations": flag["variations"],
                "environments": envs}

    # ----- the semantic patch -------------------------------------------------------------------------
    def apply(self, project: str, key: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        env_key = body.get("environmentKey")
        instructions = body.get("instructions")
        if not isinstance(instructions, list) or not instructions:
            return 400, {"code": "invalid_request", "message": "instructions must be a non-empty list"}
        with self.lock:
            flag = self.flags.get((project, key))
            if flag is None:
                return 404, {"code": "not_found", "message": f"unknown flag {key}"}
            if not isinstance(env_key, str) or env_key not in flag["environments"]:
                return 400, {"code": "invalid_request", "message": f"unknown environment {env_key}"}
            env = flag["environments"][env_key]
            ids = {v["_id"]: i for i, v in enumerate(flag["variations"])}
            new = json.loads(json.dumps(env))
            for ins in instructions:
                kind = ins.get("kind")
                if kind == "turnFlagOff":
                    new["on"] = False
                elif kind == "turnFlagOn":
                    new["on"] = True
                elif kind == "updateOffVariation" and ins.get("variationId") in ids:
                    new["offVariation"] = ids[ins["variationId"]]
                elif kind == "updateFallthroughVariationOrRollout" and ins.get("variationId") in ids:
                    new["fallthrough"] = {"variation": ids[ins["variationId"]]}
                elif kind == "updateFallthroughVariationOrRollout" and isinstance(ins.get("rolloutWeights"), dict):
                    weights = ins["rolloutWeights"]
                    if any(v not in ids for v in weights):
                        return 400, {"code": "invalid_request", "message": "unknown variation in rolloutWeights"}
                    new["fallthrough"] = {"rollout": {
                        "variations": [{"variation": ids[v], "weight": w} for v, w in weights.items()],
                        "bucketBy": ins.get("rolloutBucketBy", "key"),
                        "contextKind": ins.get("rolloutContextKind", "user")}}
                else:
                    return 400, {"code": "invalid_request", "message": f"bad instruction {ins}"}
            new["version"] = env["version"] + 1
            flag["environments"][env_key] = new
            self.patches.append({"project": project, "flag": key, "environment": env_key,
                                 "instructions": instructions, "comment": body.get("comment", "")})
            payload = json.dumps({"path": f"/flags/{key}", "data": self.sdk_flag(project, key, env_key)})
            for q in self._streams[(project, env_key)]:
                q.put(("patch", payload))
            return 200, self.rest_flag(project, key, None)

    # ----- HTTP ---------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None, "call start() first"
        host, port = host_port(self._server)
        return f"http://{host}:{port}"

    def start(self) -> FakeLaunchDarkly:
        fake = self

        class Handler(QuietHandler):
            # Headers and body go out as two writes; on a kept-alive connection Nagle would hold the body
            # until the client's delayed ACK (~40 ms on Linux), a delay no real LaunchDarkly adds.
            disable_nagle_algorithm = True

            def do_GET(self) -> None:  # noqa: N802
                fake._handle(self, "GET")

            def do_PATCH(self) -> None:  # noqa: N802
                fake._handle(self, "PATCH")

            def do_POST(self) -> None:  # noqa: N802
                fake._handle(self, "POST")

        self._server = serve(Handler, "fake-launchdarkly")
        return self

    def stop(self) -> None:
        self._stopping.set()
        close(self._server)
        self._server = None

    def _fault(self, kind: str) -> Fault | None:
        with self.lock:
            return self.faults[kind].pop(0) if self.faults[kind] else None

    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        received = time.time()
        parsed = urlparse(h.path)
        parts = [unquote(p) for p in parsed.path.strip("/").split("/")]
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in h.headers.items()}
        if method == "GET" and parsed.path == "/all":
            return self._stream(h, headers)
        if method == "POST":
            with self.lock:
                self.events_posted += 1
            return self._send(h, 202, {})
        kind = "patch" if method == "PATCH" else "get"
        if parts[:3] != ["api", "v2", "flags"] or len(parts) != 5:
            return self._send(h, 404, {"code": "not_found", "message": "no such route"})
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
        fault = self._fault(kind)
        if fault is not None:
            self._record(method, parsed.path, kind, fault.status, headers, body)
            if fault.delay:
                time.sleep(fault.delay)
            if fault.drop:
                h.close_connection = True
                return
            return self._send(h, fault.status, fault.body or {"code": "fault", "message": f"scripted {fault.status}"},
                              fault.headers)
        if headers.get("authorization") != self.api_token:
            self._record(method, parsed.path, kind, 401, headers, body)
            return self._send(h, 401, {"code": "unauthorized", "message": "Invalid access token"})
        project, key = parts[3], parts[4]
        out: dict[str, Any]
        if kind == "get":
            env = parse_qs(parsed.query).get("env", [None])[0]
            with self.lock:
                found = (project, key) in self.flags
                status, out = (200, self.rest_flag(project, key, env)) if found else \
                    (404, {"code": "not_found", "message": f"unknown flag {key}"})
            self._record(method, parsed.path, kind, status, headers, body)
            return self._send(h, status, out)
        if SEMANTIC_PATCH not in (headers.get("content-type") or ""):
            self._record(method, parsed.path, kind, 400, headers, body)
            return self._send(h, 400, {"code": "invalid_request", "message": "expected a semantic patch"})
        status, out = self.apply(project, key, body if isinstance(body, dict) else {})
        self._record(method, parsed.path, kind, status, headers, body)
        self._send(h, status, out)
        if status == 200:
            env_key = body.get("environmentKey")
            with self.lock:
                self.patch_times.append({"project": project, "flag": key, "environment": env_key,
                                         "version": out["environments"][env_key]["version"],
                                         "received_at": received, "answered_at": time.time()})

    def _record(self, method: str, path: str, kind: str, status: int, headers: dict[str, str], body: Any) -> None:
        with self.lock:
            self.requests.append(Request(method, path, kind, status, headers, body))

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode("utf-8")
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(data)
        except OSError:
            pass  # the client gave up (a timeout test)

    def _stream(self, h: BaseHTTPRequestHandler, headers: dict[str, str]) -> None:
        where = self.sdk_keys.get(headers.get("authorization", ""))
        fault = self._fault("stream")
        status = fault.status if fault else (200 if where else 401)
        self._record("GET", "/all", "stream", status, headers, None)
        if status != 200 or where is None:
            return self._send(h, status, {"message": "stream refused"})
        project, env = where
        q: queue.Queue = queue.Queue()
        with self.lock:
            flags = {key: self.sdk_flag(p, key, env) for (p, key), f in self.flags.items()
                     if p == project and env in f["environments"]}
            self._streams[(project, env)].append(q)
        try:
            h.send_response(200)
            h.send_header("Content-Type", "text/event-stream")
            h.send_header("Cache-Control", "no-cache")
            h.send_header("Transfer-Encoding", "chunked")
            h.end_headers()
            self._chunk(h, "put", json.dumps({"path": "/", "data": {"flags": flags, "segments": {}}}))
            while not self._stopping.is_set():
                try:
                    event, data = q.get(timeout=0.25)
                except queue.Empty:
                    h.wfile.write(b"2\r\n:\n\r\n")  # an SSE comment as a heartbeat; detects gone clients
                    h.wfile.flush()
                    continue
                self._chunk(h, event, data)
                if event == "patch":
                    flag = json.loads(data)["data"]
                    with self.lock:
                        self.stream_pushes.append({"flag": flag["key"], "environment": env,
                                                   "version": flag["version"], "at": time.time()})
            h.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass
        finally:
            with self.lock:
                self._streams[(project, env)].remove(q)
            h.close_connection = True

    @staticmethod
    def _chunk(h: BaseHTTPRequestHandler, event: str, data: str) -> None:
        payload = f"event: {event}\ndata: {data}\n\n".encode()
        h.wfile.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
        h.wfile.flush()
