"""The App Home tab: open incidents, most severe first, with their running timers; the last 30 days'
MTTC by severity. Re-rendered each time the tab is opened and by its Refresh button."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from slack_bolt import Ack, App

from bot.core import facts, incidents
from bot.core.durations import format_duration
from bot.core.facts import IncidentFacts, Metric
from bot.core.text import Channel
from bot.metrics import compute
from bot.slack import render
from bot.slack.context import AppContext
from bot.slack.listen import after_ack
from bot.slack.ops import safe_call
from bot.slack.summary import SEV_EMOJI, STATUS_LABEL
from bot.slack.text import Mrkdwn, clip, md
from bot.slack.views import alerts as alert_views
from bot.slack.visibility import may_see

log = logging.getLogger(__name__)
SHOWN = 25
REFRESH = "home_refresh"


def incident_line(ctx: AppContext, inc: Any, f: IncidentFacts, *, visible: bool) -> Mrkdwn:
    if f.mttc.done:
        timer = f"contained in {format_duration(f.mttc.active)}"
    else:
        over = " :rotating_light: over target" if f.mttc_over else ""
        timer = (f"MTTC running {format_duration(f.mttc.active)} / target "
                 f"{format_duration(f.target.duration)}{over}")
    ack = "" if inc.acknowledged_at else " · *no IC yet*"
    tag = "[EXERCISE] " if inc.is_exercise else ""
    head = Mrkdwn(f"{SEV_EMOJI[inc.severity]} *{inc.ref}* {tag}{inc.sev} · {STATUS_LABEL[inc.status]} · ")
    if not visible:  # the Home tab is per person: a private incident's title only for its members
        return head + Mrkdwn(f":lock: _a private incident (members only)_ · {timer}{ack}")
    where = (Mrkdwn(" · :lock: private") if inc.private else
             (md(" · {c}", c=Channel(inc.channel_id)) if inc.channel_id else Mrkdwn(" · —")))
    return head + md("{t}", t=clip(inc.title, 80)) + Mrkdwn(f" · {timer}{ack}") + where


def home_view(ctx: AppContext, user_id: str | None = None) -> dict[str, Any]:
    now = ctx.clock.now()
    with ctx.db.session() as session:
        total = incidents.count_open(session)
        # Most severe first; within a severity, the uncontained (timer still running) before the contained.
        rows = sorted(incidents.list_open(session, limit=SHOWN),
                      key=lambda i: (i.severity, i.contained_at is not None, i.opened_at, i.id))
        shown = [(inc, facts.load(session, inc, ctx.rules, now)) for inc in rows]
        report = compute(session, since=now - timedelta(days=30), weekly=False, by_category=())
        triage = alert_views.home_blocks(session)
    lines = [incident_line(ctx, inc, f, visible=user_id is not None and may_see(
        ctx, user_id, private=inc.private, channel_id=inc.channel_id, reporter_id=inc.reporter_id)) for inc, f in shown]
    blocks: list[dict] = [render.header(f"Open incidents ({total})")]
    if lines:
        blocks += [render.section(Mrkdwn(c)) for c in render.chunk_lines(lines)]
        if total > len(lines):
            blocks.append(render.context(f"The {len(lines)} most severe of {total}; `/incident list` for more."))
    else:
        blocks.append(render.section("No open incidents. :sunny:"))
    if triage:
        blocks += [render.divider(), *triage]
    blocks.append(render.divider())
    blocks.append(render.header("MTTC by severity, last 30 days"))
    mttc_lines: list[str] = []
    for row in report.by_severity:
        assert row.severity is not None  # a row of the by-severity breakdown has its severity
        s = row.stats[Metric.MTTC]
        med = format_duration(s.median) if s.median is not None else "—"
        mean = format_duration(s.mean) if s.mean is not None else "—"
        mttc_lines.append(f"{SEV_EMOJI[row.severity]} *SEV{row.severity}* · median {med} · mean {mean} · "
                          f"{s.done} contained, {s.open} open · target "
                          f"{format_duration(ctx.rules.mttc_target(row.severity))}")
    blocks.append(render.section("\n".join(mttc_lines) if mttc_lines else "No incidents in the last 30 days."))
    blocks.append(render.context(f"As of {render.when(now)} · exercises excluded · MTTC = contained − detected"))
    blocks.append({"type": "actions", "elements": [render.button("Refresh", REFRESH, "refresh")]})
    return {"type": "home", "blocks": render.cap_blocks(blocks)}


def publish(ctx: AppContext, user_id: str) -> None:
    safe_call(ctx, None, "views.publish (home)", ctx.client.views_publish, user_id=user_id,
              view=home_view(ctx, user_id))


def register(app: App, ctx: AppContext) -> None:
    @app.event("app_home_opened")
    def home_opened(event: dict[str, Any], context: dict[str, Any]) -> None:
        if event.get("tab", "home") == "home" and isinstance(event.get("user"), str):
            after_ack(ctx, context, publish, ctx, event["user"])

    @app.action(REFRESH)
    def refresh(ack: Ack, body: dict[str, Any], context: dict[str, Any]) -> None:
        ack()
        user = (body.get("user") or {}).get("id")
        if isinstance(user, str):
            after_ack(ctx, context, publish, ctx, user)
