"""Server-side state for buttons and modals: Slack gets an opaque id, firebreak keeps what it stands for.

`stash(...)` records what a confirmation, a modal or a button acts on and returns a short random token for the
button's value or the modal's private_metadata (so no input can overflow Slack's 2,000 / 3,000-character
fields). `take(...)` reads it back when the click or the submission comes in: an unknown, expired or
already-used token — a stale button, or a crafted one — is "out of date", never an action.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from sqlmodel import Session, select

from bot.core.errors import Conflict
from bot.slack.context import AppContext
from bot.store.models import PendingAction

DEFAULT_TTL = timedelta(hours=24)
OUT_OF_DATE = "This button or form is out of date (or was not made by firebreak). Run the command again."


class Stale(Conflict):
    """The token names nothing current."""

    def __init__(self) -> None:
        super().__init__(OUT_OF_DATE)


def stash(ctx: AppContext, kind: str, payload: dict[str, Any], *, incident_id: int | None = None,
          user_id: str | None = None, ttl: timedelta = DEFAULT_TTL, session: Session | None = None) -> str:
    """`session`: write it in the caller's transaction (a view rendered inside one: on SQLite a second
    session would wait for the first one's write lock)."""
    token = secrets.token_urlsafe(18)
    now = ctx.clock.now()
    row = PendingAction(id=token, kind=kind, incident_id=incident_id, user_id=user_id, payload=payload,
                        created_at=now, expires_at=now + ttl)
    if session is not None:
        session.add(row)
        return token
    with ctx.db.session() as own:
        own.add(row)
    return token


def peek(ctx: AppContext, token: Any, kind: str, *, user_id: str | None = None) -> PendingAction:
    """The pending action a token stands for, still usable; raises Stale otherwise."""
    if not isinstance(token, str) or not 8 <= len(token) <= 40:
        raise Stale()
    with ctx.db.session() as session:
        row = session.exec(select(PendingAction).where(PendingAction.id == token)).first()
    if (row is None or row.kind != kind or row.used_at is not None or row.expires_at < ctx.clock.now()
            or (row.user_id is not None and user_id is not None and row.user_id != user_id)):
        raise Stale()
    return row


def take(ctx: AppContext, token: Any, kind: str, *, user_id: str | None = None) -> PendingAction:
    """Like peek, and marks it used: a confirmation works once, however often it is clicked."""
    row = peek(ctx, token, kind, user_id=user_id)
    with ctx.db.session() as session:
        current = session.get(PendingAction, row.id, with_for_update=True)
        if current is None or current.used_at is not None:
            raise Stale()
        current.used_at = ctx.clock.now()
        session.add(current)
    return row
