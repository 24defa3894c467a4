"""The runbooks feature's domain wiring, with no Slack in it (`bot.app.services.build_services` calls `setup`).

- `services.runbooks`: the library, loaded and validated once (invalid files stop the start with ConfigError);
- hooks: attach as an incident opens (in the open's transaction), re-evaluate on a severity change, owners follow role changes, close on resolve,
  re-plan on reopen, tick off the steps that offer a lever when it is pulled;
- the `runbook_nudge` timer job; the `runbook` postmortem provider (so `firebreak postmortem` has the steps
  without building Slack).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.core import hooks, incidents
from bot.core.errors import ConfigError
from bot.runbooks import flows, nudges, service
from bot.runbooks.loader import Library, RunbookErrors, load_library
from bot.store.models.timeline import BOT_ACTOR

if TYPE_CHECKING:
    from bot.app.services import Services


def load(services: Services) -> Library:
    try:
        return load_library(services.rules.categories, services.settings.runbooks_dir)
    except RunbookErrors as err:
        raise ConfigError("runbooks are invalid:\n" + str(err)) from err


def _opening(ctx: Services, session: Any, incident: Any, **_: Any) -> None:
    flows.attach_on_open(ctx, session, incident, actor=BOT_ACTOR)


def _postmortem(ctx: Services, session: Any, incident: Any) -> Any:
    return service.postmortem_rows(session, ctx.clock, incident, incidents.roles(session, incident.id))


def setup(services: Services) -> None:
    services.runbooks = load(services)
    services.hooks.on(hooks.OPENING, _opening)
    services.hooks.on(hooks.SEVERITY_CHANGED, flows.reevaluate)
    services.hooks.on(hooks.ROLE_ASSIGNED, flows.refresh)
    services.hooks.on(hooks.RESOLVED, flows.on_resolved)
    services.hooks.on(hooks.REOPENED, flows.on_reopened)
    services.hooks.on(hooks.LEVER_APPLIED, flows.tick_lever_steps)
    services.timers.register(nudges.JOB, nudges.nudge_overdue)
    services.postmortem_providers["runbook"] = _postmortem
