"""Running an exercise: start it in a sandbox, deliver injects on the clock, pause, fast-forward, end.

Plain functions over a session and the clock, plus the Slack side effects each flow needs (posted after the
domain transaction commits). Every message posted here carries the [EXERCISE] flag.

Injects are timers (`ctx.timers`, job `tabletop_inject`, key `inc-<n>:inject:<i>`), due at
`started_at + offset + shift`: a pause adds its length to the shift, `next` pulls the rest of the script
forward by the time it skipped. Delivery is idempotent (one InjectDelivery row per run and inject), so a
timer firing while the facilitator types `next` posts the inject once.
"""

from __future__ import annotations

import fnmatch
import importlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from bot.config.org import Config
from bot.core import facts, hooks, incidents, timeline
from bot.core.durations import format_duration
from bot.core.errors import Conflict, NotAllowed, NotFound
from bot.core.facts import StepFact
from bot.core.incidents import OpenRequest
from bot.core.severity import Inputs
from bot.core.text import Msg, User
from bot.core.timers import incident_key
from bot.slack import lifecycle, ops
from bot.slack import render as blocks
from bot.slack.context import AppContext
from bot.slack.lifecycle import open_and_provision
from bot.slack.usergroups import is_commander
from bot.slack.views.tabletop import scorecard_blocks
from bot.store.models import Incident
from bot.store.models.tabletop import ENDED, PAUSED, RUNNING, ExerciseRun, InjectDelivery, Scorecard
from bot.tabletop.render import scorecard_markdown
from bot.tabletop.scenario import Scenario
from bot.tabletop.scorecard import Fact, compute

log = logging.getLogger(__name__)

JOB = "tabletop_inject"
FLAG = "[EXERCISE] "


def flagged(text: str) -> str:
    return text if text.startswith(FLAG.strip()) else FLAG + text


def post(ctx: AppContext, incident_id: int, channel: str | None, text: str,
         body: list[dict] | None = None) -> None:
    ops.post(ctx, incident_id, channel, flagged(text), body)


# ----- sandbox channels ----------------------------------------------------------------------------------
def is_sandbox(config: Config, channel_id: str, channel_name: str) -> bool:
    name = channel_name.lstrip("#")
    return any(channel_id == pattern or fnmatch.fnmatchcase(name, pattern.lstrip("#"))
               for pattern in config.sandbox_channels)


def sandbox_description(config: Config) -> str:
    if not config.sandbox_channels:
        return ("No sandbox channels are configured: add `sandbox_channels` (channel ids or name patterns such "
                "as `tabletop-*`) to the FIREBREAK_CONFIG file.")
    named = ", ".join(f"<#{p}>" if p[:1] in "CG" and p.isupper() else f"`#{p.lstrip('#')}`"
                      for p in config.sandbox_channels)
    return f"Tabletop exercises run only in a sandbox channel: {named}."


# ----- lookups -------------------------------------------------------------------------------------------
def run_for_incident(session: Session, incident_id: int) -> ExerciseRun | None:
    return session.exec(select(ExerciseRun).where(ExerciseRun.incident_id == incident_id)).first()


def active_in_sandbox(session: Session, channel_id: str) -> ExerciseRun | None:
    query = (select(ExerciseRun).where(ExerciseRun.sandbox_channel_id == channel_id, ExerciseRun.state != ENDED)
             .order_by(ExerciseRun.id.desc()))  # type: ignore[union-attr]
    return session.exec(query).first()


def lock_run(session: Session, run_id: int) -> ExerciseRun:
    run = session.exec(select(ExerciseRun).where(ExerciseRun.id == run_id).with_for_update()).first()
    if run is None:
        raise NotFound(f"Exercise run {run_id} does not exist.")
    return run


def pages_allowed(session: Session, incident_id: int) -> bool:
    """May this incident page real people? Real incidents: yes. Exercises: only when their scenario set
    `page_real_people: true`. (The escalation notices in bot.slack.lifecycle apply this rule.)"""
    return lifecycle.may_page(session, incident_id)


def may_control(ctx: AppContext, run: ExerciseRun, user_id: str) -> None:
    if not is_commander(ctx, user_id, run.facilitator_id):
        raise NotAllowed(Msg.of("Only the facilitator ({who}) or the configured commanders may control this "
                                "exercise.", who=User(run.facilitator_id)))


