"""One benchmark run against one database: the bot process, the fake Slack, and the measuring helpers."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.botproc import BotProcess
from bench.fake import TimedFakeSlack
from bench.requests import TEAM, Prepared, Signer, post_sync
from bench.stats import summarize

INC_REF = re.compile(r"INC-(\d+)")
CHANNEL_REF = re.compile(r"<#(C\w+)>")
IC_USER = "U0BENCHIC"
FAILED_ANSWER = (":warning:", ":x:")


class Skip(Exception):  # noqa: N818 - it is a signal, not an error
    """A scenario cannot run on this build (a feature is missing); the message says why."""


@dataclass
class Options:
    requests: int = 100
    responders: int = 50
    per_responder: int = 20
    burst_incidents: int = 200
    list_incidents: int = 1000
    history_incidents: int = 100_000  # metrics_100k: resolved incidents added to the history
    timeline_events: int = 5000  # postmortem_5000: events on one incident
    heavy_requests: int = 10  # requests for the large-history scenarios
    settle: float = 0.05
    timeout: float = 10.0
    burst_deadline: float = 180.0
    profile_dir: Path | None = None  # py-spy the bot during the burst (collapsed stacks per database)
    far_latency: float = 0.15  # far_slack: the stand-in's round trip, seconds
    far_requests: int = 5  # far_slack: measured requests per command
    far_commands: tuple[str, ...] = ()  # far_slack: the commands measured (empty: all)
    lock_delay: float = 4.0  # lock: how long Slack takes to answer the user-group lookup, seconds
    lock_users: int = 20  # lock: other users whose commands are acked meanwhile
    lane_pulls: int = 10  # lane: lever pulls stuck in LaunchDarkly's 503s
    lane_users: int = 20  # lane: other users' commands acked meanwhile
    lane_window: float = 6.0  # lane: seconds LaunchDarkly answers 503


@dataclass
class Run:
    db: str
    database_url: str
    options: Options
    fake: TimedFakeSlack
    bot: BotProcess
    signer: Signer
    general: str
    announce: str
    incidents: list[tuple[int, str]] = field(default_factory=list)  # (number, channel) opened via the bot
    severity: dict[int, int] = field(default_factory=dict)  # what the bench last set, for the burst's sev
    contained: set[int] = field(default_factory=set)
    with_ic: set[int] = field(default_factory=set)  # incidents whose IC is IC_USER
    commands: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)
    ld: Any = None  # the fake LaunchDarkly (bot.fakes.launchdarkly), when this build has one
    sent_at: dict[str, float] = field(default_factory=dict)  # request key -> when sequential() sent it
    shared: dict[str, Any] = field(default_factory=dict)  # samples one scenario leaves for another

    # ----- feature checks ----------------------------------------------------------------------------
    def require_command(self, name: str, feature: str) -> None:
        if name not in self.commands:
            raise Skip(f"no `/incident {name}` in this build ({feature} not merged yet)")

    @staticmethod
    def require_module(module: str, feature: str) -> Any:
        import importlib

        try:
            return importlib.import_module(module)
        except ImportError:
            raise Skip(f"{module} is not importable ({feature} not merged yet)") from None

    # ----- requests ----------------------------------------------------------------------------------
    def command(self, text: str, *, user: str = "U0BENCH", channel: str | None = None, label: str = "") -> Prepared:
        channel = channel or self.general
        joined = False
        with self.fake.lock:  # whoever types in a channel is in it (the bench's responders work the incident)
            ch = self.fake.channels.get(channel)
            if ch is not None and not ch.get("is_im") and user not in ch["members"]:
                ch["members"].add(user)
                joined = True
        if joined:  # and Slack tells the bot, as it does (member_joined_channel), before the timed request
            self.send(self.signer.event({"type": "member_joined_channel", "user": user, "channel": channel,
                                         "channel_type": "C", "team": TEAM}, label="joined"))
        return self.signer.command(text, user=user, channel=channel, label=label)

    def answer(self, key: str) -> str:
        """The text the bot sent to a response_url (ephemeral answers), or '' if none yet."""
        with self.fake.lock:
            for r in reversed(self.fake.responses):
                if r.get("key") == key:
                    return str(r.get("text", ""))
        return ""

    def answers(self, key: str) -> list[str]:
        """Every text the bot sent to a response_url, in order."""
        with self.fake.lock:
            return [str(r.get("text", "")) for r in self.fake.responses if r.get("key") == key]

    def wait_reply(self, key: str, timeout: float | None = None) -> float | None:
        deadline = time.time() + (timeout or self.options.timeout)
        while time.time() < deadline:
            at = self.fake.reply_at.get(key)
            if at is not None:
                return at
            time.sleep(0.002)
        return None

    def send(self, req: Prepared) -> tuple[int, float, float]:
        return post_sync(self.bot.events_url, req, timeout=self.options.timeout)

    def sequential(self, reqs: Iterable[Prepared], *, done: Callable[[list], bool] | None = None,
                   quiet: float | None = None, timeout: float | None = None, answers: int = 1) -> dict[str, Any]:
        """Send one request at a time; ack = sent -> HTTP 200, completion = sent -> the handler's last Slack call
        answered; cpu_ms = the bot's CPU time per request (user + system, from the request to the quiet).

        `reqs` may be a generator: the next request is built (untimed) after the previous one finished, so
        it can depend on what the bot did. A command that answers its response_url more than once (a
        progress line, then the result) passes `answers=` to wait for the last of them.

        After the answer reaches its response_url the run waits until the fake has seen no call for
        `settle` seconds (untimed), so every call in the window belongs to this request. A command that
        answers in the channel instead passes `done(calls_since_sent)` to say when it has answered, and
        may ask for a longer `quiet`; a slow one a longer `timeout` for its answer.
        """
        wait = timeout or self.options.timeout
        acks: list[float] = []
        finished: list[float] = []
        replies: list[float] = []
        cpu: list[float] = []
        errors: list[str] = []
        for req in reqs:
            start = self.fake.call_count()
            cpu0 = self.bot.cpu_seconds()
            status, sent, acked = self.send(req)
            self.sent_at[req.key] = sent
            if status != 200:
                errors.append(f"{req.label}: HTTP {status or 'no answer'}")
                continue
            acks.append((acked - sent) * 1000)
            if done is not None:
                replied = self.wait_calls(start, done, wait)
            elif answers > 1:
                replied = self.wait_calls(start, lambda _calls, k=req.key: len(self.answers(k)) >= answers, wait)
            else:
                replied = self.wait_reply(req.key, wait)
            if replied is None:
                errors.append(f"{req.label}: no answer within {wait:.0f} s")
                continue
            self.settle(quiet)
            cpu.append((self.bot.cpu_seconds() - cpu0) * 1000)
            calls = self.fake.calls_since(start)
            replies.append((replied - sent) * 1000)
            finished.append((max(c.end or c.at for c in calls) - sent) * 1000)
            text = self.answer(req.key)
            if text.startswith(FAILED_ANSWER):
                errors.append(f"{req.label}: {text.splitlines()[0][:160]}")
        out = {"ack": summarize(acks), "completion": summarize(finished), "reply": summarize(replies),
               "cpu_ms": round(sum(cpu) / len(cpu), 1) if cpu else None, "errors": len(errors)}
        if errors:
            out["first_errors"] = errors[:3]
        return out

    def wait_calls(self, start: int, done: Callable[[list], bool], timeout: float) -> float | None:
        """Wait until the calls since `start` satisfy `done`; the time of the last of them."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            calls = self.fake.calls_since(start)
            if calls and done(calls):
                return calls[-1].at
            time.sleep(0.002)
        return None

    def settle(self, quiet: float | None = None) -> None:
        """Wait until no Slack call is in flight and none arrived for `quiet` (at least `--settle`) seconds."""
        while True:
            n = self.fake.call_count()
            time.sleep(max(quiet or 0.0, self.options.settle))
            if self.fake.call_count() == n and self.fake.in_flight() == 0:
                return

    # ----- incidents ---------------------------------------------------------------------------------
    def open_via_bot(self, text: str, *, user: str = "U0BENCH") -> tuple[int, str] | None:
        req = self.command(text, user=user, label="open")
        status, _, _ = self.send(req)
        if status != 200 or self.wait_reply(req.key) is None:
            return None
        return self.parse_opened(req.key)

    def parse_opened(self, key: str) -> tuple[int, str] | None:
        text = self.answer(key)
        number, channel = INC_REF.search(text), CHANNEL_REF.search(text)
        if not (number and channel):
            return None
        return int(number.group(1)), channel.group(1)

    def ensure_incidents(self, n: int) -> list[tuple[int, str]]:
        """At least n open incidents with channels, opened through the bot (untimed set-up)."""
        while len(self.incidents) < n:
            opened = self.open_via_bot(f"open Bench incident {len(self.incidents) + 1} model output drift --sev 3")
            if opened is None:
                raise RuntimeError(f"could not open an incident for set-up; bot log:\n{self.bot.log_tail()}")
            self.incidents.append(opened)
        self.settle()
        return self.incidents[:n]

    def ic_command(self, incident: tuple[int, str]) -> Prepared:
        self.with_ic.add(incident[0])
        return self.command(f"ic <@{IC_USER}>", channel=incident[1], label="ic")

    def ensure_ic(self, incidents: list[tuple[int, str]]) -> None:
        """IC_USER is the incident commander of each (untimed set-up)."""
        for inc in incidents:
            if inc[0] not in self.with_ic:
                req = self.ic_command(inc)
                if self.send(req)[0] == 200:
                    self.wait_reply(req.key)
        self.settle()
