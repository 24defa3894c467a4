"""How alerts look in Slack: the triage message (with its buttons), `/incident alerts`, the pinned summary's
alert counter. Detector text is plain text: every value goes through `md`/`Msg`, escaped once here."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam
from sqlmodel import Session, col, func, select

from bot.core import incidents
from bot.core.text import User, When
from bot.slack import render
from bot.slack.context import AppContext
from bot.slack.text import Mrkdwn, clip, md
from bot.store.models import Incident
from bot.store.models.alerts import GROUP_DISMISSED, GROUP_INCIDENT, GROUP_TRIAGE, Alert, AlertGroup

DECLARE_ACTION = "alerts_triage_declare"
ATTACH_ACTION = "alerts_triage_attach"
DISMISS_ACTION = "alerts_triage_dismiss"
SHOWN = 20           # alerts listed by /incident alerts
ATTACH_OPTIONS = 100  # Slack's limit for a static select


def triage_view(ctx: AppContext, session: Session, data: dict[str, Any]) -> tuple[str, list[dict]]:
    group = session.get(AlertGroup, data.get("group"))
    if group is None:
        return "An alert group that no longer exists.", []
    tag = "[EXERCISE] " if group.exercise else ""
    first = session.exec(select(Alert).where(Alert.group_id == group.id).order_by(col(Alert.id))).first()
    head = md(tag + ":mag: *Alert for triage* from {src} (route {route}): *{title}*", src=group.source,
              route=group.route, title=clip(group.title, 200))
    facts = [md("Category: {c}", c=first.category if first else "—"),
             md("Alerts: {n} ({r} resolved)", n=group.alert_count, r=_resolved(session, group.id)),
             md("First signal: {at}", at=When(group.first_signal_at))]
    if first is not None and first.source_url:
        facts.append(md("Detector: {u}", u=clip(first.source_url, 300)))
    blocks: list[dict] = [render.section(head), render.context(Mrkdwn(" · ".join(facts)))]
    if first is not None and first.labels:
        labels = ", ".join(f"{k}={v}" for k, v in list(first.labels.items())[:12])
        blocks.append(render.context(md("Labels: {l}", l=clip(labels, 1500))))
    if group.state == GROUP_TRIAGE:
        gid = str(group.id)
        elements: list[dict] = [render.button("Declare incident", DECLARE_ACTION, gid, style="danger")]
        options = _attach_options(session, group)
        if options:
            elements.append({"type": "static_select", "action_id": ATTACH_ACTION,
                             "placeholder": {"type": "plain_text", "text": "Attach to INC-…"}, "options": options})
        elements.append(render.button("Dismiss with reason", DISMISS_ACTION, gid))
        blocks.append({"type": "actions", "block_id": f"alert-group-{gid}", "elements": elements})
    elif group.state == GROUP_DISMISSED:
        blocks.append(render.context(md("Dismissed by {who}: {why}", who=User(group.decided_by or ""),
                                        why=clip(group.dismiss_reason or "", 500))))
    elif group.state == GROUP_INCIDENT and group.incident_id is not None:
        who = md(" by {who}", who=User(group.decided_by)) if group.decided_by else ""
        blocks.append(render.context(Mrkdwn(md("Handled in INC-{n}", n=group.incident_id) + who)))
    text = f"{tag}Alert for triage from {group.source}: {group.title}"
    return text[:300], blocks


def _attach_options(session: Session, group: AlertGroup) -> list[dict[str, Any]]:
    rows = [r for r in incidents.list_open_rows(session, limit=ATTACH_OPTIONS) if r.is_exercise == group.exercise]
    out = []
    for r in rows:
        label = f"{r.ref} (private)" if r.private else f"{r.ref} {r.title}"
        out.append({"text": {"type": "plain_text", "text": label[:75]}, "value": f"{group.id}:{r.id}"})
    return out


def _resolved(session: Session, group_id: int | None) -> int:
    return session.exec(select(func.count()).select_from(Alert).where(Alert.group_id == group_id,
                                                                       Alert.status == "resolved")).one()


def list_blocks(session: Session, incident: Incident) -> tuple[str, list[dict]]:
    assert incident.id is not None
    total = session.exec(_ALERTS, params={"n": incident.id}).one()
    if not total:
        return f"No alerts are attached to {incident.ref}.", []
    rows = list(session.exec(select(Alert).where(Alert.incident_id == incident.id)
                             .order_by(col(Alert.detected_at), col(Alert.id)).limit(SHOWN)))
    firing = session.exec(select(func.count()).select_from(Alert).where(Alert.incident_id == incident.id,
                                                                       Alert.status != "resolved")).one()
    lines = []
    for a in rows:
        icon = ":large_green_circle:" if a.status == "resolved" else ":red_circle:"
        seen = md(" ×{n}", n=a.count) if a.count > 1 else ""
        lines.append(Mrkdwn(icon + " " + md("{src} · {title}", src=a.source, title=clip(a.title, 120)) + seen
                            + md(" · first signal {at}", at=When(a.detected_at))))
    blocks = [render.header(f"Alerts of {incident.ref} ({total})")]
    blocks += [render.section(Mrkdwn(chunk)) for chunk in render.chunk_lines(lines)]
    note = f"{firing} firing, {total - firing} resolved."
    if total > len(rows):
        note += f" Showing the first {len(rows)} by first signal."
    blocks.append(render.context(note))
    return f"{total} alerts on {incident.ref}", render.cap_blocks(blocks)


_ALERTS = select(func.count()).select_from(Alert).where(col(Alert.incident_id) == bindparam("n"))  # every summary


def summary_section(_ctx: AppContext, session: Session, incident: Incident) -> list[dict]:
    assert incident.id is not None
    total = session.exec(_ALERTS, params={"n": incident.id}).one()
    if not total:
        return []
    firing = session.exec(select(func.count()).select_from(Alert).where(Alert.incident_id == incident.id,
                                                                       Alert.status != "resolved")).one()
    sources = session.exec(select(Alert.source).where(Alert.incident_id == incident.id).distinct().limit(5)).all()
    text = md("*Alerts:* {n} from {src} · {f} firing", n=total, src=", ".join(sources), f=firing)
    return [render.context(Mrkdwn(text + Mrkdwn(" (`/incident alerts`)")))]


def home_blocks(session: Session, *, limit: int = 10) -> list[dict]:
    """Alerts waiting in triage, for the App Home (newest first)."""
    rows = list(session.exec(select(AlertGroup).where(AlertGroup.state == GROUP_TRIAGE)
                             .order_by(AlertGroup.id.desc()).limit(limit)))  # type: ignore[union-attr]
    if not rows:
        return []
    # The App Home is seen by the whole workspace and detector titles can carry personal data: sources, counts
    # and times only; the titles are in the triage channel, for its members.
    lines = [md("{src} · {n} alert(s) since {at}", src=g.source, n=g.alert_count, at=When(g.created_at))
             for g in rows]
    return [render.header("Alerts in triage"), render.section(Mrkdwn("\n".join(lines))),
            render.context("Declare, attach or dismiss them in the triage channel.")]


def register(ctx: AppContext) -> None:
    from bot.alerts.common import TRIAGE_VIEW

    assert ctx.slack_effects is not None
    ctx.slack_effects.views[TRIAGE_VIEW] = triage_view
    ctx.summary_sections.append(summary_section)
