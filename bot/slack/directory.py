"""Facts from Slack that the permission policy needs: who is in a channel, who is in a user group.

Answers are cached briefly (channel members 60 s, user groups 5 min) so a busy incident does not ask Slack on
every click, and dropped when Slack tells us they changed (`member_joined_channel`, `member_left_channel`,
`subteam_members_changed`). A failed lookup is never cached and never guessed: it raises FactsUnavailable,
and the policy refuses ("could not verify … try again").

Lookups are network calls: callers ask before they open a database transaction, never inside one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError, SlackClientError

from bot.core.policy import FactsUnavailable

if TYPE_CHECKING:
    from bot.slack.context import AppContext

log = logging.getLogger(__name__)

MEMBERS_TTL = 60.0
GROUPS_TTL = 300.0
NAMES_TTL = 3600.0
NO_NAME_TTL = 60.0


def profile_name(user: dict[str, Any]) -> str | None:
    """How the workspace names a person, from a users.info `user` object; None when it says nothing."""
    profile = user.get("profile") or {}
    name = profile.get("display_name") or profile.get("real_name") or user.get("real_name") or user.get("name")
    return str(name) if name else None


class PeopleOnly:
    """Names people (users.info) for the command line's files, and nothing else: no Bolt app is built, and
    any permission question is refused (FactsUnavailable), as the policy expects of facts it cannot have."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self._names: dict[str, str | None] = {}

    def is_member(self, channel_id: str, user_id: str) -> bool:
        raise FactsUnavailable("the command line does not ask Slack about channel members")

    def in_groups(self, names: list[str], user_id: str) -> bool:
        raise FactsUnavailable("the command line does not ask Slack about user groups")

    def display_name(self, user_id: str) -> str | None:
        if user_id not in self._names:
            try:
                user = self.client.users_info(user=user_id).get("user") or {}
            except (SlackApiError, SlackClientError, OSError) as err:
                log.info("users.info %s failed: %s", user_id, _error(err))
                user = {}
            self._names[user_id] = profile_name(user)
        return self._names[user_id]


