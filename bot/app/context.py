"""What every handler needs, built once by create_app: settings, clock, database, rubric, hooks, registry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from slack_sdk import WebClient

from bot.config.org import Config
from bot.config.settings import Settings
from bot.core.clock import Clock
from bot.core.hooks import Hooks
from bot.core.severity import SeverityRules
from bot.store.db import Database

if TYPE_CHECKING:
    from bot.slack.commands import CommandRegistry
    from bot.store.models import Incident

# A summary section contributor: (ctx, session, incident) -> Block Kit blocks for the pinned summary.
SummarySection = Callable[["AppContext", Any, "Incident"], list[dict]]


@dataclass
class AppContext:
    settings: Settings
    config: Config
    clock: Clock
    db: Database
    rules: SeverityRules
    hooks: Hooks
    client: WebClient
    commands: CommandRegistry
    summary_sections: list[SummarySection] = field(default_factory=list)
    # Feature-owned services (e.g. "runbooks", "levers", "scheduler"), looked up by name.
    services: dict[str, Any] = field(default_factory=dict)
