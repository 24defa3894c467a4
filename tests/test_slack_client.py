"""The Slack client keeps its connections open between calls, and behaves as the SDK's own transport otherwise:
a connection the server closed while it sat idle is replaced without losing or repeating a call; errors,
rate limits and retries reach the caller as before."""

from __future__ import annotations

import time

import pytest
from pydantic import SecretStr
from slack_sdk.errors import SlackApiError

from bot.config.settings import Settings
from bot.fakes.slack_api import FakeSlack
from bot.slack import client as slack_client
from bot.slack.client import make_client


@pytest.fixture
def fake() -> FakeSlack:
    fake = FakeSlack(idle_timeout=0.3).start()
    fake.add_channel("general", channel_id="C0GENERAL")
    yield fake
    fake.stop()


def _client(fake: FakeSlack) -> slack_client.KeepAliveWebClient:
    return make_client(Settings(slack_api_url=fake.url, slack_bot_token=SecretStr(fake.token)))


def test_calls_share_one_connection(fake: FakeSlack) -> None:
    client = _client(fake)
    for i in range(5):
        client.chat_postMessage(channel="C0GENERAL", text=f"note {i}")
    assert fake.texts("C0GENERAL") == [f"note {i}" for i in range(5)]
    assert fake.connections == 1
    client.close()


def test_a_connection_the_server_closed_while_idle_is_replaced_and_the_call_made_once(fake: FakeSlack) -> None:
    client = _client(fake)
    client.retry_handlers.clear()  # not the SDK's connection-error retry: the client itself sends it again
    client.chat_postMessage(channel="C0GENERAL", text="before")
    time.sleep(0.6)  # past the server's idle timeout: it has closed the kept connection
    client.chat_postMessage(channel="C0GENERAL", text="after")
    assert fake.texts("C0GENERAL") == ["before", "after"]
    assert fake.connections == 2
    client.close()


def test_connections_idle_longer_than_the_client_keeps_them_are_not_used(
        fake: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> None:
    fake.idle_timeout = 60.0
    monkeypatch.setattr(slack_client, "IDLE_SECONDS", 0.05)
    client = _client(fake)
    client.chat_postMessage(channel="C0GENERAL", text="one")
    time.sleep(0.1)
    client.chat_postMessage(channel="C0GENERAL", text="two")
    assert fake.connections == 2 and fake.texts("C0GENERAL") == ["one", "two"]
    client.close()


def test_errors_and_rate_limits_reach_the_caller_as_with_the_sdk_transport(fake: FakeSlack) -> None:
    client = _client(fake)
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="C0NOWHERE", text="lost")
    assert err.value.response["error"] == "channel_not_found"
    fake.fail_next("chat.postMessage", "ratelimited", status=429, retry_after=0)
    client.chat_postMessage(channel="C0GENERAL", text="after a 429")  # the SDK's rate-limit handler retried
    assert fake.texts("C0GENERAL") == ["after a 429"]
    fake.fail_next("chat.postMessage", "ratelimited", status=429, retry_after=0, times=4)
    with pytest.raises(SlackApiError) as limited:
        client.chat_postMessage(channel="C0GENERAL", text="never")
    assert limited.value.response.status_code == 429 and limited.value.response.headers["Retry-After"] == "0"
    assert fake.texts("C0GENERAL") == ["after a 429"]
    client.close()


def test_a_server_that_is_gone_is_a_connection_error(fake: FakeSlack) -> None:
    client = _client(fake)
    client.retry_handlers.clear()
    client.chat_postMessage(channel="C0GENERAL", text="first")
    fake.stop()
    time.sleep(0.4)
    with pytest.raises(OSError):
        client.chat_postMessage(channel="C0GENERAL", text="second")
    client.close()