def due_at(run: ExerciseRun, scenario: Scenario, index: int) -> datetime:
    return run.started_at + scenario.injects[index].at + timedelta(seconds=run.shift_seconds)


def delivered(session: Session, run_id: int) -> set[int]:
    rows = session.exec(select(InjectDelivery.inject_index).where(InjectDelivery.run_id == run_id))
    return set(rows)


# ----- start ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Started:
    run_id: int
    incident_id: int
    channel_id: str | None


def start(ctx: AppContext, scenario: Scenario, *, facilitator: str, sandbox_channel: str) -> Started:
    """Open the exercise incident (channel `inc-<n>-exercise-…`), brief the team, schedule the injects."""
    op = scenario.opening
    inputs = Inputs(category=scenario.category, reach=op.reach, exposure=op.exposure, data=op.data,
                    ongoing=op.ongoing, regulated_domain=op.domain)
    req = OpenRequest(title=scenario.title, reporter_id=facilitator, inputs=inputs, description=scenario.summary,
                      severity_override=op.severity, override_reason="set by the scenario's opening",
                      is_exercise=True)
    number, channel, explanation = open_and_provision(ctx, req, pages_allowed=scenario.page_real_people)
    now = ctx.clock.now()
    with ctx.db.session() as session:
        run = ExerciseRun(incident_id=number, scenario_key=scenario.key, scenario_title=scenario.title,
                          scenario=scenario.snapshot(), sandbox_channel_id=sandbox_channel,
                          facilitator_id=facilitator, page_real_people=scenario.page_real_people, started_at=now)
        session.add(run)
        session.flush()
        run_id = run.id
        timeline.record(session, ctx.clock, number, "exercise_started",
                        f"Tabletop exercise started: {scenario.title} ({scenario.key})", actor=facilitator,
                        data={"scenario": scenario.key, "run": run_id, "page_real_people": scenario.page_real_people,
                              "sandbox": sandbox_channel, "injects": len(scenario.injects)})
        if scenario.allow_real_endpoints:
            from bot.evidence.probe import allow_real_endpoints

            allow_real_endpoints(session, ctx.clock, number, actor=facilitator, scenario=scenario.key)
        plan = inject_plan(session, run)
    assert run_id is not None
    schedule(ctx, plan)  # after the commit: the durable timers never touch their store inside a session
    scheduler = ctx.scheduler
    if scenario.page_real_people and scheduler is not None:
        scheduler.allow_exercise_pages(number)  # the acknowledgement pager may page, as the scenario asks
    ctx.hooks.emit(hooks.EXERCISE_STARTED, ctx=ctx, incident_id=number, actor=facilitator, run_id=run_id)
    if channel:
        invite_sandbox_members(ctx, number, sandbox_channel, channel)
    post(ctx, number, channel, f"Tabletop exercise: {scenario.title}", briefing_blocks(scenario, facilitator,
                                                                                         explanation))
    where = f"<#{channel}>" if channel else "(no channel could be created; see the announcement)"
    post(ctx, number, sandbox_channel,
         f":performing_arts: <@{facilitator}> started the tabletop *{scenario.title}* as INC-{number}: {where}. "
         f"{len(scenario.injects)} injects over {format_duration(scenario.duration)}.")
    return Started(run_id, number, channel)


def invite_sandbox_members(ctx: AppContext, incident_id: int, sandbox: str, channel: str) -> None:
    """Bring the people of the sandbox channel (the players) into the exercise channel."""
    def members(ch: str) -> set[str]:
        resp = ops.safe_call(ctx, incident_id, "conversations.members", ctx.client.conversations_members,
                             channel=ch, limit=1000)
        return set(resp.get("members") or []) if resp else set()

    missing = sorted(members(sandbox) - members(channel))
    if missing:
        ops.safe_call(ctx, incident_id, "conversations.invite (players)", ctx.client.conversations_invite,
                      channel=channel, users=",".join(missing[:1000]))


