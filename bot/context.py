"""What every handler needs, built once by create_app: settings, clock, database, rubric, hooks, registry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from slack_sdk import WebClient

from bot.clock import Clock
from bot.config import Config
from bot.db import Database
from bot.hooks import Hooks
from bot.settings import Settings
from bot.severity import SeverityRules

if TYPE_CHECKING:
    from bot.commands import CommandRegistry
    from bot.models import Incident

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
