"""In-process signals between features: 'an incident opened', 'severity changed', 'contained', ...

Features subscribe in their `register()`; the lifecycle emits after its transaction commits. A failing
subscriber is logged and never stops the others or the command that emitted.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

# Known signals and the keyword arguments they carry (all also get `incident_id` and `actor`).
# In the open's own transaction, before it commits (kwargs: session, incident): what a feature gives every new
# incident (its runbook, its timers) commits with the incident, and the first summary already shows it. Each
# subscriber runs in a savepoint of its own (bot/app/opening.py): one that fails is rolled back alone, logged,
# and the open goes on without it.
OPENING = "incident_opening"
OPENED = "incident_opened"          # channel_id (after the commit, once the channel is there or the wait is over)
SEVERITY_CHANGED = "severity_changed"  # old, new, note_to (the change's post: reactions thread under it)
ROLE_ASSIGNED = "role_assigned"     # role, user_id, acknowledged
STATUS_POSTED = "status_posted"
CONTAINED = "incident_contained"
RESOLVED = "incident_resolved"
REOPENED = "incident_reopened"
# A tabletop exercise's clock started or resumed after a pause (kwargs: run_id): deadlines that count only
# active exercise time (the MTTC target's warnings) are planned again.
EXERCISE_STARTED = "exercise_started"
EXERCISE_RESUMED = "exercise_resumed"


class Hooks:
    def __init__(self) -> None:
        self._subscribers: dict[str, list[Callable[..., Any]]] = defaultdict(list)

    def on(self, signal: str, fn: Callable[..., Any]) -> None:
        self._subscribers[signal].append(fn)

    def subscribers(self, signal: str) -> list[Callable[..., Any]]:
        return list(self._subscribers.get(signal, ()))

    def emit(self, signal: str, **kwargs: Any) -> None:
        for fn in list(self._subscribers.get(signal, ())):
            try:
                fn(**kwargs)
            except Exception:  # noqa: BLE001 - one feature's failure must not break another's
                log.exception("subscriber %s of %s failed", getattr(fn, "__qualname__", fn), signal)

# Containment (issue 4) emits these; kwargs: lever, action_id, dry_run.
LEVER_APPLIED = "lever_applied"
LEVER_REVERTED = "lever_reverted"
