"""Running an exercise: start it in a sandbox, deliver injects on the clock, pause, fast-forward, end.

Plain functions over the services and the clock. Like every domain flow they decide and record: the messages an
exercise calls for (the briefing, the injects, the scorecard, the notes in the sandbox channel) are recorded as
side effects in the transaction that changes the run, and the transport posts them after the commit, exactly
once and in order, rendering the views named here (`BRIEFING_VIEW`, `STARTED_VIEW`, `INJECT_VIEW`,
`SCORECARD_VIEW`) from the stored run. Every message about an exercise carries the [EXERCISE] flag.

Injects are timers (`ctx.timers`, job `tabletop_inject`, key `inc-<n>:inject:<i>`), due at
`started_at + offset + shift`: a pause adds its length to the shift, `next` pulls the rest of the script
forward by the time it skipped. Delivery is idempotent (one InjectDelivery row per run and inject), so a
timer firing while the facilitator types `next` posts the inject once.

Who may control a run (next / pause / resume / end) is the permission policy's `tabletop` rule, asked before
the run is locked (the facts it needs may come from outside the database).
"""

from __future__ import annotations

import fnmatch
import importlib.util
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from bot.app.opening import may_page, open_and_provision
from bot.config.org import Config
from bot.core import audit, effects, facts, hooks, incidents, timeline
from bot.core.durations import format_duration
from bot.core.errors import Conflict, NotAllowed, NotFound
from bot.core.facts import StepFact
from bot.core.incidents import OpenRequest
from bot.core.policy import Action
from bot.core.severity import Inputs
from bot.core.text import Channel, Code, Msg, Raw, User
from bot.core.timers import incident_key
from bot.store.models import Incident
from bot.store.models.tabletop import ENDED, PAUSED, RUNNING, ExerciseRun, InjectDelivery, Scorecard
from bot.tabletop.render import scorecard_markdown
from bot.tabletop.scenario import Scenario
from bot.tabletop.scorecard import Card, Fact, compute

if TYPE_CHECKING:
    from bot.app.services import Services

log = logging.getLogger(__name__)

JOB = "tabletop_inject"
FLAG = "[EXERCISE] "
# Views the transport renders when it posts (from the stored run, so a retried post says the same).
BRIEFING_VIEW = "tabletop_briefing"      # data: run, explanation
STARTED_VIEW = "tabletop_started"        # data: run (posted in the sandbox once the exercise channel exists)
INJECT_VIEW = "tabletop_inject"          # data: run, index; its `then` keeps the message's ts on the delivery
SCORECARD_VIEW = "tabletop_scorecard"    # data: run


# ----- sandbox channels ----------------------------------------------------------------------------------
def is_sandbox(config: Config, channel_id: str, channel_name: str) -> bool:
    name = channel_name.lstrip("#")
    return any(channel_id == pattern or fnmatch.fnmatchcase(name, pattern.lstrip("#"))
               for pattern in config.sandbox_channels)


