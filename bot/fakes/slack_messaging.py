"""The chat.*, pins.*, reactions.*, users.*, usergroups.*, views.* and files.* methods of the Slack stand-in."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.fakes import slack_blockkit as kit
from bot.fakes.slack_state import BOT_USER, Message, SlackError, SlackState


class Messaging(SlackState):
    """What the bot says and shows: messages, ephemerals, pins, views and files. Each method checks what
    Slack checks (slack_state's rules, slack_blockkit's limits) before it changes anything."""

    if TYPE_CHECKING:
        @property
        def origin(self) -> str:
            """Where the stand-in listens (the server, FakeSlack, provides it): upload URLs point there."""
            ...

    # ----- API methods: messages ---------------------------------------------------------------------
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
