"""Follow-up action items: add, complete, list. Plain functions over a session; callers commit."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from bot.core import timeline
from bot.core.clock import Clock
from bot.core.errors import Conflict, NotFound, UsageError
from bot.core.text import Msg, User
from bot.store.models import ActionItem, Incident

ADD_USAGE = "/incident action add <text> [@owner] [due: 2026-02-01 or 7d]"
DONE_USAGE = "/incident action done <n>"
DUE_FORMS = "a date like 2026-02-01 or a time from now like 3d or 2w"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_RELATIVE = re.compile(r"^(\d+)([dw])$")
MAX_TEXT = 500


def parse_due(token: str, today: date) -> date | None:
    """A due date from `2026-02-01`, `3d` or `2w`; None when the token is not a due date at all."""
    token = token.strip().lower().removeprefix("due:")
    if _DATE.match(token):
        try:
            return date.fromisoformat(token)
        except ValueError:
            raise UsageError(f"`{token}` is not a real date; give {DUE_FORMS}.", usage=ADD_USAGE) from None
    m = _RELATIVE.match(token)
    if m:
        days = int(m.group(1)) * (7 if m.group(2) == "w" else 1)
        return today + timedelta(days=days)
    return None


def parse_add(args: str, today: date, mentions: Mapping[str, str]) -> tuple[str, str | None, date | None]:
    """`<text> [@owner] [due]` -> (text, owner id, due date). `mentions`: each `@name` typed -> its user id."""
    tokens = args.split()
    owners = [mentions[w] for w in tokens if w in mentions]
    if len(set(owners)) > 1:
        raise UsageError("An action item has one owner; mention only one person.", usage=ADD_USAGE)
    words = [w for w in tokens if w not in mentions]
    due = None
    if words:
        last = words[-1]
        explicit = last.lower().startswith("due:")
        due = parse_due(last, today)
        if due is not None:
            words = words[:-1]
        elif explicit:
            raise UsageError(f"`{last}` is not a due date; give {DUE_FORMS}.", usage=ADD_USAGE)
    if due is not None and due < today:
        raise UsageError(f"The due date {due.isoformat()} is in the past.", usage=ADD_USAGE)
    text = " ".join(words)
    if not text:
        raise UsageError("Say what needs doing, e.g. `/incident action add Add an eval for this jailbreak "
                         "@alice 2w`.", usage=ADD_USAGE)
    if len(text) > MAX_TEXT:
        raise UsageError(f"The action item is {len(text)} characters; keep it under {MAX_TEXT}.", usage=ADD_USAGE)
    return text, (owners[0] if owners else None), due


def add(session: Session, clock: Clock, incident: Incident, text: str, *, owner: str | None, due: date | None,
        actor: str) -> ActionItem:
    assert incident.id is not None  # a stored incident
    last = session.exec(select(func.max(ActionItem.number)).where(ActionItem.incident_id == incident.id)).one()
    item = ActionItem(incident_id=incident.id, number=(last or 0) + 1, text=text, owner=owner, due=due,
                      created_at=clock.now(), created_by=actor)
    session.add(item)
    session.flush()
    said = Msg.of("Action item #{n}: {text}" + (" (owner {owner})" if owner else "") + (" due {due}" if due else ""),
                  n=item.number, text=text, owner=User(owner or ""), due=due.isoformat() if due else "")
    timeline.record(session, clock, incident.id, "action_added", said,
                    actor=actor, data={"number": item.number, "owner": owner,
                                       "due": due.isoformat() if due else None})
    return item


def parse_number(text: str) -> int:
    raw = text.strip().lstrip("#")
    if not raw.isdigit() or int(raw) < 1:
        raise UsageError(f"`{text}` is not an action item number; `/incident actions` lists them.",
                         usage=DONE_USAGE)
    return int(raw)


def complete(session: Session, clock: Clock, incident: Incident, number: int, *, actor: str) -> ActionItem:
    assert incident.id is not None  # a stored incident
    item = session.exec(select(ActionItem).where(ActionItem.incident_id == incident.id,
                                                 ActionItem.number == number).with_for_update()).first()
    if item is None:
        raise NotFound(f"{incident.ref} has no action item #{number}; `/incident actions` lists them.")
    if item.done_at is not None:
        raise Conflict(f"Action item #{number} was already done on {item.done_at:%Y-%m-%d}.")
    item.done_at, item.done_by = clock.now(), actor
    session.add(item)
    timeline.record(session, clock, incident.id, "action_done", f"Action item #{number} done: {item.text}",
                    actor=actor, data={"number": number})
    return item


def items(session: Session, incident_id: int) -> list[ActionItem]:
    query = select(ActionItem).where(ActionItem.incident_id == incident_id).order_by(col(ActionItem.number))
    return list(session.exec(query))


def overdue(item: ActionItem, now: datetime) -> bool:
    return item.due is not None and item.done_at is None and item.due < now.date()
