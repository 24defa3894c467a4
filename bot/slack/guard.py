"""Refuse requests from another workspace or another Slack app before any handler runs.

A valid signature proves a request was signed with this app's signing secret; it does not prove the
request is for *this* installation. `firebreak serve` learns the installation from `auth.test` (the team,
the Enterprise Grid organization for an org-wide install, the app id) and hands it to the guard; a request
whose `team_id` or `api_app_id` differs is answered "not installed here" and goes no further: no handler
runs, nothing is written (the guard sits before the request-identity middleware, bot/slack/listen.py).

Until `serve` calls `require()`, the guard lets everything through: the console, the benchmark and the
tests drive the app with their own local identity and never call `auth.test`. After `require()` and before
`expect(...)`, everything is refused (fail closed): nothing is served before the installation is known.

In Socket Mode the connection itself is the app's (opened with its app-level token), so a field a payload
does not carry is not held against it there; a field that is present must match. Over HTTP both must be
present and match.
"""

from __future__ import annotations

import logging
import re
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass

from slack_bolt import App, BoltResponse
from slack_bolt.middleware import Middleware
from slack_bolt.request import BoltRequest

log = logging.getLogger(__name__)

NOT_INSTALLED = "firebreak is not installed for this workspace or app; nothing was done."
NOT_READY = "firebreak is starting and has not yet confirmed its Slack installation; try again in a moment."


@dataclass(frozen=True)
class Installation:
    """Who may talk to this bot: the installation's team(s), its org (org-wide installs), its app."""

    team_ids: frozenset[str]
    enterprise_ids: frozenset[str]
    app_id: str

    def refusal(self, *, team_id: str | None, enterprise_id: str | None, app_id: str | None,
                socket_mode: bool) -> str | None:
        """Why a request with these ids is refused, or None when it is this installation's."""
        if app_id is None and not socket_mode:
            return "no api_app_id"
        if app_id is not None and app_id != self.app_id:
            return f"api_app_id {_safe(app_id)}"
        if team_id is None and enterprise_id is None:
            return None if socket_mode else "no team_id"
        if team_id in self.team_ids or (enterprise_id is not None and enterprise_id in self.enterprise_ids):
            return None
        return f"team_id {_safe(team_id)}" + (f" (enterprise {_safe(enterprise_id)})" if enterprise_id else "")


def _safe(value: str | None) -> str:
    """An id from a request, fit for a log line: no newlines or markup, at most 32 characters."""
    return re.sub(r"[^A-Za-z0-9_-]", "?", str(value))[:32]


class InstallationGuard(Middleware):
    """The Bolt middleware. Register it before anything that writes (see `install`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._required = False
        self._installation: Installation | None = None

    def require(self) -> None:
        """From now on refuse every request until `expect()` names the installation."""
        with self._lock:
            self._required = True

    def expect(self, installation: Installation) -> None:
        with self._lock:
            self._required = True
            self._installation = installation

    @property
    def installation(self) -> Installation | None:
        return self._installation

    def process(self, *, req: BoltRequest, resp: BoltResponse,
                next: Callable[[], BoltResponse]) -> BoltResponse | None:  # noqa: A002 - Bolt's name
        with self._lock:
            required, installation = self._required, self._installation
        if not required:
            next()
            return resp
        if installation is None:
            log.warning("refused a request: the Slack installation is not confirmed yet")
            return _answer(req, NOT_READY, status=503)
        body = req.body if isinstance(req.body, dict) else {}
        app_id = body.get("api_app_id")
        why = installation.refusal(team_id=req.context.team_id, enterprise_id=req.context.enterprise_id,
                                   app_id=app_id if isinstance(app_id, str) else None,
                                   socket_mode=req.mode == "socket_mode")
        if why is None:
            next()
            return resp
        log.warning("refused a request from another installation (%s)", why)
        return _answer(req, NOT_INSTALLED, status=200)


def _answer(req: BoltRequest, text: str, *, status: int) -> BoltResponse:
    """Commands and interactions show `text` to the user; events get an empty acknowledgement."""
    body = req.body if isinstance(req.body, dict) else {}
    if body.get("type") == "event_callback" or "event" in body:
        return BoltResponse(status=status, body="")
    return BoltResponse(status=status, body=text)


_GUARDS: weakref.WeakKeyDictionary[App, InstallationGuard] = weakref.WeakKeyDictionary()


def install(app: App) -> InstallationGuard:
    """Register a guard as the app's next middleware and remember it, so `serve` can find it (`of`)."""
    guard = InstallationGuard()
    app.use(guard)
    _GUARDS[app] = guard
    return guard


def of(app: App) -> InstallationGuard:
    """The guard `install` put on this app."""
    return _GUARDS[app]
