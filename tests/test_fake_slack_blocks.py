"""The Slack stand-in refuses Block Kit and text that Slack refuses, through the same client the bot uses."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.fakes.slack_api import FakeSlack


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    f = FakeSlack(token="xoxb-fake-test").start()
    yield f
    f.stop()


@pytest.fixture
def client(fake: FakeSlack) -> WebClient:
    return WebClient(token=fake.token, base_url=fake.url)


def section(text: str, **extra: object) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}, **extra}


def button(action_id: str = "go", value: str = "v", text: str = "Go") -> dict:
    return {"type": "button", "text": {"type": "plain_text", "text": text}, "action_id": action_id, "value": value}


def refusal(call) -> SlackApiError:
    with pytest.raises(SlackApiError) as info:
        call()
    return info.value


def modal(**extra: object) -> dict:
    return {"type": "modal", "title": {"type": "plain_text", "text": "Title"},
            "blocks": [section("hello")], **extra}


@pytest.mark.parametrize(("blocks", "pointer"), [
    ([section("x" * 3001)], "/blocks/0/text/text"),
    ([{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}], "/blocks/0/text/text"),
    ([{"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2001}]}], "/blocks/0/fields/0/text"),
    ([{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}], "/blocks/0/fields"),
    ([{"type": "actions", "elements": [button(value="v" * 2001)]}], "/blocks/0/elements/0/value"),
    ([{"type": "actions", "elements": [button(text="t" * 76)]}], "/blocks/0/elements/0/text/text"),
    ([{"type": "actions", "elements": [button(action_id="a" * 256)]}], "/blocks/0/elements/0/action_id"),
    ([section("ok", block_id="b" * 256)], "/blocks/0/block_id"),
    ([{"type": "actions", "elements": [button("same"), button("same")]}], "/blocks/0/elements/1/action_id"),
    ([section("one", block_id="dup"), section("two", block_id="dup")], "/blocks/1/block_id"),
    ([section("")], "/blocks/0/text/text"),
    ([section("x")] * 51, "/blocks"),
    ([{"type": "header", "text": {"type": "mrkdwn", "text": "*bold*"}}], "/blocks/0/text/type"),
    ([{"type": "section", "text": {"type": "mrkdwn", "text": "pick"}, "accessory": {
        "type": "static_select", "action_id": "s",
        "options": [{"text": {"type": "plain_text", "text": "o" * 76}, "value": "1"}]}}],
     "/blocks/0/accessory/options/0/text/text"),
    ([{"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 11}], "/blocks/0/elements"),
])
def test_messages_breaking_block_kit_limits_are_refused_naming_the_field(
        fake: FakeSlack, client: WebClient, blocks: list, pointer: str) -> None:
    channel = fake.add_channel("general")
    err = refusal(lambda: client.chat_postMessage(channel=channel, text="fallback", blocks=blocks))
    assert err.response["error"] == "invalid_blocks"
    messages = err.response["response_metadata"]["messages"]
    assert any(f"[json-pointer:{pointer}]" in m for m in messages), messages
    assert fake.history(channel) == []  # nothing was posted
    assert [(v.method, v.error) for v in fake.violations] == [("chat.postMessage", "invalid_blocks")]


def test_the_limits_themselves_are_accepted(fake: FakeSlack, client: WebClient) -> None:
    channel = fake.add_channel("general")
    blocks = [section("x" * 3000, block_id="b" * 255),
              {"type": "header", "text": {"type": "plain_text", "text": "h" * 150}},
              {"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2000}] * 10},
              {"type": "actions", "elements": [button("a" * 255, "v" * 2000, "t" * 75), button("other")]}]
    blocks += [section(f"filler {i}") for i in range(50 - len(blocks))]
    client.chat_postMessage(channel=channel, text="t" * 40_000, blocks=blocks)
    assert len(fake.history(channel)[0].blocks) == 50
    assert fake.violations == []


def test_message_text_over_40000_characters_is_msg_too_long(fake: FakeSlack, client: WebClient) -> None:
    channel = fake.add_channel("general")
    assert refusal(lambda: client.chat_postMessage(channel=channel, text="x" * 40_001)).response["error"] \
        == "msg_too_long"
    ts = client.chat_postMessage(channel=channel, text="short")["ts"]
    assert refusal(lambda: client.chat_update(channel=channel, ts=ts, text="y" * 40_001)).response["error"] \
        == "msg_too_long"
    assert fake.texts(channel) == ["short"]


def test_updates_are_checked_like_new_messages(fake: FakeSlack, client: WebClient) -> None:
    channel = fake.add_channel("general")
    ts = client.chat_postMessage(channel=channel, text="v1", blocks=[section("v1")])["ts"]
    err = refusal(lambda: client.chat_update(channel=channel, ts=ts, text="v2", blocks=[section("z" * 3001)]))
    assert err.response["error"] == "invalid_blocks"
    assert fake.message(channel, ts).blocks == [section("v1")]


def test_ephemeral_messages_and_response_urls_are_checked_too(fake: FakeSlack, client: WebClient) -> None:
    channel = fake.add_channel("general")
    err = refusal(lambda: client.chat_postEphemeral(channel=channel, user="U0ALICE", text="t",
                                                    blocks=[section("z" * 3001)]))
    assert err.response["error"] == "invalid_blocks"
    from slack_sdk.webhook import WebhookClient

    hook = WebhookClient(fake.response_url("k1"))
    answer = hook.send(text="x" * 40_001)
    assert answer.status_code == 400 and answer.body == "msg_too_long"
    assert hook.send(text="fine").status_code == 200
    assert fake.response_texts() == ["fine"]


@pytest.mark.parametrize(("view", "pointer"), [
    (modal(title={"type": "plain_text", "text": "t" * 25}), "/view/title/text"),
    (modal(submit={"type": "plain_text", "text": "s" * 25}), "/view/submit/text"),
    (modal(close={"type": "plain_text", "text": "c" * 25}), "/view/close/text"),
    (modal(private_metadata="m" * 3001), "/view/private_metadata"),
    (modal(callback_id="c" * 256), "/view/callback_id"),
    (modal(blocks=[section("x")] * 101), "/view/blocks"),
    (modal(blocks=[{"type": "input", "label": {"type": "plain_text", "text": "L"}, "block_id": "i",
                    "element": {"type": "plain_text_input", "action_id": "v"}}]), "/view/submit"),
])
def test_views_breaking_limits_are_refused_with_invalid_arguments(
        fake: FakeSlack, client: WebClient, view: dict, pointer: str) -> None:
    err = refusal(lambda: client.views_open(trigger_id=fake.trigger_id(), view=view))
    assert err.response["error"] == "invalid_arguments"
    assert any(f"[json-pointer:{pointer}]" in m for m in err.response["response_metadata"]["messages"])
    assert fake.views == {}


def test_a_modal_at_its_limits_opens(fake: FakeSlack, client: WebClient) -> None:
    view = modal(title={"type": "plain_text", "text": "t" * 24}, private_metadata="m" * 3000,
                 submit={"type": "plain_text", "text": "s" * 24}, blocks=[section("x")] * 100)
    assert client.views_open(trigger_id=fake.trigger_id(), view=view)["view"]["id"] in fake.views
    assert fake.violations == []


def test_home_tabs_are_checked(fake: FakeSlack, client: WebClient) -> None:
    err = refusal(lambda: client.views_publish(user_id="U0ALICE", view={"type": "home",
                                                                         "blocks": [section("x")] * 101}))
    assert err.response["error"] == "invalid_arguments"
    client.views_publish(user_id="U0ALICE", view={"type": "home", "blocks": [section("x")]})
    assert fake.home_views["U0ALICE"]["blocks"] == [section("x")]


def test_topics_and_purposes_over_250_characters_are_too_long(fake: FakeSlack, client: WebClient) -> None:
    channel = fake.add_channel("inc-1")
    assert refusal(lambda: client.conversations_setTopic(channel=channel, topic="t" * 251)).response["error"] \
        == "too_long"
    assert refusal(lambda: client.conversations_setPurpose(channel=channel, purpose="p" * 251)).response["error"] \
        == "too_long"
    client.conversations_setTopic(channel=channel, topic="t" * 250)
    assert fake.channels[channel]["topic"]["value"] == "t" * 250
