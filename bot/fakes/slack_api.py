"""A stateful stand-in for the Slack Web API: channels, members, messages, pins, topics, views, files.

It records every call so tests assert on what a user would see. Faults can be scripted per method
(`fail_next("conversations.create", error="ratelimited", status=429, retry_after=1)`).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from bot.fakes.base import QuietHandler, close, serve

CHANNEL_NAME = re.compile(r"^[a-z0-9_-]{1,80}$")
BOT_USER = "UFIREBREAK"
BOT_ID = "BFIREBREAK"
APP_ID = "A0FIREBRK"


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float


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


class FakeSlack:
    """The state and the API. `start()` serves it on 127.0.0.1; `url` is the SLACK_API_URL to use."""

    def __init__(self, token: str = "xoxb-test-token") -> None:
        self.token = token
        self.lock = threading.RLock()
        self.calls: list[Call] = []
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
        self._ids = itertools.count(1)
        self._ts = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None

    # ----- test setup ------------------------------------------------------------------------------
    def add_channel(self, name: str, *, channel_id: str | None = None, private: bool = False,
                    members: list[str] | None = None) -> str:
        with self.lock:
            cid = channel_id or f"C{next(self._ids):07d}"
            self.channels[cid] = {"id": cid, "name": name, "is_private": private, "is_archived": False,
                                  "topic": {"value": ""}, "purpose": {"value": ""},
                                  "members": set(members or []) | {BOT_USER}, "created": int(time.time())}
            return cid

    def add_user(self, user_id: str, name: str) -> None:
        with self.lock:
            self.users[user_id] = {"id": user_id, "name": name, "real_name": name.title()}

    def fail_next(self, method: str, error: str | None = "internal_error", *, status: int = 200,
                  retry_after: int | None = None, times: int = 1, delay: float = 0.0) -> None:
        with self.lock:
            self.faults[method].extend(Fault(error, status, retry_after, delay) for _ in range(times))

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
                payload = json.dumps(body).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json; charset=utf-8")
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
        parsed = urlparse(path)
        if parsed.path.startswith("/upload/"):  # raw file bytes (binary for images): never parsed as a form
            file_id = parsed.path.rsplit("/", 1)[-1]
            with self.lock:
                if file_id in self.files:
                    self.files[file_id]["content"] = raw
            return 200, {}, {"ok": True}
        params = self._params(headers, raw, parsed.query)
        if parsed.path.startswith("/response/"):
            with self.lock:
                self.calls.append(Call("response_url", params, time.time()))
                self.responses.append({"key": parsed.path.rsplit("/", 1)[-1], **params})
            return 200, {}, {"ok": True}
        method = parsed.path.removeprefix("/api/")
        with self.lock:
            self.calls.append(Call(method, params, time.time()))
            fault = self.faults[method].pop(0) if self.faults.get(method) else None
        if fault:
            if fault.delay:
                time.sleep(fault.delay)
            hdrs = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            if fault.error is not None:
                return fault.status, hdrs, {"ok": False, "error": fault.error}
        auth = headers.get("Authorization") or headers.get("authorization") or ""
        token = auth.removeprefix("Bearer ").strip() or params.get("token", "")
        if token != self.token:
            return 200, {}, {"ok": False, "error": "invalid_auth"}
        fn = getattr(self, "api_" + method.replace(".", "_"), None)
        if fn is None:
            return 200, {}, {"ok": False, "error": "unknown_method"}
        with self.lock:
            try:
                result = fn(params)
            except SlackError as err:
                return 200, {}, {"ok": False, "error": err.code}
        return 200, {}, {"ok": True, **result}

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
        for key in ("blocks", "view", "files", "attachments"):
            if isinstance(params.get(key), str):
                try:
                    params[key] = json.loads(params[key])
                except ValueError:
                    pass
        return params

    # ----- helpers ----------------------------------------------------------------------------------
    def _next_ts(self) -> str:
        return f"{1700000000 + next(self._ts)}.{next(self._ids):06d}"

    def _channel(self, cid: str | None) -> dict[str, Any]:
        if cid and cid.startswith(("U", "W")):  # a DM to a user
            dm = f"D{cid}"
            if dm not in self.channels:
                self.channels[dm] = {"id": dm, "name": f"dm-{cid}", "is_private": True, "is_im": True,
                                     "is_archived": False, "topic": {"value": ""}, "purpose": {"value": ""},
                                     "members": {cid, BOT_USER}, "created": int(time.time())}
            return self.channels[dm]
        if not cid or cid not in self.channels:
            raise SlackError("channel_not_found")
        return self.channels[cid]

    # ----- API methods ------------------------------------------------------------------------------
    def api_auth_test(self, p: dict) -> dict:
        return {"user_id": BOT_USER, "bot_id": BOT_ID, "team_id": "T0FIREBRK", "team": "firebreak-local",
                "user": "firebreak", "url": "https://firebreak-local.slack.test/"}

    def api_bots_info(self, p: dict) -> dict:
        if p.get("bot") != BOT_ID:
            raise SlackError("bot_not_found")
        return {"bot": {"id": BOT_ID, "app_id": APP_ID, "user_id": BOT_USER, "name": "firebreak", "deleted": False}}

    def api_conversations_create(self, p: dict) -> dict:
        name = p.get("name", "")
        if not CHANNEL_NAME.match(name):
            raise SlackError("invalid_name_specials")
        if any(c["name"] == name for c in self.channels.values()):
            raise SlackError("name_taken")
        private = str(p.get("is_private", "false")).lower() in ("true", "1")
        cid = self.add_channel(name, private=private)
        return {"channel": self._public(self.channels[cid])}

    def _public(self, ch: dict) -> dict:
        return {k: (sorted(v) if isinstance(v, set) else v) for k, v in ch.items() if k != "members"} | {
            "num_members": len(ch["members"])}

    def api_conversations_info(self, p: dict) -> dict:
        return {"channel": self._public(self._channel(p.get("channel")))}

    def api_conversations_invite(self, p: dict) -> dict:
        ch = self._channel(p.get("channel"))
        users = [u for u in str(p.get("users", "")).split(",") if u]
        if not users:
            raise SlackError("no_user")
        if all(u in ch["members"] for u in users):
            raise SlackError("already_in_channel")
        ch["members"].update(users)
        return {"channel": self._public(ch)}

    def api_conversations_join(self, p: dict) -> dict:
        ch = self._channel(p.get("channel"))
        ch["members"].add(BOT_USER)
        return {"channel": self._public(ch)}

    def api_conversations_members(self, p: dict) -> dict:
        return {"members": sorted(self._channel(p.get("channel"))["members"])}

    def api_conversations_setTopic(self, p: dict) -> dict:  # noqa: N802
        ch = self._channel(p.get("channel"))
        topic = p.get("topic", "")
        if len(topic) > 250:
            raise SlackError("too_long")
        ch["topic"] = {"value": topic}
        return {"channel": self._public(ch)}

    def api_conversations_setPurpose(self, p: dict) -> dict:  # noqa: N802
        ch = self._channel(p.get("channel"))
        ch["purpose"] = {"value": p.get("purpose", "")}
        return {"channel": self._public(ch)}

    def api_conversations_archive(self, p: dict) -> dict:
        self._channel(p.get("channel"))["is_archived"] = True
        return {}

    def _msg_json(self, m: Message) -> dict:
        out = {"type": "message", "ts": m.ts, "text": m.text, "user": m.user, "blocks": m.blocks}
        if m.thread_ts:
            out["thread_ts"] = m.thread_ts
        return out

    def api_conversations_history(self, p: dict) -> dict:
        ch = self._channel(p.get("channel"))
        msgs = [m for m in self.messages.get(ch["id"], []) if not m.thread_ts or m.thread_ts == m.ts]
        latest = p.get("latest")
        inclusive = str(p.get("inclusive", "false")).lower() in ("true", "1")
        if latest:
            msgs = [m for m in msgs if float(m.ts) < float(latest) or (inclusive and m.ts == latest)]
        msgs = sorted(msgs, key=lambda m: float(m.ts), reverse=True)[: int(p.get("limit", 100))]
        return {"messages": [self._msg_json(m) for m in msgs], "has_more": False}

    def api_conversations_replies(self, p: dict) -> dict:
        ch = self._channel(p.get("channel"))
        ts = p.get("ts")
        msgs = [m for m in self.messages.get(ch["id"], []) if m.ts == ts or m.thread_ts == ts]
        return {"messages": [self._msg_json(m) for m in msgs], "has_more": False}

    def post_user_message(self, channel: str, user: str, text: str) -> str:
        """A human posts in a channel (for tests of reactions and shortcuts)."""
        with self.lock:
            ts = self._next_ts()
            self.messages[channel].append(Message(channel, ts, text, user=user))
            return ts

    def api_chat_postMessage(self, p: dict) -> dict:  # noqa: N802
        ch = self._channel(p.get("channel"))
        if ch.get("is_private") and BOT_USER not in ch["members"]:
            raise SlackError("not_in_channel")
        if not p.get("text") and not p.get("blocks"):
            raise SlackError("no_text")
        blocks = p.get("blocks") or []
        if len(blocks) > 50:
            raise SlackError("invalid_blocks")
        ts = self._next_ts()
        msg = Message(ch["id"], ts, p.get("text", ""), blocks, thread_ts=p.get("thread_ts"))
        self.messages[ch["id"]].append(msg)
        return {"channel": ch["id"], "ts": ts, "message": self._msg_json(msg)}

    def api_chat_postEphemeral(self, p: dict) -> dict:  # noqa: N802
        ch = self._channel(p.get("channel"))
        self.ephemerals.append({"channel": ch["id"], "user": p.get("user"), "text": p.get("text", ""),
                                "blocks": p.get("blocks") or []})
        return {"message_ts": self._next_ts()}

    def api_chat_update(self, p: dict) -> dict:  # noqa: N802
        ch = self._channel(p.get("channel"))
        msg = self.message(ch["id"], p.get("ts", ""))
        if msg is None:
            raise SlackError("message_not_found")
        blocks = p.get("blocks")
        if blocks is not None and len(blocks) > 50:
            raise SlackError("invalid_blocks")
        msg.text = p.get("text", msg.text)
        if blocks is not None:
            msg.blocks = blocks
        msg.edits += 1
        return {"channel": ch["id"], "ts": msg.ts, "text": msg.text}

    def api_chat_getPermalink(self, p: dict) -> dict:  # noqa: N802
        ch = self._channel(p.get("channel"))
        ts = p.get("message_ts", "")
        return {"channel": ch["id"], "permalink": f"https://firebreak-local.slack.test/archives/{ch['id']}/p{ts.replace('.', '')}"}

    def api_pins_add(self, p: dict) -> dict:
        ch = self._channel(p.get("channel"))
        ts = p.get("timestamp", "")
        if self.message(ch["id"], ts) is None:
            raise SlackError("message_not_found")
        if ts in self.pins[ch["id"]]:
            raise SlackError("already_pinned")
        self.pins[ch["id"]].append(ts)
        return {}

    def api_pins_list(self, p: dict) -> dict:
        ch = self._channel(p.get("channel"))
        return {"items": [{"type": "message", "message": self._msg_json(m)} for m in self.pinned(ch["id"])]}

    def api_reactions_add(self, p: dict) -> dict:
        return {}

    def api_users_info(self, p: dict) -> dict:
        user = self.users.get(p.get("user", ""))
        if user is None:
            raise SlackError("user_not_found")
        return {"user": user}

    def api_usergroups_users_list(self, p: dict) -> dict:
        group = p.get("usergroup", "")
        if group not in self.usergroups:
            raise SlackError("no_such_subteam")
        return {"users": list(self.usergroups[group])}

    def _view(self, p: dict) -> dict:
        view = p.get("view")
        if not isinstance(view, dict):
            raise SlackError("invalid_arguments")
        if len(view.get("blocks", [])) > 100:
            raise SlackError("invalid_blocks")
        return view

    def api_views_open(self, p: dict) -> dict:
        if not p.get("trigger_id"):
            raise SlackError("invalid_trigger_id")
        view = self._view(p)
        vid = f"V{next(self._ids):07d}"
        self.views[vid] = {"id": vid, "trigger_id": p["trigger_id"], **view}
        return {"view": self.views[vid]}

    def api_views_push(self, p: dict) -> dict:
        return self.api_views_open(p)

    def api_views_update(self, p: dict) -> dict:
        vid = p.get("view_id")
        if vid not in self.views:
            raise SlackError("not_found")
        self.views[vid] = {"id": vid, **self._view(p)}
        return {"view": self.views[vid]}

    def api_views_publish(self, p: dict) -> dict:
        view = self._view(p)
        self.home_views[p.get("user_id", "")] = view
        return {"view": view}

    def api_files_getUploadURLExternal(self, p: dict) -> dict:  # noqa: N802
        fid = f"F{next(self._ids):07d}"
        self.files[fid] = {"id": fid, "name": p.get("filename"), "length": int(p.get("length", 0)),
                           "content": None, "channels": [], "title": None}
        return {"upload_url": f"{self.origin}/upload/{fid}", "file_id": fid}

    def api_files_completeUploadExternal(self, p: dict) -> dict:  # noqa: N802
        files = p.get("files") or []
        channel = p.get("channel_id")
        out = []
        for f in files:
            rec = self.files.get(f.get("id"))
            if rec is None or rec["content"] is None:
                raise SlackError("file_not_found")
            rec["title"] = f.get("title") or rec["name"]
            if channel:
                self._channel(channel)
                rec["channels"].append(channel)
                ts = self._next_ts()
                self.messages[channel].append(Message(channel, ts, p.get("initial_comment", ""),
                                                      files=[{"id": rec["id"], "name": rec["name"]}]))
            out.append({"id": rec["id"], "name": rec["name"], "title": rec["title"]})
        return {"files": out}


class SlackError(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code
