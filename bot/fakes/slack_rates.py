"""Slack's Web API rate limits as the stand-in enforces them: a token bucket per method, per tier.

Slack assigns every Web API method a tier (docs.slack.dev/apis/web-api/rate-limits; each method's page
names its tier): Tier 1 allows 1+ calls a minute, Tier 2 20+, Tier 3 50+, Tier 4 100+, each "per method
per workspace per app", with bursts tolerated. chat.postMessage is special: about one message per second
per channel, short bursts allowed. Over the limit Slack answers HTTP 429 with `Retry-After` (seconds) and
`{"ok": false, "error": "ratelimited"}`.

The model: per method, a bucket refilled at the tier's rate per minute holding at most a minute's worth
(the burst allowance); chat.postMessage also has a bucket per channel refilled at 1 a second holding
`POST_BURST` messages. The published rates are floors ("20+"), so the stand-in uses them as they are.

Time is the time the bot lives in: wall time, plus any jump of the bot's own clock (a test that advances
its manual clock by ten minutes, a tabletop exercise run on a simulated clock). Slack's limits are per
minute of the responders' time, so compressing minutes into a test's milliseconds must not turn into
429s that a real incident would never see, and a test that never moves its clock still gets wall time.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

PER_MINUTE = {1: 1, 2: 20, 3: 50, 4: 100}

# The tier each method the bot uses is documented at (docs.slack.dev/reference/methods/<method>).
# Methods Slack lists as "Special" (auth.test, chat.getPermalink) have generous limits: modelled as Tier 4.
TIER: dict[str, int] = {
    "auth.test": 4,
    "chat.postMessage": 4,  # plus the per-channel limit below
    "chat.postEphemeral": 4,
    "chat.update": 3,
    "chat.getPermalink": 4,
    "conversations.create": 2,
    "conversations.invite": 3,
    "conversations.join": 3,
    "conversations.info": 3,
    "conversations.members": 4,
    "conversations.history": 3,
    "conversations.replies": 3,
    "conversations.list": 2,
    "conversations.setTopic": 2,
    "conversations.setPurpose": 2,
    "conversations.archive": 2,
    "pins.add": 2,
    "pins.list": 2,
    "reactions.add": 3,
    "users.info": 4,
    "users.conversations": 3,
    "usergroups.users.list": 2,
    "views.open": 4,
    "views.push": 4,
    "views.update": 4,
    "views.publish": 4,
    "files.getUploadURLExternal": 4,
    "files.completeUploadExternal": 4,
}
DEFAULT_TIER = 3
POST_PER_SECOND = 1.0  # chat.postMessage, per channel
# Slack publishes no number for "short bursts". One command posts 3-4 messages in a channel; the suite's
# tests put at most 9 (p90) and 24 (p99) in one channel within ten wall-clock seconds, compressing minutes
# of an incident, and 20 plus the 1-a-second refill holds those without a 429 while a flood is refused.
POST_BURST = 20


@dataclass
class Bucket:
    """`capacity` tokens, refilled at `rate` per second; a call takes one."""

    rate: float
    capacity: float
    tokens: float = field(init=False)
    stamp: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.tokens = self.capacity

    def take(self, now: float) -> float | None:
        """Take a token; None when allowed, else the seconds until one is available."""
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return None
        return (1 - self.tokens) / self.rate


class LivedTime:
    """Seconds that advance with the wall clock, and also jump when `clock()` (the bot's) jumps ahead."""

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self._clock = clock
        self._wall = time.monotonic()
        self._bot = clock() if clock else 0.0
        self._now = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            wall = time.monotonic()
            bot = self._clock() if self._clock else self._bot
            self._now += max(wall - self._wall, bot - self._bot, 0.0)
            self._wall, self._bot = wall, bot
            return self._now


class RateLimits:
    """The buckets of one workspace and app. `check()` answers None (go ahead) or Retry-After seconds."""

    def __init__(self, *, post_burst: int = POST_BURST, clock: Callable[[], float] | None = None) -> None:
        self._lock = threading.Lock()
        self._methods: dict[str, Bucket] = {}
        self._channels: dict[str, Bucket] = {}
        self.post_burst = post_burst
        self.time = LivedTime(clock)

    def check(self, method: str, channel: str | None = None, now: float | None = None) -> int | None:
        now = self.time() if now is None else now
        with self._lock:
            if method == "chat.postMessage" and channel:
                bucket = self._channels.setdefault(channel, Bucket(POST_PER_SECOND, self.post_burst, stamp=now))
                wait = bucket.take(now)
                if wait is not None:
                    return max(1, math.ceil(wait))
            per_minute = PER_MINUTE[TIER.get(method, DEFAULT_TIER)]
            bucket = self._methods.setdefault(method, Bucket(per_minute / 60.0, per_minute, stamp=now))
            wait = bucket.take(now)
            return None if wait is None else max(1, math.ceil(wait))
