"""The Slack transport's factory: `build(settings, clock=...)` returns the Bolt app on top of the shared
services. Nothing connects, schedules or calls Slack at import or while building."""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass

from slack_bolt import App

from bot.app.lanes import COMMANDS, Lanes
from bot.app.services import build_services
from bot.config.settings import Settings
from bot.core.clock import Clock
from bot.slack import guard, interactions, listen
from bot.slack.client import make_client
from bot.slack.commands import CommandRegistry
from bot.slack.context import AppContext
from bot.slack.directory import SlackDirectory
from bot.slack.effects import SlackEffects
from bot.slack.identity import BotIdentity
from bot.store.db import Database

log = logging.getLogger(__name__)

# Feature modules, each with `register(app, ctx)`, in this order: it is the order of the pinned summary's
# sections (home and containment before the runbook checklist, the reporting deadlines last) and of the hooks
# each feature subscribes (the scheduler plans timers after the runbook has attached its checklist).
FEATURES = [
    "bot.slack.lifecycle",
    "bot.slack.directory",
    "bot.slack.commands.dispatch",
    "bot.slack.commands.open",
    "bot.slack.commands.roles",
    "bot.slack.commands.severity",
    "bot.slack.commands.status",
    "bot.slack.commands.close",
    "bot.slack.summary_actions",
    "bot.slack.commands.listing",
    "bot.slack.commands.repair",
    "bot.slack.commands.reactions",
    "bot.slack.commands.repro",
    "bot.slack.commands.probe",
    "bot.slack.commands.tabletop",
    "bot.slack.commands.postmortem",
    "bot.slack.commands.actions",
    "bot.slack.commands.metrics",
    "bot.slack.home",
    "bot.slack.commands.contain",
    "bot.slack.commands.runbook",
    "bot.slack.views.reminders",
    "bot.slack.commands.report_clock",
    "bot.slack.commands.alerts",
]


@dataclass
class Bot:
    app: App
    ctx: AppContext

    @property
    def executor(self) -> Lanes:
        return self.ctx.lanes

    def close(self) -> None:
        self.ctx.close()


def build(settings: Settings, clock: Clock | None = None, *, db: Database | None = None) -> Bot:
    """Build the app and its context; validates every configuration file and raises ConfigError if invalid."""
    client = make_client(settings)
    ctx = build_services(settings, clock, db=db, cls=AppContext, client=client, commands=CommandRegistry())
    assert isinstance(ctx, AppContext)
    ctx.slack_effects = SlackEffects(ctx, ctx.effects)
    ctx.directory = SlackDirectory(ctx)
    ctx.identity = BotIdentity(client)
    app = App(
        client=client,
        authorize=ctx.identity.authorize(lambda fn: ctx.lanes.run(COMMANDS, fn)),  # no auth.test before an ack
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        token_verification_enabled=False,
        listener_executor=ctx.lanes,
        # Every listener acknowledges and hands its work to a lane (`listen.after_ack`), so running it in the
        # request's own thread answers Slack the moment it returns: no executor hop and no ack polling.
        process_before_response=True,
        ignoring_self_events_enabled=True,
    )

    guard.install(app)  # refuses other workspaces / apps before anything below runs or writes
    app.middleware(listen.middleware(ctx))  # request identity; redeliveries dropped before any listener

    for name in FEATURES:
        importlib.import_module(name).register(app, ctx)
    interactions.catch_all(app, ctx)  # last: what no feature handles is acknowledged and answered
    return Bot(app=app, ctx=ctx)


def create_app(settings: Settings, clock: Clock | None = None) -> App:
    return build(settings, clock).app
