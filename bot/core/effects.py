"""Record side effects together with the facts that call for them.

The domain never calls Slack, a pager or any other outside service itself. Inside the transaction that
changes an incident it records what the world must be told ("post this in the incident channel", "refresh the
pinned summary", "page the on-call"); the effects runner (`bot.app.effects`) performs each record after the
commit, exactly once, retrying within a budget and resuming after a crash. A fact and its effects commit or
roll back together: nothing is announced that did not happen, nothing that happened goes untold.

Every record has an idempotency key: recording the same key twice (a timer job re-run after a crash, a
duplicate delivery) records it once.

Places (`to=`): INCIDENT (the incident's channel, once it exists), ANNOUNCE (the announcements channel),
`user(U…)` (a direct message), `channel(C…)` (any other channel, e.g. where a command was typed).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, case, func, insert, update
from sqlmodel import Session, col, select

from bot.core.text import Msg
from bot.store.db import insert_on_conflict, rowcount
from bot.store.models.effects import DONE, FAILED, PENDING, RUNNING, Effect

INCIDENT = "incident"
ANNOUNCE = "announce"
# How long an effect keeps being retried (429s, 5xx, timeouts) before it is given up and reported.
DEFAULT_BUDGET = timedelta(minutes=15)

# Kinds the runners know (a transport registers a handler for each).
POST = "post"              # a message; payload: to, msg | view+data | text+blocks; result: ts, channel
UPDATE = "update"          # chat.update of a message firebreak posted; payload: ref (what message), view+data
SUMMARY = "summary"        # bring the pinned summary and the channel topic up to date
PROVISION = "provision"    # create (or adopt) the incident channel and record it
INVITE = "invite"          # add people to the incident channel; payload: users
EPHEMERAL = "ephemeral"    # a private note to one person in a channel; payload: channel, user, msg
PAGE = "page"              # a pager event; payload: event
UPLOAD = "upload"          # a file for the incident channel; payload: what ("postmortem" | "regulator"), actor


# A row written without building an ORM object (a side effect is recorded many times per command).
_T = Effect.__table__  # type: ignore[attr-defined]  # SQLModel's table
_INSERT = insert(_T)
# A keyed row: written unless its key is known, in one statement (the id comes back only when it was written).
_KEYED_COLUMNS = ("key", "incident_id", "lane", "kind", "payload", "after_id", "state", "attempts", "created_at",
                  "deadline", "result")
_INSERT_KEYED = insert_on_conflict(_T, _KEYED_COLUMNS, "key", returning="id")
_BY_KEY = select(_T.c.id).where(_T.c.key == bindparam("key"))


def user(user_id: str) -> str:
    return f"user:{user_id}"


def channel(channel_id: str) -> str:
    return f"channel:{channel_id}"


def now() -> datetime:
    """Retries run on real time, whatever clock the incident runs on (a tabletop's simulated clock)."""
    return datetime.now(UTC)


def lane_of(to: str, incident_id: int | None) -> str:
    if to == INCIDENT:
        return f"inc:{incident_id}"
    if to == ANNOUNCE:
        return "announce"
    return to  # user:U… / channel:C…


def record(session: Session, *, kind: str, lane: str, payload: dict[str, Any], created_at: datetime,
           incident_id: int | None = None, key: str | None = None, after: int | None = None,
           budget: timedelta = DEFAULT_BUDGET, kick: bool = True) -> int:
    """Record an effect in the caller's transaction; returns its id (the existing one for a known key).

    `kick=False`: the runner is not told at commit; for an effect recorded by a handler as its last act, which
    the runner looks for anyway when that handler finishes, a moment later."""
    conn = session.connection()
    row = {"key": (key or f"{lane}:{kind}:{uuid.uuid4().hex}")[:200], "incident_id": incident_id, "lane": lane,
           "kind": kind, "payload": payload, "after_id": after, "created_at": created_at, "deadline": now() + budget}
    if key is None:  # a fresh key: nothing recorded it before
        inserted = conn.execute(_INSERT, row).inserted_primary_key
        assert inserted is not None
        new_id = int(inserted[0])
    else:
        written = conn.execute(_INSERT_KEYED, row | {"state": PENDING, "attempts": 0, "result": {}}).scalar()
        if written is None:  # recorded before (or by a transaction that committed it meanwhile)
            return int(conn.execute(_BY_KEY, {"key": row["key"]}).scalar_one())
        new_id = int(written)
    if kick:
        session.info["effects"] = True  # the database kicks the runner once this transaction commits
    return new_id


def post(session: Session, incident_id: int | None, msg: Msg | None = None, *, created_at: datetime,
         to: str = INCIDENT, key: str | None = None, view: str | None = None, data: dict[str, Any] | None = None,
         after: int | None = None, then: str | None = None, thread_of: int | None = None) -> int:
    """A message for a place. Either `msg` (firebreak's markup, rendered by the transport) or a `view` (a named
    layout the transport renders from `data` when it posts). `then` names a completion callback that learns the
    message's ts (e.g. the runbook checklist keeps it to update the message later)."""
    payload: dict[str, Any] = {"to": to}
    if msg is not None:
        payload["msg"] = msg.to_json()
    if view is not None:
        payload["view"], payload["data"] = view, data or {}
    if then:
        payload["then"] = then
    lane = lane_of(to, incident_id)
    if thread_of is not None:
        # A reply waits for its parent (it needs its ts) and for nothing else: replies have lanes of their own,
        # so the notes of one command go out side by side, one round trip after the post they answer.
        payload["thread_of"] = thread_of
        lane, after = f"thread:{thread_of}:{uuid.uuid4().hex[:8]}", after or thread_of
    return record(session, kind=POST, lane=lane, payload=payload, incident_id=incident_id,
                  key=key, after=after, created_at=created_at)


def join(session: Session, effect_id: int) -> bool:
    """Join an effect still waiting to run, which renders the state as it is when it runs: True if it had not
    been claimed yet, so it will see what this transaction commits.

    The conditional write takes the row's lock, so the runner's claim (itself a conditional write on the same
    row) waits for this transaction to commit and then reads what it committed; if the runner claimed it first,
    this answers False and the caller records a new effect."""
    joined = session.execute(update(Effect).where(col(Effect.id) == effect_id, col(Effect.state) == PENDING)
                             .values(state=PENDING))
    return bool(rowcount(joined))


def summary(session: Session, incident_id: int, *, created_at: datetime) -> int:
    """Refresh the pinned summary and topic from the database. One waiting refresh is enough: it renders the
    state as it is when it runs, so a refresh already waiting covers this one too."""
    waiting, posted = session.exec(
        select(func.min(case((col(Effect.state) == PENDING, col(Effect.id)))),
               func.max(case((col(Effect.state) == DONE, col(Effect.id)))))
        .where(col(Effect.incident_id) == incident_id, col(Effect.kind) == SUMMARY)).one()
    if waiting is not None and join(session, int(waiting)):
        return int(waiting)
    # The first summary is posted in the channel's own lane, so it comes before the messages recorded after it;
    # once it exists, refreshes (chat.update) have a lane of their own and do not wait behind the channel's posts.
    lane = f"summary:{incident_id}" if posted is not None else f"inc:{incident_id}"
    return record(session, kind=SUMMARY, lane=lane, payload={}, incident_id=incident_id, created_at=created_at)


def provision(session: Session, incident_id: int, *, created_at: datetime) -> int:
    return record(session, kind=PROVISION, lane=f"provision:{incident_id}", payload={}, incident_id=incident_id,
                  key=f"inc-{incident_id}:provision", created_at=created_at)


def invite(session: Session, incident_id: int, users: list[str], *, created_at: datetime,
           key: str | None = None, after: int | None = None, members_of: str | None = None) -> int:
    """Add people to the incident channel: `users`, and the members of the channel `members_of` as they are
    when the invite runs (a tabletop's players are the people of its sandbox channel)."""
    payload: dict[str, Any] = {"users": sorted(set(users))}
    if members_of:
        payload["members_of"] = members_of
    return record(session, kind=INVITE, lane=f"invite:{incident_id}", payload=payload,
                  incident_id=incident_id, key=key, after=after, created_at=created_at)


def upload(session: Session, incident_id: int, what: str, *, actor: str, created_at: datetime,
           key: str | None = None) -> int:
    """A document rendered from the database when the upload runs (the postmortem draft), in the incident's
    channel lane: after the messages recorded before it."""
    return record(session, kind=UPLOAD, lane=lane_of(INCIDENT, incident_id), payload={"what": what, "actor": actor},
                  incident_id=incident_id, key=key, created_at=created_at)


def ephemeral(session: Session, incident_id: int | None, channel_id: str, user_id: str, msg: Msg, *,
              created_at: datetime, after: int | None = None, key: str | None = None) -> int:
    return record(session, kind=EPHEMERAL, lane=f"ephemeral:{user_id}",
                  payload={"channel": channel_id, "user": user_id, "msg": msg.to_json()}, incident_id=incident_id,
                  after=after, key=key, created_at=created_at)


def unfinished(session: Session, incident_id: int) -> list[Effect]:
    """Effects of an incident not yet done (pending, running or failed), oldest first."""
    return list(session.exec(select(Effect).where(Effect.incident_id == incident_id,
                                                  col(Effect.state).in_([PENDING, RUNNING, FAILED]))
                             .order_by(col(Effect.id))))
