"""The lever-type contract: describe, apply, verify, revert. Dry-run is enforced HERE, not in Slack handlers.

Every lever type subclasses `LeverKind` and implements the underscored methods; the public methods check
`pull.dry_run` first, so no code path can reach LaunchDarkly or a webhook in a dry run.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.containment.spec import Lever

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pull:
    """One pull (or revert) of a lever: who, why, for which incident, and whether it is a dry run."""

    action_id: int
    incident: dict[str, Any]  # ref, id, title, severity, sev, category, channel_id, is_exercise
    actor: str
    reason: str
    dry_run: bool


@dataclass
class Applied:
    attempts: int
    detail: str  # what changed, for the channel ("production/agent-browsing is now OFF (version 7)")
    previous: dict[str, Any] = field(default_factory=dict)  # what revert needs to restore
    expected: dict[str, Any] = field(default_factory=dict)  # what the verifier should observe
    dry_run: bool = False


@dataclass
class Verified:
    """The lever's own verification. `at` None with `skipped` set: applied, but nothing could check it."""

    at: datetime | None
    detail: str
    skipped: str | None = None


class LeverKind(ABC):
    """Behaviour of one lever type. Subclasses implement `plan`, `_apply`, `_verify`, `_revert`, `fallback`."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime  # bot.containment.service.Runtime: settings, clock, http, retry, sdk

    # ----- the public, dry-run-safe surface ------------------------------------------------------------
    def apply(self, lever: Lever, pull: Pull) -> Applied:
        if pull.dry_run:
            log.info("dry run: %s not applied (%s)", lever.name, self.plan(lever))
            return Applied(attempts=0, detail=f"dry run — would {self.plan(lever)}", dry_run=True)
        return self._apply(lever, pull)

    def verify(self, lever: Lever, pull: Pull, applied: Applied) -> Verified:
        if pull.dry_run or applied.dry_run:
            return Verified(at=None, detail="dry run — nothing to verify", skipped="dry run")
        return self._verify(lever, pull, applied)

    def revert(self, lever: Lever, pull: Pull, previous: dict[str, Any]) -> Applied:
        if pull.dry_run:
            return Applied(attempts=0, detail=f"dry run — would {self.revert_plan(lever, previous)}", dry_run=True)
        return self._revert(lever, pull, previous)

    # ----- to implement --------------------------------------------------------------------------------
    @abstractmethod
    def plan(self, lever: Lever) -> str:
        """Exactly what applying changes, and where (shown in the confirmation and dry runs)."""
        ...

    @abstractmethod
    def revert_plan(self, lever: Lever, previous: dict[str, Any]) -> str:
        ...

    @abstractmethod
    def fallback(self, lever: Lever) -> str:
        """How a person does it by hand when the bot cannot (which flag, which environment, a link)."""
        ...

    def can_revert(self, lever: Lever) -> bool:
        return True

    @abstractmethod
    def _apply(self, lever: Lever, pull: Pull) -> Applied:
        ...

    @abstractmethod
    def _verify(self, lever: Lever, pull: Pull, applied: Applied) -> Verified:
        ...

    @abstractmethod
    def _revert(self, lever: Lever, pull: Pull, previous: dict[str, Any]) -> Applied:
        ...
