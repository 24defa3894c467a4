"""Containment's domain wiring (`bot.app.services.build_services` calls `setup`): the lever file, the service,
the secrets its levers will send, what happens to standing levers on resolve, and the postmortem's data.

Nothing here touches Slack: the command line's postmortem gets the same provider, and the Slack transport
(`bot.slack.commands.contain`) adds only its commands, buttons, views and summary section.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.app.lanes import LEVERS
from bot.containment.records import action_dict, actions
from bot.containment.service import WATCH_JOB, ContainmentService
from bot.containment.spec import load_levers
from bot.containment.webhook import register_secrets
from bot.core import hooks, incidents
from bot.core.policy import Action
from bot.postmortem.providers import register_provider

if TYPE_CHECKING:
    from bot.app.services import Services


def setup(services: Services) -> None:
    registry = load_levers(services.settings.levers_file, config=services.config,
                           categories=set(services.rules.categories))  # ConfigError: nothing starts
    register_secrets(registry)
    services.levers = registry
    services.containment = ContainmentService(services, registry)
    services.hooks.on(hooks.RESOLVED, on_resolved)
    services.timers.register(WATCH_JOB, watchdog)
    register_provider(services, "containment", postmortem)


def may_revert(services: Services, incident_id: int, user_id: str) -> bool:
    """Whether the person who resolved may revert levers (the policy, failing closed without its facts)."""
    with services.db.session() as session:
        access = incidents.access(session, incidents.get(session, incident_id))
    return services.policy.decide(Action.REVERT_LEVER, user_id, access, services.directory).allowed


def on_resolved(ctx: Services, incident_id: int, actor: str, **_: Any) -> None:
    svc = ctx.containment
    if svc is None or not len(svc.registry):
        return
    # Reverting calls LaunchDarkly or a webhook within the lever budget: on the LEVERS lane, never on the
    # resolve command's.
    ctx.lanes.run(LEVERS, svc.after_resolve, incident_id, may_revert=lambda: may_revert(ctx, incident_id, actor))


def watchdog(ctx: Services, action_id: int) -> None:
    """The durable timer set with each pull: if the pull never finished (its process stopped), say so."""
    if ctx.containment is not None:
        ctx.containment.give_up_interrupted(action_id)


def postmortem(ctx: Services, session: Any, incident: Any) -> list[dict[str, Any]]:
    return [action_dict(a) for a in actions(session, incident.id)]
