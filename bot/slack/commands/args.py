"""Parsing the words after a subcommand: mentions, flags, quoted text."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

from bot.core.errors import UsageError
from bot.core.severity import parse_severity  # noqa: F401 - where the commands find it

MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
MENTION_ANYWHERE = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
SMART_QUOTES = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'"})


def parse_mention(token: str, usage: str) -> str:
    """`<@U123|name>` or `<@U123>` -> `U123`."""
    m = MENTION.match(token.strip())
    if not m:
        raise UsageError(f"`{token}` is not a Slack user mention; mention someone like @alice.", usage=usage)
    return m.group(1)


def tokenize(text: str) -> list[str]:
    text = text.translate(SMART_QUOTES)
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


@dataclass
class Parsed:
    words: list[str] = field(default_factory=list)
    flags: dict[str, str | bool] = field(default_factory=dict)

    def value(self, name: str) -> str | None:
        """The value of `--name value` (None when not given); switches have none."""
        got = self.flags.get(name)
        return got if isinstance(got, str) else None


def parse_flags(text: str, *, values: set[str], switches: set[str], usage: str) -> Parsed:
    """Split `--flag value` / `--switch` from the other words. Unknown flags are an error."""
    parsed = Parsed()
    tokens = tokenize(text)
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.startswith("--") and len(tok) > 2:
            name, eq, inline = tok[2:].partition("=")
            if name in switches and not eq:
                parsed.flags[name] = True
            elif name in values:
                if eq:
                    parsed.flags[name] = inline
                elif i + 1 < len(tokens) and not tokens[i + 1].startswith("--"):
                    i += 1
                    parsed.flags[name] = tokens[i]
                else:
                    raise UsageError(f"`--{name}` needs a value.", usage=usage)
            else:
                known = ", ".join(f"--{f}" for f in sorted(values | switches))
                raise UsageError(f"Unknown option `{tok}` (options: {known}).", usage=usage)
        else:
            parsed.words.append(tok)
        i += 1
    return parsed
