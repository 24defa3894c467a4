"""The alerts feature's domain wiring (no Slack): the sources and routes file (validated: a bad file stops the
start with errors naming the file and key), the service, the source secrets registered for redaction, and the
timer jobs that tell a group's untold alerts when their window ends and remind triage nobody acted on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.alerts.routes import load_rules
from bot.alerts.service import FLUSH_JOB, REMIND_JOB, AlertService

if TYPE_CHECKING:
    from bot.app.services import Services


def setup(services: Services) -> None:
    alert_rules = load_rules(services.settings.alerts_file, services.rules)
    for source in alert_rules.sources.values():
        source.secret()  # registers the value for redaction when it is set
    services.alerts = AlertService(services, alert_rules)
    services.timers.register(FLUSH_JOB, flush)
    services.timers.register(REMIND_JOB, remind)


def flush(ctx: Services, group_id: int) -> None:
    if ctx.alerts is not None:
        ctx.alerts.flush_due()


def remind(ctx: Services, group_id: int) -> None:
    if ctx.alerts is not None:
        ctx.alerts.remind_due()
