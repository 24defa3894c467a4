"""The alerts feature's domain wiring (no Slack): the sources and routes file (validated: a bad file stops the
start with errors naming the file and key), the service, the source secrets registered for redaction, and the
timer jobs that tell a group's untold alerts when their window ends and remind triage nobody acted on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.alerts.common import FLUSH_JOB, REMIND_JOB
from bot.alerts.routes import AlertRules, load_rules
from bot.alerts.service import AlertService
from bot.config.org import SLACK_USER, SLACK_USERGROUP
from bot.core.errors import ConfigError

if TYPE_CHECKING:
    from bot.app.services import Services


def setup(services: Services) -> None:
    alert_rules = load_rules(services.settings.alerts_file, services.rules)
    check_pages(alert_rules, set(services.config.groups))
    for source in alert_rules.sources.values():
        source.secret()  # registers the value for redaction when it is set
    services.alerts = AlertService(services, alert_rules)
    services.timers.register(FLUSH_JOB, flush)
    services.timers.register(REMIND_JOB, remind)


def check_pages(alert_rules: AlertRules, groups: set[str]) -> None:
    """Whom a route pages must be a group of FIREBREAK_CONFIG or a Slack user (U…) / user-group (S…) id."""
    problems = [f"{alert_rules.source_file}: routes[{i}].page: `{name}` is neither a group defined under `groups` "
                "nor a Slack user (U…) or user-group (S…) id"
                for i, route in enumerate(alert_rules.doc.routes) for name in route.page
                if name not in groups and not SLACK_USER.match(name) and not SLACK_USERGROUP.match(name)]
    if problems:
        raise ConfigError("\n".join(problems))


def flush(ctx: Services, group_id: int) -> None:
    if ctx.alerts is not None:
        ctx.alerts.flush_due()


def remind(ctx: Services, group_id: int) -> None:
    if ctx.alerts is not None:
        ctx.alerts.remind_due()
