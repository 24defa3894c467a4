"""Drive the real Bolt app with signed Slack requests against the local Slack stand-in.

Used by the console, tabletop `--auto`, the benchmark and the tests: one path through the same handlers
that Slack reaches, never a second implementation.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from pydantic import SecretStr
from slack_bolt.response import BoltResponse
from slack_sdk.signature import SignatureVerifier
from sqlalchemy.exc import SQLAlchemyError

from bot.config.settings import Settings
from bot.core.clock import Clock
from bot.fakes.slack_api import BOT_USER, Call, FakeSlack
from bot.fakes.slack_state import seen
from bot.slack.app import Bot, build
from bot.slack.request import SlackRequest

TEAM = "T0FIREBRK"
APP_ID = "A0FIREBRK"


@dataclass
class Reply:
    """What one request produced: the HTTP ack and the Slack calls made while handling it."""

    ack: BoltResponse
    calls: list[Call] = field(default_factory=list)
    response_key: str | None = None

    @property
    def ephemeral(self) -> list[dict[str, Any]]:
        out = [c.params for c in self.calls if c.method == "response_url"
               and (self.response_key is None or c.params.get("key", self.response_key) == self.response_key)]
        out += [c.params for c in self.calls if c.method == "chat.postEphemeral"]
        # A direct message (a form submitted from a shortcut has no channel to answer in) is private too.
        out += [c.params for c in self.calls if c.method == "chat.postMessage"
                and str(c.params.get("channel", "")).startswith(("U", "W"))]
        return out

    @property
    def raw_text(self) -> str:
        """Everything said privately to the user, as Slack received it (blocks flattened)."""
        parts = []
        for e in self.ephemeral:
            parts.append(e.get("text", ""))
            parts.extend(block_text(b) for b in e.get("blocks") or [])
        return "\n".join(p for p in parts if p)

    @property
    def text(self) -> str:
        """What the user reads: Slack's entities shown as the characters they stand for (tokens such as
        `<@U0BOB>` left as they are)."""
        return seen(self.raw_text)

    @property
    def posts(self) -> list[dict[str, Any]]:
        return [c.params for c in self.calls if c.method == "chat.postMessage"]

    def methods(self) -> list[str]:
        return [c.method for c in self.calls]


def block_text(block: dict[str, Any]) -> str:
    parts: list[str] = []
    text = block.get("text")
    if isinstance(text, dict):
        parts.append(text.get("text", ""))
    for f in block.get("fields") or []:
        parts.append(f.get("text", ""))
    for el in block.get("elements") or []:
        if isinstance(el, dict):
            t = el.get("text")
            parts.append(t.get("text", "") if isinstance(t, dict) else (t or ""))
    return "\n".join(p for p in parts if p)


class Harness:
    """A bot wired to a fresh fake Slack. Close it when done."""

    def __init__(self, settings: Settings | None = None, *, clock: Clock | None = None,
                 fake: FakeSlack | None = None, create_tables: bool = True) -> None:
        self.fake = fake or FakeSlack(clock=clock).start()
        base = settings or Settings()
        update: dict[str, Any] = {"slack_api_url": self.fake.url, "slack_bot_token": SecretStr(self.fake.token)}
        self.general = self.fake.add_channel("general", channel_id="C0GENERAL")
        if base.announce_channel is None:
            update["announce_channel"] = self.fake.add_channel("ai-incidents", channel_id="C0ANNOUNCE")
        elif base.announce_channel not in self.fake.channels:
            self.fake.add_channel("ai-incidents", channel_id=base.announce_channel)
        self.settings = base.model_copy(update=update)
        self.secret = self.settings.slack_signing_secret.get_secret_value()
        self.verifier = SignatureVerifier(self.secret)
        self.bot: Bot = build(self.settings, clock)
        self.bot.ctx.effects.backoff = (0.01, 0.02, 0.05)  # retries without the production pauses
        # Slack tells the app when someone joins a channel (member_joined_channel): so does the stand-in.
        self.fake.on_join.append(lambda channel, _user: self.ctx.directory and self.ctx.directory.forget_channel(channel))
        self._settle_timers()
        if create_tables:
            self.bot.ctx.db.create_all()

    # ----- plumbing -----------------------------------------------------------------------------------
    @property
    def ctx(self):
        return self.bot.ctx

    def close(self) -> None:
        self.bot.close()
        self.fake.stop()

    def __enter__(self) -> Harness:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def sign(self, body: str, content_type: str, *, timestamp: int | None = None,
             retry_num: int | None = None) -> dict[str, str]:
        ts = str(timestamp if timestamp is not None else int(time.time()))
        signature = self.verifier.generate_signature(timestamp=ts, body=body)
        assert signature is not None  # None only without a timestamp or body
        headers = {
            "content-type": content_type,
            "x-slack-request-timestamp": ts,
            "x-slack-signature": signature,
        }
        if retry_num is not None:
            headers["x-slack-retry-num"] = str(retry_num)
            headers["x-slack-retry-reason"] = "http_timeout"
        return headers

    def dispatch(self, body: str, content_type: str, *, wait: bool = True, headers: dict[str, str] | None = None,
                 response_key: str | None = None) -> Reply:
        start = len(self.fake.calls)
        resp = self.bot.app.dispatch(SlackRequest(body=body, headers=headers or self.sign(body, content_type)))
        if wait:
            self.wait()
        with self.fake.lock:
            calls = list(self.fake.calls[start:])
        return Reply(ack=resp, calls=calls, response_key=response_key)

    def _settle_timers(self) -> None:
        """Here, running the due timers also waits for what they caused (tests read Slack right after)."""
        timers = self.bot.ctx.timers
        run_due = timers.run_due

        def run_due_and_settle() -> int:
            n = run_due()
            self.wait()
            return n

        # method-assign: on purpose, this one instance's run_due is wrapped (tests only)
        timers.run_due = run_due_and_settle  # type: ignore[method-assign]

    def wait(self, timeout: float = 30.0) -> None:
        """Until everything the requests caused has settled: listeners, work, and the side effects recorded
        (including their retries, which the harness makes quick)."""
        end = time.monotonic() + timeout
        while True:
            if not self.bot.executor.wait_idle(max(end - time.monotonic(), 0.01)):
                raise TimeoutError("listeners still running")
            try:
                outstanding = self.ctx.effects.outstanding()
            except SQLAlchemyError:  # no tables yet (a harness built before migrating)
                return
            if outstanding == 0 or time.monotonic() >= end:
                return
            self.ctx.effects.kick()
            time.sleep(0.01)

    # ----- request builders ---------------------------------------------------------------------------
    def command_body(self, text: str, *, user: str = "U0ALICE", channel: str | None = None,
                     command: str = "/incident") -> tuple[str, str]:
        channel = channel or self.general
        key = uuid.uuid4().hex[:12]
        body = urlencode({
            "token": "legacy-unused", "team_id": TEAM, "team_domain": "firebreak-local",
            "channel_id": channel, "channel_name": self.fake.channels.get(channel, {}).get("name", "unknown"),
            "user_id": user, "user_name": user.lower(), "command": command, "text": text,
            "api_app_id": APP_ID, "response_url": self.fake.response_url(key),
            "trigger_id": self.fake.trigger_id(),
        })
        return body, key

    def command(self, text: str, *, user: str = "U0ALICE", channel: str | None = None, wait: bool = True,
                retry_num: int | None = None, body: str | None = None) -> Reply:
        """Send `/incident <text>` as `user` in `channel`, signed as Slack signs it."""
        key = None
        if body is None:
            self.join(user, channel or self.general)
            body, key = self.command_body(text, user=user, channel=channel)
        ctype = "application/x-www-form-urlencoded"
        return self.dispatch(body, ctype, wait=wait, headers=self.sign(body, ctype, retry_num=retry_num),
                             response_key=key)

    def interaction(self, payload: dict[str, Any], *, wait: bool = True) -> Reply:
        key = uuid.uuid4().hex[:12]
        payload = {"team": {"id": TEAM}, "api_app_id": APP_ID, "token": "legacy-unused",
                   "trigger_id": self.fake.trigger_id(),
                   "response_url": self.fake.response_url(key), **payload}
        body = urlencode({"payload": json.dumps(payload)})
        return self.dispatch(body, "application/x-www-form-urlencoded", wait=wait, response_key=key)

    def click(self, action_id: str, value: str, *, user: str = "U0ALICE", channel: str,
              message_ts: str | None = None, block_id: str = "b", wait: bool = True) -> Reply:
        """Click a button (block_actions) on a message in a channel."""
        message = self.fake.message(channel, message_ts) if message_ts else None
        payload = {
            "type": "block_actions", "user": {"id": user, "name": user.lower()},
            "channel": {"id": channel}, "container": {"type": "message", "message_ts": message_ts,
                                                      "channel_id": channel},
            "message": {"ts": message_ts, "text": message.text if message else "",
                        "blocks": message.blocks if message else []},
            "actions": [{"type": "button", "action_id": action_id, "block_id": block_id, "value": value,
                         "action_ts": str(time.time())}],
        }
        return self.interaction(payload, wait=wait)

    def submit_view(self, view: dict[str, Any], answers: dict[str, Any], *, user: str = "U0ALICE",
                    wait: bool = True) -> Reply:
        """Submit a modal the bot opened, with answers keyed by block_id."""
        submitted = {k: v for k, v in view.items() if k not in ("trigger_id",)}
        submitted["state"] = {"values": fill_values(view, answers)}
        payload = {"type": "view_submission", "user": {"id": user, "name": user.lower()}, "view": submitted}
        return self.interaction(payload, wait=wait)

    def shortcut(self, callback_id: str, *, channel: str, message_ts: str, user: str = "U0ALICE",
                 wait: bool = True) -> Reply:
        message = self.fake.message(channel, message_ts)
        payload = {"type": "message_action", "callback_id": callback_id, "user": {"id": user},
                   "channel": {"id": channel}, "message_ts": message_ts,
                   "message": {"ts": message_ts, "text": message.text if message else "",
                               "user": message.user if message else None}}
        return self.interaction(payload, wait=wait)

    def event(self, event: dict[str, Any], *, wait: bool = True) -> Reply:
        body = json.dumps({"token": "legacy-unused", "team_id": TEAM, "api_app_id": APP_ID, "type": "event_callback",
                           "event_id": f"Ev{uuid.uuid4().hex[:10].upper()}", "event_time": int(time.time()),
                           "event": event})
        return self.dispatch(body, "application/json", wait=wait)

    def react(self, channel: str, ts: str, reaction: str = "pushpin", *, user: str = "U0ALICE") -> Reply:
        return self.event({"type": "reaction_added", "user": user, "reaction": reaction,
                           "item": {"type": "message", "channel": channel, "ts": ts},
                           "item_user": BOT_USER, "event_ts": str(time.time())})

    def join(self, user: str, channel: str) -> None:
        """Someone types in a public channel: in Slack they are in it (they joined to type there). Private
        channels are not joined this way: a test invites people into those explicitly."""
        with self.fake.lock:
            ch = self.fake.channels.get(channel)
            if ch is None or ch.get("is_private") or ch.get("is_im"):
                return
            ch["members"].add(user)
        if self.ctx.directory is not None:
            self.ctx.directory.forget_channel(channel)  # what Slack's member_joined_channel event does

    def invite(self, user: str, channel: str) -> None:
        """Add someone to any channel (a private incident's, as its members would)."""
        with self.fake.lock:
            self.fake.channels[channel]["members"].add(user)
        if self.ctx.directory is not None:
            self.ctx.directory.forget_channel(channel)

    # ----- conveniences for tests and demos ------------------------------------------------------------
    def last_view(self) -> dict[str, Any]:
        return list(self.fake.views.values())[-1]

    def incident_channel(self, number: int) -> str:
        from bot.core import incidents

        with self.ctx.db.session() as session:
            channel = incidents.get(session, number).channel_id
        assert channel, f"INC-{number} has no channel"
        return channel

    def summary(self, number: int) -> str:
        """The pinned summary of an incident as text."""
        channel = self.incident_channel(number)
        pinned = self.fake.pinned(channel)
        assert pinned, "no pinned summary"
        return seen("\n".join(block_text(b) for b in pinned[0].blocks))


def fill_values(view: dict[str, Any], answers: dict[str, Any]) -> dict[str, Any]:
    """Build `view.state.values` as Slack sends it, from {block_id: answer}."""
    values: dict[str, Any] = {}
    for block in view.get("blocks", []):
        if block.get("type") != "input":
            continue
        bid = block["block_id"]
        el = block["element"]
        kind = el["type"]
        answer = answers.get(bid)
        state: dict[str, Any] = {"type": kind}
        if kind == "plain_text_input":
            state["value"] = answer if answer is not None else None
        elif kind == "static_select":
            opt = next((o for o in el["options"] if o["value"] == answer), None) if answer is not None else None
            state["selected_option"] = opt
        elif kind == "datetimepicker":
            state["selected_date_time"] = answer
        elif kind == "checkboxes":
            state["selected_options"] = [o for o in el["options"] if o["value"] in (answer or [])]
        elif kind in ("users_select",):
            state["selected_user"] = answer
        else:
            state["value"] = answer
        values[bid] = {el.get("action_id", "value"): state}
    return values
