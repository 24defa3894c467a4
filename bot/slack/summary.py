"""The pinned incident summary, kept up to date in place with chat.update."""

from __future__ import annotations

from typing import Any

from bot.core import incidents
from bot.core.durations import format_duration
from bot.core.incidents import ROLES
from bot.slack import render
from bot.slack.context import AppContext
from bot.store.models import Incident
from bot.store.models.incident import ACTIVE, CONTAINED, RESOLVED

STATUS_LABEL = {ACTIVE: "Active", CONTAINED: "Contained", RESOLVED: "Resolved"}
SEV_EMOJI = {1: ":red_circle:", 2: ":large_orange_circle:", 3: ":large_yellow_circle:", 4: ":white_circle:"}


def exercise_tag(incident: Incident) -> str:
    return "[EXERCISE] " if incident.is_exercise else ""


def summary_fallback(incident: Incident) -> str:
    return (f"{exercise_tag(incident)}{incident.ref} · {incident.sev} · {STATUS_LABEL[incident.status]} · "
            f"{incident.title}")


def topic_text(incident: Incident, roles: dict[str, str]) -> str:
    ic = f"IC <@{roles['ic']}>" if "ic" in roles else "IC unassigned"
    return render.clip(f"{exercise_tag(incident)}{incident.sev} · {STATUS_LABEL[incident.status]} · {ic} · "
                       f"{incident.title}", 250)


def status_fields(ctx: AppContext, incident: Incident, roles: dict[str, str]) -> list[str]:
    times = incidents.key_times(incident)
    target = ctx.rules.mttc_target(incident.severity)
    mttc = (f"MTTC: {format_duration(times.mttc)}" if times.mttc is not None
            else f"MTTC: running {format_duration(ctx.clock.now() - incident.detected_at)}")
    role_lines = [f"{label}: {render.user(roles.get(key))}" for key, label in ROLES.items() if key in roles]
    category = ctx.rules.category_label(incident.category) + (" _(suggested)_" if incident.category_suggested else "")
    return [
        f"*Severity*\n{SEV_EMOJI[incident.severity]} {incident.sev}",
        f"*Status*\n{STATUS_LABEL[incident.status]}",
        f"*Category*\n{category}",
        "*Roles*\n" + ("\n".join(role_lines) if role_lines else "No IC yet — `/incident ic @someone`"),
        "*Times (UTC)*\n"
        f"Detected {render.when(times.detected)}\nOpened {render.when(times.opened)}\n"
        f"Acknowledged {render.when(times.acknowledged)}\nContained {render.when(times.contained)}\n"
        f"Resolved {render.when(times.resolved)}",
        f"*Containment*\n{mttc} (target {format_duration(target)})",
    ]


def summary_blocks(ctx: AppContext, session: Any, incident: Incident,
                   roles: dict[str, str] | None = None) -> list[dict]:
    """`roles`: the incident's roles when the caller already read them (the refresh also needs them)."""
    if roles is None:
        roles = incidents.roles(session, incident.id)
    blocks: list[dict] = []
    if incident.is_exercise:
        blocks.append(render.section(":performing_arts: *EXERCISE* — a tabletop rehearsal, not a real incident."))
    blocks.append(render.header(f"{exercise_tag(incident)}{incident.ref}: {incident.title}"))
    blocks.append(render.section(
        f"*{incident.sev}* because " + " and ".join(incident.reasons or ["(no reason recorded)"])))
    blocks.append(render.fields_section(status_fields(ctx, incident, roles)))
    if incident.description:
        blocks.append(render.section(f"*Description*\n{incident.description}"))
    if incident.resolution:
        blocks.append(render.section(f"*Resolution*\n{incident.resolution}"))
    for contributor in ctx.summary_sections:
        blocks.extend(contributor(ctx, session, incident))
    last = render.when(incident.last_status_at) if incident.last_status_at else "none yet"
    blocks.append(render.context(f"Last status update: {last} · `/incident help` for commands"))
    return render.cap_blocks(blocks)


def status_text(ctx: AppContext, session: Any, incident: Incident) -> str:
    """The plain-text view of `/incident status` with no text."""
    roles = incidents.roles(session, incident.id)
    lines = [f"*{exercise_tag(incident)}{incident.ref}: {incident.title}*",
             f"{incident.sev} because " + " and ".join(incident.reasons)]
    lines += status_fields(ctx, incident, roles)
    return "\n".join(lines)
