"""What the scheduler's tests share: what a reader sees in a channel, and the markup findings in the texts this
feature wrote (other features' texts are theirs to check)."""

from __future__ import annotations

from bot.core import timeline
from bot.fakes.slack_api import Finding
from bot.slack.harness import Harness, seen

# Words only the scheduler's messages and summary section carry.
MARKERS = (":hourglass:", ":pager:", "MTTC target", ":zzz:", ":scales:", "Page resolved",
           "The pager", "Status update* on", "report-clock", "Reporting deadlines", "Timers re-planned",
           "reporting clock", "— aware", "due <!date")


def texts(h: Harness, channel: str) -> list[str]:
    """The channel's messages as a reader in UTC sees them (date tokens as their fallback)."""
    return [seen(t) for t in h.fake.texts(channel)]


def findings(h: Harness) -> list[Finding]:
    """Broadcasts, stray `<` and raw markup in any text the scheduler sent."""
    return [f for f in h.fake.broadcasts() if any(m in f.text for m in MARKERS)]


def kinds(h: Harness, n: int = 1) -> list[str]:
    with h.ctx.db.session() as s:
        return [e.kind for e in timeline.events(s, n)]
