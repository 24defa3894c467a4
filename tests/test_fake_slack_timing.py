"""The Slack stand-in's rate limits, its configurable round trip, and the critical-path count."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.fakes.slack_api import FakeSlack
from bot.fakes.slack_calls import Call, critical_path
from bot.fakes.slack_rates import POST_BURST, Bucket, RateLimits


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    f = FakeSlack(token="xoxb-fake-test").start()
    yield f
    f.stop()


def bare(fake: FakeSlack) -> WebClient:
    """A client without retry handlers, so a 429 is seen as Slack sends it."""
    return WebClient(token=fake.token, base_url=fake.url)


# ----- rate limits -------------------------------------------------------------------------------------
def test_a_tier_2_method_takes_a_minutes_burst_then_answers_429_with_retry_after(fake: FakeSlack) -> None:
    client = bare(fake)
    channel = fake.add_channel("inc-1")
    for i in range(20):  # conversations.setTopic is Tier 2: 20 a minute
        client.conversations_setTopic(channel=channel, topic=f"t{i}")
    with pytest.raises(SlackApiError) as info:
        client.conversations_setTopic(channel=channel, topic="one too many")
    assert info.value.response.status_code == 429 and info.value.response["error"] == "ratelimited"
    assert info.value.response.headers["Retry-After"] == "3"  # one call every 3 s refills
    assert fake.channels[channel]["topic"]["value"] == "t19"
    assert [v.error for v in fake.violations] == ["ratelimited"]
    client.chat_postMessage(channel=channel, text="other methods are not held up")


def test_posts_are_limited_per_channel(fake: FakeSlack) -> None:
    client = bare(fake)
    busy, quiet = fake.add_channel("busy"), fake.add_channel("quiet")
    for i in range(POST_BURST):
        client.chat_postMessage(channel=busy, text=f"m{i}")
    with pytest.raises(SlackApiError) as info:
        client.chat_postMessage(channel=busy, text="late")
    assert info.value.response.status_code == 429 and info.value.response.headers["Retry-After"] == "1"
    client.chat_postMessage(channel=quiet, text="another channel is fine")
    assert len(fake.texts(busy)) == POST_BURST and fake.texts(quiet) == ["another channel is fine"]


def test_the_bots_own_client_waits_out_a_429_and_succeeds() -> None:
    from bot.config.settings import Settings
    from bot.slack.client import make_client

    fake = FakeSlack(token="xoxb-retry").start()
    try:
        channel = fake.add_channel("inc-1")
        fake.fail_next("chat.postMessage", "ratelimited", status=429, retry_after=0)
        client = make_client(Settings(slack_bot_token="xoxb-retry", slack_api_url=fake.url))
        client.chat_postMessage(channel=channel, text="after a retry")
        assert fake.texts(channel) == ["after a retry"] and len(fake.calls_to("chat.postMessage")) == 2
    finally:
        fake.stop()


def test_buckets_refill_at_the_tier_rate() -> None:
    bucket = Bucket(rate=20 / 60, capacity=20, stamp=0.0)
    assert all(bucket.take(0.0) is None for _ in range(20))
    assert bucket.take(0.0) == pytest.approx(3.0)
    assert bucket.take(3.0) is None and bucket.take(3.0) is not None
    limits = RateLimits(post_burst=2)
    assert [limits.check("chat.postMessage", "C1", now=0.0) for _ in range(3)] == [None, None, 1]
    assert limits.check("chat.postMessage", "C1", now=1.0) is None


def test_rate_limits_can_be_switched_off(fake: FakeSlack) -> None:
    fake.rate_limits = False
    client = bare(fake)
    channel = fake.add_channel("inc-1")
    for i in range(25):
        client.conversations_setTopic(channel=channel, topic=f"t{i}")
    assert fake.violations == []


# ----- round trip --------------------------------------------------------------------------------------
def test_every_answer_waits_the_round_trip_and_concurrent_calls_are_not_serialized(fake: FakeSlack) -> None:
    client = bare(fake)
    channel = fake.add_channel("inc-1")
    fake.latency = 0.4  # set while running
    threads = [threading.Thread(target=client.chat_postMessage, kwargs={"channel": channel, "text": f"m{i}"})
               for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    calls = fake.calls_to("chat.postMessage")
    assert len(calls) == 3 and all(c.end is not None and c.end - c.start >= 0.4 for c in calls)
    assert max(c.start for c in calls) < min(c.end for c in calls)  # all three were in flight at once
    assert fake.critical_path(calls) == 1
    client.conversations_setTopic(channel=channel, topic="after the posts")
    assert fake.critical_path(fake.calls) == 2 and fake.in_flight() == 0


def call(start: float, end: float | None) -> Call:
    return Call("m", {}, start, end)


@pytest.mark.parametrize(("calls", "depth"), [
    ([], 0),
    ([call(0, 1)], 1),
    ([call(0, 1), call(1, 2), call(2, 3)], 3),  # each starts when the previous answered
    ([call(0, 1), call(0.1, 1.1), call(0.2, 1.2)], 1),  # all at once
    ([call(0, 1), call(1, 2), call(1, 2), call(1.5, 2.5), call(2.5, 3.5)], 3),  # create; then 3 in parallel; pin
    ([call(0, 5), call(0, 1), call(1, 2), call(2, 3)], 3),  # a long call beside a chain of three
    ([call(0, 1), call(2, None)], 2),  # one still in flight
])
def test_critical_path_is_the_longest_chain_of_dependent_round_trips(calls: list[Call], depth: int) -> None:
    assert critical_path(calls) == depth


def test_limits_refill_when_the_bots_clock_jumps_ahead() -> None:
    """A test (or a tabletop on a simulated clock) that moves ten minutes ahead gets ten minutes of quota."""
    from datetime import timedelta

    from bot.core.clock import ManualClock

    clock = ManualClock()
    fake = FakeSlack(token="xoxb-clock", clock=clock).start()
    try:
        client = bare(fake)
        channel = fake.add_channel("inc-1")
        for i in range(20):
            client.conversations_setTopic(channel=channel, topic=f"t{i}")
        with pytest.raises(SlackApiError):
            client.conversations_setTopic(channel=channel, topic="too soon")
        clock.advance(timedelta(minutes=10))
        for i in range(20):
            client.conversations_setTopic(channel=channel, topic=f"later {i}")
        assert fake.channels[channel]["topic"]["value"] == "later 19"
    finally:
        fake.stop()
