"""The `/incident` slash command: a registry of subcommands and the one dispatcher that maps errors to answers.

Each module in this package registers its subcommands from `register(app, ctx)`, saying what each one does
to an incident (an `Action` of the permission policy); the dispatcher asks the policy before the handler runs,
and a handler whose action depends on its arguments asks again with `inv.require(...)`. A FirebreakError a
handler raises becomes an ephemeral message with what was wrong and the right usage; its transaction is
rolled back, so nothing is written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from slack_sdk import WebClient

from bot.core import audit, limits
from bot.core.errors import FirebreakError, NotAllowed, UsageError
from bot.core.policy import PRIVILEGED, AccessFacts, Action
from bot.core.text import Msg
from bot.slack.text import Mrkdwn, escape, mrkdwn

if TYPE_CHECKING:
    from bot.slack.context import AppContext

log = logging.getLogger(__name__)

IncidentNeed = Literal["required", "optional", "none"]
# What a subcommand does to its incident: an action, or a function of the invocation (e.g. raise vs lower).
Needs = Action | Callable[["Invocation"], Action | None] | None

# `/incident help` in the order responders need things: the groups in this order, each subcommand in one place.
GROUPS = ("Declare", "Coordinate", "Contain", "Communicate", "Close", "Practise", "Help")
HELP: dict[str, tuple[str, int]] = {
    "open": ("Declare", 1), "list": ("Declare", 2),
    "ic": ("Coordinate", 1), "role": ("Coordinate", 2), "sev": ("Coordinate", 3), "runbook": ("Coordinate", 4),
    "step": ("Coordinate", 5), "runbooks": ("Coordinate", 6), "repro": ("Coordinate", 7),
    "detected": ("Coordinate", 8), "alerts": ("Coordinate", 9), "repair": ("Coordinate", 10),
    "levers": ("Contain", 1), "contain": ("Contain", 2), "revert": ("Contain", 3), "probe": ("Contain", 4),
    "contained": ("Contain", 5),
    "status": ("Communicate", 1), "timeline": ("Communicate", 2), "report-clock": ("Communicate", 3),
    "resolve": ("Close", 1), "reopen": ("Close", 2), "postmortem": ("Close", 3), "action": ("Close", 4),
    "actions": ("Close", 5), "metrics": ("Close", 6),
    "tabletop": ("Practise", 1),
    "help": ("Help", 1),
}


@dataclass
class Subcommand:
    name: str
    handler: Callable[[Invocation], None]
    usage: str
    summary: str
    incident: IncidentNeed = "required"
    allow_resolved: bool = False
    aliases: tuple[str, ...] = ()
    action: Needs = None

    @property
    def group(self) -> str:
        return HELP[self.name][0]

    @property
    def order(self) -> int:
        return HELP[self.name][1]


class CommandRegistry:
    def __init__(self) -> None:
        self._by_name: dict[str, Subcommand] = {}
        self._ordered: list[Subcommand] = []

    def add(self, name: str, handler: Callable[[Invocation], None], *, usage: str, summary: str,
            incident: IncidentNeed = "required", allow_resolved: bool = False,
            aliases: tuple[str, ...] = (), action: Needs = None) -> Subcommand:
        if name not in HELP:
            raise ValueError(f"subcommand {name!r} has no place in HELP (bot/slack/commands/__init__.py)")
        sub = Subcommand(name, handler, usage, summary, incident, allow_resolved, aliases, action)
        for key in (name, *aliases):
            if key in self._by_name:
                raise ValueError(f"subcommand {key!r} registered twice")
            self._by_name[key] = sub
        self._ordered.append(sub)
        self._ordered.sort(key=lambda s: (GROUPS.index(s.group), s.order, s.name))
        return sub

    def get(self, name: str) -> Subcommand | None:
        return self._by_name.get(name.lower())

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def all(self) -> list[Subcommand]:
        return list(self._ordered)

    def help_text(self) -> Mrkdwn:
        lines = [Mrkdwn("*firebreak* — `/incident` subcommands. In an incident channel the incident is implied; "
                        "elsewhere name it, e.g. `/incident status INC-42`.")]
        for group in GROUPS:
            subs = [s for s in self._ordered if s.group == group]
            if subs:
                lines.append(Mrkdwn(f"\n*{group}*"))
                lines += [Mrkdwn(f"• `{escape(s.usage)}` — {escape(s.summary)}") for s in subs]
        return Mrkdwn("\n".join(lines))


@dataclass
class Invocation:
    """One `/incident <name> ...` call after parsing. `args` is what the person typed (unescaped once, Slack's
    tokens made readable: `@bob`, `#general`); `mentions` maps each `@name` they typed to its user id."""

    ctx: AppContext
    sub: Subcommand
    args: str
    user_id: str
    channel_id: str
    channel_name: str
    trigger_id: str | None
    client: WebClient
    respond: Callable[..., Any]
    mentions: dict[str, str] = field(default_factory=dict)
    incident_id: int | None = None
    incident_from_channel: bool = False
    access: AccessFacts | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def reply(self, text: str | Msg | Mrkdwn, blocks: list[dict] | None = None) -> None:
        """An ephemeral answer to the person who typed the command. A plain `str` is text, escaped here; markup
        comes as a `Msg` or `Mrkdwn` (composed through the text boundary)."""
        if isinstance(text, Msg):
            text = mrkdwn(text)
        elif not isinstance(text, Mrkdwn):
            text = escape(text)
        payload: dict[str, Any] = {"text": text, "response_type": "ephemeral", "replace_original": False}
        if blocks:
            payload["blocks"] = blocks
        self.respond(**payload)

    def usage_error(self, message: str | Msg) -> UsageError:
        return UsageError(message, usage=self.sub.usage)

    def require_incident(self) -> int:
        if self.incident_id is None:
            raise UsageError(
                "This is not an incident channel, so name the incident, e.g. "
                f"`/incident {self.sub.name} INC-42 ...`.", usage=self.sub.usage)
        return self.incident_id

    def mention(self, token: str, usage: str | None = None) -> str:
        """The user id of a person mentioned in the command (`@bob`), or of the caller for `@me` / `me`."""
        token = token.strip()
        if token.lower() in ("@me", "me"):
            return self.user_id
        if token in self.mentions:
            return self.mentions[token]
        from bot.slack.text import mention_id

        found = mention_id(token)
        if found:
            return found
        raise UsageError(f"`{limits.shown(token, 40)}` is not a Slack user mention; mention someone like @alice "
                         "(or `@me`).", usage=usage or self.sub.usage)

    def require(self, action: Action, *, lever_acl: list[str] | None = None,
                lever_roles: list[str] | None = None) -> None:
        """Ask the policy; a refusal says who may and how, and a refused privileged attempt is audited."""
        require(self.ctx, action, self.user_id, self.incident_id, self.access, lever_acl=lever_acl,
                lever_roles=lever_roles, channel_id=self.channel_id)


def require(ctx: AppContext, action: Action, user_id: str, incident_id: int | None, access: AccessFacts | None,
            *, lever_acl: list[str] | None = None, lever_roles: list[str] | None = None,
            channel_id: str | None = None, what: str | None = None) -> None:
    """The one place a Slack request is checked against the permission policy (commands, buttons, modals)."""
    decision = ctx.policy.decide(action, user_id, access, ctx.directory, lever_acl=lever_acl,
                                 lever_roles=lever_roles)
    if decision.allowed:
        return
    if action in PRIVILEGED and incident_id is not None:
        with ctx.db.session() as session:
            audit.denied(session, ctx.clock, incident_id, user_id, action, decision, what=what)
    assert decision.reason is not None
    raise NotAllowed(decision.reason)


def error_text(err: FirebreakError, usage: str | None = None) -> Mrkdwn:
    text = Mrkdwn(":warning: ") + mrkdwn(err.msg)
    show = err.usage or (usage if isinstance(err, UsageError) else None)
    if show:
        text += Mrkdwn(f"\nUsage: `{escape(show)}`")
    return Mrkdwn(text)


def split_first(text: str) -> tuple[str, str]:
    text = text.strip()
    if not text:
        return "", ""
    head, _, rest = text.partition(" ")
    return head, rest.strip()