def sandbox_description(config: Config) -> Msg:
    if not config.sandbox_channels:
        return Msg.of("No sandbox channels are configured: add `sandbox_channels` (channel ids or name patterns "
                      "such as `tabletop-*`) to the FIREBREAK_CONFIG file.")
    named = {f"s{i}": (Channel(p) if p[:1] in "CG" and p.isupper() else Code("#" + p.lstrip("#")))
             for i, p in enumerate(config.sandbox_channels)}
    return Msg.of("Tabletop exercises run only in a sandbox channel: " + ", ".join("{" + k + "}" for k in named)
                  + ".", **named)


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
    `page_real_people: true`. (The escalation notices in bot.app.opening apply this rule.)"""
    return may_page(session, incident_id)


def may_control(ctx: Services, run_id: int, user_id: str) -> None:
    """The policy's `tabletop` rule (by default the facilitator, who reported the exercise incident, or a
    commander). Asked before any transaction is open: a commander's group membership may have to be asked of
    Slack. A refusal is audited like every refused privileged attempt."""
    with ctx.db.session() as session:
        run = session.get(ExerciseRun, run_id)
        if run is None:
            raise NotFound(f"Exercise run {run_id} does not exist.")
        access = incidents.access(session, incidents.get(session, run.incident_id))
        incident_id = run.incident_id
    decision = ctx.policy.decide(Action.TABLETOP, user_id, access, ctx.directory)
    if decision.allowed:
        return
    with ctx.db.session() as session:
        audit.denied(session, ctx.clock, incident_id, user_id, Action.TABLETOP, decision)
    assert decision.reason is not None
    raise NotAllowed(decision.reason)


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


def start(ctx: Services, scenario: Scenario, *, facilitator: str, sandbox_channel: str) -> Started:
    """Open the exercise incident (channel `inc-<n>-exercise-…`), brief the team, schedule the injects."""
    op = scenario.opening
    inputs = Inputs(category=scenario.category, reach=op.reach, exposure=op.exposure, data=op.data,
                    ongoing=op.ongoing, regulated_domain=op.domain)
    req = OpenRequest(title=scenario.title, reporter_id=facilitator, inputs=inputs, description=scenario.summary,
                      severity_override=op.severity, override_reason="set by the scenario's opening",
                      is_exercise=True)
    opened = open_and_provision(ctx, req, pages_allowed=scenario.page_real_people)
    number = opened.number
    now = ctx.clock.now()
    with ctx.db.session() as session:
        run = ExerciseRun(incident_id=number, scenario_key=scenario.key, scenario_title=scenario.title,
                          scenario=scenario.snapshot(), sandbox_channel_id=sandbox_channel,
                          facilitator_id=facilitator, page_real_people=scenario.page_real_people, started_at=now)
        session.add(run)
        session.flush()
        run_id = run.id
        assert run_id is not None
        timeline.record(session, ctx.clock, number, "exercise_started",
                        f"Tabletop exercise started: {scenario.title} ({scenario.key})", actor=facilitator,
                        data={"scenario": scenario.key, "run": run_id, "page_real_people": scenario.page_real_people,
                              "sandbox": sandbox_channel, "injects": len(scenario.injects)})
        if scenario.allow_real_endpoints:
            from bot.evidence.probe import allow_real_endpoints

            allow_real_endpoints(session, ctx.clock, number, actor=facilitator, scenario=scenario.key)
        # The players are the people of the sandbox channel: they join the exercise channel once it exists.
        effects.invite(session, number, [], members_of=sandbox_channel, created_at=now,
                       key=f"inc-{number}:invite-players")
        effects.post(session, number, view=BRIEFING_VIEW, data={"run": run_id, "explanation": opened.explanation},
                     created_at=now, key=f"inc-{number}:briefing")
        effects.post(session, number, to=effects.channel(sandbox_channel), view=STARTED_VIEW, data={"run": run_id},
                     created_at=now, key=f"inc-{number}:started")
        plan = inject_plan(session, run)
    schedule(ctx, plan)  # after the commit: the durable timers never touch their store inside a session
    scheduler = ctx.scheduler
    if scenario.page_real_people and scheduler is not None:
        scheduler.allow_exercise_pages(number)  # the acknowledgement pager may page, as the scenario asks
    ctx.hooks.emit(hooks.EXERCISE_STARTED, ctx=ctx, incident_id=number, actor=facilitator, run_id=run_id)
    return Started(run_id, number, opened.channel_id)


# ----- injects -------------------------------------------------------------------------------------------
Plan = list[tuple[str, datetime, dict[str, int]]]  # (timer key, due time, job kwargs)


def inject_plan(session: Session, run: ExerciseRun) -> Plan:
    """The timers a running exercise needs: every undelivered inject at its current due time."""
    scenario = Scenario.from_snapshot(run.scenario)
    assert run.id is not None  # a stored run
    done = delivered(session, run.id)
    return [(incident_key(run.incident_id, f"inject:{i}"), due_at(run, scenario, i),
             {"run_id": run.id, "index": i}) for i in range(len(scenario.injects)) if i not in done]


def schedule(ctx: Services, plan: Plan) -> None:
    """Set the timers of a plan. Call it after the transaction that computed the plan has committed (the
    durable scheduler keeps its own store and must not be written inside a session)."""
    timers = ctx.timers
    for key, when, kwargs in plan:
        timers.at(key, when, JOB, **kwargs)


def reschedule_running(ctx: Services) -> int:
    """Re-create the inject timers of every running exercise (after a restart with in-memory timers; the
    durable scheduler keeps them by itself). Injects overdue by then are delivered at the next run_due."""
    with ctx.db.session() as session:
        runs = list(session.exec(select(ExerciseRun).where(ExerciseRun.state == RUNNING)))
        plans = [inject_plan(session, run) for run in runs]
    for plan in plans:
        schedule(ctx, plan)
    return len(runs)


def unschedule(ctx: Services, incident_id: int) -> None:
    ctx.timers.cancel_prefix(incident_key(incident_id, "inject:"))


def inject_job(ctx: Services, *, run_id: int, index: int) -> None:
    """The timer job: deliver one inject (ignored when the run is paused, ended, or already has it)."""
    deliver(ctx, run_id, index, trigger="timer")


def deliver(ctx: Services, run_id: int, index: int, *, trigger: str) -> bool:
    """Record the inject's delivery and its message in one transaction (the unique delivery row makes a second
    trigger a no-op); the message's ts is kept on the delivery once it is posted."""
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
            session.flush()  # a concurrent delivery of the same inject fails here, before anything is recorded
            n = run.incident_id
            timeline.record(session, ctx.clock, n, "inject_posted",
                            f"Inject {index + 1}/{len(scenario.injects)} ({inject.id}): {inject.text}",
                            actor="firebreak", data={"inject": inject.id, "index": index, "trigger": trigger})
            effects.post(session, n, view=INJECT_VIEW, data={"run": run_id, "index": index}, then=INJECT_VIEW,
                         created_at=now, key=incident_key(n, f"inject:{index}:post"))
            if index == len(scenario.injects) - 1:
                effects.post(session, n, Msg.of(
                    ":hourglass: That was the last inject. Keep working the incident; the facilitator ends the "
                    "exercise with `/incident tabletop end` to get the scorecard."), created_at=now,
                    key=incident_key(n, "inject:last"))
    except IntegrityError:
        return False  # delivered concurrently by the other trigger
    return True


