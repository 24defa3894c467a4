"""People by name in files read outside Slack (postmortem drafts, tabletop transcripts).

The workspace names people: `workspace_names(ctx, ids)` asks the directory (users.info, cached there) for each
id once, before any database transaction is opened by the caller, and answers `@Display Name`; an id Slack does
not know, or a workspace that cannot be reached, reads as the id (`@U0BOB`). Lookups stop after a small time
budget so an unreachable Slack never holds up a file for long.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

Names = Callable[[str], str]
BUDGET_SECONDS = 5.0


def plain_names(user_id: str) -> str:
    """Without a workspace, a user reads as `@U0BOB` (the bot as `firebreak`)."""
    return user_id if user_id in ("firebreak", "") else f"@{user_id}"


def recorder() -> tuple[Names, set[str]]:
    """A names function that notes every id it is asked about (the first pass of a two-pass render)."""
    seen: set[str] = set()

    def names(user_id: str) -> str:
        seen.add(user_id)
        return plain_names(user_id)

    return names, seen


def lookup(ctx: Any, user_ids: Iterable[str], *, budget: float = BUDGET_SECONDS) -> dict[str, str]:
    """Display names for `user_ids` from the workspace directory; ids it cannot name are left out."""
    directory = getattr(ctx, "directory", None)
    if directory is None:
        return {}
    found: dict[str, str] = {}
    deadline = time.monotonic() + budget
    for uid in sorted(set(user_ids)):
        if uid[:1] not in ("U", "W"):
            continue
        if time.monotonic() > deadline:
            break
        name = directory.display_name(uid)
        if name:
            found[uid] = " ".join(str(name).split())[:80]
    return found


def from_table(table: dict[str, str]) -> Names:
    """Names from a table made by `lookup`: `@Display Name`, else the id."""

    def names(user_id: str) -> str:
        shown = table.get(user_id)
        return f"@{shown}" if shown else plain_names(user_id)

    return names


def workspace_names(ctx: Any, user_ids: Iterable[str]) -> Names:
    return from_table(lookup(ctx, user_ids))
