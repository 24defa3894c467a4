"""Large histories, written straight to the bot's database (the bot keeps running; SQLite waits on its
busy timeout). Rows are built as the models build them, then inserted in batches."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

BATCH = 5000
CATEGORIES = ("harmful_content", "jailbreak", "data_leakage", "prompt_injection", "hallucination_high_stakes",
              "bias", "model_regression", "agent_tool_misuse", "other")


@contextmanager
def database(url: str) -> Iterator:
    from bot.store.db import Database

    db = Database(url, pool_size=1)
    try:
        yield db
    finally:
        db.dispose()


def open_incidents(url: str, total_open: int) -> int:
    """Open incidents (through the domain's open_incident) until `total_open` are open; returns how many."""
    from bot.core import incidents
    from bot.core.clock import SystemClock
    from bot.core.severity import load_rules
    from bot.slack.commands.open import parse_open

    rules, clock = load_rules(None), SystemClock()
    with database(url) as db:
        with db.session() as s:
            have = incidents.count_open(s)
        for start in range(have, total_open, 200):
            with db.session() as s:
                for k in range(start, min(start + 200, total_open)):
                    req = parse_open(rules, f"Seeded incident {k} classifier regression --sev {1 + k % 4}", "U0SEED")
                    incidents.open_incident(s, clock, rules, req)
        with db.session() as s:
            return incidents.count_open(s)


def history(url: str, count: int, *, now: datetime | None = None, seed: int = 8) -> int:
    """Add `count` resolved incidents over the last two years, with every key time; returns the total."""
    from sqlmodel import func, select

    from bot.core import facts
    from bot.store.models import Incident
    from bot.store.models.incident import RESOLVED

    rnd = random.Random(seed)
    now = now or datetime.now(UTC)
    with database(url) as db:
        for start in range(0, count, BATCH):
            rows = []
            for k in range(start, min(start + BATCH, count)):
                opened = now - timedelta(days=rnd.uniform(1, 730))
                detected = opened - timedelta(minutes=rnd.expovariate(1 / 45))
                acked = opened + timedelta(minutes=rnd.expovariate(1 / 8))
                contained = acked + timedelta(minutes=rnd.expovariate(1 / 90))
                resolved = contained + timedelta(hours=rnd.expovariate(1 / 12))
                row = Incident(
                    title=f"Historical incident {k}", category=rnd.choice(CATEGORIES), severity=rnd.choice((1, 2, 3, 3, 4, 4)),
                    status=RESOLVED, reporter_id="U0HIST", detected_at=detected, opened_at=opened,
                    acknowledged_at=acked, contained_at=contained, resolved_at=resolved, resolution="seeded",
                    is_exercise=k % 50 == 0,
                )
                facts.fill(row)  # the stored intervals the lifecycle would have written
                rows.append(row.model_dump(exclude={"id"}))
            with db.session() as s:
                s.execute(insert(Incident), rows)
        with db.session() as s:
            return s.exec(select(func.count()).select_from(Incident)).one()


def timeline(url: str, incident_id: int, count: int, *, seed: int = 5) -> int:
    """Append `count` events (status updates, notes, role changes) to one incident; returns its event count."""
    from sqlmodel import func, select

    from bot.store.models import TimelineEvent

    rnd = random.Random(seed)
    kinds = (("status_update", "Status: mitigation in progress, next update in 30 min"),
             ("note", "Checked the classifier logs for the affected window"),
             ("note", "Customer support reports two more cases"),
             ("role_assigned", "Scribe assigned"))
    users = [f"U0TL{i:03d}" for i in range(20)]
    start = datetime.now(UTC) - timedelta(hours=count / 60)
    with database(url) as db:
        for first in range(0, count, BATCH):
            rows = []
            for k in range(first, min(first + BATCH, count)):
                kind, text = rnd.choice(kinds)
                data = {"role": "scribe", "user": rnd.choice(users)} if kind == "role_assigned" else {}
                rows.append({"incident_id": incident_id, "at": start + timedelta(seconds=60 * k),
                             "actor": rnd.choice(users), "kind": kind, "text": f"{text} ({k})", "data": data})
            with db.session() as s:
                s.execute(insert(TimelineEvent), rows)
        with db.session() as s:
            return s.exec(select(func.count()).select_from(TimelineEvent)
                          .where(TimelineEvent.incident_id == incident_id)).one()
