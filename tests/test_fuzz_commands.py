"""Odd and hostile input through every subcommand: a seeded, bounded fuzz of slash commands as Slack sends them
(escaped once, `@channel` as its token). Whatever comes in, every request is acknowledged, every person gets an
answer Slack accepts, nothing broadcasts or breaks formatting, and nothing oversized is stored."""

from __future__ import annotations

import random
import time

from sqlmodel import select

from bot.core import limits
from bot.slack.commands import HELP
from bot.store.models import Incident, TimelineEvent
from tests.helpers import open_incident

# What people (and attackers) type, as Slack delivers it in a slash command's `text`.
PIECES = [
    "<!channel>", "<!here>", "<!everyone>", "<!subteam^S0ALL|@all>", "<@U0BOB>", "<#C0GENERAL|general>",
    "&amp;", "&lt;b&gt;bold&lt;/b&gt;", "&lt;!channel&gt;", "<https://evil.example|click>", "*", "_", "~", "`",
    "```", "> quote", "\u202etxet", "\u200b", "\x00", "Привет", "漢字", "🔥" * 3, "INC-1", "INC-99999999999",
    "--category", "jailbreak", "--detected-at", "45m ago", "30m", "2", "done", "skip", "assign", "1", "-1",
    "9" * 40, "%s%n", "{{ 7*7 }}", "{% raw %}", "'; DROP TABLE incident; --", "..", "\n", "\t",
]
LONG = ["x" * 4_000, "🔥" * 5_000, "Ж" * 40_000]


def fuzz_texts(seed: int, n: int) -> list[str]:
    rnd = random.Random(seed)
    subs = sorted(HELP) + ["bogus", "", "OPEN", "stat"]
    texts = []
    for _ in range(n):
        words = [rnd.choice(PIECES) for _ in range(rnd.randint(0, 6))]
        if rnd.random() < 0.08:
            words.append(rnd.choice(LONG))
        sub = rnd.choice(subs)
        rest = " ".join(words)
        if sub in ("timeline", "step", "tabletop", "report-clock", "action") and rnd.random() < 0.5:
            rest = rnd.choice(["add", "start", "list", "1", "done", "export"]) + " " + rest
        texts.append(f"{sub} {rest}".strip())
    return texts


def test_fuzzed_commands_always_get_a_safe_answer_slack_accepts(harness) -> None:
    h = harness
    channel = open_incident(h, "Fuzz target --category jailbreak")
    h.join("U0BOB", channel)
    users = ["U0ALICE", "U0BOB", "U0MALLORY"]  # IC-to-be, a member, an outsider
    rnd = random.Random(7)
    unanswered = []
    for text in fuzz_texts(seed=13, n=160):
        user = rnd.choice(users)
        where = channel if rnd.random() < 0.7 else h.general
        before = len(h.fake.calls)
        reply = h.command(text, user=user, channel=where)
        assert reply.ack.status == 200, (text[:200], reply.ack.status)
        shown = {c.method for c in h.fake.calls[before:]} & {"views.open", "chat.postMessage", "chat.postEphemeral"}
        if not reply.text.strip() and not shown:  # an answer, a form, or a post in the channel
            unanswered.append(text[:120])
    h.bot.executor.wait_idle(20)
    deadline = time.monotonic() + 20
    while h.ctx.effects.outstanding() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not unanswered, unanswered[:5]
    # Nothing broadcast or broke formatting anywhere, and Slack refused nothing (field limits, sizes).
    assert h.fake.broadcasts(allow=()) == []
    assert [v for v in h.fake.violations if v.error not in ("ratelimited",)] == []
    # Nothing oversized was stored: every stored text within the cap.
    with h.ctx.db.session() as s:
        for inc in s.exec(select(Incident)):
            assert len(inc.title) <= limits.TITLE
        for ev in s.exec(select(TimelineEvent)):
            assert len(ev.text or "") <= limits.NOTE + limits.REASON, (ev.kind, len(ev.text or ""))
