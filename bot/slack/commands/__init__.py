"""The `/incident` slash command: a registry of subcommands and the one dispatcher that maps errors to answers.

Each module in this package registers its subcommands from `register(app, ctx)`. A handler gets an
`Invocation`, calls the domain, and answers; a FirebreakError it raises becomes an ephemeral message with
what was wrong and the right usage, and its transaction is rolled back, so nothing is written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from slack_sdk import WebClient

from bot.core.errors import FirebreakError, UsageError

if TYPE_CHECKING:
    from bot.slack.context import AppContext

log = logging.getLogger(__name__)

IncidentNeed = Literal["required", "optional", "none"]


@dataclass
class Subcommand:
    name: str
    handler: Callable[[Invocation], None]
    usage: str
    summary: str
    incident: IncidentNeed = "required"
    allow_resolved: bool = False
    aliases: tuple[str, ...] = ()
    order: int = 100


class CommandRegistry:
    def __init__(self) -> None:
        self._by_name: dict[str, Subcommand] = {}
        self._ordered: list[Subcommand] = []

    def add(self, name: str, handler: Callable[[Invocation], None], *, usage: str, summary: str,
            incident: IncidentNeed = "required", allow_resolved: bool = False,
            aliases: tuple[str, ...] = (), order: int = 100) -> Subcommand:
        sub = Subcommand(name, handler, usage, summary, incident, allow_resolved, aliases, order)
        for key in (name, *aliases):
            if key in self._by_name:
                raise ValueError(f"subcommand {key!r} registered twice")
            self._by_name[key] = sub
        self._ordered.append(sub)
        self._ordered.sort(key=lambda s: (s.order, s.name))
        return sub

    def get(self, name: str) -> Subcommand | None:
        return self._by_name.get(name.lower())

    def all(self) -> list[Subcommand]:
        return list(self._ordered)

    def help_text(self) -> str:
        lines = ["*firebreak* — `/incident` subcommands (in an incident channel the incident is implied; "
                 "elsewhere name it, e.g. `/incident status INC-42`):"]
        lines += [f"• `{s.usage}` — {s.summary}" for s in self._ordered]
        return "\n".join(lines)


@dataclass
class Invocation:
    """One `/incident <name> ...` call after parsing."""

    ctx: AppContext
    sub: Subcommand
    args: str
    user_id: str
    channel_id: str
    channel_name: str
    trigger_id: str | None
    client: WebClient
    respond: Callable[..., Any]
    incident_id: int | None = None
    incident_from_channel: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def reply(self, text: str, blocks: list[dict] | None = None) -> None:
        """An ephemeral answer to the person who typed the command."""
        payload: dict[str, Any] = {"text": text, "response_type": "ephemeral", "replace_original": False}
        if blocks:
            payload["blocks"] = blocks
        self.respond(**payload)

    def usage_error(self, message: str) -> UsageError:
        return UsageError(message, usage=self.sub.usage)

    def require_incident(self) -> int:
        if self.incident_id is None:
            raise UsageError(
                "This is not an incident channel, so name the incident, e.g. "
                f"`/incident {self.sub.name} INC-42 ...`.", usage=self.sub.usage)
        return self.incident_id


def error_text(err: FirebreakError, usage: str | None = None) -> str:
    text = f":warning: {err.message}"
    show = err.usage or (usage if isinstance(err, UsageError) else None)
    if show:
        text += f"\nUsage: `{show}`"
    return text


def split_first(text: str) -> tuple[str, str]:
    text = text.strip()
    if not text:
        return "", ""
    head, _, rest = text.partition(" ")
    return head, rest.strip()
