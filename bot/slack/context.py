"""What every Slack listener needs: the shared services plus Slack's client, the command registry and the
pinned summary's sections."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from slack_sdk import WebClient

from bot.app.services import Services

if TYPE_CHECKING:
    from bot.slack.commands import CommandRegistry
    from bot.slack.directory import SlackDirectory
    from bot.slack.effects import SlackEffects
    from bot.slack.identity import BotIdentity
    from bot.slack.usergroups import UserGroups
    from bot.store.models import Incident

# A summary section contributor: (ctx, session, incident) -> Block Kit blocks for the pinned summary.
SummarySection = Callable[["AppContext", Any, "Incident"], list[dict]]


@dataclass(kw_only=True)
class AppContext(Services):
    client: WebClient
    commands: CommandRegistry
    summary_sections: list[SummarySection] = field(default_factory=list)
    usergroups: UserGroups | None = None
    directory: SlackDirectory | None = None
    slack_effects: SlackEffects | None = None
    identity: BotIdentity | None = None

    def close(self) -> None:
        super().close()
        stop = getattr(self.client, "close", None)  # the kept connections to Slack (KeepAliveWebClient)
        if callable(stop):
            stop()
