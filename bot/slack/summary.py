"""The pinned incident summary, kept up to date in place with chat.update, and the buttons responders act from.

Times are Slack date tokens (each reader sees their own zone, UTC as the fallback); running clocks read
"since <time>", so a summary that is not re-rendered every second never shows a frozen duration. Everything a
person or a model typed is escaped here; the mentions and links firebreak builds stay live.
"""

from __future__ import annotations

from typing import Any

from bot.core import facts, incidents
from bot.core.durations import format_duration
from bot.core.facts import IncidentFacts
from bot.core.incidents import ROLES, exercise_tag
from bot.slack import render
from bot.slack.context import AppContext
from bot.slack.text import Mrkdwn, escape, md
from bot.store.models import Incident
from bot.store.models.incident import ACTIVE, CONTAINED, RESOLVED

STATUS_LABEL = {ACTIVE: "Active", CONTAINED: "Contained", RESOLVED: "Resolved"}
SEV_EMOJI = {1: ":red_circle:", 2: ":large_orange_circle:", 3: ":large_yellow_circle:", 4: ":white_circle:"}
# The summary's buttons (bot/slack/summary_actions.py handles them).
TAKE_IC, UPDATE_STATUS, CHANGE_SEVERITY, RESOLVE = ("summary_take_ic", "summary_update_status",
                                                    "summary_change_severity", "summary_resolve")



def summary_fallback(incident: Incident) -> str:
    """The notification text of the summary (plain: Slack shows it in notifications and search)."""
    return escape(f"{exercise_tag(incident)}{incident.ref} · {incident.sev} · {STATUS_LABEL[incident.status]} · "
                  f"{incident.title}")


def topic_text(incident: Incident, roles: dict[str, str], ic_name: str | None = None) -> str:
    """The channel topic: plain text (Slack shows topics unformatted), so the IC by name, never a mention."""
    ic = f"IC {ic_name}" if ic_name else ("IC assigned" if "ic" in roles else "IC unassigned")
    return f"{exercise_tag(incident)}{incident.sev} · {STATUS_LABEL[incident.status]} · {ic} · {incident.title}"


def mttc_text(f: IncidentFacts) -> Mrkdwn:
    """The containment clock in words."""
    goal = f"{f.target.label} of {format_duration(f.target.duration)}"
    if f.mttc.done:
        verdict = (f"within the {goal}" if f.mttc_met else
                   f"over the {goal} by {format_duration(f.mttc.active - f.target.duration)}")
        text = md("MTTC: {d} · {v}", d=format_duration(f.mttc.active), v=verdict)
    elif f.mttc.running:
        due = (md(", due by {at}", at=render.when(f.mttc_due)) if f.mttc_due is not None
               else Mrkdwn(" (the exercise is paused)"))
        text = Mrkdwn("MTTC: running since ") + render.when(f.mttc.start) + md(" · {g}", g=goal) + due
        if f.mttc_over:
            text += Mrkdwn(" :rotating_light: over target")
    else:
        text = md("MTTC: not recorded (resolved without containment) · {g}", g=goal)
    if f.paused:
        text += md(" · paused {p} (not counted)", p=format_duration(f.paused))
    return Mrkdwn(text)


def status_fields(ctx: AppContext, incident: Incident, roles: dict[str, str], f: IncidentFacts) -> list[Mrkdwn]:
    role_lines = [md("{label}: ", label=label) + render.user(roles.get(key))
                  for key, label in ROLES.items() if key in roles]
    category = md("{c}", c=ctx.rules.category_label(incident.category)) + (
        Mrkdwn(" _(suggested)_") if incident.category_suggested else Mrkdwn(""))
    times = Mrkdwn("*Times*\n") + Mrkdwn("\n").join(
        Mrkdwn(f"{label} ") + render.when(at) for label, at in (
            ("Detected", incident.detected_at), ("Opened", incident.opened_at),
            ("Acknowledged", incident.acknowledged_at), ("Contained", incident.contained_at),
            ("Resolved", incident.resolved_at)))
    return [
        Mrkdwn(f"*Severity*\n{SEV_EMOJI[incident.severity]} {incident.sev}"),
        Mrkdwn(f"*Status*\n{STATUS_LABEL[incident.status]}"),
        Mrkdwn("*Category*\n") + category,
        Mrkdwn("*Roles*\n") + (Mrkdwn("\n").join(role_lines) if role_lines
                               else Mrkdwn("No IC yet — take it with the button below or `/incident ic @me`")),
        Mrkdwn(times),
        Mrkdwn("*Containment*\n") + mttc_text(f),
    ]


def actions_block(incident: Incident, roles: dict[str, str]) -> dict[str, Any] | None:
    """What responders most often do next, on buttons (each does exactly what its command does)."""
    if not incident.is_open:
        return None
    value = str(incident.id)
    buttons = []
    if "ic" not in roles:
        buttons.append(render.button("I'll take IC", TAKE_IC, value, style="primary"))
    buttons.append(render.button("Update status", UPDATE_STATUS, value))
    buttons.append(render.button("Change severity", CHANGE_SEVERITY, value))
    buttons.append(render.button("Resolve", RESOLVE, value))
    return {"type": "actions", "block_id": f"summary-{incident.id}", "elements": buttons}


def summary_blocks(ctx: AppContext, session: Any, incident: Incident,
                   roles: dict[str, str] | None = None) -> list[dict]:
    """`roles`: the incident's roles when the caller already read them (the refresh also needs them)."""
    if roles is None:
        assert incident.id is not None
        roles = incidents.roles(session, incident.id)
    blocks: list[dict] = []
    if incident.is_exercise:
        blocks.append(render.section(Mrkdwn(":performing_arts: *EXERCISE* — a tabletop rehearsal, not a real "
                                            "incident.")))
    blocks.append(render.header(f"{exercise_tag(incident)}{incident.ref}: {incident.title}"))
    blocks.append(render.section(md("*{sev}* because {why}", sev=incident.sev,
                                    why=" and ".join(incident.reasons or ["(no reason recorded)"]))))
    f = facts.load(session, incident, ctx.rules, ctx.clock.now())
    blocks.append(render.fields_section(status_fields(ctx, incident, roles, f)))
    if incident.description:
        blocks.append(render.section(md("*Description*\n{d}", d=incident.description)))
    if incident.resolution:
        blocks.append(render.section(md("*Resolution*\n{r}", r=incident.resolution)))
    for contributor in ctx.summary_sections:
        blocks.extend(contributor(ctx, session, incident))
    actions = actions_block(incident, roles)
    if actions is not None:
        blocks.append(actions)
    last = render.when(incident.last_status_at) if incident.last_status_at else Mrkdwn("none yet")
    blocks.append(render.context(Mrkdwn("Last status update: ") + last + Mrkdwn(" · `/incident help` for commands")))
    return render.cap_blocks(blocks)


def status_text(ctx: AppContext, session: Any, incident: Incident) -> Mrkdwn:
    """The private view of `/incident status` with no text."""
    assert incident.id is not None
    roles = incidents.roles(session, incident.id)
    lines = [md("*{tag}{ref}: {title}*", tag=exercise_tag(incident), ref=incident.ref, title=incident.title),
             md("{sev} because {why}", sev=incident.sev, why=" and ".join(incident.reasons))]
    lines += status_fields(ctx, incident, roles, facts.load(session, incident, ctx.rules, ctx.clock.now()))
    return Mrkdwn("\n").join(lines)
