"""`/incident tabletop start <scenario>|next|pause|resume|end|list`: the Slack face of tabletop exercises."""

from __future__ import annotations

from slack_bolt import App
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.core import incidents
from bot.core.durations import format_duration
from bot.core.errors import NotAllowed, NotFound, UsageError
from bot.core.text import Channel, Msg, Raw
from bot.slack import render
from bot.slack.commands import Invocation, split_first
from bot.slack.context import AppContext
from bot.slack.text import mrkdwn
from bot.slack.views import tabletop as views
from bot.store.models.tabletop import ENDED, ExerciseRun
from bot.tabletop import runner
from bot.tabletop.scenario import catalog_for

USAGE = "/incident tabletop start <scenario> | next | pause | resume | end | list"
ACTIONS = ("start", "next", "pause", "resume", "end", "list")


def tabletop(inv: Invocation) -> None:
    action, rest = split_first(inv.args)
    action = action.lower()
    if action not in ACTIONS:
        what = f"Unknown tabletop action `{action}`." if action else "Say what to do with the exercise."
        raise UsageError(what, usage=USAGE)
    if action == "start":
        return _start(inv, rest)
    if action == "list":
        return _list(inv)
    if rest:
        words = rest.split()
        if len(words) > 1:
            raise UsageError(f"`{action}` takes at most an incident id, e.g. INC-42.", usage=USAGE)
        inv.incident_id = incidents.parse_ref(words[0])
    run_id, incident_id = _find_run(inv)
    ctx = inv.ctx
    if action == "next":
        index, total = runner.next_inject(ctx, run_id, actor=inv.user_id)
        inv.reply(f"Inject {index + 1} of {total} delivered to INC-{incident_id}; the rest of the script moved "
                  "forward with it.")
    elif action == "pause":
        runner.pause(ctx, run_id, actor=inv.user_id)
        inv.reply(f"Exercise INC-{incident_id} paused. `/incident tabletop resume` continues it.")
    elif action == "resume":
        runner.resume(ctx, run_id, actor=inv.user_id)
        inv.reply(f"Exercise INC-{incident_id} resumed.")
    else:
        ended = runner.end(ctx, run_id, actor=inv.user_id)
        c = ended.card.containment
        inv.reply(Msg.of("Exercise INC-{n} ended; the scorecard is posted in its channel (MTTC {mttc}, target "
                         "{target}). {note}", n=incident_id,
                         mttc=format_duration(c.mttc) if c.mttc is not None else "—",
                         target=format_duration(c.target), note=Raw(ended.postmortem_note)))


def _start(inv: Invocation, rest: str) -> None:
    ctx = inv.ctx
    key, extra = split_first(rest)
    if not key:
        raise UsageError("Name the scenario to start; `/incident tabletop list` shows them.", usage=USAGE)
    if extra:
        raise UsageError(f"Unexpected words after the scenario name: `{extra}`.", usage=USAGE)
    if not runner.is_sandbox(ctx.config, inv.channel_id, _channel_name(inv)):
        raise NotAllowed(runner.sandbox_description(ctx.config) + Msg.of(" This channel is not one of them."),
                         usage=USAGE)
    scenario = catalog_for(ctx).get(key)
    with ctx.db.session() as session:
        running = runner.active_in_sandbox(session, inv.channel_id)
        if running is not None:
            raise UsageError(f"INC-{running.incident_id} (`{running.scenario_key}`) is still running here; "
                             "end it with `/incident tabletop end` first.", usage=USAGE)
    started = runner.start(ctx, scenario, facilitator=inv.user_id, sandbox_channel=inv.channel_id)
    where = Channel(started.channel_id) if started.channel_id else "(no channel: Slack refused; see the timeline)"
    inv.reply(Msg.of(":performing_arts: Started *{title}* as INC-{n} in {where}. {count} injects are scheduled; "
                     "`next` fast-forwards, `pause`/`resume`, `end` scores.", title=scenario.title,
                     n=started.incident_id, where=where, count=len(scenario.injects)))


def _channel_name(inv: Invocation) -> str:
    """Slack sends `privategroup` (or nothing) as the name of a private channel: ask for the real one."""
    if inv.channel_name and inv.channel_name not in ("privategroup", "directmessage", "mpdm"):
        return inv.channel_name
    try:
        return inv.ctx.client.conversations_info(channel=inv.channel_id)["channel"]["name"]
    except (SlackApiError, SlackClientError, OSError, KeyError, TypeError):
        return inv.channel_name


def _find_run(inv: Invocation) -> tuple[int, int]:
    ctx = inv.ctx
    with ctx.db.session() as session:
        run: ExerciseRun | None
        if inv.incident_id is not None:
            incidents.get(session, inv.incident_id)
            run = runner.run_for_incident(session, inv.incident_id)
            if run is None:
                raise NotFound(f"INC-{inv.incident_id} is not a tabletop exercise.", usage=USAGE)
        else:
            run = runner.active_in_sandbox(session, inv.channel_id)
            if run is None:
                raise NotFound("No exercise is running here. Start one in a sandbox channel with "
                               "`/incident tabletop start <scenario>`; `/incident tabletop list` shows scenarios.",
                               usage=USAGE)
        if run.state == ENDED:
            raise NotFound(f"The exercise INC-{run.incident_id} has already ended.", usage=USAGE)
        assert run.id is not None
        return run.id, run.incident_id


def _list(inv: Invocation) -> None:
    ctx = inv.ctx
    catalog = catalog_for(ctx)
    lines = [f"• `{s.key}` — {s.title} ({ctx.rules.category_label(s.category)}; reach SEV{s.expected_severity}, "
             f"contain within {format_duration(s.target_mttc)}; {len(s.injects)} injects over "
             f"{format_duration(s.duration)})" for s in sorted(catalog.scenarios.values(), key=lambda s: s.key)]
    body = [render.header("Tabletop scenarios")]
    body += [render.section(chunk) for chunk in render.chunk_lines(lines or ["(no scenarios found)"])]
    if catalog.errors:
        body.append(render.section("*Scenario files with errors* (`firebreak scenarios check` explains):\n"
                                   + "\n".join(f"• `{p.name}`" for p in catalog.errors)))
    body.append(render.context(mrkdwn(runner.sandbox_description(ctx.config)
                                      + Msg.of(" Start one with `/incident tabletop start <scenario>`."))))
    inv.reply(f"{len(catalog.scenarios)} tabletop scenarios", blocks=render.cap_blocks(body))


def register(app: App, ctx: AppContext) -> None:
    views.register(ctx)
    ctx.commands.add("tabletop", tabletop, usage=USAGE, incident="optional", allow_resolved=True,
                     summary="run a tabletop exercise in a sandbox channel: scripted injects, then a scorecard")
