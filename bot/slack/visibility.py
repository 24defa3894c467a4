"""Who may see a private incident's details in a shared view (`/incident list`, the App Home tab).

A private incident's title, people and channel are shown only to members of its channel; everyone else sees a
redacted row. When membership cannot be checked (Slack errors), the row is redacted: never shown by default.
"""

from __future__ import annotations

from bot.core.policy import FactsUnavailable
from bot.slack.context import AppContext


def may_see(ctx: AppContext, user_id: str, *, private: bool, channel_id: str | None, reporter_id: str | None = None,
            role_holders: frozenset[str] = frozenset()) -> bool:
    if not private:
        return True
    if user_id == reporter_id or user_id in role_holders:
        return True
    if not channel_id or ctx.directory is None:
        return False
    try:
        return ctx.directory.sees_private(channel_id, user_id)
    except FactsUnavailable:
        return False
