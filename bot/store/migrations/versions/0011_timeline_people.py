"""timeline people: stored text names people as `@U…` with their ids listed in the event's data, not as markup

Earlier versions wrote people into timeline text as `<@U…>` (and escalation groups as `<!subteam^S…>`).
Each such token becomes `@U…` (a group `@S…`, or its label) and the people's ids are added to the event's
`data.people`, so renderers keep naming exactly those people and text a person typed stays text.

Revision ID: 0011_timeline_people
Revises: 0010_alerts
Create Date: 2026-11-26 07:10:00
"""
import json
import re

import sqlalchemy as sa
from alembic import op

revision = '0011_timeline_people'
down_revision = '0010_alerts'
branch_labels = None
depends_on = None

PERSON = re.compile(r"<@([UW][A-Z0-9]{2,})(?:\|[^<>]*)?>")
GROUP = re.compile(r"<!subteam\^([A-Z0-9]+)(?:\|([^<>]*))?>")


def _data(value: object) -> dict:
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, str) and value:
        loaded = json.loads(value)
        return loaded if isinstance(loaded, dict) else {}
    return {}


def _table() -> sa.TableClause:
    return sa.table('timeline_event', sa.column('id', sa.Integer()), sa.column('text', sa.String()),
                    sa.column('data', sa.JSON()))


def upgrade() -> None:
    bind = op.get_bind()
    table = _table()
    rows = bind.execute(sa.select(table.c.id, table.c.text, table.c.data)
                        .where(sa.or_(table.c.text.like('%<@%'), table.c.text.like('%<!subteam^%')))).all()
    for row_id, text, data in rows:
        people = sorted(set(PERSON.findall(text)))
        new_text = PERSON.sub(lambda m: "@" + m.group(1), text)
        new_text = GROUP.sub(lambda m: m.group(2) if (m.group(2) or "").startswith("@") else "@" + m.group(1),
                             new_text)
        new_data = _data(data)
        if people:
            new_data["people"] = sorted(set(new_data.get("people") or []) | set(people))
        bind.execute(table.update().where(table.c.id == row_id).values(text=new_text, data=new_data))


def downgrade() -> None:
    bind = op.get_bind()
    table = _table()
    rows = bind.execute(sa.select(table.c.id, table.c.text, table.c.data).where(table.c.text.like('%@%'))).all()
    for row_id, text, data in rows:
        old = _data(data)
        people = set(old.pop("people", None) or [])
        if not people:
            continue
        back = re.sub(r"@([UW][A-Z0-9]{2,})\b", lambda m: f"<@{m.group(1)}>" if m.group(1) in people
                      else m.group(0), text)
        bind.execute(table.update().where(table.c.id == row_id).values(text=back, data=old))