def inject_posted(session: Session, run_id: int, index: int, ts: str) -> None:
    """Keep the ts of a posted inject on its delivery (the transport calls this when the post is done)."""
    row = session.exec(select(InjectDelivery).where(InjectDelivery.run_id == run_id,
                                                    InjectDelivery.inject_index == index)).first()
    if row is not None:
        row.message_ts = ts
        session.add(row)


def next_inject(ctx: Services, run_id: int, *, actor: str) -> tuple[int, int]:
    """Fast-forward: deliver the next inject now and pull the rest of the script forward. (index, total)."""
    may_control(ctx, run_id, actor)
    now = ctx.clock.now()
    with ctx.db.session() as session:
        run = lock_run(session, run_id)
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


def pause(ctx: Services, run_id: int, *, actor: str) -> int:
    may_control(ctx, run_id, actor)
    with ctx.db.session() as session:
        run = lock_run(session, run_id)
        if run.state != RUNNING:
            raise Conflict(f"The exercise is {run.state}, not running.")
        now = ctx.clock.now()
        run.state, run.paused_at = PAUSED, now
        session.add(run)
        timeline.record(session, ctx.clock, run.incident_id, "exercise_paused", "Exercise paused", actor=actor)
        incident_id = run.incident_id
        effects.post(session, incident_id, Msg.of(":double_vertical_bar: {who} paused the exercise: no injects "
                                                  "until it resumes.", who=User(actor)), created_at=now)
    unschedule(ctx, incident_id)  # a timer firing before this finds the run paused and posts nothing
    return incident_id


def resume(ctx: Services, run_id: int, *, actor: str) -> int:
    may_control(ctx, run_id, actor)
    with ctx.db.session() as session:
        run = lock_run(session, run_id)
        if run.state != PAUSED:
            raise Conflict(f"The exercise is {run.state}, not paused.")
        now = ctx.clock.now()
        paused_for = now - run.paused_at  # type: ignore[operator]
        run.shift_seconds += int(paused_for.total_seconds())
        run.state, run.paused_at = RUNNING, None
        session.add(run)
        plan = inject_plan(session, run)
        timeline.record(session, ctx.clock, run.incident_id, "exercise_resumed",
                        f"Exercise resumed after {format_duration(paused_for)}", actor=actor,
                        data={"paused_seconds": int(paused_for.total_seconds())})
        incident_id = run.incident_id
        effects.post(session, incident_id, Msg.of(":arrow_forward: {who} resumed the exercise; the remaining "
                                                  "injects moved later by the pause.", who=User(actor)),
                     created_at=now)
    schedule(ctx, plan)
    ctx.hooks.emit(hooks.EXERCISE_RESUMED, ctx=ctx, incident_id=incident_id, actor=actor, run_id=run_id)
    return incident_id


# ----- end -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ended:
    incident_id: int
    card: Card
    markdown: str
    postmortem_note: Msg


def _runbook_steps(ctx: Services, session: Session, incident: Incident) -> tuple[StepFact, ...]:
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


