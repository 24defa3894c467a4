"""The conversations.* methods (and auth.test) of the Slack stand-in, as Slack answers them."""

from __future__ import annotations

import base64
import re
from typing import Any

from bot.fakes.slack_state import (
    APP_ID,
    BOT_ID,
    BOT_USER,
    CHANNEL_NAME,
    TOPIC_MAX,
    USER_ID,
    SlackError,
    SlackState,
)


class Conversations(SlackState):
    """Where the bot speaks: channels, their members, topics and history, with Slack's membership and scope
    rules and its cursor pagination."""

    # ----- API methods: auth, conversations ----------------------------------------------------------
    def api_auth_test(self, p: dict) -> dict:
        return {"user_id": BOT_USER, "bot_id": BOT_ID, "team_id": "T0FIREBRK", "team": "firebreak-local",
                "user": "firebreak", "url": "https://firebreak-local.slack.test/"}

    def api_bots_info(self, p: dict) -> dict:
        if p.get("bot") != BOT_ID:
            raise SlackError("bot_not_found")
        return {"bot": {"id": BOT_ID, "app_id": APP_ID, "user_id": BOT_USER, "name": "firebreak", "deleted": False}}

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
        self.channels[cid]["creator"] = BOT_USER  # as Slack records who made a channel
        return {"channel": self._public(self.channels[cid])}

    def api_conversations_info(self, p: dict) -> dict:
        ch = self._channel(p.get("channel"))
        self._kind_scope(ch, "channels:read", "groups:read", "im:read")
        return {"channel": self._public(ch)}

    def api_conversations_list(self, p: dict) -> dict:
        """Cursor pagination over the conversations the bot can see, of the `types` asked for (default
        public_channel). Like Slack, `exclude_archived` is applied to a page after it is cut, so a page can
        hold fewer than `limit` channels (even none) while `next_cursor` says more remain."""
        kinds, limit, offset = self._listing(p, max_limit=1000)
        visible = [c for c in self.channels.values() if self._list_kind(c) in kinds
                   and (not c["is_private"] or BOT_USER in c["members"])]
        return self._page(visible, offset, limit, p)

    def _listing(self, p: dict, *, max_limit: int) -> tuple[list[str], int, int]:
        """The `types` (each needing its read scope), `limit` and cursor offset of a channel listing."""
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
        if not 1 <= limit <= max_limit:
            raise SlackError("invalid_limit")
        return kinds, limit, self._cursor(p.get("cursor"))

    def _page(self, channels: list[dict], offset: int, limit: int, p: dict) -> dict:
        """One page of a listing; like Slack, `exclude_archived` applies after the page is cut."""
        page = channels[offset: offset + limit]
        if str(p.get("exclude_archived", "false")).lower() in ("true", "1"):
            page = [c for c in page if not c["is_archived"]]
        more = offset + limit < len(channels)
        cursor = base64.b64encode(f"offset:{offset + limit}".encode()).decode() if more else ""
        return {"channels": [self._public(c) for c in page], "response_metadata": {"next_cursor": cursor}}

    def api_users_conversations(self, p: dict) -> dict:
        """The conversations `user` (default: the bot) is in, of the `types` asked for; private ones only where
        the bot is a member too (Slack: "restricted to those where the calling user shares membership").
        `limit` at most 999; cursor pagination."""
        kinds, limit, offset = self._listing(p, max_limit=999)
        user = str(p.get("user") or BOT_USER)
        theirs = [c for c in self.channels.values() if self._list_kind(c) in kinds and user in c["members"]
                  and (not c["is_private"] or BOT_USER in c["members"])]
        return self._page(theirs, offset, limit, p)

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
        errors: list[dict[str, Any]] = []
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
        joined = [u for u in users if u not in bad and u not in ch["members"]]
        ch["members"].update(joined)
        for u in joined:
            for listener in self.on_join:
                listener(ch["id"], u)
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
