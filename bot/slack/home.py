"""The App Home tab: open incidents, most severe first, with their running timers; the last 30 days'
MTTC by severity. Re-rendered each time the tab is opened and by its Refresh button."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from slack_bolt import Ack, App

from bot.core import incidents
from bot.core.durations import format_duration
from bot.metrics import compute
from bot.slack import render
from bot.slack.context import AppContext
from bot.slack.ops import safe_call
from bot.slack.summary import SEV_EMOJI, STATUS_LABEL

log = logging.getLogger(__name__)
SHOWN = 25
REFRESH = "home_refresh"


def incident_line(ctx: AppContext, inc: Any) -> str:
    now = ctx.clock.now()
    target = ctx.rules.mttc_target(inc.severity)
    if inc.contained_at is not None:
        timer = f"contained in {format_duration(inc.contained_at - inc.detected_at)}"
    else:
        running = now - inc.detected_at
        over = " :rotating_light: over target" if running > target else ""
        timer = f"MTTC running {format_duration(running)} / target {format_duration(target)}{over}"
    ack = "" if inc.acknowledged_at else " · *no IC yet*"
    where = "private" if inc.private else (f"<#{inc.channel_id}>" if inc.channel_id else "—")
    tag = "[EXERCISE] " if inc.is_exercise else ""
    # The Home tab is seen by everyone in the workspace: a private incident's title stays in its channel.
    title = "_private incident_" if inc.private else render.clip(inc.title, 80)
    return (f"{SEV_EMOJI[inc.severity]} *{inc.ref}* {tag}{inc.sev} · {STATUS_LABEL[inc.status]} · "
            f"{title} · {timer}{ack} · {where}")


def home_view(ctx: AppContext) -> dict[str, Any]:
    now = ctx.clock.now()
    with ctx.db.session() as session:
        total = incidents.count_open(session)
        # Most severe first; within a severity, the uncontained (timer still running) before the contained.
        rows = sorted(incidents.list_open(session, limit=SHOWN),
                      key=lambda i: (i.severity, i.contained_at is not None, i.opened_at, i.id))
        lines = [incident_line(ctx, inc) for inc in rows]
        report = compute(session, since=now - timedelta(days=30), weekly=False)
    blocks: list[dict] = [render.header(f"Open incidents ({total})")]
    if lines:
        blocks += [render.section(c) for c in render.chunk_lines(lines)]
        if total > len(lines):
            blocks.append(render.context(f"The {len(lines)} most severe of {total}; `/incident list` for more."))
    else:
        blocks.append(render.section("No open incidents. :sunny:"))
    blocks.append(render.divider())
    blocks.append(render.header("MTTC by severity, last 30 days"))
    rows = []
    for row in report.by_severity:
        s = row.stats["mttc"]
        med = format_duration(s.median) if s.median is not None else "—"
        mean = format_duration(s.mean) if s.mean is not None else "—"
        rows.append(f"{SEV_EMOJI[row.severity]} *SEV{row.severity}* · median {med} · mean {mean} · "
                    f"{s.done} contained, {s.open} open · target "
                    f"{format_duration(ctx.rules.mttc_target(row.severity))}")
    blocks.append(render.section("\n".join(rows) if rows else "No incidents in the last 30 days."))
    blocks.append(render.context(f"As of {render.when(now)} · exercises excluded · MTTC = contained − detected"))
    blocks.append({"type": "actions", "elements": [render.button("Refresh", REFRESH, "refresh")]})
    return {"type": "home", "blocks": render.cap_blocks(blocks)}


def publish(ctx: AppContext, user_id: str) -> None:
    safe_call(ctx, None, "views.publish (home)", ctx.client.views_publish, user_id=user_id, view=home_view(ctx))


def register(app: App, ctx: AppContext) -> None:
    @app.event("app_home_opened")
    def home_opened(event: dict[str, Any]) -> None:
        if event.get("tab", "home") == "home" and event.get("user"):
            publish(ctx, event["user"])

    @app.action(REFRESH)
    def refresh(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        publish(ctx, body["user"]["id"])
