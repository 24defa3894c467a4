"""Input length limits, as policy: every piece of text firebreak accepts has a cap, said in the refusal.

Over a cap the answer is a usage error naming the limit; nothing is written and the input is never echoed
back whole (`shown` cuts what a message quotes).
"""

from __future__ import annotations

from bot.core.errors import UsageError

COMMAND = 40_000        # a whole `/incident …` line (Slack's own message limit)
TITLE = 200
REASON = 1_000          # severity changes, lever pulls, skips, reopen, detected-at corrections
STATUS = 3_000          # a status update
NOTE = 3_000            # a timeline entry
DESCRIPTION = 3_000     # an incident's description
SUMMARY = 3_000         # a resolution summary
ACTION_ITEM = 500
REPRO = 32 * 1024       # a reproducing prompt or output (bytes, UTF-8)
REQUEST_BODY = 1_000_000  # an HTTP request body (Slack or an alert), refused before parsing
QUOTE = 60              # how much of someone's input an error message quotes

CONTROL = {chr(c) for c in range(32) if chr(c) not in "\n\t"} | {"\x7f"}


def shown(text: str, limit: int = QUOTE) -> str:
    """Part of someone's input, for quoting in an error message."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clean(text: str, limit: int, what: str, *, usage: str | None = None, required: str | None = None) -> str:
    """Someone's text, checked: control characters refused, length capped. `required`: the message when empty."""
    if any(ch in CONTROL for ch in text):
        raise UsageError(f"The {what} contains control characters; type it as plain text.", usage=usage)
    text = text.strip()
    if not text and required:
        raise UsageError(required, usage=usage)
    if len(text) > limit:
        raise UsageError(f"The {what} is {len(text):,} characters; the limit is {limit:,}.", usage=usage)
    return text