def briefing_blocks(scenario: Scenario, facilitator: str, explanation: str) -> list[dict]:
    known = "\n".join(f"• {f}" for f in scenario.starting_facts)
    return [
        blocks.header(f"{FLAG}Tabletop: {scenario.title}"),
        blocks.context(":performing_arts: EXERCISE — a rehearsal. Levers run as dry-runs; nobody real is paged"
                       + (" (this scenario opts in to paging)" if scenario.page_real_people else "")
                       + ("; evidence probes may call real model endpoints (the scenario opts in)"
                          if scenario.allow_real_endpoints else "") + "."),
        blocks.section(scenario.summary.strip()),
        blocks.section(f"*What you know at the start*\n{known}"),
        blocks.section(f"*Opened as* {explanation}. New facts will arrive here as the exercise runs. "
                       f"Work it as a real incident with the real commands (`/incident ic`, `/incident sev`, "
                       f"`/incident status`, `/incident step <id> done`, `/incident contain <lever>` — a dry run here — "
                       f"`/incident contained`, …). Facilitator: <@{facilitator}>; "
                       f"the scorecard compares your containment time with a target of "
                       f"{format_duration(scenario.target_mttc)}."),
    ]


# ----- injects -------------------------------------------------------------------------------------------
Plan = list[tuple[str, datetime, dict[str, int]]]  # (timer key, due time, job kwargs)


def inject_plan(session: Session, run: ExerciseRun) -> Plan:
    """The timers a running exercise needs: every undelivered inject at its current due time."""
    scenario = Scenario.from_snapshot(run.scenario)
    assert run.id is not None  # a stored run
    done = delivered(session, run.id)
    return [(incident_key(run.incident_id, f"inject:{i}"), due_at(run, scenario, i),
             {"run_id": run.id, "index": i}) for i in range(len(scenario.injects)) if i not in done]


def schedule(ctx: AppContext, plan: Plan) -> None:
    """Set the timers of a plan. Call it after the transaction that computed the plan has committed (the
    durable scheduler keeps its own store and must not be written inside a session)."""
    timers = ctx.timers
    for key, when, kwargs in plan:
        timers.at(key, when, JOB, **kwargs)


def reschedule_running(ctx: AppContext) -> int:
    """Re-create the inject timers of every running exercise (after a restart with in-memory timers; the
    durable scheduler keeps them by itself). Injects overdue by then are delivered at the next run_due."""
    with ctx.db.session() as session:
        runs = list(session.exec(select(ExerciseRun).where(ExerciseRun.state == RUNNING)))
        plans = [inject_plan(session, run) for run in runs]
    for plan in plans:
        schedule(ctx, plan)
    return len(runs)


def unschedule(ctx: AppContext, incident_id: int) -> None:
    ctx.timers.cancel_prefix(incident_key(incident_id, "inject:"))


def inject_job(ctx: AppContext, *, run_id: int, index: int) -> None:
    """The timer job: deliver one inject (ignored when the run is paused, ended, or already has it)."""
    deliver(ctx, run_id, index, trigger="timer")


def deliver(ctx: AppContext, run_id: int, index: int, *, trigger: str) -> bool:
    now = ctx.clock.now()
    try:
        with ctx.db.session() as session:
            run = lock_run(session, run_id)
            if run.state != RUNNING or index in delivered(session, run_id):
                return False
            scenario = Scenario.from_snapshot(run.scenario)
            inject = scenario.injects[index]
            session.add(InjectDelivery(run_id=run_id, inject_index=index, inject_id=inject.id,
                                       due_at=due_at(run, scenario, index), posted_at=now, trigger=trigger))
            timeline.record(session, ctx.clock, run.incident_id, "inject_posted",
                            f"Inject {index + 1}/{len(scenario.injects)} ({inject.id}): {inject.text}",
                            actor="firebreak", data={"inject": inject.id, "index": index, "trigger": trigger})
            incident_id = run.incident_id
            channel = session.get(Incident, incident_id).channel_id  # type: ignore[union-attr]
            last = index == len(scenario.injects) - 1
    except IntegrityError:
        return False  # delivered concurrently by the other trigger
    ts = ops.post_now(ctx, incident_id, channel, flagged(
              f":incoming_envelope: *Inject {index + 1} of {len(scenario.injects)}* "
              f"(+{format_duration(inject.at)}): {inject.text}"))
    if ts:
        with ctx.db.session() as session:
            row = session.exec(select(InjectDelivery).where(InjectDelivery.run_id == run_id,
                                                            InjectDelivery.inject_index == index)).one()
            row.message_ts = ts
            session.add(row)
    if last:
        post(ctx, incident_id, channel, ":hourglass: That was the last inject. Keep working the incident; the "
             "facilitator ends the exercise with `/incident tabletop end` to get the scorecard.")
    return True


