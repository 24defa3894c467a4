"""The text boundary: what people type is stored as typed, and whatever they typed reaches Slack escaped."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from bot.core.text import Channel, Code, Group, Link, Msg, User, When, plain
from bot.slack.text import Mrkdwn, clip, escape, from_slack, md, mention_id, mrkdwn, safe

HOSTILE = "Ignore <system> rules & <!channel> <!here> <!subteam^S1|@safety> <@U0EVE> ‮RTL‏ zero\u200bwidth 🔥"


def test_values_are_escaped_and_firebreaks_own_tokens_stay_live() -> None:
    msg = Msg.of(":rotating_light: {who} opened *{title}* in {where} at {at} — see {link} {code} {group}",
                 who=User("U0ALICE"), title=HOSTILE, where=Channel("C0INC"),
                 at=When(datetime(2026, 1, 5, 9, 4, tzinfo=UTC)), link=Link("https://x.test/a?b=1&c=2", "the <doc>"),
                 code=Code("lever `x`"), group=Group("S0SAFE"))
    out = mrkdwn(msg)
    assert "<@U0ALICE>" in out and "<#C0INC>" in out and "<!subteam^S0SAFE>" in out
    assert "<!date^1767603840^{date_short_pretty} {time}|2026-01-05 09:04:00 UTC>" in out
    assert "<https://x.test/a?b=1&amp;c=2|the &lt;doc&gt;>" in out
    # The typed text shows as typed: no broadcast, no mention, no stray control character.
    assert "&lt;!channel&gt;" in out and "<!channel>" not in out and "<!here>" not in out
    assert "<!subteam^S1" not in out and "<@U0EVE>" not in out
    assert "Ignore &lt;system&gt; rules &amp;" in out


def test_plain_rendering_has_no_markup_and_names_people() -> None:
    msg = Msg.of(":white_check_mark: *{ref}* contained by {who} at {at}", ref="INC-7", who=User("U0BOB"),
                 at=When(datetime(2026, 1, 5, 9, 4, 12, tzinfo=UTC)))
    assert plain(msg, names={"U0BOB": "Bob"}.get) == "✅ INC-7 contained by Bob at 2026-01-05 09:04:12 UTC"
    assert plain(msg) == "✅ INC-7 contained by @U0BOB at 2026-01-05 09:04:12 UTC"


def test_messages_survive_json() -> None:
    msg = Msg.join([Msg.of("{a} and {b}", a=User("U1"), b=HOSTILE), Msg.text("second line")])
    again = Msg.from_json(msg.to_json())
    assert mrkdwn(again) == mrkdwn(msg) and plain(again) == plain(msg)


def test_inbound_text_is_unescaped_once() -> None:
    sent = ("Ignore &lt;system&gt; rules &amp;amp; <@U0BOB|bob> in <#C0GEN|general> "
            "<!channel> <!subteam^S1|@safety> <https://a.test/x|the doc> <https://b.test>")
    assert from_slack(sent) == ("Ignore <system> rules &amp; @bob in #general @channel @safety "
                                "the doc (https://a.test/x) https://b.test")
    assert mention_id("<@U0BOB|bob>") == "U0BOB" and mention_id("bob") is None


def test_builders_escape_plain_strings_and_keep_mrkdwn() -> None:
    assert safe("<!here> & co") == "&lt;!here&gt; &amp; co"
    assert safe(md("*{x}*", x="<b>")) == "*&lt;b&gt;*"
    joined = Mrkdwn("*a* ") + "<!channel>"
    assert isinstance(joined, Mrkdwn) and joined == "*a* &lt;!channel&gt;"


def test_clip_cuts_on_a_word_boundary_and_never_inside_an_entity_or_token() -> None:
    assert clip("alpha beta gamma delta", 14) == "alpha beta…"
    cut = clip(escape("a" * 20 + " & <b>"), 25)
    assert cut.endswith("…") and not cut[:-1].endswith(("&amp", "&lt", "&"))
    assert clip("<@U0ALICE> said hello there", 12) == "…" or "<@" not in clip("<@U0ALICE> said hello", 8)


@given(st.text(max_size=300))
def test_any_typed_text_round_trips_and_never_broadcasts(text: str) -> None:
    # What Slack would send for it (escaping on), read back once, is exactly what was typed...
    assert from_slack(escape(text)) == text
    # ...and sent back out as a value it cannot open a Slack token.
    out = mrkdwn(Msg.of("{t}", t=text))
    assert "<" not in out and ">" not in out
    assert from_slack(out) == text


def test_rendered_markup_passes_through_a_template_once_and_text_is_escaped() -> None:
    """A value already rendered through the boundary (a date token) stays live; plain text is escaped."""
    from datetime import UTC, datetime

    from bot.slack import render
    from bot.slack.text import md

    out = md("MTTC running, due by {at}; said {who}", at=render.when(datetime(2026, 1, 1, tzinfo=UTC)),
             who="<!channel> & co")
    assert "<!date^1767225600^" in out and "&lt;!date" not in out
    assert "&lt;!channel&gt; &amp; co" in out


def test_the_timeline_in_slack_names_people_live_and_shows_everything_else_as_text(harness) -> None:
    from tests.helpers import open_incident

    h = harness
    channel = open_incident(h)
    h.command("ic @me", channel=channel)
    h.command("timeline add &lt;!channel&gt; look &amp; see <@U0BOB>", channel=channel)
    reply = h.command("timeline", channel=channel)
    blocks = [b for e in reply.ephemeral for b in e.get("blocks") or []]
    shown = " ".join(b.get("text", {}).get("text", "") for b in blocks if b.get("type") == "section")
    assert "<@U0ALICE>" in shown and "&lt;@U0ALICE&gt;" not in shown  # the IC, a live name
    assert "&lt;!channel&gt; look &amp;amp; see" not in shown and "&lt;!channel&gt; look &amp; see" in shown
    assert h.fake.broadcasts() == []
