"""What of a case may be shown where others can read it: a redacted, and for harmful categories defanged,
preview; the rest stays behind a member-only reveal.

Evidence of a working jailbreak, an injection or a leak is itself harmful: reposted in a channel it hands the
exploit (or the leaked data) to everyone who reads it, and the runbooks say not to repeat it in public. So in
the categories where the case *is* the harm (`SENSITIVE`) a preview shows only the opening words of a prompt
or an output — never more than half of it — with links made unclickable; enough to recognise the case, not
enough to reuse it. Everywhere else a preview is the text with personal data and secrets redacted, cut to a
few hundred characters. Previews are plain text: the transport escapes them for wherever they go.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.evidence.redact import redact

# Incident categories whose repro prompts and model outputs are harmful to show in full.
SENSITIVE = frozenset({"jailbreak", "harmful_content", "prompt_injection", "data_leakage"})
ORDINARY_CHARS = 300      # a preview in any other category
PROMPT_LEAD = 60          # at most this much of a prompt in a sensitive category …
OUTPUT_LEAD = 40          # … and of a model output
ELLIPSIS = "…"

_URL = re.compile(r"\b(?P<scheme>https?|ftp)://(?P<host>[^\s/?#]+)", re.IGNORECASE)


@dataclass(frozen=True)
class Preview:
    text: str                      # plain text, safe to show to anyone who may see the incident
    hidden: int = 0                # characters not shown (of the redacted, whitespace-folded text)
    redactions: dict[str, int] = field(default_factory=dict)  # kind -> how many were redacted

    @property
    def concealed(self) -> bool:
        """Something is not shown: what a Reveal would add."""
        return self.hidden > 0 or bool(self.redactions)


def sensitive(category: str | None) -> bool:
    return (category or "") in SENSITIVE


def defang(text: str) -> str:
    """Links made unclickable (`hxxps://example[.]com`), the way security teams quote indicators."""

    def fix(m: re.Match[str]) -> str:
        scheme = {"http": "hxxp", "https": "hxxps", "ftp": "fxp"}[m.group("scheme").lower()]
        return f"{scheme}://{m.group('host').replace('.', '[.]')}"

    return _URL.sub(fix, text)


def lead(text: str, room: int) -> str:
    """The first `room` characters, cut at a word boundary where there is one in the second half."""
    if len(text) <= room:
        return text
    cut = text[:room]
    space = cut.rfind(" ")
    if space >= room // 2:
        cut = cut[:space]
    return cut.rstrip()


def preview(text: str, *, category: str | None, output: bool = False, limit: int | None = None) -> Preview:
    """A preview of one field of a case. `output`: a model output (a shorter lead in sensitive categories);
    `limit`: a tighter cut for short places (a listing line, metadata)."""
    shown, counts = redact(text or "")
    flat = " ".join(shown.split())
    if sensitive(category):
        room = min(OUTPUT_LEAD if output else PROMPT_LEAD, len(flat) // 2, limit or len(flat))
        head = lead(flat, room)
        return Preview(defang(head) + (ELLIPSIS if len(head) < len(flat) else ""), len(flat) - len(head), counts)
    room = min(limit or ORDINARY_CHARS, ORDINARY_CHARS)
    if len(flat) <= room:
        return Preview(flat, 0, counts)
    head = lead(flat, room - 1)
    return Preview(head + ELLIPSIS, len(flat) - len(head), counts)

