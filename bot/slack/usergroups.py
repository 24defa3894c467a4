"""Who may do what: the IC and the configured commanders change the IC and the severity."""

from __future__ import annotations

import logging
import threading
import time

from slack_sdk.errors import SlackApiError

from bot.slack.context import AppContext

log = logging.getLogger(__name__)

_CACHE_SECONDS = 300


class UserGroups:
    """Members of Slack user groups (usergroups.users.list), cached for five minutes."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self._cache: dict[str, tuple[float, set[str]]] = {}
        self._lock = threading.Lock()

    def members(self, group_id: str) -> set[str]:
        with self._lock:
            hit = self._cache.get(group_id)
            if hit and time.monotonic() - hit[0] < _CACHE_SECONDS:
                return hit[1]
        try:
            resp = self.ctx.client.usergroups_users_list(usergroup=group_id)
            users = set(resp.get("users") or [])
        except SlackApiError as err:
            log.warning("usergroups.users.list %s failed: %s", group_id, err.response.get("error"))
            users = set()
        with self._lock:
            self._cache[group_id] = (time.monotonic(), users)
        return users

    def contains(self, names: list[str], user_id: str) -> bool:
        users, groups = self.ctx.config.expand(names)
        if user_id in users:
            return True
        return any(user_id in self.members(g) for g in groups)


def usergroups(ctx: AppContext) -> UserGroups:
    if ctx.usergroups is None:
        ctx.usergroups = UserGroups(ctx)
    return ctx.usergroups


def is_commander(ctx: AppContext, user_id: str, current_ic: str | None) -> bool:
    if current_ic is not None and user_id == current_ic:
        return True
    return usergroups(ctx).contains(ctx.config.commanders, user_id)


def commanders_description(ctx: AppContext) -> str:
    if not ctx.config.commanders:
        return "the incident commander"
    return "the incident commander or members of " + ", ".join(f"`{c}`" for c in ctx.config.commanders)