def next_inject(ctx: AppContext, run_id: int, *, actor: str) -> tuple[int, int]:
    """Fast-forward: deliver the next inject now and pull the rest of the script forward. (index, total)."""
    now = ctx.clock.now()
    with ctx.db.session() as session:
        run = lock_run(session, run_id)
        may_control(ctx, run, actor)
        if run.state == PAUSED:
            raise Conflict("The exercise is paused; `/incident tabletop resume` it first.")
        if run.state == ENDED:
            raise Conflict("This exercise has ended.")
        scenario = Scenario.from_snapshot(run.scenario)
        pending = [i for i in range(len(scenario.injects)) if i not in delivered(session, run_id)]
        if not pending:
            raise Conflict("Every inject has been delivered; `/incident tabletop end` produces the scorecard.")
        index = pending[0]
        skipped = due_at(run, scenario, index) - now
        if skipped > timedelta(0):
            run.shift_seconds -= int(skipped.total_seconds())
            session.add(run)
        incident_id = run.incident_id
        plan = [t for t in inject_plan(session, run) if t[2]["index"] != index]
    unschedule(ctx, incident_id)
    schedule(ctx, plan)
    deliver(ctx, run_id, index, trigger="next")
    return index, len(scenario.injects)


def pause(ctx: AppContext, run_id: int, *, actor: str) -> int:
    with ctx.db.session() as session:
        run = lock_run(session, run_id)
        may_control(ctx, run, actor)
        if run.state != RUNNING:
            raise Conflict(f"The exercise is {run.state}, not running.")
        run.state, run.paused_at = PAUSED, ctx.clock.now()
        session.add(run)
        timeline.record(session, ctx.clock, run.incident_id, "exercise_paused", "Exercise paused", actor=actor)
        incident_id = run.incident_id
    unschedule(ctx, incident_id)  # a timer firing before this finds the run paused and posts nothing
    ops.post_in_incident(ctx, incident_id, flagged(f":double_vertical_bar: <@{actor}> paused the exercise: "
                                                   "no injects until it resumes."))
    return incident_id


def resume(ctx: AppContext, run_id: int, *, actor: str) -> int:
    with ctx.db.session() as session:
        run = lock_run(session, run_id)
        may_control(ctx, run, actor)
        if run.state != PAUSED:
            raise Conflict(f"The exercise is {run.state}, not paused.")
        paused_for = ctx.clock.now() - run.paused_at  # type: ignore[operator]
        run.shift_seconds += int(paused_for.total_seconds())
        run.state, run.paused_at = RUNNING, None
        session.add(run)
        plan = inject_plan(session, run)
        timeline.record(session, ctx.clock, run.incident_id, "exercise_resumed",
                        f"Exercise resumed after {format_duration(paused_for)}", actor=actor,
                        data={"paused_seconds": int(paused_for.total_seconds())})
        incident_id = run.incident_id
    schedule(ctx, plan)
    ctx.hooks.emit(hooks.EXERCISE_RESUMED, ctx=ctx, incident_id=incident_id, actor=actor, run_id=run_id)
    ops.post_in_incident(ctx, incident_id, flagged(f":arrow_forward: <@{actor}> resumed the exercise; the "
                                                   "remaining injects moved later by the pause."))
    return incident_id


# ----- end -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ended:
    incident_id: int
    card: dict[str, Any]
    markdown: str
    postmortem: Any  # what bot.postmortem.render_draft returned, or None
    postmortem_note: str


def _runbook_steps(ctx: AppContext, session: Session, incident: Incident) -> tuple[StepFact, ...]:
    """The runbook steps as the postmortem sees them (the runbook feature's provider, judged by
    bot.core.facts); none when no runbook feature is installed."""
    if not ctx.postmortem_providers:
        return ()
    from bot.postmortem.providers import collect

    try:
        return tuple(collect(ctx, session, incident).get("runbook") or ())
    except Exception:  # noqa: BLE001 - a provider's bug must not lose the scorecard
        log.exception("postmortem providers failed for INC-%s; scoring without runbook steps", incident.id)
        return ()


