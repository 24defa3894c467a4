"""The tabletop's messages as Slack shows them: the briefing, the start note in the sandbox, each inject and the
scorecard, rendered from the stored run when the effects runner posts them (bot.tabletop.runner records them)."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from bot.core.durations import format_duration
from bot.core.text import Channel, Msg, Raw, User
from bot.slack import render
from bot.slack.context import AppContext
from bot.slack.text import mrkdwn
from bot.store.models import Incident
from bot.store.models.tabletop import ExerciseRun, Scorecard
from bot.tabletop import runner
from bot.tabletop.render import to_mrkdwn
from bot.tabletop.scenario import Scenario


def scorecard_blocks(markdown: str) -> list[dict]:
    mrkdwn_text = to_mrkdwn(markdown)
    head, _, body = mrkdwn_text.partition("\n")
    blocks = [render.header(head.strip("*")), render.context(":performing_arts: EXERCISE — not a real incident")]
    blocks += [render.section(chunk) for chunk in render.chunk_lines(body.strip().splitlines())]
    return render.cap_blocks(blocks, note="Scorecard cut at Slack's block limit; the stored copy has it all.")


def briefing_blocks(scenario: Scenario, facilitator: str, explanation: str) -> list[dict]:
    known = Msg.join([Msg.of("• {fact}", fact=f) for f in scenario.starting_facts])
    opts = ""
    if scenario.page_real_people:
        opts += " (this scenario opts in to paging)"
    if scenario.allow_real_endpoints:
        opts += "; evidence probes may call real model endpoints (the scenario opts in)"
    return [
        render.header(f"{runner.FLAG}Tabletop: {scenario.title}"),
        render.context(":performing_arts: EXERCISE — a rehearsal. Levers run as dry-runs; nobody real is paged"
                       + opts + "."),
        render.section(mrkdwn(Msg.of("{summary}", summary=scenario.summary.strip()))),
        render.section(mrkdwn(Msg.of("*What you know at the start*\n{known}", known=Raw(known)))),
        render.section(mrkdwn(Msg.of(
            "*Opened as* {explanation}. New facts will arrive here as the exercise runs. Work it as a real "
            "incident with the real commands (`/incident ic`, `/incident sev`, `/incident status`, "
            "`/incident step <id> done`, `/incident contain <lever>` — a dry run here — `/incident contained`, …). "
            "Facilitator: {facilitator}; the scorecard compares your containment time with a target of {target}.",
            explanation=explanation, facilitator=User(facilitator), target=format_duration(scenario.target_mttc)))),
    ]


def _run(session: Session, data: dict[str, Any]) -> tuple[ExerciseRun, Scenario] | None:
    run = session.get(ExerciseRun, data.get("run"))
    if run is None:
        return None
    return run, Scenario.from_snapshot(run.scenario)


def briefing_view(ctx: AppContext, session: Session, data: dict[str, Any]) -> tuple[str, list[dict] | None]:
    found = _run(session, data)
    if found is None:
        return "A tabletop exercise that no longer exists.", None
    run, scenario = found
    return (mrkdwn(Msg.of("Tabletop exercise: {title}", title=scenario.title)),
            briefing_blocks(scenario, run.facilitator_id, str(data.get("explanation") or "")))


def started_view(ctx: AppContext, session: Session, data: dict[str, Any]) -> tuple[str, list[dict] | None]:
    found = _run(session, data)
    if found is None:
        return "A tabletop exercise that no longer exists.", None
    run, scenario = found
    incident = session.get(Incident, run.incident_id)
    channel = incident.channel_id if incident is not None else None
    where: Any = Channel(channel) if channel else "(no channel could be created; see the announcement)"
    return mrkdwn(Msg.of(":performing_arts: {who} started the tabletop *{title}* as INC-{n}: {where}. {count} "
                         "injects over {span}.", who=User(run.facilitator_id), title=scenario.title,
                         n=run.incident_id, where=where, count=len(scenario.injects),
                         span=format_duration(scenario.duration))), None


def inject_view(ctx: AppContext, session: Session, data: dict[str, Any]) -> tuple[str, list[dict] | None]:
    found = _run(session, data)
    index = int(data.get("index") or 0)
    if found is None or index >= len(found[1].injects):
        return "An inject of a tabletop exercise that no longer exists.", None
    scenario = found[1]
    inject = scenario.injects[index]
    return mrkdwn(Msg.of(":incoming_envelope: *Inject {i} of {total}* (+{at}): {text}", i=index + 1,
                         total=len(scenario.injects), at=format_duration(inject.at), text=inject.text)), None


def inject_posted(ctx: AppContext, job: Any, channel: str, ts: str) -> None:
    data = job.payload.get("data") or {}
    with ctx.db.session() as session:
        runner.inject_posted(session, int(data["run"]), int(data["index"]), ts)


def scorecard_view(ctx: AppContext, session: Session, data: dict[str, Any]) -> tuple[str, list[dict] | None]:
    card = session.exec(select(Scorecard).where(Scorecard.run_id == data.get("run"))).first()
    run = session.get(ExerciseRun, data.get("run"))
    if card is None or run is None:
        return "The scorecard of a tabletop exercise that no longer exists.", None
    return (mrkdwn(Msg.of("Scorecard — {title}", title=run.scenario_title)), scorecard_blocks(card.text))


def register(ctx: AppContext) -> None:
    assert ctx.slack_effects is not None
    ctx.slack_effects.views[runner.BRIEFING_VIEW] = briefing_view
    ctx.slack_effects.views[runner.STARTED_VIEW] = started_view
    ctx.slack_effects.views[runner.INJECT_VIEW] = inject_view
    ctx.slack_effects.views[runner.SCORECARD_VIEW] = scorecard_view
    ctx.slack_effects.thens[runner.INJECT_VIEW] = inject_posted
