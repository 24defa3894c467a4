"""`/incident report-clock`: start a regulatory reporting clock, record a filed report, waive a clock that does
not apply, list the clocks; and the pinned summary's Reporting deadlines section.

Deadlines are shown as Slack date tokens (each reader's own zone, UTC where Slack cannot say). A clock
outlives the incident's resolution, so `done`, `waive` and the list work on resolved incidents too.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from slack_bolt import App
from sqlmodel import Session, col, select

from bot.core import effects, incidents, limits
from bot.core.clock import ensure_utc
from bot.core.durations import parse_duration
from bot.core.errors import UsageError
from bot.core.policy import AccessFacts, Action
from bot.core.text import Code, Msg, User
from bot.core.timers import incident_key
from bot.scheduler import planner
from bot.scheduler.clocks import clocks_of, describe, label_of, record_done, start_clock, waive
from bot.scheduler.regimes import accepted_forms
from bot.slack import render
from bot.slack.commands import Invocation
from bot.slack.commands.args import parse_flags
from bot.slack.context import AppContext
from bot.slack.text import Mrkdwn, mrkdwn
from bot.store.models import Incident, ReportClock

USAGE = ("/incident report-clock [<regime> [<case>] [--aware-at <time>] [--classified-at <time>] | "
         "done <regime> <reference> | waive <regime> <reason>]")
TIME_FORMS = "an ISO time like 2026-01-05T08:00Z or 2026-01-05 08:00 (UTC), or a time ago like 3h ago"
AGO = re.compile(r"^(.+?)\s*ago$")
WORD = 60  # a regime or case name as typed


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
    raise UsageError(f"`{limits.shown(text)}` is not a time for --{flag}; use {TIME_FORMS}.", usage=USAGE)


def sections(lines: list[Msg]) -> list[dict[str, Any]]:
    """Lines of firebreak's markup as section blocks, packed up to Slack's limit per section."""
    return [render.section(Mrkdwn(chunk)) for chunk in render.chunk_lines([mrkdwn(line) for line in lines])]


def needs(inv: Invocation) -> Action:
    first = inv.args.strip().split(None, 1)[0].lower() if inv.args.strip() else ""
    if first in ("done", "waive"):
        return Action.REPORT_CLOCK_DONE
    return Action.VIEW if first in ("", "list") else Action.REPORT_CLOCK


def handle(inv: Invocation) -> None:
    words = inv.args.strip().split(None, 2)
    first = words[0].lower() if words else ""
    if first in ("", "list"):
        if len(words) > 1:
            raise inv.usage_error("`report-clock list` takes nothing more.")
        return show(inv)
    if first == "done":
        return done(inv, words[1:])
    if first == "waive":
        return waive_clock(inv, words[1:])
    return start(inv)


def _word(text: str) -> str:
    if len(text) > WORD:
        raise UsageError(f"`{limits.shown(text, 30)}` is not a reporting regime. Regimes: "
                         "`/incident report-clock` lists them.", usage=USAGE)
    return text.lower()


def start(inv: Invocation) -> None:
    ctx = inv.ctx
    # `--aware-at 3h ago` has a space: join the flag's words before the generic parser sees them.
    args = re.sub(r"(--(?:aware|classified)-at)\s+(\S+\s+ago|\d{4}-\d{2}-\d{2}\s+\d{1,2}:\d{2}(?::\d{2})?)(?=\s|$)",
                  lambda m: f'{m.group(1)}="{m.group(2)}"', inv.args)
    parsed = parse_flags(args, values={"aware-at", "classified-at"}, switches=set(), usage=USAGE)
    if not parsed.words:
        raise inv.usage_error(f"Name a regime: {accepted_forms(ctx.config)}.")
    if len(parsed.words) > 2:
        raise inv.usage_error(f"Too many words: `{limits.shown(' '.join(parsed.words[2:]))}`. Give a regime and at "
                              "most one case.")
    regime_name = _word(parsed.words[0])
    case = _word(parsed.words[1]) if len(parsed.words) > 1 else None
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
        planner.plan_report(ctx, number, row, now=now, replace=True)  # written when this transaction commits
        effects.post(session, number, Msg.join([Msg.of(":scales: {who} started a reporting clock on {ref}:",
                                                       who=User(inv.user_id), ref=ref), *lines]), created_at=now)
        effects.summary(session, number, created_at=now)
    points = ", ".join(ctx.config.scheduler.report_reminders)
    inv.reply(Msg.join([Msg.of("Reporting clock started on {ref}. Reminders: {points} before each deadline.",
                               ref=ref, points=points), *lines]))


def _regime_and_text(inv: Invocation, words: list[str], example: str) -> tuple[str, str]:
    if len(words) < 2:
        raise inv.usage_error(example)
    return _word(words[0]), words[1]


def done(inv: Invocation, words: list[str]) -> None:
    ctx = inv.ctx
    regime_name, reference = _regime_and_text(
        inv, words, "Give the regime and the reference of the report you filed, e.g. "
                    "`/incident report-clock done gdpr-72h DPA-2026-118`.")
    number = inv.require_incident()
    with ctx.db.session() as session:
        incident = incidents.get(session, number, lock=True)
        row, stage, complete = record_done(session, ctx.clock, ctx.config, incident, regime_name, reference,
                                           actor=inv.user_id, usage=USAGE)
        ref, regime, now = incident.ref, row.regime, ctx.clock.now()
        planner.timers(ctx).cancel_prefix(planner.report_key(number, regime, stage["stage"], ""))
        rest = "every report of this regime is recorded" if complete else "the next stage's reminders keep running"
        effects.post(session, number, Msg.of(
            ":white_check_mark: {who} recorded the {regime} {label} for {ref} (reference {reference}); {rest}.",
            who=User(inv.user_id), regime=regime, label=stage["label"], ref=ref, reference=Code(stage["reference"]),
            rest=rest), created_at=now)
        effects.summary(session, number, created_at=now)
    inv.reply(Msg.of("Recorded: {regime} {label} for {ref}, reference {reference}.", regime=regime,
                     label=stage["label"], ref=ref, reference=Code(stage["reference"])))


def waive_clock(inv: Invocation, words: list[str]) -> None:
    ctx = inv.ctx
    regime_name, reason = _regime_and_text(
        inv, words, "Give the regime and why no report is owed, e.g. "
                    "`/incident report-clock waive gdpr-72h no personal data was involved`.")
    number = inv.require_incident()
    with ctx.db.session() as session:
        incident = incidents.get(session, number, lock=True)
        result = waive(session, ctx.clock, ctx.config, incident, regime_name, reason, actor=inv.user_id,
                       usage=USAGE)
        ref, regime, now = incident.ref, result.clock.regime, ctx.clock.now()
        planner.timers(ctx).cancel_prefix(incident_key(number, f"{planner.REPORT}{regime}:"))
        effects.post(session, number, Msg.of(
            ":white_circle: {who} waived the {regime} clock of {ref} ({stages}): {reason}. Its reminders stop.",
            who=User(inv.user_id), regime=regime, ref=ref, stages=", ".join(result.stages), reason=result.reason),
            created_at=now)
        effects.summary(session, number, created_at=now)
    inv.reply(Msg.of("Waived: the {regime} clock of {ref}. The reason is on the timeline.", regime=regime, ref=ref))


def show(inv: Invocation) -> None:
    ctx = inv.ctx
    now = ctx.clock.now()
    if inv.incident_id is not None:
        with ctx.db.session() as session:
            ref = incidents.get(session, inv.incident_id).ref
            rows = clocks_of(session, inv.incident_id)
            lines = [Msg.of("*Reporting clocks of {ref}*", ref=ref)]
            for row in rows:
                lines += describe(row, label_of(ctx.config, row.regime), now)
        if not rows:
            inv.reply(Msg.of("{ref} has no reporting clock. Start one with `/incident report-clock <regime>`; "
                             "regimes: {forms}.", ref=ref, forms=accepted_forms(ctx.config)))
            return
    else:
        lines = running_everywhere(inv, now)
        if not lines:
            inv.reply("No reporting clock is running.")
            return
    blocks = sections(lines)
    inv.reply(mrkdwn(Msg.join(lines)), blocks=render.cap_blocks(blocks))


def running_everywhere(inv: Invocation, now: datetime) -> list[Msg]:
    """Every running clock, for `report-clock` outside an incident channel. A private incident's clocks are
    shown to its members only; others see that it has some."""
    ctx = inv.ctx
    with ctx.db.session() as session:
        found = list(session.exec(select(ReportClock, Incident).join(Incident)
                                  .where(col(ReportClock.done_at).is_(None)).order_by(col(ReportClock.id))))
        access: dict[int, AccessFacts] = {i.id: incidents.access(session, i) for _, i in found
                                          if i.private and i.id is not None}  # (a stored incident has its id)
    # Membership is a question to Slack: asked after the transaction, once per private incident.
    visible = {n: bool(ctx.policy.decide(Action.VIEW, inv.user_id, facts, ctx.directory))
               for n, facts in access.items()}
    if not found:
        return []
    lines = [Msg.of("*Running reporting clocks*")]
    hidden: dict[str, int] = {}
    for row, incident in found:
        assert incident.id is not None
        if incident.private and not visible.get(incident.id, False):
            hidden[incident.ref] = hidden.get(incident.ref, 0) + 1
            continue
        described = describe(row, label_of(ctx.config, row.regime), now)
        lines.append(Msg.of("{ref} · ", ref=incident.ref) + described[0])
        lines += described[1:]
    for ref, count in hidden.items():
        lines.append(Msg.of("{ref} · a private incident with {count} running clock(s); details for its members.",
                            ref=ref, count=count))
    return lines


def summary_section(ctx: AppContext, session: Session, incident: Incident) -> list[dict[str, Any]]:
    """The pinned summary's Reporting deadlines: each clock, each stage's deadline and state."""
    assert incident.id is not None
    rows = clocks_of(session, incident.id)
    if not rows:
        return []
    lines = [Msg.of(":scales: *Reporting deadlines*")]
    now = ctx.clock.now()
    for row in rows:
        lines += describe(row, label_of(ctx.config, row.regime), now)
    return sections(lines)


def register(app: App, ctx: AppContext) -> None:
    ctx.commands.add("report-clock", handle, usage=USAGE, incident="optional", allow_resolved=True,
                     summary="regulatory reporting deadlines: start one (eu-ai-act-art73, gdpr-72h, nis2, dora, ...), "
                             "record a filed report, waive one that does not apply, or list them",
                     action=needs)
    ctx.summary_sections.append(summary_section)  # last: the deadlines close the pinned summary
