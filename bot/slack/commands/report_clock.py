"""`/incident report-clock`: start a regulatory reporting clock, record a filed report, list the clocks."""

from __future__ import annotations

import re
from datetime import datetime

from slack_bolt import App
from sqlmodel import select

from bot.core import incidents
from bot.core.clock import ensure_utc
from bot.core.durations import parse_duration
from bot.core.errors import UsageError
from bot.core.policy import Action
from bot.scheduler import planner
from bot.scheduler.clocks import clocks_of, describe, record_done, start_clock
from bot.scheduler.regimes import accepted_forms, regimes
from bot.slack import render
from bot.slack.commands import Invocation
from bot.slack.commands.args import parse_flags, tokenize
from bot.slack.context import AppContext
from bot.slack.lifecycle import after_change
from bot.store.models import Incident, ReportClock
from bot.store.models.incident import RESOLVED

USAGE = ("/incident report-clock [<regime> [<case>] [--aware-at <time>] [--classified-at <time>] | "
         "done <regime> <reference>]")
TIME_FORMS = "an ISO time like 2026-01-05T08:00Z or 2026-01-05 08:00 (UTC), or a time ago like 3h ago"
AGO = re.compile(r"^(.+?)\s*ago$")


def parse_when(text: str, now: datetime, flag: str) -> datetime:
    raw = text.strip()
    m = AGO.match(raw.lower())
    if m:
        try:
            return now - parse_duration(m.group(1))
        except UsageError:
            pass
    else:
        try:
            return ensure_utc(datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00")))
        except ValueError:
            pass
    raise UsageError(f"`{text}` is not a time for --{flag}; use {TIME_FORMS}.", usage=USAGE)


def handle(inv: Invocation) -> None:
    words = tokenize(inv.args)
    if not words or words[0].lower() == "list":
        if len(words) > 1:
            raise inv.usage_error("`report-clock list` takes nothing more.")
        return show(inv)
    if words[0].lower() == "done":
        return done(inv, words[1:])
    return start(inv)


def start(inv: Invocation) -> None:
    ctx = inv.ctx
    # `--aware-at 3h ago` has a space: join the flag's words before the generic parser sees them.
    args = re.sub(r"(--(?:aware|classified)-at)\s+(\S+\s+ago|\d{4}-\d{2}-\d{2}\s+\d{1,2}:\d{2}(?::\d{2})?)(?=\s|$)", lambda m: f'{m.group(1)}="{m.group(2)}"',
                  inv.args)
    parsed = parse_flags(args, values={"aware-at", "classified-at"}, switches=set(), usage=USAGE)
    if not parsed.words:
        raise inv.usage_error(f"Name a regime: {accepted_forms(ctx.config)}.")
    if len(parsed.words) > 2:
        raise inv.usage_error(f"Too many words: `{' '.join(parsed.words[2:])}`. Give a regime and at most one case.")
    regime_name = parsed.words[0].lower()
    case = parsed.words[1].lower() if len(parsed.words) > 1 else None
    now = ctx.clock.now()
    aware = parse_when(str(parsed.flags["aware-at"]), now, "aware-at") if "aware-at" in parsed.flags else None
    classified = (parse_when(str(parsed.flags["classified-at"]), now, "classified-at")
                  if "classified-at" in parsed.flags else None)
    number = inv.require_incident()
    with ctx.db.session() as session:
        incident = incidents.get(session, number, lock=True)
        incidents.require_open(incident)
        row, regime = start_clock(session, ctx.clock, ctx.config, incident, regime_name, case=case, aware_at=aware,
                                  classified_at=classified, actor=inv.user_id, usage=USAGE)
        lines = describe(row, regime.label, now)
        ref = incident.ref
    planner.plan_report(ctx, number, row, now=now, replace=True)
    after_change(ctx, number, f":scales: <@{inv.user_id}> started a reporting clock on {ref}:\n" + "\n".join(lines))
    inv.reply(f"Reporting clock started on {ref}. Reminders: {', '.join(ctx.config.scheduler.report_reminders)} "
              "before each deadline.\n" + "\n".join(lines))


def done(inv: Invocation, words: list[str]) -> None:
    ctx = inv.ctx
    if len(words) < 2:
        raise inv.usage_error("Give the regime and the reference of the report you filed, e.g. "
                              "`/incident report-clock done gdpr-72h DPA-2026-118`.")
    number = inv.require_incident()
    with ctx.db.session() as session:
        incident = incidents.get(session, number, lock=True)
        row, stage, complete = record_done(session, ctx.clock, ctx.config, incident, words[0].lower(),
                                           " ".join(words[1:]), actor=inv.user_id, usage=USAGE)
        ref, regime, resolved = incident.ref, row.regime, incident.status == RESOLVED
    t = planner.timers(ctx)
    t.cancel_prefix(planner.report_key(number, regime, stage["stage"], ""))
    rest = "every report of this regime is recorded" if complete else "the next stage's reminders keep running"
    message = (f":white_check_mark: <@{inv.user_id}> recorded the {regime} {stage['label']} for {ref} "
               f"(reference `{stage['reference']}`); {rest}.")
    if resolved:
        from bot.slack import ops

        ops.post_in_incident(ctx, number, message)
        ops.refresh(ctx, number)
    else:
        after_change(ctx, number, message)
    inv.reply(f"Recorded: {regime} {stage['label']} for {ref}, reference `{stage['reference']}`.")


def show(inv: Invocation) -> None:
    ctx = inv.ctx
    now = ctx.clock.now()
    known = regimes(ctx.config)
    with ctx.db.session() as session:
        if inv.incident_id is not None:
            ref = incidents.get(session, inv.incident_id).ref
            rows = clocks_of(session, inv.incident_id)
            if not rows:
                inv.reply(f"{ref} has no reporting clock. Start one with `/incident report-clock <regime>`; "
                          f"regimes: {accepted_forms(ctx.config)}.")
                return
            lines = [f"*Reporting clocks of {ref}*"]
            for row in rows:
                lines += describe(row, known[row.regime].label if row.regime in known else row.regime, now)
        else:
            rows = list(session.exec(select(ReportClock, Incident).join(Incident)
                                     .where(ReportClock.done_at.is_(None)).order_by(ReportClock.id)))  # type: ignore[union-attr]
            if not rows:
                inv.reply("No reporting clock is running.")
                return
            lines = ["*Running reporting clocks*"]
            for row, incident in rows:
                label = known[row.regime].label if row.regime in known else row.regime
                lines += [f"{incident.ref} · " + line if i == 0 else line
                          for i, line in enumerate(describe(row, label, now))]
    blocks = [render.section(chunk) for chunk in render.chunk_lines(lines)]
    inv.reply("\n".join(lines), blocks=render.cap_blocks(blocks))


def register(app: App, ctx: AppContext) -> None:
    ctx.commands.add("report-clock", handle, usage=USAGE, incident="optional", allow_resolved=True,
                     summary="regulatory reporting deadlines: start one (eu-ai-act-art73, gdpr-72h, nis2, dora, ...), "
                             "record a filed report, or list them",
                     action=lambda inv: Action.REPORT_CLOCK_DONE if inv.args.strip().lower().startswith("done") else (Action.REPORT_CLOCK if inv.args.strip() else Action.VIEW))
