"""Plain text for people outside Slack: the one renderer (messages firebreak composes and the mrkdwn Slack
holds read the same), word-boundary cuts, and the exercise transcript's layout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bot.core.text import Channel, Code, Link, Msg, User, When, cut, plain, plain_mrkdwn
from bot.slack.text import mrkdwn
from bot.tabletop.transcript import Posted, clock, one_line, render

NAMES = {"U0MAYA": "@Maya", "U0RAJ": "@Raj"}.get
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def names(uid: str) -> str:
    return NAMES(uid) or f"@{uid}"


def test_mrkdwn_from_slack_reads_as_plain_text() -> None:
    text = ("[EXERCISE] :performing_arts: <@U0MAYA> started *Agent misuse* as INC-1: <#C0INC|inc-1-agent>. "
            "`disable-tools` now due <!date^1767603840^{time}|09:04 UTC> &lt;b&gt; &amp; _soon_ ~old~ "
            ":thinking_face: <https://x.test/a|runbook> <!here> <!subteam^S0SAFE|@safety> at 04:21:00 UTC")
    out = plain_mrkdwn(text, names)
    assert out == ("[EXERCISE] 🎭 @Maya started Agent misuse as INC-1: #inc-1-agent. disable-tools now due "
                   "09:04 UTC <b> & soon old thinking face runbook (https://x.test/a) @here @safety at 04:21:00 UTC")
    # A channel without its name in the token is named by the caller (the workspace), else by id.
    assert plain_mrkdwn("in <#C0INC>", names, lambda c: "#the-incident") == "in #the-incident"
    assert plain_mrkdwn("in <#C0INC>", names) == "in #C0INC"
    assert plain_mrkdwn("```\nline one\nline two\n```") == "line one\nline two"


@given(st.text(alphabet=st.characters(blacklist_characters="*_~`:{}\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029",
                                      blacklist_categories=("Cs", "Cc")), max_size=60))
def test_one_renderer_a_message_reads_the_same_whether_composed_or_read_back_from_slack(typed: str) -> None:
    msg = Msg.of(":white_check_mark: {who} pulled *{lever}* at {at} ({link}): {typed} in {where}",
                 who=User("U0MAYA"), lever=Code("kill-browse"), at=When(T0, "time"),
                 link=Link("https://x.test/r", "proof"), typed=typed, where=Channel("C0INC", "inc-1"))
    channel = lambda c: "#inc-1"  # noqa: E731 - the workspace's name for the channel
    assert plain_mrkdwn(mrkdwn(msg), names, channel) == plain(msg, names, channel)


def test_cut_only_on_word_boundaries_with_an_ellipsis() -> None:
    text = "Preserve the agent's full traces (prompts, reasoning, tool calls) before purging memory"
    assert cut(text, 200) == text
    short = cut(text, 40)
    assert short.endswith("…") and len(short) <= 40
    assert text.startswith(short[:-1]) and text[len(short) - 1] in " ,(", short  # ends where a word ended
    assert cut("Supercalifragilisticexpialidocious words", 10) == "Supercali…"  # one long word: cut, still marked


def test_transcript_one_line_per_message_on_the_exercise_clock() -> None:
    start = T0.timestamp()
    out = render([("inc-1", [
        Posted(f"{start:.6f}", "UFIREBREAK", "[EXERCISE] :bust_in_silhouette: <@U0MAYA> is now incident commander"),
        Posted(f"{start + 185:.6f}", "UFIREBREAK", ":incoming_envelope: *Inject 1 of 2* (+3m): a user writes\n"
                                                   "second line with `code`"),
        Posted(f"{start + 3725:.6f}", "U0RAJ", "status: contained &amp; quiet"),
    ])], started=T0, names=lambda u: "firebreak" if u == "UFIREBREAK" else names(u),
        channel_name=lambda c: f"#{c.name or c.id}")
    assert out.splitlines() == [
        "== #inc-1 ==",
        "+00:00  firebreak: [EXERCISE] 👤 @Maya is now incident commander",
        "+03:05  firebreak: 📨 Inject 1 of 2 (+3m): a user writes · second line with code",
        "+1:02:05  Raj: status: contained & quiet",
    ]
    assert one_line("Status update from @Raj:\n\nContained.\nRefunds next.") == \
        "Status update from @Raj: Contained. · Refunds next."
    assert clock(-5) == "+00:00" and clock(timedelta(minutes=61).total_seconds()) == "+1:01:00"
