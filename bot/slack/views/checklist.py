"""The runbook checklist in Slack: a compact message, one block per step, kept up to date in place.

Layout (each step one section; its menu is the section's overflow accessory):

    INC-7 runbook: Jailbreak / policy-bypass campaign                        (header)
    SEV2 · 3/19 done · 1 skipped · ⏰ 2 overdue · due times from the opening at 09:00 · `/incident step …`
    ⏰ `confirm-severity` Re-check severity: … — @maya (incident commander) · overdue (due 09:30)   [⋯]
    `collect-variants` Collect the variants in the wild: … — safety researcher — unassigned · due 11:00   [⋯]
    _optional_ · `kill-switch` If the bypass yields … — @maya (incident commander) · lever `kill-switch`   [⋯]
    Finished: ✅ `assign-roles` done by @maya at 09:04 / ⏩ `classify-vector` skipped by @lin: reason

Required steps come first (in phase order), optional ones after; finished steps share one section. The menu
offers Done, Skip… (a modal asks why), Assign… (a modal picks someone in the incident) and, when the step offers
a lever configured here, Pull lever… (exactly what `/incident contain <lever>` does). Its option values carry
only `<verb>:<step row id>`: the click is resolved on the server to its step and incident and checked against
the clicker. Every value from people or configuration goes through the text boundary; times are Slack date
tokens (each reader's zone, UTC fallback). A resolved incident's checklist has no menus.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session

from bot.core import incidents
from bot.core.facts import StepFact, StepState
from bot.core.incidents import exercise_tag
from bot.core.text import Code, Msg, Raw, User, When
from bot.runbooks import service
from bot.runbooks.loader import PHASES
from bot.slack.context import AppContext
from bot.slack.text import Mrkdwn, clip, clip_mrkdwn, escape, md, mrkdwn, plain_field
from bot.store.db import insert_on_conflict
from bot.store.models import Incident
from bot.store.models.runbook import DONE, PENDING, RunbookChecklist, RunbookStep

MENU_ACTION = "firebreak_step_menu"
DONE_VERB, SKIP_VERB, ASSIGN_VERB, LEVER_VERB = "done", "skip", "assign", "lever"
MENU = ((DONE_VERB, "Done"), (SKIP_VERB, "Skip…"), (ASSIGN_VERB, "Assign…"))
MAX_BLOCKS = 50
SECTION = 3000
HEADER = 150
STEP_TEXT = 300       # a step's instruction in the checklist (the full text: `/incident runbook`, the modals)
REASON_SHOWN = 120    # a skip reason in the checklist (the full reason: the timeline, the postmortem)
COMMANDS = "/incident step <id> done | skip <reason> | assign @user"


def option_value(verb: str, row: RunbookStep) -> str:
    return f"{verb}:{row.id}"


def lever_known(ctx: AppContext, name: str | None) -> bool:
    if not name or ctx.levers is None:
        return False
    try:
        return ctx.levers.get(name) is not None
    except (KeyError, LookupError):
        return False


# ----- Block Kit pieces (text passes the boundary: Mrkdwn as built here, anything else escaped) -----------------
def _section(text: Mrkdwn, *, accessory: dict[str, Any] | None = None, block_id: str | None = None) -> dict:
    block: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": clip_mrkdwn(text, SECTION)}}
    if accessory is not None:
        block["accessory"] = accessory
    if block_id is not None:
        block["block_id"] = block_id[:255]
    return block


def _context(text: Mrkdwn) -> dict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip_mrkdwn(text, SECTION)}]}


def _menu(row: RunbookStep, lever: bool) -> dict[str, Any]:
    options = [(verb, label) for verb, label in MENU] + ([(LEVER_VERB, "Pull lever…")] if lever else [])
    return {"type": "overflow", "action_id": MENU_ACTION,
            "options": [{"text": {"type": "plain_text", "text": label}, "value": option_value(verb, row)}
                        for verb, label in options]}


def _short(text: str, limit: int) -> str:
    return clip(" ".join(text.split()), limit)


# ----- what each step says ---------------------------------------------------------------------------------
def _when(at: datetime, now: datetime) -> When:
    """A time of today as a time; another day's with its date (the message is not re-rendered daily)."""
    return When(at, "time" if at.date() == now.date() else "datetime")


