"""The services every transport shares, built once from the settings: a typed container, no lookups by name.

`build_services(settings, clock)` validates every configuration file (raising ConfigError naming the file
and key), opens the database and builds the domain services. It builds nothing of Slack: the command line
renders a postmortem or computes metrics with it alone, and the Slack transport (`bot.slack.app.build`)
adds its client, listeners and renderers on top.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.app.effects import EffectRunner
from bot.app.lanes import COMMANDS, Lanes
from bot.config.org import Config, load_config
from bot.config.settings import Settings
from bot.core import secrets
from bot.core.clock import Clock, SystemClock
from bot.core.hooks import Hooks
from bot.core.policy import Directory, Policy
from bot.core.severity import SeverityRules, load_rules
from bot.store.db import Database

if TYPE_CHECKING:
    from bot.alerts.service import AlertService
    from bot.containment.proof import ProofCheck
    from bot.containment.service import ContainmentService
    from bot.containment.spec import LeverRegistry
    from bot.core.timers import Timers
    from bot.runbooks.loader import Library
    from bot.scheduler.service import SchedulerService


@dataclass(kw_only=True)
class Services:
    settings: Settings
    config: Config
    clock: Clock
    db: Database
    rules: SeverityRules
    hooks: Hooks
    lanes: Lanes
    policy: Policy
    effects: EffectRunner = field(default=None)  # type: ignore[assignment]
    # Facts the policy needs from outside the database (channel members, user groups), set by the transport
    # that has them; None: such facts cannot be had, and the policy refuses what needs them.
    directory: Directory | None = None
    # Set while building (each by the feature that owns it); typed so a reader finds every use by name.
    timers: Timers = field(default=None)  # type: ignore[assignment]
    runbooks: Library | None = None
    levers: LeverRegistry | None = None
    containment: ContainmentService | None = None
    scheduler: SchedulerService | None = None
    alerts: AlertService | None = None
    # Extension points, in the order they were added (the order is stated where they are added).
    proof_checks: list[ProofCheck] = field(default_factory=list)
    postmortem_providers: dict[str, Any] = field(default_factory=dict)

    def close(self) -> None:
        for svc in (self.effects, self.containment, self.timers):
            stop = getattr(svc, "close", None)
            if callable(stop):
                stop()
        self.lanes.shutdown(wait=True)
        self.db.dispose()


# The domain features, in this order: each `bot.<feature>.wiring.setup(services)` builds the feature's service,
# subscribes its hooks (the runbook attaches its checklist before the scheduler plans the incident's timers),
# registers its timer jobs, proof checks and postmortem providers. None of it touches Slack.
FEATURES = ("bot.runbooks", "bot.containment", "bot.evidence", "bot.scheduler", "bot.tabletop", "bot.alerts")


def build_services(settings: Settings, clock: Clock | None = None, *, db: Database | None = None,
                   cls: type[Services] = Services, **extra: Any) -> Services:
    """Everything the domain needs, for any transport (the command line renders a postmortem with it alone)."""
    from bot.scheduler.durable import DurableTimers

    services = base_services(settings, clock, db=db, cls=cls, **extra)
    services.timers = DurableTimers(services, database_url=settings.scheduler_database_url)
    for name in FEATURES:
        try:
            wiring = importlib.import_module(f"{name}.wiring")
        except ModuleNotFoundError as err:
            if err.name not in (name, f"{name}.wiring"):
                raise
            continue  # this feature has no domain wiring (yet)
        wiring.setup(services)
    return services


def base_services(settings: Settings, clock: Clock | None = None, *, db: Database | None = None,
                  cls: type[Services] = Services, **extra: Any) -> Services:
    """The container with configuration, database, rubric, hooks and lanes; features are added by the caller."""
    secrets.register_settings(settings)
    config = load_config(settings.config_file)
    rules = load_rules(settings.severity_rules_file)
    policy = Policy.from_config(config.permissions, commanders=config.commanders,
                                privacy_officers=config.privacy_officers)
    services = cls(settings=settings, config=config, clock=clock or SystemClock(), rules=rules, hooks=Hooks(),
                   policy=policy,
                   db=db or Database(settings.database_url, lock_timeout=settings.database_lock_timeout), lanes=Lanes({COMMANDS: settings.worker_threads}), **extra)
    # SQLite with the timers in `serve` is one process: at start, whatever was running died with it. With a
    # dedicated scheduler two processes share the file, and an effect is taken back only when its lease ran out.
    services.effects = EffectRunner(services, single_process=services.db.dialect == "sqlite"
                                    and settings.scheduler_mode == "embedded")
    return services