class SlackDirectory:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self._members: dict[str, tuple[float, frozenset[str]]] = {}
        self._groups: dict[str, tuple[float, frozenset[str]]] = {}
        self._names: dict[str, tuple[float, str]] = {}
        self._private: dict[str, tuple[float, frozenset[str]]] = {}  # user -> the private channels they are in
        self._exact: set[str] = set()  # channels made here whose members are known without asking (`created`)
        self._lock = threading.Lock()

    # ----- the policy's questions -------------------------------------------------------------------------
    def is_member(self, channel_id: str, user_id: str) -> bool:
        return user_id in self.members(channel_id)

    def in_groups(self, names: list[str], user_id: str) -> bool:
        users, groups = self.ctx.config.expand(names)
        if user_id in users:
            return True
        return any(user_id in self.group_members(g) for g in sorted(groups))

    # ----- lookups ----------------------------------------------------------------------------------------
    def members(self, channel_id: str) -> frozenset[str]:
        hit = self._cached(self._members, channel_id, MEMBERS_TTL)
        if hit is not None:
            return hit
        pages = self._pages("conversations.members", channel_id, 50,  # 50 pages of 1,000: larger are not ours
                            lambda cursor: self.ctx.client.conversations_members(channel=channel_id, limit=1000,
                                                                                 **cursor))
        found = {m for page in pages for m in page.get("members") or []}
        return self._store(self._members, channel_id, frozenset(found))

    @staticmethod
    def _pages(method: str, key: str, most: int, fetch: Callable[[dict[str, str]], Any]) -> list[Any]:
        """Every page of a cursor-paginated Slack listing (at most `most`); FactsUnavailable if one fails."""
        pages: list[Any] = []
        cursor: dict[str, str] = {}
        try:
            for _ in range(most):
                resp = fetch(cursor)
                pages.append(resp)
                nxt = (resp.get("response_metadata") or {}).get("next_cursor")
                if not nxt:
                    break
                cursor = {"cursor": nxt}
        except (SlackApiError, SlackClientError, OSError) as err:
            log.warning("%s %s failed: %s", method, key, _error(err))
            raise FactsUnavailable(f"{method}: {_error(err)}") from None
        return pages

    def group_members(self, group_id: str) -> frozenset[str]:
        hit = self._cached(self._groups, group_id, GROUPS_TTL)
        if hit is not None:
            return hit
        try:
            resp = self.ctx.client.usergroups_users_list(usergroup=group_id)
        except (SlackApiError, SlackClientError, OSError) as err:
            log.warning("usergroups.users.list %s failed: %s", group_id, _error(err))
            raise FactsUnavailable(f"usergroups.users.list: {_error(err)}") from None
        return self._store(self._groups, group_id, frozenset(resp.get("users") or []))

    def cached_name(self, user_id: str) -> str | None:
        """What is known now without a Slack call: the display name, "" when Slack recently had no name to give
        (asked again after a minute), None when nobody asked yet."""
        with self._lock:
            hit = self._names.get(user_id)
            if hit is None:
                return None
            fresh = time.monotonic() - hit[0] < (NAMES_TTL if hit[1] else NO_NAME_TTL)
            return hit[1] if fresh else None

    def private_channels(self, user_id: str) -> frozenset[str]:
        """The private channels (that firebreak is in) `user_id` is a member of: one users.conversations
        lookup for any number of channels, cached as members are. Raises FactsUnavailable."""
        hit = self._cached(self._private, user_id, MEMBERS_TTL)
        if hit is not None:
            return hit
        pages = self._pages("users.conversations", user_id, 20,  # 20 pages of 999
                            lambda cursor: self.ctx.client.users_conversations(
                                user=user_id, types="private_channel", limit=999, exclude_archived=True, **cursor))
        found = {c["id"] for page in pages for c in page.get("channels") or [] if isinstance(c, dict) and c.get("id")}
        return self._store(self._private, user_id, frozenset(found))

    def sees_private(self, channel_id: str, user_id: str) -> bool:
        """Whether `user_id` is in the private `channel_id`: from the channel's cached members when known, else
        from the user's own list (one lookup answers for every private incident a listing shows)."""
        hit = self._cached(self._members, channel_id, MEMBERS_TTL)
        if hit is not None:
            return user_id in hit
        return channel_id in self.private_channels(user_id)

    def display_name(self, user_id: str) -> str | None:
        """How the workspace names a person (users.info, cached an hour); None when Slack does not say."""
        if (known := self.cached_name(user_id)) is not None:
            return known or None
        try:
            resp = self.ctx.client.users_info(user=user_id)
        except (SlackApiError, SlackClientError, OSError) as err:
            log.info("users.info %s failed: %s", user_id, _error(err))
            resp = None
        name = profile_name((resp.get("user") if resp else None) or {})
        if not name:  # remembered for a minute, so every refresh of a summary does not ask again
            with self._lock:
                self._names[user_id] = (time.monotonic(), "")
            return None
        with self._lock:
            self._names[user_id] = (time.monotonic(), str(name))
        return str(name)

    # ----- cache ------------------------------------------------------------------------------------------
    def _cached(self, cache: dict[str, tuple[float, frozenset[str]]], key: str, ttl: float) -> frozenset[str] | None:
        with self._lock:
            hit = cache.get(key)
            if hit is not None and time.monotonic() - hit[0] < ttl:
                return hit[1]
        return None

    def _store(self, cache: dict[str, tuple[float, frozenset[str]]], key: str, value: frozenset[str]) -> frozenset[str]:
        with self._lock:
            cache[key] = (time.monotonic(), value)
            if cache is self._members:
                self._exact.discard(key)  # asked: as good as the last answer, no longer known by construction
        return value

    def created(self, channel_id: str, creator: str | None) -> None:
        """firebreak has just made `channel_id`: its only member is its creator (the bot). Known exactly, without
        asking Slack, until the cache's time runs out or Slack tells of someone joining or leaving."""
        with self._lock:
            self._members[channel_id] = (time.monotonic(), frozenset({creator} if creator else ()))
            self._exact.add(channel_id)

    def exact_members(self, channel_id: str) -> frozenset[str] | None:
        """The members of a channel made here (`created`), with those invited since; None when not known that
        way (ask Slack)."""
        with self._lock:
            known = channel_id in self._exact
        return self._cached(self._members, channel_id, MEMBERS_TTL) if known else None

    def forget_members(self, channel_id: str) -> None:
        """Ask Slack again for the channel's members next time (nobody's membership is known to have changed)."""
        with self._lock:
            self._members.pop(channel_id, None)
            self._exact.discard(channel_id)

    def forget_channel(self, channel_id: str, user_id: str | None = None) -> None:
        """Someone joined or left `channel_id` (`user_id` when Slack says who; else every user's list goes)."""
        with self._lock:
            self._members.pop(channel_id, None)
            self._exact.discard(channel_id)
            if user_id is None:
                self._private.clear()
            else:
                self._private.pop(user_id, None)

    def forget_all(self) -> None:
        """Nothing cached is trusted any more (e.g. after events may have been missed)."""
        with self._lock:
            self._members.clear()
            self._exact.clear()
            self._groups.clear()
            self._private.clear()

    def forget_group(self, group_id: str) -> None:
        with self._lock:
            self._groups.pop(group_id, None)

    def joined(self, channel_id: str, user_id: str) -> None:
        """Slack told us (or we invited): update the cached members instead of asking again; the person's own list
        of private channels has one more in it."""
        with self._lock:
            hit = self._members.get(channel_id)
            if hit is not None:
                self._members[channel_id] = (hit[0], hit[1] | {user_id})
            self._private.pop(user_id, None)


def _error(err: Exception) -> str:
    if isinstance(err, SlackApiError):
        return str(err.response.get("error") or "unknown_error")
    return type(err).__name__


def register(app: Any, ctx: AppContext) -> None:
    """Slack says who joined or left a channel and when a user group changed: forget what is cached."""

    @app.event("member_joined_channel")
    def joined(event: dict[str, Any]) -> None:
        if ctx.directory is not None and isinstance(event.get("channel"), str):
            user = event.get("user")
            ctx.directory.forget_channel(event["channel"], user if isinstance(user, str) else None)

    @app.event("member_left_channel")
    def left(event: dict[str, Any]) -> None:
        if ctx.directory is not None and isinstance(event.get("channel"), str):
            user = event.get("user")
            ctx.directory.forget_channel(event["channel"], user if isinstance(user, str) else None)

    @app.event("subteam_members_changed")
    def group_changed(event: dict[str, Any]) -> None:
        if ctx.directory is not None and isinstance(event.get("subteam_id"), str):
            ctx.directory.forget_group(event["subteam_id"])
