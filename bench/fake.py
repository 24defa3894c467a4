"""The fake Slack, plus what the bench needs from it: when each response_url got its answer, and the calls
made since a point. Slack's rate limits are off here: the bench measures the bot, and a hundred channels
opened back to back would otherwise spend the run in Retry-After waits (the Tier 2 limit of
conversations.create); the suite's tests keep them on."""

from __future__ import annotations

import time
from typing import Any

from bot.fakes.slack_api import Call, FakeSlack


class TimedFakeSlack(FakeSlack):
    """FakeSlack that remembers, per response_url key, when the first answer arrived (time.time())."""

    def __init__(self, token: str = "xoxb-bench-token", *, latency: float = 0.0) -> None:
        super().__init__(token=token, latency=latency, rate_limits=False)
        self.reply_at: dict[str, float] = {}

    def handle(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, str], Any]:
        if path.startswith("/response/"):
            at = time.time()
            with self.lock:
                self.reply_at.setdefault(path.rsplit("/", 1)[-1].split("?", 1)[0], at)
        return super().handle(path, headers, raw)

    def calls_since(self, index: int) -> list[Call]:
        with self.lock:
            return list(self.calls[index:])

    def call_count(self) -> int:
        with self.lock:
            return len(self.calls)
