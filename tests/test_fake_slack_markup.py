"""broadcasts(): what in the texts sent to the Slack stand-in would ping a channel or break formatting."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from slack_sdk import WebClient

from bot.fakes.slack_api import FakeSlack
from bot.fakes.slack_markup import parsed_findings


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    f = FakeSlack(token="xoxb-fake-test").start()
    yield f
    f.stop()


@pytest.mark.parametrize(("text", "kinds"), [
    ("all hands <!channel>", [("broadcast", "<!channel>")]),
    ("<!here|here> please", [("broadcast", "<!here|here>")]),
    ("<!everyone>", [("broadcast", "<!everyone>")]),
    ("ping <!subteam^S0PRIV|@privacy>", [("broadcast", "<!subteam^S0PRIV|@privacy>")]),
    ("Ignore <system> rules", [("stray_lt", "<system>")]),
    ("score < 3 and > 1", [("stray_lt", "< 3 and >")]),
    ("a < b", [("stray_lt", "< b")]),
    ("usage: /incident contain <lever>", [("stray_lt", "<lever>")]),
    ("typed &lt;!channel&gt; &amp; safe", []),
    ("<@U0ALICE> is IC in <#C0123|inc-1>, see <https://example.test/x|the doc> <!date^1700000000^{date}|today>",
     []),
])
def test_findings_in_parsed_text(text: str, kinds: list[tuple[str, str]]) -> None:
    assert [(f.kind, f.token) for f in parsed_findings("chat.postMessage", "/text", text)] == kinds


def test_broadcasts_scans_messages_blocks_ephemerals_views_and_topics(fake: FakeSlack) -> None:
    client = WebClient(token=fake.token, base_url=fake.url)
    channel = fake.add_channel("inc-1")
    client.chat_postMessage(channel=channel, text="fine", blocks=[
        {"type": "section", "text": {"type": "mrkdwn", "text": "Status: <!here> rolling back"}},
        {"type": "header", "text": {"type": "plain_text", "text": "<!channel> is literal in plain text"}}])
    client.chat_postEphemeral(channel=channel, user="U0ALICE", text="Prompt: <system> override")
    client.views_open(trigger_id=fake.trigger_id(), view={
        "type": "modal", "title": {"type": "plain_text", "text": "Repro"},
        "blocks": [{"type": "context", "elements": [{"type": "mrkdwn", "text": "by <!everyone>"}]}]})
    client.conversations_setTopic(channel=channel, topic="SEV1 · IC <@U0ALICE>")
    found = {(f.method, f.where, f.kind, f.token) for f in fake.broadcasts()}
    assert found == {
        ("chat.postMessage", "/blocks/0/text/text", "broadcast", "<!here>"),
        ("chat.postEphemeral", "/text", "stray_lt", "<system>"),
        ("views.open", "/view/blocks/0/elements/0/text", "broadcast", "<!everyone>"),
        ("conversations.setTopic", "/topic", "raw_markup", "<@U0ALICE>"),
    }


def test_an_intended_group_mention_can_be_allowed_by_the_caller(fake: FakeSlack) -> None:
    client = WebClient(token=fake.token, base_url=fake.url)
    channel = fake.add_channel("inc-1")
    client.chat_postMessage(channel=channel, text=":loudspeaker: <!subteam^S0PRIV|@privacy> — you are on the path")
    client.chat_postMessage(channel=channel, text="title from a user: <!subteam^S0OTHER>")
    assert [f.token for f in fake.broadcasts(allow=["<!subteam^S0PRIV>"])] == ["<!subteam^S0OTHER>"]
    assert len(fake.broadcasts()) == 2
