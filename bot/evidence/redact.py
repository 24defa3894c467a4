"""Redact personal data and secrets before evidence is shown in Slack.

The stored evidence is never changed (its hash must stay verifiable); only what Slack displays is redacted.
Order matters: secrets and card numbers are replaced before the looser phone-number pattern runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_Rule = tuple[str, re.Pattern[str], Callable[[re.Match[str]], bool] | None]


def _luhn(match: re.Match[str]) -> bool:
    digits = [int(c) for c in match.group(0) if c.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


RULES: list[_Rule] = [
    ("private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)",
                               re.DOTALL), None),
    ("token", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), None),  # JWT
    ("token", re.compile(r"\b(?:sk|pk|rk)-(?:[A-Za-z0-9_-]{2,20}-)?[A-Za-z0-9]{16,}"), None),  # sk-…, sk-proj-…
    ("token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), None),  # Slack
    ("token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}"), None),  # GitHub
    ("token", re.compile(r"\bgithub_pat_[A-Za-z0-9_]{40,}"), None),
    ("token", re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"), None),  # AWS access key id
    ("token", re.compile(r"\bAIza[0-9A-Za-z_-]{35}"), None),  # Google API key
    ("token", re.compile(r"\b(?:sdk|api|mob)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), None),
    ("token", re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{16,}"), None),
    ("secret", re.compile(r"(?i)\b(?:api[_-]?key|secret|password|passwd|token)\b\s*[:=]\s*['\"]?[^\s'\"]{6,}"),
     None),
    ("email", re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b"), None),
    ("card number", re.compile(r"\b\d(?:[ -]?\d){12,18}\b"), _luhn),
    ("SSN", re.compile(r"\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b"), None),
    ("IBAN", re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){3,7}(?: ?[A-Z0-9]{1,3})?\b"), None),
    ("phone", re.compile(r"(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)[\s.-]?|\d{2,4}[\s.-])\d{3,4}[\s.-]?\d{3,4}\b"),
     None),
    ("phone", re.compile(r"(?<![\w+])\+\d{10,14}\b"), None),
    ("IP address", re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b"), None),
]


def redact(text: str) -> tuple[str, dict[str, int]]:
    """Return the text with each finding replaced by `[<kind> redacted]`, and a count per kind."""
    counts: dict[str, int] = {}
    for kind, pattern, valid in RULES:
        def replace(m: re.Match[str], kind: str = kind, valid=valid) -> str:
            if valid is not None and not valid(m):
                return m.group(0)
            counts[kind] = counts.get(kind, 0) + 1
            return f"[{kind} redacted]"

        text = pattern.sub(replace, text)
    return text, counts


def redacted(text: str) -> str:
    return redact(text)[0]


def describe(counts: dict[str, int]) -> str:
    """'2 emails, 1 phone' — for a note under a redacted preview."""
    if not counts:
        return ""
    return ", ".join(f"{n} {kind}{'s' if n > 1 and not kind.endswith('s') else ''}" for kind, n in counts.items())