def _due(fact: StepFact, now: datetime) -> Msg | None:
    if fact.due_at is None:
        return None
    if fact.state == StepState.OVERDUE:
        return Msg.of(":alarm_clock: *overdue* (due {at})", at=_when(fact.due_at, now))
    return Msg.of("due {at}", at=_when(fact.due_at, now))


def _lever(ctx: AppContext, row: RunbookStep) -> Msg | None:
    if not row.lever:
        return None
    if lever_known(ctx, row.lever):
        return Msg.of("lever {lever}", lever=Code(row.lever))
    return Msg.of("lever {lever} (not configured here)", lever=Code(row.lever))


def pending_line(ctx: AppContext, row: RunbookStep, fact: StepFact, roles: dict[str, str], now: datetime) -> Msg:
    """One line: what to do, who owns it, when it is due (and the lever it offers)."""
    tail = [m for m in (service.owner(row, roles), _due(fact, now), _lever(ctx, row)) if m is not None]
    optional = Msg.of("_optional_ · ") if not row.required else None
    return Msg.join([optional, Msg.of("*{step}* {text} — ", step=Code(row.step_id), text=_short(row.text, STEP_TEXT)),
                     Msg.join(tail, sep=" · ")], sep="")


def finished_line(row: RunbookStep, now: datetime) -> Msg:
    mark, verb = (":white_check_mark:", "done") if row.state == DONE else (":fast_forward:", "skipped")
    at = Msg.of(" at {at}", at=_when(row.finished_at, now)) if row.finished_at else None
    why = Msg.of(": _{why}_", why=_short(row.reason, REASON_SHOWN)) if row.reason else None
    return Msg.join([Msg.of(mark + " ~{step}~ " + verb + " by {who}", step=Code(row.step_id),
                            who=User(row.finished_by or "")), at, why], sep="")


def _chunks(lines: Sequence[Mrkdwn], head: Mrkdwn) -> list[Mrkdwn]:
    """Lines packed into section texts of at most SECTION characters, the first under `head`."""
    out: list[Mrkdwn] = []
    current = head
    for line in lines:
        line = clip_mrkdwn(line, SECTION - len(head) - 1)
        if len(current) + 1 + len(line) > SECTION:
            out.append(current)
            current = line
        else:
            current = Mrkdwn(f"{current}\n{line}")
    out.append(current)
    return out


# ----- the message -----------------------------------------------------------------------------------------
def counts_text(counts: dict[str, int]) -> str:
    text = f"{counts['done']}/{counts['total']} done"
    text += f" · {counts['skipped']} skipped" if counts["skipped"] else ""
    text += f" · :alarm_clock: {counts['overdue']} overdue" if counts["overdue"] else ""
    return text


def render(ctx: AppContext, incident: Incident, rows: list[RunbookStep], judged: Sequence[StepFact],
           titles: list[str], roles: dict[str, str]) -> tuple[str, list[dict]]:
    """The checklist message: (fallback text, blocks), always within Block Kit's limits."""
    now = ctx.clock.now()
    counts = service.counts(judged)
    title = f"{exercise_tag(incident)}{incident.ref} runbook: " + (" + ".join(titles) or "none")
    blocks: list[dict] = [
        {"type": "header", "text": {"type": "plain_text", "text": clip(plain_field(title), HEADER), "emoji": True}},
        _context(md("{sev} · {counts} · due times count from the opening at {opened} · {cmd}", sev=incident.sev,
                    counts=Raw(Msg.of(counts_text(counts))), opened=When(incident.opened_at, "time"),
                    cmd=Code(COMMANDS))),
    ]
    facts = dict(zip((r.id for r in rows), judged, strict=True))
    pending = [r for r in rows if r.state == PENDING]
    pending.sort(key=lambda r: not r.required)  # required first; the sort is stable, so phase order stays
    finished = [mrkdwn(finished_line(r, now)) for r in rows if r.state != PENDING]
    tail = _chunks(finished, md("*Finished* ({n})", n=len(finished))) if finished else []
    if not rows:
        blocks.append(_section(md("No steps apply. {list} lists the runbooks; {use} attaches one.",
                                  list=Code("/incident runbooks"), use=Code("/incident runbook use <key>"))))
    if incident.is_open:
        room = MAX_BLOCKS - len(blocks) - len(tail)
        with_menu = pending if len(pending) <= room else pending[: max(room - 1, 0)]
        for row in with_menu:
            blocks.append(_section(mrkdwn(pending_line(ctx, row, facts[row.id], roles, now)),
                                   accessory=_menu(row, lever_known(ctx, row.lever)), block_id=f"step:{row.step_id}"))
        rest = pending[len(with_menu):]
        head = md("*More pending steps* (finish them with {cmd}):", cmd=Code("/incident step <id> done"))
    else:
        rest = pending
        head = md("*Not finished when {ref} was resolved* ({cmd} to work on them):", ref=incident.ref,
                  cmd=Code("/incident reopen"))
    if rest:
        lines = [mrkdwn(pending_line(ctx, r, facts[r.id], roles, now)) for r in rest]
        blocks.extend(_section(text) for text in _chunks(lines, head)[: MAX_BLOCKS - len(blocks) - len(tail)])
    blocks.extend(_section(text) for text in tail)
    fallback = escape(f"{title} — {counts_text(counts)}")
    return fallback, blocks[:MAX_BLOCKS]


