"""`/incident metrics [--since 30d] [--sev N] [--category C] [--exercises]`: the MTTx table in the channel,
plus the weekly MTTC chart when the charts extra is installed."""

from __future__ import annotations

import logging

from slack_bolt import App

from bot.core.errors import UsageError
from bot.core.facts import Metric
from bot.metrics import chart, compute, rubric_targets
from bot.metrics.options import parse_filters
from bot.metrics.period import describe_period
from bot.metrics.table import describe_filters, format_table
from bot.slack import render
from bot.slack.commands import Invocation
from bot.slack.commands.args import parse_flags
from bot.slack.context import AppContext
from bot.slack.ops import safe_call

log = logging.getLogger(__name__)
USAGE = "/incident metrics [--since 30d|12w|2026-01-01|all] [--sev 1-4] [--category C] [--exercises]"


def metrics(inv: Invocation) -> None:
    ctx = inv.ctx
    parsed = parse_flags(inv.args, values={"since", "sev", "category"}, switches={"exercises"}, usage=USAGE)
    if parsed.words:
        raise UsageError(f"Unexpected `{' '.join(parsed.words)}`; filters are given as options.", usage=USAGE)
    now = ctx.clock.now()
    f = parse_filters(ctx.rules, now, since=parsed.value("since"), sev=parsed.value("sev"),
                      category=parsed.value("category"), exercises=bool(parsed.flags.get("exercises")),
                      usage=USAGE)
    with ctx.db.session() as session:
        report = compute(session, since=f.since, until=now, severity=f.severity, category=f.category,
                         include_exercises=f.include_exercises, targets=rubric_targets(ctx.rules),
                         by_category=(Metric.MTTC,))
    title = f"MTTx metrics ({f.period_text})"
    scope = describe_filters(report, ctx.rules, describe_period(f.since, now))
    table = format_table(report, ctx.rules)
    blocks = [render.header(title), render.context(scope)]
    blocks += [render.section(f"```{chunk}```") for chunk in render.chunk_lines(table.split("\n"), 2900)]
    png = chart.render_png(report, ctx.rules, now=now) if report.overall.incidents else None
    if png is None and report.overall.incidents and not chart.available():
        blocks.append(render.context(f"No chart: {chart.INSTALL_HINT}."))
    blocks.append(render.context("MTTD = opened − detected · MTTA = acknowledged − opened · "
                                 "MTTC = contained − detected · MTTR = resolved − detected · "
                                 "open = still waiting for that moment"))
    text = f"{title}: {scope}"
    posted = safe_call(ctx, None, "chat.postMessage (metrics)", ctx.client.chat_postMessage,
                       channel=inv.channel_id, text=text, blocks=render.cap_blocks(blocks))
    if posted is None:
        inv.reply(f":warning: I could not post in this channel (invite me with `/invite @firebreak`). "
                  f"Here is the table:\n```{table}```")
        return
    if png is not None:
        uploaded = safe_call(ctx, None, "files.upload (metrics chart)", ctx.client.files_upload_v2,
                             channel=inv.channel_id, content=png, filename="mttc-by-week.png",
                             title="MTTC per week by severity")
        if uploaded is None:
            inv.reply(":warning: The table is posted, but uploading the chart to Slack failed; "
                      "`firebreak metrics --chart FILE` writes it from the command line.")


def register(app: App, ctx: AppContext) -> None:
    ctx.commands.add("metrics", metrics, usage=USAGE, incident="none",
                     summary="MTTD/MTTA/MTTC/MTTR by severity and category, with the weekly MTTC chart")
