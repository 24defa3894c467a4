"""Block Kit for containment: the lever list, the confirmation (modal, or buttons when no modal can be opened),
the on-resolve question, and the pinned summary's Levers section.

Every value that is not firebreak's own words (a lever's description or plan, a reason someone typed) goes
through `md(...)`, so it is shown as text; people and times are live mentions and date tokens. Buttons carry
only an opaque token or a row id: what they act on is looked up on the server when they are clicked.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from bot.containment.records import actions, current_action, state_label
from bot.containment.service import ContainmentService, Prepared
from bot.containment.spec import Lever
from bot.core import facts, incidents, limits
from bot.core.durations import format_duration
from bot.core.text import Code, Msg, Raw, User, When
from bot.slack import render
from bot.slack.context import AppContext
from bot.slack.text import Mrkdwn, clip_mrkdwn, md, mrkdwn
from bot.store.models import ContainmentAction, Incident
from bot.store.models.incident import RESOLVED

CONFIRM_VIEW = "firebreak_lever_confirm"
CONFIRM_BUTTON = "firebreak_lever_confirm_button"
CANCEL_BUTTON = "firebreak_lever_cancel"
REVERT_ACTION = "firebreak_lever_revert"
LEAVE_ACTION = "firebreak_lever_leave"
REASON_BLOCK = "reason"
SECTION_LIMIT = render.MAX_SECTION_TEXT


def sections(lines: list[Mrkdwn], title: Mrkdwn | None = None) -> list[dict[str, Any]]:
    """Lines packed into as few sections as Slack's 3,000-character limit allows (never split mid-line)."""
    out: list[dict[str, Any]] = []
    current = title or Mrkdwn("")
    for line in lines:
        line = clip_mrkdwn(line, SECTION_LIMIT - 100)
        if current and len(current) + 1 + len(line) > SECTION_LIMIT:
            out.append(render.section(current))
            current = Mrkdwn("")
        current = Mrkdwn(f"{current}\n{line}" if current else line)
    if current:
        out.append(render.section(current))
    return out


# ----- /incident levers -------------------------------------------------------------------------------------
def lever_list(svc: ContainmentService, session: Session, incident: Incident) -> tuple[Mrkdwn, list[dict]]:
    assert incident.id is not None
    lines = []
    for lever in svc.registry.all():
        row = current_action(session, incident.id, lever.name)
        if row is None:
            past = [a for a in actions(session, incident.id) if a.lever == lever.name]
            row = past[-1] if past else None
        who = Msg.of(" by {who} at {at}", who=User(row.by), at=When(row.requested_at)) if row else None
        star = Msg.of(" :star: _suggested for this category_") if incident.category in lever.categories else None
        plan = svc.plan(lever)
        head = Msg.of("• *{name}* — {state}", name=lever.name, state=state_label(row))
        body = Msg.of("\n    {what} _(will {plan})_", what=lever.description or plan, plan=plan)
        lines.append(mrkdwn(Msg.join([head, who, star, body], sep="")))
    text = md("Levers for {ref}", ref=incident.ref)
    blocks = [render.header(f"Levers for {incident.ref}"), *sections(lines),
              render.context(md("{contain} pulls one; {revert} undoes it.",
                                contain=Code("/incident contain <lever> [reason] [--dry-run]"),
                                revert=Code("/incident revert <lever>")))]
    return text, render.cap_blocks(blocks)


# ----- the confirmation -------------------------------------------------------------------------------------
def _dry_line(prepared: Prepared, modal: bool) -> Mrkdwn | None:
    if prepared.dry_reason is None:
        return None
    if modal:
        return md(":test_tube: *Dry run* ({why}): firebreak records what it would do and calls nothing.",
                  why=prepared.dry_reason)
    return md(":test_tube: *Dry run* ({why}): nothing will be called.", why=prepared.dry_reason)


def confirmation_view(prepared: Prepared, plan: str, reason: str, token: str) -> dict[str, Any]:
    """The modal: exactly what changes where, and the reason (it goes into the flag's audit comment). Its
    private_metadata is the pending confirmation's token, whatever the length of the reason."""
    lever = prepared.lever
    blocks: list[dict[str, Any]] = [
        render.section(clip_mrkdwn(md("*Pull lever {name} on {ref}?*\n{description}", name=Code(lever.name),
                                      ref=prepared.ref, description=lever.description), SECTION_LIMIT)),
        render.section(clip_mrkdwn(md("*This will* {plan}.", plan=plan), SECTION_LIMIT))]
    dry = _dry_line(prepared, modal=True)
    if dry:
        blocks.append(render.section(dry))
    element: dict[str, Any] = {"type": "plain_text_input", "action_id": "value", "max_length": limits.REASON}
    if reason:
        element["initial_value"] = reason
    blocks.append({"type": "input", "block_id": REASON_BLOCK, "optional": True,
                   "label": {"type": "plain_text", "text": "Reason (goes into the flag's audit comment)"},
                   "element": element})
    return {"type": "modal", "callback_id": CONFIRM_VIEW, "private_metadata": token,
            "title": {"type": "plain_text", "text": "Pull a lever"},
            "submit": {"type": "plain_text", "text": "Dry run" if prepared.dry_reason else "Pull lever"},
            "close": {"type": "plain_text", "text": "Cancel"}, "blocks": blocks}


