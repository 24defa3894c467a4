"""A stateful stand-in for the Slack Web API, as strict as Slack: channels, members, messages, pins, topics,
views, files, and the rules Slack enforces on them.

It refuses what Slack refuses, with Slack's error codes: Block Kit limits (`invalid_blocks` /
`invalid_arguments` with `response_metadata.messages`, see slack_blockkit), message text over 40,000
characters (`msg_too_long`), topics over 250 (`too_long`), trigger ids used twice or after 3 seconds,
membership and scope rules that follow slack-manifest.yml (`not_in_channel`, `missing_scope`,
`channel_not_found` for a private channel the bot is not in, `already_in_channel`), and per-method rate
limits (HTTP 429 `ratelimited` with Retry-After, see slack_rates). Every refusal is kept in `violations`
so a test can assert that none happened.

Every call is recorded with its start and end, and every answer can be delayed by `latency` seconds (a far
Slack; settable while running; concurrent requests are delayed independently), so `critical_path()` can
count the round trips a user waits for. `broadcasts()` lists texts that would notify a channel or break
formatting (see slack_markup). Faults can be scripted per method
(`fail_next("conversations.create", error="ratelimited", status=429, retry_after=1)`).
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import secrets
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from bot.fakes import slack_blockkit as kit
from bot.fakes.base import QuietHandler, close, serve
from bot.fakes.slack_calls import Call, Violation, critical_path
from bot.fakes.slack_markup import Finding, normalize, scan
from bot.fakes.slack_rates import POST_BURST, RateLimits

__all__ = ["BOT_ID", "BOT_USER", "Call", "FakeSlack", "Finding", "Message", "SlackError", "Violation"]

BOT_USER = "UFIREBREAK"
BOT_ID = "BFIREBREAK"
CHANNEL_NAME = re.compile(r"^[a-z0-9_-]{1,80}$")
USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
TRIGGER_ID = re.compile(r"^\d+\.\d+\.[0-9a-f]+$")
EVENT_TYPE = re.compile(r"^[A-Za-z0-9_-]+$")
TOPIC_MAX = 250  # conversations.setTopic / setPurpose: `too_long`
TRIGGER_TTL = 3.0  # seconds a trigger_id may be exchanged for a view (docs.slack.dev/interactivity)
# The bot scopes of slack-manifest.yml (tests/test_fake_slack_rules.py keeps the two equal).
MANIFEST_SCOPES = frozenset({
    "commands", "chat:write", "chat:write.public", "channels:manage", "channels:read", "channels:history",
    "groups:write", "groups:read", "groups:history", "pins:write", "reactions:read", "users:read",
    "usergroups:read", "files:write", "im:write",
})
# Answers to a question rather than broken rules: a taken channel name (the bot probes names this way) and
# a profile this stand-in was not given (`add_user`; invites accept any well-formed user id).
NOT_VIOLATIONS = {("conversations.create", "name_taken"), ("users.info", "user_not_found")}


@dataclass
class Fault:
    error: str | None
    status: int = 200
    retry_after: int | None = None
    delay: float = 0.0


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    blocks: list[dict] = field(default_factory=list)
    user: str = BOT_USER
    thread_ts: str | None = None
    edits: int = 0
    files: list[dict] = field(default_factory=list)
    metadata: dict[str, Any] | None = None


class SlackError(Exception):
    """A refusal, answered as `{"ok": false, "error": code, **extra}` (HTTP 200, as Slack does)."""

    def __init__(self, code: str, messages: Iterable[str] = (), **extra: Any) -> None:
        super().__init__(code)
        self.code = code
        self.messages = tuple(messages)
        self.extra = extra
        if self.messages:
            self.extra["response_metadata"] = {"messages": list(self.messages)}


class FakeSlack:
    """The state and the API. `start()` serves it on 127.0.0.1; `url` is the SLACK_API_URL to use.

    latency: seconds before each answer (half before Slack acts, half after), 0 by default.
    rate_limits: enforce Slack's per-method tiers and chat.postMessage's per-channel limit.
    scopes: the bot token's scopes (default: slack-manifest.yml's).
    clock: the bot's clock (anything with `now()` -> datetime); rate limits also refill when it jumps ahead.
    """

    def __init__(self, token: str = "xoxb-test-token", *, latency: float = 0.0, rate_limits: bool = True,
                 scopes: Iterable[str] = MANIFEST_SCOPES, post_burst: int = POST_BURST,
                 trigger_ttl: float = TRIGGER_TTL, clock: Any = None) -> None:
        self.token = token
        self.latency = latency
        self.rate_limits = rate_limits
        self.scopes = frozenset(scopes)
        self.trigger_ttl = trigger_ttl
        self.lock = threading.RLock()
        self.calls: list[Call] = []
        self.violations: list[Violation] = []
        self.channels: dict[str, dict[str, Any]] = {}
        self.messages: dict[str, list[Message]] = defaultdict(list)
        self.ephemerals: list[dict[str, Any]] = []
        self.responses: list[dict[str, Any]] = []  # posts to response_url
        self.pins: dict[str, list[str]] = defaultdict(list)
        self.views: dict[str, dict[str, Any]] = {}
        self.home_views: dict[str, dict[str, Any]] = {}
        self.files: dict[str, dict[str, Any]] = {}
        self.usergroups: dict[str, list[str]] = {}
        self.users: dict[str, dict[str, Any]] = {BOT_USER: {"id": BOT_USER, "name": "firebreak", "is_bot": True}}
        self.faults: dict[str, list[Fault]] = defaultdict(list)
        self.triggers: dict[str, dict[str, Any]] = {}  # trigger_id -> {"issued": time, "used": bool}
        self._rates = RateLimits(post_burst=post_burst,
                                 clock=(lambda: clock.now().timestamp()) if clock is not None else None)
        self._in_flight = 0
        self._ids = itertools.count(1)
        self._ts = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None

    # ----- test setup ------------------------------------------------------------------------------
    def add_channel(self, name: str, *, channel_id: str | None = None, private: bool = False,
                    members: list[str] | None = None, bot_member: bool = True) -> str:
        """A channel that exists in the workspace. The bot is in it unless `bot_member=False`."""
        with self.lock:
            cid = channel_id or f"C{next(self._ids):07d}"
            self.channels[cid] = {"id": cid, "name": name, "is_channel": True, "is_private": private,
                                  "is_archived": False, "is_general": name == "general", "is_im": False,
                                  "topic": {"value": ""}, "purpose": {"value": ""},
                                  "members": set(members or []) | ({BOT_USER} if bot_member else set()),
                                  "created": int(time.time())}
            return cid

    def add_user(self, user_id: str, name: str) -> None:
        with self.lock:
            self.users[user_id] = {"id": user_id, "name": name, "real_name": name.title()}

    def fail_next(self, method: str, error: str | None = "internal_error", *, status: int = 200,
                  retry_after: int | None = None, times: int = 1, delay: float = 0.0) -> None:
        with self.lock:
            self.faults[method].extend(Fault(error, status, retry_after, delay) for _ in range(times))

    def trigger_id(self) -> str:
        """A trigger id as Slack puts one in a slash command or interaction: one views.open, within 3 s."""
        with self.lock:
            tid = f"{next(self._ids)}.{int(time.time() * 1000)}.{secrets.token_hex(8)}"
            self.triggers[tid] = {"issued": time.monotonic(), "used": False}
            return tid

    # ----- queries for tests -----------------------------------------------------------------------
    def calls_to(self, method: str) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.method == method]

    def channel_by_name(self, name: str) -> dict[str, Any] | None:
        with self.lock:
            return next((c for c in self.channels.values() if c["name"] == name), None)

    def history(self, channel: str) -> list[Message]:
        with self.lock:
            return list(self.messages.get(channel, []))

    def texts(self, channel: str) -> list[str]:
        return [m.text for m in self.history(channel)]

    def message(self, channel: str, ts: str) -> Message | None:
        with self.lock:
            return next((m for m in self.messages.get(channel, []) if m.ts == ts), None)

    def pinned(self, channel: str) -> list[Message]:
        with self.lock:
            return [m for ts in self.pins.get(channel, []) if (m := self.message(channel, ts))]

    def response_texts(self) -> list[str]:
        with self.lock:
            return [r.get("text", "") for r in self.responses]

    def in_flight(self) -> int:
        """Requests received and not yet answered."""
        with self.lock:
            return self._in_flight

    def broadcasts(self, *, allow: Iterable[str] = (), calls: Iterable[Call] | None = None) -> list[Finding]:
        """Every sent text (message and block texts, ephemerals, views, topics) that would broadcast, break
        formatting with a stray `<`, or show Slack markup raw. `allow` names tokens the caller meant, e.g. the
        escalation notice's `<!subteam^S0PRIVACY>` (a `|label` is ignored when comparing)."""
        allowed = {normalize(a) for a in allow}
        with self.lock:
            chosen = list(self.calls if calls is None else calls)
        return [f for c in chosen for f in scan(c.method, c.params) if f.key not in allowed]

    @staticmethod
    def critical_path(calls: Iterable[Call]) -> int:
        """Round trips standing one after another among `calls` (see slack_calls.critical_path)."""
        return critical_path(calls)

    # ----- server ---------------------------------------------------------------------------------
    @property
    def origin(self) -> str:
        assert self._server is not None, "start() the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def url(self) -> str:
        return self.origin + "/api/"

    def response_url(self, key: str) -> str:
        return f"{self.origin}/response/{key}"

    def start(self) -> FakeSlack:
        fake = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, headers, body = fake.handle(self.path, dict(self.headers), raw)
                is_text = isinstance(body, str)
                payload = body.encode() if is_text else json.dumps(body).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                ctype = "text/plain" if is_text else "application/json"
                self.send_header("Content-Type", f"{ctype}; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST  # noqa: N815

        self._server = serve(Handler, "fake-slack")
        return self

    def stop(self) -> None:
        close(self._server)
        self._server = None

    # ----- request handling -------------------------------------------------------------------------
    def handle(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, str], Any]:
        """Record the call, wait half the round trip, act, wait the other half, answer."""
        parsed = urlparse(path)
        if parsed.path.startswith("/upload/"):  # raw file bytes (binary for images): never parsed as a form
            self._wait()
            file_id = parsed.path.rsplit("/", 1)[-1]
            with self.lock:
                if file_id in self.files:
                    self.files[file_id]["content"] = raw
            self._wait()
            return 200, {}, {"ok": True}
        params = self._params(headers, raw, parsed.query)
        is_response = parsed.path.startswith("/response/")
        method = "response_url" if is_response else parsed.path.removeprefix("/api/")
        call = Call(method, params, time.time())
        with self.lock:
            self.calls.append(call)
            self._in_flight += 1
        try:
            self._wait()
            if is_response:
                answer = self._respond(parsed.path.rsplit("/", 1)[-1], params)
            else:
                answer = self._answer(method, headers, params)
            self._wait()
            return answer
        finally:
            with self.lock:
                call.end = time.time()
                self._in_flight -= 1

    def _wait(self) -> None:
        if self.latency > 0:
            time.sleep(self.latency / 2)

    def _answer(self, method: str, headers: dict[str, str], params: dict[str, Any]) -> tuple[int, dict, Any]:
        with self.lock:
            fault = self.faults[method].pop(0) if self.faults.get(method) else None
        if fault:
            if fault.delay:
                time.sleep(fault.delay)
            hdrs = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            if fault.error is not None:
                return fault.status, hdrs, {"ok": False, "error": fault.error}
        auth = headers.get("Authorization") or headers.get("authorization") or ""
        token = auth.removeprefix("Bearer ").strip() or params.get("token", "")
        if not token:
            return 200, {}, {"ok": False, "error": "not_authed"}
        if token != self.token:
            return 200, {}, {"ok": False, "error": "invalid_auth"}
        fn = getattr(self, "api_" + method.replace(".", "_"), None)
        if fn is None:
            return 200, {}, {"ok": False, "error": "unknown_method"}
        if self.rate_limits:
            retry = self._rates.check(method, str(params.get("channel") or "") or None)
            if retry is not None:
                self._violate(method, "ratelimited", (f"retry after {retry} s",), params)
                return 429, {"Retry-After": str(retry)}, {"ok": False, "error": "ratelimited"}
        with self.lock:
            try:
                result = fn(params)
            except SlackError as err:
                self._violate(method, err.code, err.messages, params)
                return 200, {}, {"ok": False, "error": err.code, **err.extra}
        return 200, {}, {"ok": True, **result}

    def _respond(self, key: str, params: dict[str, Any]) -> tuple[int, dict, Any]:
        """A post to a response_url. Slack checks it as a message and answers 400 with the error as text."""
        try:
            self._check_message(params, require_text=not params.get("delete_original"))
        except SlackError as err:
            with self.lock:
                self._violate("response_url", err.code, err.messages, params)
            return 400, {}, err.code
        with self.lock:
            self.responses.append({"key": key, **params})
        return 200, {}, {"ok": True}

    def _violate(self, method: str, error: str, messages: Iterable[str], params: dict[str, Any]) -> None:
        if (method, error) not in NOT_VIOLATIONS:
            with self.lock:
                self.violations.append(Violation(method, error, tuple(messages), params))

    @staticmethod
    def _params(headers: dict[str, str], raw: bytes, query: str) -> dict[str, Any]:
        ctype = (headers.get("Content-Type") or headers.get("content-type") or "").lower()
        params: dict[str, Any] = {k: v[0] for k, v in parse_qs(query).items()}
        if not raw:
            return params
        if "json" in ctype:
            params.update(json.loads(raw))
        elif "form" in ctype:
            params.update({k: v[0] for k, v in parse_qs(raw.decode()).items()})
        for key in ("blocks", "view", "files", "attachments", "metadata"):
            if isinstance(params.get(key), str):
                try:
                    params[key] = json.loads(params[key])
                except ValueError:
                    pass
        return params

    # ----- rules ------------------------------------------------------------------------------------
    def _next_ts(self) -> str:
        return f"{1700000000 + next(self._ts)}.{next(self._ids):06d}"

    def _need(self, *options: str) -> None:
        """The token must hold one of `options` (Slack names every acceptable scope in `needed`)."""
        if not any(s in self.scopes for s in options):
            raise SlackError("missing_scope", needed=",".join(options), provided=",".join(sorted(self.scopes)))

    def _kind_scope(self, ch: dict[str, Any], public: str, private: str, im: str | None = None) -> None:
        if ch.get("is_im"):
            if im:
                self._need(im)
        else:
            self._need(private if ch["is_private"] else public)

    def _channel(self, cid: Any) -> dict[str, Any]:
        """The conversation the bot can see: a private channel it is not in does not exist for it."""
        cid = str(cid or "")
        if USER_ID.match(cid):  # a DM to a user
            dm = f"D{cid}"
            if dm not in self.channels:
                self.channels[dm] = {"id": dm, "name": f"dm-{cid}", "is_channel": False, "is_private": True,
                                     "is_im": True, "is_general": False, "is_archived": False,
                                     "topic": {"value": ""}, "purpose": {"value": ""},
                                     "members": {cid, BOT_USER}, "created": int(time.time())}
            return self.channels[dm]
        ch = self.channels.get(cid)
        if ch is None or (ch["is_private"] and BOT_USER not in ch["members"]):
            raise SlackError("channel_not_found")
        return ch

    def _member(self, ch: dict[str, Any]) -> None:
        if BOT_USER not in ch["members"]:
            raise SlackError("not_in_channel")

    def _writable(self, ch: dict[str, Any]) -> None:
        if ch["is_archived"]:
            raise SlackError("is_archived")

    def _check_message(self, p: dict[str, Any], *, require_text: bool = True) -> None:
        """Text and blocks as chat.postMessage / chat.update / response_url take them."""
        blocks = p.get("blocks")
        if isinstance(blocks, str) or (blocks is not None and not isinstance(blocks, list)):
            raise SlackError("invalid_blocks_format")
        text = p.get("text")
        if require_text and not text and not blocks:
            raise SlackError("no_text")
        if isinstance(text, str) and len(text) > kit.MESSAGE_TEXT:
            raise SlackError("msg_too_long", [f"[ERROR] text must be at most {kit.MESSAGE_TEXT} characters "
                                              f"(got {len(text)})"])
        if blocks:
            errors = kit.check_message_blocks(blocks)
            if errors:
                raise SlackError("invalid_blocks", errors, errors=errors)

    def _metadata(self, method: str, p: dict[str, Any], warnings: list[str]) -> dict[str, Any] | None:
        """Message metadata (docs.slack.dev/messaging/message-metadata): an object with `event_type` and an
        `event_payload` object. An event_type with anything but letters, digits, `_` and `-` is ignored
        with the warning `invalid_metadata_schema` (the message is still posted)."""
        meta = p.get("metadata")
        if meta is None:
            return None
        if not (isinstance(meta, dict) and isinstance(meta.get("event_type"), str)
                and isinstance(meta.get("event_payload"), dict)):
            raise SlackError("invalid_metadata_format")
        if not EVENT_TYPE.match(meta["event_type"]):
            warnings.append("invalid_metadata_schema")
            self._violate(method, "invalid_metadata_schema", (f"event_type {meta['event_type']!r}",), p)
            return None
        return {"event_type": meta["event_type"], "event_payload": meta["event_payload"]}

    def _check_trigger(self, tid: Any) -> None:
        if not tid:
            raise SlackError("invalid_arguments", ["[ERROR] missing required field: trigger_id"])
        info = self.triggers.get(str(tid)) if TRIGGER_ID.match(str(tid)) else None
        if info is None:
            raise SlackError("invalid_trigger_id")
        if info["used"]:
            raise SlackError("exchanged_trigger_id")
        info["used"] = True
        if time.monotonic() - info["issued"] > self.trigger_ttl:
            raise SlackError("expired_trigger_id")

    def _public(self, ch: dict) -> dict:
        return {k: v for k, v in ch.items() if k != "members"} | {
            "num_members": len(ch["members"]), "is_member": BOT_USER in ch["members"]}

    def _msg_json(self, m: Message, *, metadata: bool = True) -> dict:
        out = {"type": "message", "ts": m.ts, "text": m.text, "user": m.user, "blocks": m.blocks}
        if m.user == BOT_USER:
            out["bot_id"] = BOT_ID
        if m.thread_ts:
            out["thread_ts"] = m.thread_ts
        if metadata and m.metadata is not None:
            out["metadata"] = m.metadata
        return out

    # ----- API methods: auth, conversations ----------------------------------------------------------
    def api_auth_test(self, p: dict) -> dict:
        return {"user_id": BOT_USER, "bot_id": BOT_ID, "team_id": "T0FIREBRK", "team": "firebreak-local",
                "user": "firebreak", "url": "https://firebreak-local.slack.test/"}

    def api_conversations_create(self, p: dict) -> dict:
        """Names: lowercase letters, digits, `-` and `_`, at most 80 characters, unique in the workspace."""
        name = str(p.get("name") or "")
        private = str(p.get("is_private", "false")).lower() in ("true", "1")
        self._need("groups:write" if private else "channels:manage")
        if not name:
            raise SlackError("invalid_name_required")
        if len(name) > 80:
            raise SlackError("invalid_name_maxlength")
        if not CHANNEL_NAME.match(name):
            raise SlackError("invalid_name_specials")
        if not re.search(r"[a-z0-9]", name):
            raise SlackError("invalid_name_punctuation")
        if any(c["name"] == name for c in self.channels.values()):
            raise SlackError("name_taken")
        cid = self.add_channel(name, private=private)
        return {"channel": self._public(self.channels[cid])}

    def api_conversations_info(self, p: dict) -> dict:
        ch = self._channel(p.get("channel"))
        self._kind_scope(ch, "channels:read", "groups:read", "im:read")
        return {"channel": self._public(ch)}

    def api_conversations_list(self, p: dict) -> dict:
        """Cursor pagination over the conversations the bot can see, of the `types` asked for (default
        public_channel). Like Slack, `exclude_archived` is applied to a page after it is cut, so a page can
        hold fewer than `limit` channels (even none) while `next_cursor` says more remain."""
        kinds = [t.strip() for t in str(p.get("types") or "public_channel").split(",") if t.strip()]
        scope = {"public_channel": "channels:read", "private_channel": "groups:read", "mpim": "mpim:read",
                 "im": "im:read"}
        if not kinds or any(k not in scope for k in kinds):
            raise SlackError("invalid_types")
        for k in kinds:
            self._need(scope[k])
        try:
            limit = int(p.get("limit") or 100)
        except ValueError:
            raise SlackError("invalid_limit") from None
        if not 1 <= limit <= 1000:
            raise SlackError("invalid_limit")
        offset = self._cursor(p.get("cursor"))
        visible = [c for c in self.channels.values() if self._list_kind(c) in kinds
                   and (not c["is_private"] or BOT_USER in c["members"])]
        page = visible[offset: offset + limit]
        if str(p.get("exclude_archived", "false")).lower() in ("true", "1"):
            page = [c for c in page if not c["is_archived"]]
        more = offset + limit < len(visible)
        cursor = base64.b64encode(f"offset:{offset + limit}".encode()).decode() if more else ""
        return {"channels": [self._public(c) for c in page], "response_metadata": {"next_cursor": cursor}}

    @staticmethod
    def _list_kind(ch: dict[str, Any]) -> str:
        if ch.get("is_im"):
            return "im"
        return "private_channel" if ch["is_private"] else "public_channel"

    @staticmethod
    def _cursor(cursor: Any) -> int:
        if not cursor:
            return 0
        try:
            kind, _, offset = base64.b64decode(str(cursor), validate=True).decode().partition(":")
            if kind == "offset" and offset.isascii() and offset.isdigit():
                return int(offset)
        except ValueError:
            pass
        raise SlackError("invalid_cursor")

    def api_conversations_invite(self, p: dict) -> dict:
        """Slack refuses the whole call when any one user cannot be invited (already in the channel, the
        caller itself, no such user) and invites nobody, unless `force=true`
        (docs.slack.dev/reference/methods/conversations.invite)."""
        ch = self._channel(p.get("channel"))
        self._kind_scope(ch, "channels:manage", "groups:write")
        self._writable(ch)
        self._member(ch)
        users = [u.strip() for u in str(p.get("users") or "").split(",") if u.strip()]
        if not users:
            raise SlackError("no_user")
        if len(users) > 1000:
            raise SlackError("too_many_users")
        errors = []
        for u in users:
            problem = ("cant_invite_self" if u == BOT_USER else "user_not_found" if not USER_ID.match(u)
                       else "already_in_channel" if u in ch["members"] else None)
            if problem:
                errors.append({"user": u, "ok": False, "error": problem})
        force = str(p.get("force", "false")).lower() in ("true", "1")
        if errors and not force:
            raise SlackError(errors[0]["error"], [f"[ERROR] {e['user']}: {e['error']}" for e in errors],
                             errors=errors)
        bad = {e["user"] for e in errors}
        ch["members"].update(u for u in users if u not in bad)
        return {"channel": self._public(ch)} | ({"errors": errors} if errors else {})

    def api_conversations_join(self, p: dict) -> dict:
        ch = self._channel(p.get("channel"))
        self._need("channels:join")
        ch["members"].add(BOT_USER)
        return {"channel": self._public(ch)}

    def api_conversations_members(self, p: dict) -> dict:
        ch = self._channel(p.get("channel"))
        self._kind_scope(ch, "channels:read", "groups:read", "im:read")
        return {"members": sorted(ch["members"]), "response_metadata": {"next_cursor": ""}}

    def _set_text_field(self, p: dict, key: str) -> dict:
        ch = self._channel(p.get("channel"))
        self._kind_scope(ch, "channels:manage", "groups:write")
        self._writable(ch)
        self._member(ch)
        value = str(p.get(key) or "")
        if len(value) > TOPIC_MAX:
            raise SlackError("too_long", [f"[ERROR] {key} must be at most {TOPIC_MAX} characters (got {len(value)})"])
        ch[key] = {"value": value}
        return {"channel": self._public(ch)}

    def api_conversations_setTopic(self, p: dict) -> dict:  # noqa: N802
        return self._set_text_field(p, "topic")

    def api_conversations_setPurpose(self, p: dict) -> dict:  # noqa: N802
        return self._set_text_field(p, "purpose")

    def api_conversations_archive(self, p: dict) -> dict:
        ch = self._channel(p.get("channel"))
        self._kind_scope(ch, "channels:manage", "groups:write")
        if ch["is_archived"]:
            raise SlackError("already_archived")
        if ch.get("is_general"):
            raise SlackError("cant_archive_general")
        self._member(ch)
        ch["is_archived"] = True
        return {}

    def api_conversations_history(self, p: dict) -> dict:
        """Newest first, `limit` (default 100, at most 999) per page with cursor pagination; `oldest`,
        `latest` and `inclusive` as Slack reads them; message metadata only with `include_all_metadata`."""
        ch = self._channel(p.get("channel"))
        self._kind_scope(ch, "channels:history", "groups:history", "im:history")
        self._member(ch)
        msgs = [m for m in self.messages.get(ch["id"], []) if not m.thread_ts or m.thread_ts == m.ts]
        inclusive = str(p.get("inclusive", "false")).lower() in ("true", "1")
        if p.get("latest"):
            latest = float(p["latest"])
            msgs = [m for m in msgs if float(m.ts) < latest or (inclusive and float(m.ts) == latest)]
        if p.get("oldest"):
            oldest = float(p["oldest"])
            msgs = [m for m in msgs if float(m.ts) > oldest or (inclusive and float(m.ts) == oldest)]
        msgs.sort(key=lambda m: float(m.ts), reverse=True)
        limit = max(1, min(int(p.get("limit") or 100), 999))
        offset = self._cursor(p.get("cursor"))
        page, more = msgs[offset: offset + limit], offset + limit < len(msgs)
        meta = str(p.get("include_all_metadata", "false")).lower() in ("true", "1")
        cursor = base64.b64encode(f"offset:{offset + limit}".encode()).decode() if more else ""
        return {"messages": [self._msg_json(m, metadata=meta) for m in page], "has_more": more,
                "response_metadata": {"next_cursor": cursor}}

    def api_conversations_replies(self, p: dict) -> dict:
        ch = self._channel(p.get("channel"))
        self._kind_scope(ch, "channels:history", "groups:history", "im:history")
        self._member(ch)
        ts = p.get("ts")
        msgs = [m for m in self.messages.get(ch["id"], []) if m.ts == ts or m.thread_ts == ts]
        if not msgs:
            raise SlackError("thread_not_found")
        meta = str(p.get("include_all_metadata", "false")).lower() in ("true", "1")
        return {"messages": [self._msg_json(m, metadata=meta) for m in msgs], "has_more": False}

    # ----- API methods: messages ---------------------------------------------------------------------
    def post_user_message(self, channel: str, user: str, text: str) -> str:
        """A human posts in a channel (for tests of reactions and shortcuts)."""
        with self.lock:
            ts = self._next_ts()
            self.messages[channel].append(Message(channel, ts, text, user=user))
            return ts

    def api_chat_postMessage(self, p: dict) -> dict:  # noqa: N802
        """chat:write posts where the bot is a member; chat:write.public also in public channels it is not in."""
        self._need("chat:write")
        ch = self._channel(p.get("channel"))
        if BOT_USER not in ch["members"] and not ("chat:write.public" in self.scopes and not ch["is_private"]):
            raise SlackError("not_in_channel")
        self._writable(ch)
        self._check_message(p)
        warnings: list[str] = []
        metadata = self._metadata("chat.postMessage", p, warnings)
        ts = self._next_ts()
        msg = Message(ch["id"], ts, str(p.get("text") or ""), p.get("blocks") or [], thread_ts=p.get("thread_ts"),
                      metadata=metadata)
        self.messages[ch["id"]].append(msg)
        out = {"channel": ch["id"], "ts": ts, "message": self._msg_json(msg)}
        if warnings:
            out |= {"warning": ",".join(warnings), "response_metadata": {"warnings": warnings}}
        return out

    def api_chat_postEphemeral(self, p: dict) -> dict:  # noqa: N802
        self._need("chat:write")
        ch = self._channel(p.get("channel"))
        if not p.get("user"):
            raise SlackError("user_not_found")
        self._check_message(p)
        self.ephemerals.append({"channel": ch["id"], "user": p.get("user"), "text": p.get("text", ""),
                                "blocks": p.get("blocks") or []})
        return {"message_ts": self._next_ts()}

    def api_chat_update(self, p: dict) -> dict:  # noqa: N802
        """Only the bot's own messages; the new text and blocks are checked as a new message's are."""
        self._need("chat:write")
        ch = self._channel(p.get("channel"))
        msg = self.message(ch["id"], str(p.get("ts") or ""))
        if msg is None:
            raise SlackError("message_not_found")
        if msg.user != BOT_USER:
            raise SlackError("cant_update_message")
        self._check_message(p, require_text=False)
        warnings: list[str] = []
        metadata = self._metadata("chat.update", p, warnings)
        if "text" in p:
            msg.text = str(p.get("text") or "")
        if p.get("blocks") is not None:
            msg.blocks = p["blocks"]
        if metadata is not None:
            msg.metadata = metadata
        msg.edits += 1
        out = {"channel": ch["id"], "ts": msg.ts, "text": msg.text, "message": self._msg_json(msg)}
        if warnings:
            out |= {"warning": ",".join(warnings), "response_metadata": {"warnings": warnings}}
        return out

    def api_chat_getPermalink(self, p: dict) -> dict:  # noqa: N802
        ch = self._channel(p.get("channel"))
        ts = str(p.get("message_ts") or "")
        if self.message(ch["id"], ts) is None:
            raise SlackError("message_not_found")
        return {"channel": ch["id"],
                "permalink": f"https://firebreak-local.slack.test/archives/{ch['id']}/p{ts.replace('.', '')}"}

    def api_pins_add(self, p: dict) -> dict:
        self._need("pins:write")
        ch = self._channel(p.get("channel"))
        self._member(ch)
        ts = str(p.get("timestamp") or "")
        if self.message(ch["id"], ts) is None:
            raise SlackError("message_not_found")
        if ts in self.pins[ch["id"]]:
            raise SlackError("already_pinned")
        self.pins[ch["id"]].append(ts)
        return {}

    def api_pins_list(self, p: dict) -> dict:
        self._need("pins:read")
        ch = self._channel(p.get("channel"))
        return {"items": [{"type": "message", "message": self._msg_json(m)} for m in self.pinned(ch["id"])]}

    def api_reactions_add(self, p: dict) -> dict:
        self._need("reactions:write")
        ch = self._channel(p.get("channel"))
        if self.message(ch["id"], str(p.get("timestamp") or "")) is None:
            raise SlackError("message_not_found")
        return {}

    def api_users_info(self, p: dict) -> dict:
        self._need("users:read")
        user = self.users.get(str(p.get("user") or ""))
        if user is None:
            raise SlackError("user_not_found")
        return {"user": user}

    def api_usergroups_users_list(self, p: dict) -> dict:
        self._need("usergroups:read")
        group = str(p.get("usergroup") or "")
        if group not in self.usergroups:
            raise SlackError("no_such_subteam")
        return {"users": list(self.usergroups[group])}

    # ----- API methods: views --------------------------------------------------------------------------
    def _view(self, p: dict, kind: str | None = None) -> dict:
        view = p.get("view")
        if not isinstance(view, dict):
            raise SlackError("invalid_arguments", ["[ERROR] view must be a JSON object [json-pointer:/view]"])
        if kind and view.get("type") != kind:
            raise SlackError("invalid_arguments", [f"[ERROR] must be {kind} [json-pointer:/view/type]"])
        if kit.view_too_large(view):
            raise SlackError("view_too_large")
        errors = kit.check_view(view)
        if errors:
            raise SlackError("invalid_arguments", errors)
        return view

    def api_views_open(self, p: dict) -> dict:
        """A trigger id opens one view, within 3 seconds of the interaction that carried it."""
        view = self._view(p, "modal")
        self._check_trigger(p.get("trigger_id"))
        vid = f"V{next(self._ids):07d}"
        self.views[vid] = {"id": vid, "trigger_id": p["trigger_id"], **view}
        return {"view": self.views[vid]}

    def api_views_push(self, p: dict) -> dict:
        return self.api_views_open(p)

    def api_views_update(self, p: dict) -> dict:
        vid = p.get("view_id")
        if vid not in self.views:
            raise SlackError("not_found")
        self.views[vid] = {"id": vid, **self._view(p, "modal")}
        return {"view": self.views[vid]}

    def api_views_publish(self, p: dict) -> dict:
        if not p.get("user_id"):
            raise SlackError("invalid_arguments", ["[ERROR] missing required field: user_id"])
        view = self._view(p, "home")
        self.home_views[str(p["user_id"])] = view
        return {"view": view}

    # ----- API methods: files --------------------------------------------------------------------------
    def api_files_getUploadURLExternal(self, p: dict) -> dict:  # noqa: N802
        self._need("files:write")
        if not p.get("filename") or not str(p.get("length") or "").isdigit():
            raise SlackError("invalid_arguments", ["[ERROR] filename and length are required"])
        fid = f"F{next(self._ids):07d}"
        self.files[fid] = {"id": fid, "name": p.get("filename"), "length": int(p["length"]),
                           "content": None, "channels": [], "title": None}
        return {"upload_url": f"{self.origin}/upload/{fid}", "file_id": fid}

    def api_files_completeUploadExternal(self, p: dict) -> dict:  # noqa: N802
        self._need("files:write")
        files = p.get("files") or []
        channel = p.get("channel_id")
        ch = self._channel(channel) if channel else None
        if ch is not None:
            self._member(ch)
            self._writable(ch)
        out = []
        for f in files:
            rec = self.files.get(f.get("id"))
            if rec is None or rec["content"] is None:
                raise SlackError("file_not_found")
            rec["title"] = f.get("title") or rec["name"]
            if ch is not None:
                rec["channels"].append(ch["id"])
                ts = self._next_ts()
                self.messages[ch["id"]].append(Message(ch["id"], ts, p.get("initial_comment", ""),
                                                       files=[{"id": rec["id"], "name": rec["name"]}]))
            out.append({"id": rec["id"], "name": rec["name"], "title": rec["title"]})
        return {"files": out}
