"""The Slack stand-in's state, and Slack's rules on it: who may see, post to and change which channel, what a
message may hold, when a trigger id is still good. The API methods (slack_conversations, slack_messaging)
apply these rules; slack_api serves them over HTTP.
"""

from __future__ import annotations

import itertools
import re
import secrets
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bot.fakes import slack_blockkit as kit
from bot.fakes.slack_calls import Call, Violation

BOT_USER = "UFIREBREAK"
BOT_ID = "BFIREBREAK"
APP_ID = "A0FIREBRK"
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
    delay_after: float = 0.0  # act, then hold the answer: the client times out although Slack did it


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


class SlackState:
    """Channels, members, messages, pins, views, files, and what was asked of them (`calls`, `violations`)."""

    def __init__(self, token: str, *, scopes: Iterable[str] = MANIFEST_SCOPES,
                 trigger_ttl: float = TRIGGER_TTL) -> None:
        self.token = token
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
        # Called with (channel, user) whenever someone joins a channel: Slack's member_joined_channel event.
        self.on_join: list[Any] = []
        self.triggers: dict[str, dict[str, Any]] = {}  # trigger_id -> {"issued": time, "used": bool}
        self._ids = itertools.count(1)
        self._last_ts = 0  # microseconds of the last message ts handed out

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
                  retry_after: int | None = None, times: int = 1, delay: float = 0.0,
                  delay_after: float = 0.0) -> None:
        """Script the next `times` calls of `method`: wait `delay`, then answer `error` (with `status` and
        Retry-After); `error=None` answers normally after the delay (a slow Slack)."""
        with self.lock:
            self.faults[method].extend(Fault(error, status, retry_after, delay, delay_after) for _ in range(times))

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
        """The channel's messages as a reader sees them (in UTC): entities as characters, date tokens as their
        fallback. `raw_texts` has them as they were sent."""
        return [seen(m.text) for m in self.history(channel)]

    def raw_texts(self, channel: str) -> list[str]:
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


    def post_user_message(self, channel: str, user: str, text: str) -> str:
        """A human posts in a channel (for tests of reactions and shortcuts)."""
        with self.lock:
            ts = self._next_ts()
            self.messages[channel].append(Message(channel, ts, text, user=user))
            return ts
    def _violate(self, method: str, error: str, messages: Iterable[str], params: dict[str, Any]) -> None:
        if (method, error) not in NOT_VIOLATIONS:
            with self.lock:
                self.violations.append(Violation(method, error, tuple(messages), params))

    # ----- rules ------------------------------------------------------------------------------------
    def _next_ts(self) -> str:
        """As Slack's: the moment of posting in seconds and microseconds, unique and increasing. With the bot's
        clock given, that clock's moment (tests and simulated exercises travel in time; Slack's ts follow)."""
        clock = getattr(self, "_clock", None)
        now = clock.now().timestamp() if clock is not None else time.time()
        micros = max(int(now * 1_000_000), self._last_ts + 1)
        self._last_ts = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

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
        out: dict[str, Any] = {"type": "message", "ts": m.ts, "text": m.text, "user": m.user, "blocks": m.blocks}
        if m.user == BOT_USER:
            out["bot_id"] = BOT_ID
        if m.thread_ts:
            out["thread_ts"] = m.thread_ts
        if metadata and m.metadata is not None:
            out["metadata"] = m.metadata
        return out


_DATE = re.compile(r"<!date\^[0-9]+\^[^|>]*\|([^>]*)>")


def seen(text: str) -> str:
    """What a reader sees (one in UTC, for times): date tokens as their fallback, entities as characters."""
    text = _DATE.sub(lambda m: m.group(1), text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
