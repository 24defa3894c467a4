"""The Slack face of an incident's runbook: the interactive checklist message, kept up to date in place.

Pending steps carry buttons (Done, Skip…, Assign…, and the containment lever when one is configured);
finished steps collapse into one line each under their phase. When the checklist would pass Block Kit's 50
blocks, the later pending steps are listed as text with the command that finishes them.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from datetime import datetime
from typing import Any

from slack_sdk.errors import SlackApiError, SlackClientError

from bot.core import incidents
from bot.runbooks import service
from bot.runbooks.loader import PHASES
from bot.slack import ops, render
from bot.slack.context import AppContext
from bot.store.models import Incident
from bot.store.models.runbook import DONE, PENDING, RunbookChecklist, RunbookStep

DONE_ACTION = "firebreak_step_done"
SKIP_ACTION = "firebreak_step_skip"
ASSIGN_ACTION = "firebreak_step_assign"
LEVER_ACTION = "firebreak_lever_pull"  # handled by the containment feature
_locks: dict[int, threading.Lock] = defaultdict(threading.Lock)
_guard = threading.Lock()


def step_value(incident_id: int, step_id: str) -> str:
    return json.dumps({"incident": incident_id, "step": step_id}, separators=(",", ":"))


def lever_known(ctx: AppContext, name: str) -> bool:
    levers = ctx.levers
    if levers is None:
        return False
    try:
        return levers.get(name) is not None
    except (KeyError, LookupError):
        return False


def due_text(row: RunbookStep, now: datetime) -> str:
    if row.due_at is None:
        return "no due time"
    if row.state == PENDING and row.due_at <= now:
        return f":alarm_clock: *overdue* (due {_at(row.due_at, now)})"
    return f"due {_at(row.due_at, now)}"


def _at(moment: datetime, now: datetime) -> str:
    """Absolute times only: the message is not re-rendered every minute, so "in 5m" would go stale."""
    return f"{moment:%H:%M} UTC" if moment.date() == now.date() else f"{moment:%a %d %b %H:%M} UTC"


def _finished_line(row: RunbookStep) -> str:
    mark = ":white_check_mark:" if row.state == DONE else ":fast_forward:"
    verb = "done" if row.state == DONE else "skipped"
    at = f"{row.finished_at:%H:%M}" if row.finished_at else "?"
    why = f": _{render.clip(row.reason or '', 200)}_" if row.reason else ""
    return f"{mark} ~`{row.step_id}`~ {render.clip(row.text, 120)} — {verb} by <@{row.finished_by}> at {at}{why}"


def _pending_text(row: RunbookStep, roles: dict[str, str], now: datetime, lever_line: str) -> str:
    need = "" if row.required else " _(optional)_"
    return render.clip(f"*`{row.step_id}`*{need} {row.text}\n"
                       f"Owner: {service.owner_label(row, roles)} · {due_text(row, now)}{lever_line}")


def blocks_for(ctx: AppContext, session: Any, incident: Incident, *, rows: list[RunbookStep] | None = None,
               titles: list[str] | None = None) -> tuple[str, list[dict]]:
    """The checklist message: (fallback text, blocks). `rows`/`titles`: the steps and runbook titles when
    the caller already read them."""
    assert incident.id is not None
    now = ctx.clock.now()
    if rows is None:
        rows = service.steps(session, incident.id)
    roles = incidents.roles(session, incident.id)
    if titles is None:
        titles = service.active_titles(session, incident.id)
    p = service.progress(rows, now)
    tag = "[EXERCISE] " if incident.is_exercise else ""
    title = f"{tag}{incident.ref} runbook: " + (" + ".join(titles) or "none")
    counts = f"{p['done']}/{p['total']} done" + (f" · {p['skipped']} skipped" if p["skipped"] else "")
    counts += f" · :alarm_clock: {p['overdue']} overdue" if p["overdue"] else ""
    blocks: list[dict] = [
        render.header(title),
        render.context(f"{incident.sev} · {counts} · due times count from the opening at "
                       f"{incident.opened_at:%H:%M} UTC · `/incident step <id> done|skip <reason>|assign @user`"),
    ]
    by_phase: dict[str, list[RunbookStep]] = defaultdict(list)
    for row in rows:
        by_phase[row.phase].append(row)
    pending_total = sum(1 for r in rows if r.state == PENDING)
    # Fixed blocks: 2 above, one per phase, one spare for the overflow note. Each pending step with buttons: 2.
    room = render.MAX_BLOCKS - len(blocks) - len(by_phase) - 1
    with_buttons = min(pending_total, max(room, 0) // 2) if incident.is_open else 0
    shown = 0
    overflow: list[str] = []
    for phase, label in PHASES.items():
        items = by_phase.get(phase)
        if not items:
            continue
        done_lines = [_finished_line(r) for r in items if r.state != PENDING]
        left = sum(1 for r in items if r.state == PENDING)
        head = f"*{label}*" + (" — all steps finished" if not left else "")
        blocks.append(render.section("\n".join([head, *done_lines])))
        for row in items:
            if row.state != PENDING:
                continue
            lever_line = ""
            lever_button = None
            if row.lever:
                if lever_known(ctx, row.lever):
                    lever_button = render.button(
                        f"Pull lever: {row.lever}", LEVER_ACTION,
                        json.dumps({"incident": incident.id, "lever": row.lever, "step": row.step_id},
                                   separators=(",", ":")), style="danger")
                    lever_line = f"\nContainment lever: `{row.lever}`"
                else:
                    lever_line = f"\nLever `{row.lever}` — not configured here"
            if shown >= with_buttons:
                overflow.append(f"• `{row.step_id}` — {render.clip(row.text, 100)} "
                                f"({service.owner_label(row, roles)}, {due_text(row, now)})")
                continue
            shown += 1
            value = step_value(incident.id, row.step_id)
            section = render.section(_pending_text(row, roles, now, lever_line),
                                     accessory=render.button("Done", DONE_ACTION, value, style="primary"))
            section["block_id"] = f"step:{row.step_id}"
            blocks.append(section)
            actions = [render.button("Skip…", SKIP_ACTION, value), render.button("Assign…", ASSIGN_ACTION, value)]
            if lever_button:
                actions.append(lever_button)
            blocks.append({"type": "actions", "block_id": f"step-actions:{row.step_id}", "elements": actions})
    if overflow:
        head = ("*More pending steps* (finish them with `/incident step <id> done`):" if incident.is_open
                else f"*Not finished when {incident.ref} was resolved* (`/incident reopen` to work on them):")
        text = head + "\n" + "\n".join(overflow)
        blocks.append(render.section(render.clip(text)))
    if not rows:
        blocks.append(render.section("No steps apply. `/incident runbooks` lists the runbooks; "
                                     "`/incident runbook use <key>` attaches one."))
    fallback = f"{title} — {counts}"
    return fallback, render.cap_blocks(blocks)


def _lock(incident_id: int) -> threading.Lock:
    with _guard:
        return _locks[incident_id]


def publish(ctx: AppContext, incident_id: int) -> str | None:
    """Post the checklist, or update it in place when it was posted before. Returns the message ts."""
    with _lock(incident_id):
        with ctx.db.session() as session:
            incident = incidents.get(session, incident_id)
            titles = service.active_titles(session, incident_id)
            rows = service.steps(session, incident_id)
            if not titles and not rows:
                return None
            text, blocks = blocks_for(ctx, session, incident, rows=rows, titles=titles)
            record = session.get(RunbookChecklist, incident_id)
            channel = incident.channel_id
            ts = record.message_ts if record else None
            if incident.is_exercise and not text.startswith("[EXERCISE]"):
                text = "[EXERCISE] " + text
        if not channel:
            return None
        if ts:
            try:
                ctx.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
                return ts
            except SlackApiError as err:
                if ops.slack_error_text(err) != "message_not_found":
                    ops.safe_call(ctx, incident_id, "chat.update (runbook checklist)", _raise, err=err)
                    return None
            except (SlackClientError, OSError) as err:
                ops.safe_call(ctx, incident_id, "chat.update (runbook checklist)", _raise, err=err)
                return None
            # Someone deleted the checklist message: post a fresh one.
            with ctx.db.session() as session:
                record = session.get(RunbookChecklist, incident_id)
                if record is not None:
                    session.delete(record)
        ts = ops.post_now(ctx, incident_id, channel, text, blocks, what="chat.postMessage (runbook checklist)")
        if ts:
            with ctx.db.session() as session:
                session.add(RunbookChecklist(incident_id=incident_id, channel_id=channel, message_ts=ts,
                                             posted_at=ctx.clock.now()))
        return ts


def _raise(err: Exception) -> None:
    raise err


def progress_text(ctx: AppContext, session: Any, incident: Incident) -> str:
    """`/incident runbook` with no arguments: the checklist as text."""
    assert incident.id is not None
    now = ctx.clock.now()
    rows = service.steps(session, incident.id)
    roles = incidents.roles(session, incident.id)
    atts = service.active_attachments(session, incident.id)
    if not atts and not rows:
        return (f"{incident.ref} has no runbook attached. `/incident runbooks` lists them; "
                "`/incident runbook use <key>` attaches one.")
    p = service.progress(rows, now)
    lines = [f"*{incident.ref} runbook:* " + " + ".join(f"{a.title} (`{a.runbook_key}`)" for a in atts),
             f"{p['done']}/{p['total']} done, {p['skipped']} skipped, {p['pending']} pending, "
             f"{p['overdue']} overdue"]
    for phase, label in PHASES.items():
        items = [r for r in rows if r.phase == phase]
        if not items:
            continue
        lines.append(f"*{label}*")
        for row in items:
            if row.state == PENDING:
                lines.append(f":white_square: `{row.step_id}` {render.clip(row.text, 140)} — "
                             f"{service.owner_label(row, roles)}, {due_text(row, now)}")
            else:
                lines.append(_finished_line(row))
    return "\n".join(lines)


def summary_section(ctx: AppContext, session: Any, incident: Incident) -> list[dict]:
    """One line in the pinned incident summary. Re-rendered on every change to the incident, so it reads only
    the columns it shows: the attached runbooks' titles, then each live step's state and due time."""
    assert incident.id is not None
    names = service.active_titles(session, incident.id)
    if not names:
        return []
    p = service.step_counts(session, incident.id, ctx.clock.now())
    late = f" · :alarm_clock: {p['overdue']} overdue" if p["overdue"] else ""
    return [render.section(f"*Runbook* {' + '.join(names)}: {p['done'] + p['skipped']}/{p['total']} steps finished"
                           f"{late}")]
