"""intervals: the four response intervals stored on the incident, indexed for the metrics

Revision ID: 0009_intervals
Revises: 0008_effects
Create Date: 2026-11-26 09:00:00

Adds `mttd_seconds`, `mtta_seconds`, `mttc_seconds`, `mttr_seconds` (whole seconds, exercise pauses
taken out, NULL until the interval ends), `opened_week` (the UTC Monday of opened_at) and the covering
indexes the metrics read, then fills the columns for existing incidents. The backfill keeps its own copy of the rule (bot.core.facts at the time of this
migration) so that later changes to the code cannot change what this revision did.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from alembic import op

import bot.store.db

revision = '0009_intervals'
down_revision = '0008_effects'
branch_labels = None
depends_on = None

INTERVALS = {  # metric -> (start column, end column)
    "mttd": ("detected_at", "opened_at"),
    "mtta": ("opened_at", "acknowledged_at"),
    "mttc": ("detected_at", "contained_at"),
    "mttr": ("detected_at", "resolved_at"),
}
BATCH = 2000


def _indexes() -> list[tuple[str, list[str]]]:
    out = [("ix_incident_metric_groups",
            ["is_exercise", "severity", "category", "opened_at", *(f"{m}_seconds" for m in INTERVALS)])]
    for m in INTERVALS:
        out.append((f"ix_incident_{m}_by_group", ["is_exercise", "severity", "category", f"{m}_seconds",
                                                  "opened_at"]))
        out.append((f"ix_incident_{m}_by_value", ["is_exercise", f"{m}_seconds", "severity", "category",
                                                  "opened_at"]))
    out.append(("ix_incident_mttc_by_week", ["is_exercise", "opened_week", "severity", "mttc_seconds", "category",
                                             "opened_at"]))
    return out


def upgrade() -> None:
    with op.batch_alter_table('incident', schema=None) as batch_op:
        for m in INTERVALS:
            batch_op.add_column(sa.Column(f'{m}_seconds', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('opened_week', sa.Date(), nullable=True))
    with op.batch_alter_table('incident', schema=None) as batch_op:
        for name, columns in _indexes():
            batch_op.create_index(name, columns, unique=False)
    _backfill(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table('incident', schema=None) as batch_op:
        for name, _columns in reversed(_indexes()):
            batch_op.drop_index(name)
        batch_op.drop_column('opened_week')
        for m in reversed(list(INTERVALS)):
            batch_op.drop_column(f'{m}_seconds')


# ----- the backfill --------------------------------------------------------------------------------------------
def _pauses(kinds_at: Iterable[tuple[str, datetime]]) -> list[tuple[datetime, datetime | None]]:
    out: list[tuple[datetime, datetime | None]] = []
    since = None
    for kind, at in sorted(kinds_at, key=lambda x: x[1]):
        if kind == "exercise_paused" and since is None:
            since = at
        elif kind == "exercise_resumed" and since is not None:
            out.append((since, at))
            since = None
    if since is not None:
        out.append((since, None))
    return out


def _active(start: datetime, end: datetime, pauses: list[tuple[datetime, datetime | None]]) -> int:
    paused = timedelta(0)
    for p_start, p_end in pauses:
        lo, hi = max(start, p_start), min(end, p_end or end)
        if hi > lo:
            paused += hi - lo
    return int(((end - start) - paused).total_seconds())


def _monday(ts: datetime) -> date:
    return (ts - timedelta(days=ts.weekday())).date()


def _backfill(conn: sa.engine.Connection) -> None:
    utc = bot.store.db.UTCDateTime(timezone=True)
    incident = sa.table("incident", sa.column("id", sa.Integer), sa.column("is_exercise", sa.Boolean),
                        *(sa.column(c, utc) for c in ("detected_at", "opened_at", "acknowledged_at",
                                                      "contained_at", "resolved_at")),
                        *(sa.column(f"{m}_seconds", sa.Integer) for m in INTERVALS),
                        sa.column("opened_week", sa.Date))
    events = sa.table("timeline_event", sa.column("incident_id", sa.Integer), sa.column("kind", sa.String),
                      sa.column("at", utc))
    update = (incident.update().where(incident.c.id == sa.bindparam("row_id"))
              .values({**{f"{m}_seconds": sa.bindparam(f"v_{m}") for m in INTERVALS},
                       "opened_week": sa.bindparam("v_week")}))
    last = 0
    while True:
        rows = conn.execute(sa.select(incident).where(incident.c.id > last).order_by(incident.c.id)
                            .limit(BATCH)).mappings().all()
        if not rows:
            return
        last = rows[-1]["id"]
        exercise_ids = [r["id"] for r in rows if r["is_exercise"]]
        paused: dict[int, list[tuple[str, datetime]]] = {}
        if exercise_ids:
            query = sa.select(events.c.incident_id, events.c.kind, events.c.at).where(
                events.c.incident_id.in_(exercise_ids),
                events.c.kind.in_(("exercise_paused", "exercise_resumed")))
            for incident_id, kind, at in conn.execute(query):
                paused.setdefault(incident_id, []).append((kind, at))
        params = []
        for r in rows:
            pauses = _pauses(paused.get(r["id"], []))
            values = {"row_id": r["id"], "v_week": _monday(r["opened_at"])}
            for m, (start, end) in INTERVALS.items():
                values[f"v_{m}"] = None if r[end] is None else _active(r[start], r[end], pauses)
            params.append(values)
        conn.execute(update, params)