def postmortem_installed() -> bool:
    return importlib.util.find_spec("bot.postmortem") is not None


def end(ctx: Services, run_id: int, *, actor: str) -> Ended:
    """Stop the injects, score the run from its timeline, store the scorecard and record its posts, resolve
    the exercise incident, and have the postmortem draft uploaded when the postmortem feature is installed."""
    may_control(ctx, run_id, actor)
    with ctx.db.session() as session:
        run = lock_run(session, run_id)
        if run.state == ENDED:
            raise Conflict("This exercise has already ended; its scorecard is in the exercise channel.")
        now = ctx.clock.now()
        run.state, run.ended_at, run.ended_by = ENDED, now, actor
        session.add(run)
        incident = incidents.get(session, run.incident_id, lock=True)
        scenario = Scenario.from_snapshot(run.scenario)
        n = incident.id
        assert n is not None  # a stored incident
        events = [Fact(e.at, e.kind, e.data or {}) for e in timeline.events(session, n)]
        card = compute(scenario, ref=incident.ref, started=run.started_at, ended=now, events=events,
                       incident=facts.load(session, incident, ctx.rules, now),
                       steps=_runbook_steps(ctx, session, incident))
        markdown = scorecard_markdown(card, org_dir=ctx.settings.templates_dir)
        session.add(Scorecard(run_id=run_id, incident_id=n, created_at=now, data=card.to_json(), text=markdown))
        answered, expected = card.answers.answered, card.answers.expected
        timeline.record(session, ctx.clock, n, "exercise_ended",
                        f"Tabletop exercise ended; scorecard: {answered}/{expected} expected responses",
                        actor=actor, data={"run": run_id, "mttc": card.containment.mttc,
                                           "target": card.containment.target})
        resolved = incident.is_open
        if resolved:
            incidents.resolve(session, ctx.clock, incident, f"Tabletop exercise `{scenario.key}` ended", actor=actor)
        channel, sandbox = incident.channel_id, run.sandbox_channel_id
        effects.post(session, n, view=SCORECARD_VIEW, data={"run": run_id}, created_at=now,
                     key=f"inc-{n}:scorecard")
        if postmortem_installed():
            effects.upload(session, n, "postmortem", actor=actor, created_at=now, key=f"inc-{n}:exercise-postmortem")
            note = Msg.of("The postmortem draft (with the exercise banner) is being uploaded to the exercise "
                          "channel as {name}.", name=Code(f"{incident.ref}-postmortem.md"))
        else:
            note = Msg.of("No postmortem draft: the postmortem feature (bot.postmortem) is not installed in this "
                          "build.")
            effects.post(session, n, Msg.of(":memo: {note}", note=Raw(note)), created_at=now)
        c = card.containment
        verdict = "met" if c.met else "missed" if c.mttc is not None else "not contained"
        effects.post(session, n, Msg.of(
            ":checkered_flag: Tabletop *{title}* ({ref}) ended: MTTC {mttc} against {target} ({verdict}); "
            "{answered}/{expected} expected responses. Scorecard in {where}.", title=scenario.title, ref=incident.ref,
            mttc=format_duration(c.mttc) if c.mttc is not None else "—", target=format_duration(c.target),
            verdict=verdict, answered=answered, expected=expected,
            where=Channel(channel) if channel else "the exercise's record (it has no channel)"),
            to=effects.channel(sandbox), created_at=now, key=f"inc-{n}:ended")
        effects.summary(session, n, created_at=now)
    unschedule(ctx, n)  # after the commit; a timer firing before this finds the run ended
    if resolved:
        ctx.hooks.emit(hooks.RESOLVED, ctx=ctx, incident_id=n, actor=actor)
    return Ended(n, card, markdown, note)


def render_postmortem(ctx: Services, incident_id: int) -> tuple[Any, str]:
    """The postmortem draft of an exercise as a string (for the offline run's files), or None and why not."""
    if not postmortem_installed():
        return None, ("No postmortem draft: the postmortem feature (bot.postmortem) is not installed in this "
                      "build.")
    from bot.postmortem import render_draft

    try:
        draft = render_draft(ctx, incident_id)
    except Exception:  # noqa: BLE001 - report it rather than pretend a draft exists
        log.exception("postmortem draft for INC-%s failed", incident_id)
        return None, "The postmortem draft could not be rendered; the error has been logged."
    return draft, "Postmortem draft rendered (with the exercise banner)."
