"""The Slack stand-in enforces Slack's membership, scope, trigger and metadata rules, and pages like Slack."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.fakes.slack_api import BOT_USER, MANIFEST_SCOPES, FakeSlack

MANIFEST = Path(__file__).resolve().parent.parent / "slack-manifest.yml"


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    f = FakeSlack(token="xoxb-fake-test").start()
    yield f
    f.stop()


@pytest.fixture
def client(fake: FakeSlack) -> WebClient:
    return WebClient(token=fake.token, base_url=fake.url)


def error(call) -> str:
    with pytest.raises(SlackApiError) as info:
        call()
    return info.value.response["error"]


def test_the_fake_holds_exactly_the_scopes_of_the_manifest() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text())
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == MANIFEST_SCOPES


# ----- membership --------------------------------------------------------------------------------------
def test_a_private_channel_the_bot_is_not_in_does_not_exist_for_it(fake: FakeSlack, client: WebClient) -> None:
    secret = fake.add_channel("secret", private=True, members=["U0ALICE"], bot_member=False)
    assert error(lambda: client.chat_postMessage(channel=secret, text="hi")) == "channel_not_found"
    assert error(lambda: client.conversations_setTopic(channel=secret, topic="t")) == "channel_not_found"
    assert fake.history(secret) == []


def test_public_channels_take_posts_without_joining_only_with_chat_write_public(fake: FakeSlack) -> None:
    public = fake.add_channel("announcements", bot_member=False)
    WebClient(token=fake.token, base_url=fake.url).chat_postMessage(channel=public, text="posted")
    assert fake.texts(public) == ["posted"]
    narrower = FakeSlack(token="xoxb-narrow", scopes=MANIFEST_SCOPES - {"chat:write.public"}).start()
    try:
        other = narrower.add_channel("announcements", bot_member=False)
        client = WebClient(token=narrower.token, base_url=narrower.url)
        assert error(lambda: client.chat_postMessage(channel=other, text="x")) == "not_in_channel"
    finally:
        narrower.stop()


def test_topics_pins_and_history_need_the_bot_in_the_channel(fake: FakeSlack, client: WebClient) -> None:
    public = fake.add_channel("elsewhere", bot_member=False)
    ts = fake.post_user_message(public, "U0ALICE", "hello")
    assert error(lambda: client.conversations_setTopic(channel=public, topic="t")) == "not_in_channel"
    assert error(lambda: client.pins_add(channel=public, timestamp=ts)) == "not_in_channel"
    assert error(lambda: client.conversations_history(channel=public)) == "not_in_channel"
    assert error(lambda: client.conversations_invite(channel=public, users="U0BOB")) == "not_in_channel"


def test_inviting_someone_already_in_the_channel_fails_the_whole_invite(fake: FakeSlack, client: WebClient) -> None:
    channel = fake.add_channel("inc-1", members=["U0ALICE"])
    with pytest.raises(SlackApiError) as info:
        client.conversations_invite(channel=channel, users="U0ALICE,U0BOB")
    assert info.value.response["error"] == "already_in_channel"
    assert info.value.response["errors"] == [{"user": "U0ALICE", "ok": False, "error": "already_in_channel"}]
    assert "U0BOB" not in fake.channels[channel]["members"]  # nobody was invited
    client.conversations_invite(channel=channel, users="U0ALICE,U0BOB", force=True)
    assert "U0BOB" in fake.channels[channel]["members"]
    assert error(lambda: client.conversations_invite(channel=channel, users=BOT_USER)) == "cant_invite_self"
    assert error(lambda: client.conversations_invite(channel=channel, users="not-a-user")) == "user_not_found"
    assert error(lambda: client.conversations_invite(channel=channel, users="")) == "no_user"


def test_archived_channels_take_no_posts(fake: FakeSlack, client: WebClient) -> None:
    channel = fake.add_channel("inc-1")
    client.conversations_archive(channel=channel)
    assert error(lambda: client.chat_postMessage(channel=channel, text="late")) == "is_archived"
    assert error(lambda: client.conversations_archive(channel=channel)) == "already_archived"


def test_only_the_bots_own_messages_can_be_updated(fake: FakeSlack, client: WebClient) -> None:
    channel = fake.add_channel("general")
    ts = fake.post_user_message(channel, "U0ALICE", "mine")
    assert error(lambda: client.chat_update(channel=channel, ts=ts, text="edited")) == "cant_update_message"
    assert fake.texts(channel) == ["mine"]


def test_methods_outside_the_manifests_scopes_answer_missing_scope(fake: FakeSlack, client: WebClient) -> None:
    channel = fake.add_channel("general")
    ts = client.chat_postMessage(channel=channel, text="x")["ts"]
    with pytest.raises(SlackApiError) as info:
        client.reactions_add(channel=channel, timestamp=ts, name="eyes")
    assert info.value.response["error"] == "missing_scope" and info.value.response["needed"] == "reactions:write"
    assert error(lambda: client.pins_list(channel=channel)) == "missing_scope"
    assert error(lambda: client.conversations_join(channel=channel)) == "missing_scope"
    assert error(lambda: client.conversations_list(types="im")) == "missing_scope"


def test_channel_names_follow_slacks_rules(fake: FakeSlack, client: WebClient) -> None:
    assert error(lambda: client.conversations_create(name="Has Spaces")) == "invalid_name_specials"
    assert error(lambda: client.conversations_create(name="x" * 81)) == "invalid_name_maxlength"
    assert error(lambda: client.conversations_create(name="--")) == "invalid_name_punctuation"
    client.conversations_create(name="inc-1-ok")
    assert error(lambda: client.conversations_create(name="inc-1-ok")) == "name_taken"
    assert fake.violations and all(v.error != "name_taken" for v in fake.violations)  # a probe, not a violation


# ----- trigger ids -------------------------------------------------------------------------------------
MODAL = {"type": "modal", "title": {"type": "plain_text", "text": "Confirm"},
         "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Sure?"}}]}


def test_a_trigger_id_opens_one_view(fake: FakeSlack, client: WebClient) -> None:
    tid = fake.trigger_id()
    client.views_open(trigger_id=tid, view=MODAL)
    assert error(lambda: client.views_open(trigger_id=tid, view=MODAL)) == "exchanged_trigger_id"
    assert error(lambda: client.views_open(trigger_id="12.34.abcdef", view=MODAL)) == "invalid_trigger_id"
    assert error(lambda: client.views_open(trigger_id="made-up", view=MODAL)) == "invalid_trigger_id"
    assert len(fake.views) == 1


def test_a_stale_trigger_id_is_expired(fake: FakeSlack, client: WebClient) -> None:
    tid = fake.trigger_id()
    fake.triggers[tid]["issued"] -= fake.trigger_ttl + 0.5  # issued before Slack's 3 seconds
    assert error(lambda: client.views_open(trigger_id=tid, view=MODAL)) == "expired_trigger_id"
    assert fake.views == {} and [v.error for v in fake.violations] == ["expired_trigger_id"]


# ----- conversations.list ------------------------------------------------------------------------------
def test_conversations_list_pages_by_cursor_and_filters_by_type(fake: FakeSlack, client: WebClient) -> None:
    names = [f"pub-{i}" for i in range(7)]
    for name in names:
        fake.add_channel(name)
    fake.add_channel("priv-in", private=True)
    fake.add_channel("priv-out", private=True, bot_member=False)
    archived = fake.add_channel("old")
    fake.channels[archived]["is_archived"] = True
    seen, cursor, pages = [], None, 0
    while True:
        page = client.conversations_list(limit=3, exclude_archived=True, cursor=cursor,
                                         types="public_channel,private_channel")
        pages += 1
        seen += [c["name"] for c in page["channels"]]
        cursor = page["response_metadata"]["next_cursor"]
        if not cursor:
            break
    assert seen == names + ["priv-in"] and pages == 3  # the last page lost the archived channel
    only_public = client.conversations_list(limit=1000)["channels"]
    assert {c["name"] for c in only_public} == set(names) | {"old"}
    assert error(lambda: client.conversations_list(cursor="bm9wZQ==")) == "invalid_cursor"
    assert error(lambda: client.conversations_list(limit=1001)) == "invalid_limit"
    assert error(lambda: client.conversations_list(types="rooms")) == "invalid_types"


# ----- metadata ----------------------------------------------------------------------------------------
def test_metadata_comes_back_only_when_asked_for(fake: FakeSlack, client: WebClient) -> None:
    channel = fake.add_channel("inc-1")
    meta = {"event_type": "firebreak_summary", "event_payload": {"incident": 1}}
    ts = client.chat_postMessage(channel=channel, text="summary", metadata=meta)["ts"]
    plain = client.conversations_history(channel=channel)["messages"]
    assert plain[0]["ts"] == ts and "metadata" not in plain[0]
    full = client.conversations_history(channel=channel, include_all_metadata=True)["messages"]
    assert full[0]["metadata"] == meta
    newer = {"event_type": "firebreak_summary", "event_payload": {"incident": 1, "version": 2}}
    client.chat_update(channel=channel, ts=ts, text="summary v2", metadata=newer)
    assert client.conversations_history(channel=channel, include_all_metadata=True)["messages"][0]["metadata"] == newer


def test_metadata_with_a_bad_event_type_is_dropped_with_a_warning(fake: FakeSlack, client: WebClient) -> None:
    channel = fake.add_channel("inc-1")
    answer = client.chat_postMessage(channel=channel, text="x",
                                     metadata={"event_type": "has.dots", "event_payload": {}})
    assert answer["ok"] and answer["warning"] == "invalid_metadata_schema"
    assert fake.history(channel)[0].metadata is None
    assert [v.error for v in fake.violations] == ["invalid_metadata_schema"]
    assert error(lambda: client.chat_postMessage(channel=channel, text="x", metadata={"event_type": "t"})) \
        == "invalid_metadata_format"


def test_history_pages_newest_first(fake: FakeSlack, client: WebClient) -> None:
    channel = fake.add_channel("inc-1")
    posted = [client.chat_postMessage(channel=channel, text=f"m{i}")["ts"] for i in range(5)]
    first = client.conversations_history(channel=channel, limit=2)
    assert [m["ts"] for m in first["messages"]] == posted[:-3:-1] and first["has_more"]
    rest = client.conversations_history(channel=channel, limit=10,
                                        cursor=first["response_metadata"]["next_cursor"])
    assert [m["ts"] for m in rest["messages"]] == posted[2::-1] and not rest["has_more"]


def test_users_conversations_lists_a_persons_private_channels_only_where_the_bot_is_too(fake: FakeSlack,
                                                                                        client: WebClient) -> None:
    shared = fake.add_channel("inc-1-leak", private=True, members=["U0ALICE"])
    fake.add_channel("hr-secret", private=True, members=["U0ALICE"], bot_member=False)  # the bot is not in it
    fake.add_channel("general-2", members=["U0ALICE"])
    resp = client.users_conversations(user="U0ALICE", types="private_channel", limit=999)
    assert [c["id"] for c in resp["channels"]] == [shared]
    assert error(lambda: client.users_conversations(user="U0ALICE", types="private_channel", limit=1000)) == \
        "invalid_limit"
    assert error(lambda: client.users_conversations(types="secret_channel")) == "invalid_types"
