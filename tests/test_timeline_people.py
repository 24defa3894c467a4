"""The timeline stores plain text and people's ids: firebreak's own mentions of people are listed by id on the
event and rendered as mentions (Slack) or names (files); text a person typed is never turned into a mention.
Rows written before (Slack's `<@U…>` in the text) are moved to the same form by migration 0011, on SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import insert
from sqlmodel import select

import bot.store.models  # noqa: F401 - registers every table
from bot.core import timeline
from bot.postmortem import render_draft
from bot.slack.harness import Harness
from bot.store.db import Database
from bot.store.migrate import alembic_config, upgrade
from bot.store.models import Incident, TimelineEvent
from tests.helpers import open_incident


def _events(h: Harness, kind: str) -> list[TimelineEvent]:
    with h.ctx.db.session() as s:
        return timeline.events(s, 1, kinds=[kind])


def test_people_firebreak_names_are_ids_and_typed_text_stays_text(harness: Harness) -> None:
    h = harness
    ch = open_incident(h)
    h.command("ic <@U0BOB|bob>", channel=ch)
    role = _events(h, "role_assigned")[0]
    assert role.text == "Incident commander: @U0BOB" and role.data["people"] == ["U0BOB"]
    assert "<" not in _events(h, "acknowledged")[0].text
    # Someone types a literal `<@U0CEO>` (Slack sends it escaped): it is kept as typed and shown as typed.
    h.command("timeline add ask &lt;@U0CEO&gt; and @U0CEO before the press call", channel=ch)
    note = _events(h, "note")[-1]
    assert note.text.endswith("ask <@U0CEO> and @U0CEO before the press call")
    assert "people" not in (note.data or {})
    shown = h.command("timeline", channel=ch).raw_text       # as Slack gets it, before it shows entities
    assert "Incident commander: <@U0BOB>" in shown            # firebreak's mention stays a live mention
    assert "ask &lt;@U0CEO&gt; and @U0CEO before" in shown    # the typed text is text: nobody is pinged
    assert "<@U0CEO>" not in shown


def test_files_name_the_people_of_an_event(harness: Harness) -> None:
    h = harness
    ch = open_incident(h)
    h.command("ic <@U0BOB>", channel=ch)
    h.command("timeline add ask @U0BOB about it", channel=ch)
    draft = render_draft(h.ctx, 1, names=lambda uid: {"U0BOB": "@bob"}.get(uid, f"@{uid}"))
    assert "Incident commander: @bob" in draft
    assert "ask @U0BOB about it" in draft  # typed text, not a reference firebreak made


def test_migration_moves_slack_tokens_out_of_stored_text(db_url: str) -> None:
    db = Database(db_url)
    t0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    try:
        upgrade(db.engine, "0010_alerts")
        with db.engine.begin() as conn:
            conn.execute(insert(Incident.__table__).values(
                title="t", category="jailbreak", severity=2, status="active", is_exercise=False,
                reporter_id="U0ALICE", detected_at=t0, opened_at=t0))
            conn.execute(insert(TimelineEvent.__table__), [
                {"incident_id": 1, "at": t0, "actor": "U0ALICE", "kind": "role_assigned",
                 "text": "Incident commander: <@U0BOB> (was <@U0CAROL|carol>)", "data": {"role": "ic"}},
                {"incident_id": 1, "at": t0, "actor": "U0ALICE", "kind": "escalation_notified",
                 "text": "Notified <@U0DPO> <!subteam^S0LEGAL|@legal>, <!subteam^S0SEC>", "data": {}},
                {"incident_id": 1, "at": t0, "actor": "U0ALICE", "kind": "note", "text": "plain words", "data": {}},
            ])
        upgrade(db.engine)
        with db.session() as s:
            rows = list(s.exec(select(TimelineEvent).order_by(TimelineEvent.id)))
        assert [(r.text, r.data) for r in rows] == [
            ("Incident commander: @U0BOB (was @U0CAROL)", {"role": "ic", "people": ["U0BOB", "U0CAROL"]}),
            ("Notified @U0DPO @legal, @S0SEC", {"people": ["U0DPO"]}),
            ("plain words", {}),
        ]
        assert timeline.shown(rows[0], lambda uid: f"<@{uid}>") == "Incident commander: <@U0BOB> (was <@U0CAROL>)"
        with db.engine.begin() as conn:  # and back: the people's ids become Slack's tokens again
            command.downgrade(alembic_config(connection=conn), "0010_alerts")
            back = conn.execute(select(TimelineEvent.text, TimelineEvent.data)
                                .order_by(TimelineEvent.id)).all()  # type: ignore[arg-type]
        assert [tuple(r) for r in back][0] == ("Incident commander: <@U0BOB> (was <@U0CAROL>)", {"role": "ic"})
    finally:
        db.engine.dispose()