def confirmation_message(prepared: Prepared, plan: str, token: str) -> tuple[Mrkdwn, list[dict]]:
    """The same confirmation as an ephemeral message with buttons, when no modal could be opened."""
    lever = prepared.lever
    text = md("*Pull lever {name} on {ref}?* This will {plan}.", name=Code(lever.name), ref=prepared.ref, plan=plan)
    dry = _dry_line(prepared, modal=False)
    if dry:
        text = Mrkdwn(f"{text}\n{dry}")
    blocks = [render.section(clip_mrkdwn(text, SECTION_LIMIT)),
              {"type": "actions", "block_id": "lever_confirm", "elements": [
                  render.button("Dry run" if prepared.dry_reason else "Pull lever", CONFIRM_BUTTON, token,
                                style="danger"),
                  render.button("Cancel", CANCEL_BUTTON, token)]}]
    return md("Pull {name} on {ref}?", name=Code(lever.name), ref=prepared.ref), blocks


# ----- on resolve -------------------------------------------------------------------------------------------
def ask_view(ctx: AppContext, session: Session, data: dict[str, Any]) -> tuple[str, list[dict] | None]:
    """"INC-7 is resolved and lever X is still pulled. Revert it?" with Revert / Leave it (the action row's id:
    the click is checked against the row and the clicker on the server)."""
    row = session.get(ContainmentAction, data.get("action"))
    if row is None:
        return "", None
    incident = incidents.get(session, row.incident_id)
    ic = incidents.roles(session, row.incident_id).get("ic")
    text = md("{ic}: {ref} is resolved and lever *{lever}* is still pulled ({state}). Revert it?",
              ic=User(ic) if ic else "Incident commander", ref=incident.ref, lever=row.lever,
              state=state_label(row))
    value = str(row.id)
    return text, [render.section(text),
                  {"type": "actions", "block_id": f"lever_{row.lever}"[:255], "elements": [
                      render.button("Revert", REVERT_ACTION, value, style="danger"),
                      render.button("Leave it", LEAVE_ACTION, value)]}]


# ----- the pinned summary -----------------------------------------------------------------------------------
def _times(a: ContainmentAction) -> Msg:
    parts = [Msg.of("requested {at}", at=When(a.requested_at))]
    if a.applied_at:
        parts.append(Msg.of(", applied +{d}", d=format_duration(a.applied_at - a.requested_at)))
    if a.verified_at:
        parts.append(Msg.of(", verified +{d}", d=format_duration(a.verified_at - a.requested_at)))
    return Msg.join(parts, sep="")


def summary_section(ctx: AppContext, session: Session, incident: Incident) -> list[dict]:
    svc = ctx.containment
    if svc is None:
        return []
    assert incident.id is not None
    rows = actions(session, incident.id, last=15)
    suggested: list[Lever] = svc.registry.for_category(incident.category)
    menu = pull_menu(incident, suggested)
    if not rows:
        if not suggested:
            return []
        names = ", ".join(f"`{lever.name}`" for lever in suggested)
        block = render.section(md("*Levers*\nSuggested: {names} — {how}", names=names,
                                  how=Code("/incident contain <lever>")))
        if menu:
            block["accessory"] = menu
        return [block]
    lines = [mrkdwn(Msg.join([Msg.of("• {lever} — {state}", lever=Code(a.lever), state=state_label(a)),
                              Msg.of(" _(dry run)_") if a.dry_run else None,
                              Msg.of(" by {who} ({times})", who=User(a.by), times=Raw(_times(a)))], sep=""))
             for a in rows]
    mttc = facts.load(session, incident, ctx.rules, ctx.clock.now()).mttc
    lines.append(md("MTTC: {d}", d=format_duration(mttc.active)) if mttc.done else Mrkdwn("MTTC: not contained yet"))
    blocks = sections(lines, title=Mrkdwn("*Levers*"))
    if menu and blocks and blocks[0].get("type") == "section" and "accessory" not in blocks[0]:
        blocks[0]["accessory"] = menu
    return blocks


SUMMARY_PULL = "firebreak_summary_lever"


def pull_menu(incident: Incident, levers: list[Lever]) -> dict | None:
    """"Pull a lever…" on the pinned summary: the category's levers, each doing what `/incident contain` does.
    Option values carry only keys (`<incident>:<lever>`); the click is checked again server-side."""
    if incident.status == RESOLVED or not levers:
        return None
    options = [{"text": {"type": "plain_text", "text": render.clip(lever.name, 75)},
                "value": f"{incident.id}:{lever.name}"} for lever in levers[:100] if len(lever.name) <= 64]
    if not options:
        return None
    return {"type": "static_select", "action_id": SUMMARY_PULL,
            "placeholder": {"type": "plain_text", "text": "Pull a lever…"}, "options": options}