def view(ctx: AppContext, session: Any, data: dict[str, Any]) -> tuple[str, list[dict]]:
    """The named view the effects runner renders when it posts or updates the checklist (state as of now)."""
    incident = session.get(Incident, data.get("incident"))
    if incident is None or incident.id is None:
        return "The runbook checklist of an incident that no longer exists.", []
    rows = service.steps(session, incident.id)
    roles = incidents.roles(session, incident.id)
    judged = service.judge(session, incident, ctx.clock.now(), roles, rows=rows)
    return render(ctx, incident, rows, judged, service.active_titles(session, incident.id), roles)


_C = RunbookChecklist.__table__  # type: ignore[attr-defined]  # SQLModel's table
# One statement (a repost moves the message; when it was first posted stays).
_KEEP = insert_on_conflict(_C, ("incident_id", "channel_id", "message_ts", "posted_at"), "incident_id",
                           update=("channel_id", "message_ts"))


def keep_ts(ctx: AppContext, job: Any, channel: str, ts: str) -> None:
    """After the checklist is posted (or posted again): remember where it lives."""
    if job.incident_id is None:
        return
    ctx.db.write_one(_KEEP, {"incident_id": job.incident_id, "channel_id": channel, "message_ts": ts,
                             "posted_at": ctx.clock.now()})


# ----- the checklist as text (`/incident runbook`) and in the pinned summary ------------------------------
def progress_text(ctx: AppContext, session: Session, incident: Incident) -> Mrkdwn:
    assert incident.id is not None
    rows = service.steps(session, incident.id)
    atts = service.active_attachments(session, incident.id)
    if not atts and not rows:
        return md("{ref} has no runbook attached. {list} lists them; {use} attaches one.", ref=incident.ref,
                  list=Code("/incident runbooks"), use=Code("/incident runbook use <key>"))
    roles = incidents.roles(session, incident.id)
    now = ctx.clock.now()
    judged = service.judge(session, incident, now, roles, rows=rows)
    facts = dict(zip((r.id for r in rows), judged, strict=True))
    c = service.counts(judged)
    names = Msg.join([Msg.of("{title} ({key})", title=a.title, key=Code(a.runbook_key)) for a in atts], sep=" + ")
    lines = [md("*{ref} runbook:* {names}", ref=incident.ref, names=Raw(names)),
             Mrkdwn(f"{c['done']}/{c['total']} done, {c['skipped']} skipped, {c['pending']} pending, "
                    f"{c['overdue']} overdue")]
    for phase, label in PHASES.items():
        items = [r for r in rows if r.phase == phase]
        if not items:
            continue
        lines.append(md("*{label}*", label=label))
        for row in items:
            if row.state == PENDING:
                lines.append(Mrkdwn(":white_square: ") + mrkdwn(pending_line(ctx, row, facts[row.id], roles, now)))
            else:
                lines.append(mrkdwn(finished_line(row, now)))
    return Mrkdwn("\n").join(lines)


def summary_section(ctx: AppContext, session: Session, incident: Incident) -> list[dict]:
    """One line in the pinned summary: the runbooks in use, steps finished, steps overdue."""
    assert incident.id is not None
    names = service.active_titles(session, incident.id)
    if not names:
        return []
    c = service.counts(service.judge(session, incident, ctx.clock.now()))
    late = f" · :alarm_clock: {c['overdue']} overdue" if c["overdue"] else ""
    return [_section(md("*Runbook* {names}: {finished}/{total} steps finished" + late, names=" + ".join(names),
                        finished=c["done"] + c["skipped"], total=c["total"]))]