def end(ctx: AppContext, run_id: int, *, actor: str) -> Ended:
    """Stop the injects, score the run from its timeline, store and post the scorecard, resolve the
    exercise incident, and render the postmortem draft when the postmortem feature is installed."""
    with ctx.db.session() as session:
        run = lock_run(session, run_id)
        may_control(ctx, run, actor)
        if run.state == ENDED:
            raise Conflict("This exercise has already ended; its scorecard is in the exercise channel.")
        now = ctx.clock.now()
        run.state, run.ended_at, run.ended_by = ENDED, now, actor
        session.add(run)
        incident = incidents.get(session, run.incident_id, lock=True)
        scenario = Scenario.from_snapshot(run.scenario)
        assert incident.id is not None  # a stored incident
        events = [Fact(e.at, e.kind, e.data or {}) for e in timeline.events(session, incident.id)]
        card = compute(scenario, ref=incident.ref, started=run.started_at, ended=now, events=events,
                       incident=facts.load(session, incident, ctx.rules, now),
                       steps=_runbook_steps(ctx, session, incident))
        markdown = scorecard_markdown(card, org_dir=ctx.settings.templates_dir)
        sc = Scorecard(run_id=run_id, incident_id=incident.id, created_at=now, data=card, text=markdown)
        session.add(sc)
        timeline.record(session, ctx.clock, incident.id, "exercise_ended",
                        f"Tabletop exercise ended; scorecard: {card['answers']['answered']}/"
                        f"{card['answers']['expected']} expected responses", actor=actor,
                        data={"run": run_id, "mttc": card["containment"]["mttc"],
                              "target": card["containment"]["target"]})
        resolved = incident.is_open
        if resolved:
            incidents.resolve(session, ctx.clock, incident, f"Tabletop exercise `{scenario.key}` ended",
                              actor=actor)
        incident_id, channel, sandbox = incident.id, incident.channel_id, run.sandbox_channel_id
    assert incident_id is not None
    unschedule(ctx, incident_id)  # after the commit; a timer firing before this finds the run ended
    post(ctx, incident_id, channel, f"Scorecard — {scenario.title}", scorecard_blocks(markdown))
    ops.refresh(ctx, incident_id)
    if resolved:
        ctx.hooks.emit(hooks.RESOLVED, ctx=ctx, incident_id=incident_id, actor=actor)
    draft, note = render_postmortem(ctx, incident_id)
    if draft is not None:
        from bot.slack.commands.postmortem import publish

        filename = publish(ctx, incident_id, actor=actor)
        note = (f"Postmortem draft (with the exercise banner) uploaded to the exercise channel as `{filename}`."
                if filename else "The postmortem draft could not be uploaded to Slack (recorded on the timeline); "
                f"`firebreak postmortem INC-{incident_id} -o FILE` writes it.")
    else:
        post(ctx, incident_id, channel, f":memo: {note}")
    c = card["containment"]
    verdict = "met" if c["met"] else "missed" if c["mttc"] is not None else "not contained"
    post(ctx, incident_id, sandbox,
         f":checkered_flag: Tabletop *{scenario.title}* (INC-{incident_id}) ended: MTTC "
         f"{format_duration(c['mttc']) if c['mttc'] is not None else '—'} against "
         f"{format_duration(c['target'])} ({verdict}); {card['answers']['answered']}/"
         f"{card['answers']['expected']} expected responses. Scorecard in <#{channel}>.")
    return Ended(incident_id, card, markdown, draft, note)


def render_postmortem(ctx: AppContext, incident_id: int) -> tuple[Any, str]:
    try:
        module = importlib.import_module("bot.postmortem")
        render_draft = module.render_draft
    except (ImportError, AttributeError):
        return None, ("No postmortem draft: the postmortem feature (bot.postmortem) is not installed in this "
                      "build.")
    try:
        draft = render_draft(ctx, incident_id)
    except Exception:  # noqa: BLE001 - report it rather than pretend a draft exists
        log.exception("postmortem draft for INC-%s failed", incident_id)
        return None, "The postmortem draft could not be rendered; the error has been logged."
    return draft, "Postmortem draft rendered (with the exercise banner)."
