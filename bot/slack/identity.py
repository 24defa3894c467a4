"""Who the bot is in Slack (auth.test: its user id, bot id, team), learned once and never on the ack path.

Bolt's single-workspace authorization calls auth.test inside the first request, before the ack: a slow Slack
then holds that ack, and a timeout answers it with a 5xx. firebreak authorizes every request from what it
already knows instead (the bot token, and the identity once learned: `serve` learns it at start-up, anything
else on a work lane after its first request) and never waits on Slack to acknowledge.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from slack_bolt.authorization import AuthorizeResult
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

log = logging.getLogger(__name__)


class BotIdentity:
    def __init__(self, client: WebClient) -> None:
        self.client = client
        self._known: dict[str, Any] | None = None
        self._lock = threading.Lock()
        self._fetching = False

    def known(self) -> dict[str, Any] | None:
        return self._known

    def learn(self) -> dict[str, Any] | None:
        """Ask Slack (a network call: never on the ack path); None when it does not answer."""
        with self._lock:
            if self._known is not None:
                return self._known
        try:
            resp = self.client.auth_test()
        except (SlackApiError, SlackClientError, OSError) as err:
            log.warning("auth.test failed: %s", type(err).__name__)
            return None
        finally:
            self._fetching = False
        found = {k: resp.get(k) for k in ("user_id", "bot_id", "team_id", "enterprise_id")}
        with self._lock:
            self._known = found
        return found

    def authorize(self, run_later: Any) -> Any:
        """A Bolt `authorize` function that answers from what is known, and learns the rest off the ack path."""

        def authorize(enterprise_id: str | None = None, team_id: str | None = None,
                      user_id: str | None = None) -> AuthorizeResult:
            who = self._known
            if who is None and not self._fetching:
                self._fetching = True
                run_later(self.learn)
            return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, user_id=user_id,
                                   bot_token=self.client.token, bot_user_id=(who or {}).get("user_id"),
                                   bot_id=(who or {}).get("bot_id"))

        return authorize
