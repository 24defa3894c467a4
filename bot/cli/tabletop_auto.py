"""`firebreak tabletop run <scenario> --auto`: play a whole exercise offline, in seconds.

The same Bolt app and handlers as in Slack, driven by signed requests through bot.slack.harness.Harness against
the local Slack stand-in, on SQLite, with a simulated clock. Scripted responders type the scenario's
`responders` commands at their offsets; injects arrive through the timers as the clock moves. Commands this
build does not have (a feature not installed yet) are reported as not available, never faked.

Levers come from the shipped exercise lever file (bot/tabletop/exercise-levers.yml) unless `levers_file` names
another; the containment layer forces every pull in an exercise to a dry run, so nothing leaves the machine.
Before anything is written, the scenario's runbook steps and levers are checked against what the run uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.rule import Rule
from rich.table import Table
from rich.text import Text
from sqlmodel import select

from bot.config.settings import Settings
from bot.core.clock import ManualClock, SystemClock
from bot.core.durations import format_duration
from bot.core.errors import UsageError
from bot.core.text import Channel, plain_mrkdwn
from bot.postmortem import people
from bot.store.models.tabletop import ExerciseRun, Scorecard
from bot.tabletop import references, runner, transcript
from bot.tabletop.scenario import Action, Scenario, load_catalog
from bot.tabletop.scorecard import Card

FACILITATOR = "U0FACIL"
SANDBOX_NAME = "tabletop-auto"
SANDBOX_ID = "C0TABLETOP"
# Subcommands that later features add, to explain an "Unknown subcommand" answer.
PROVIDED_BY = {"step": "runbooks", "contain": "containment levers", "report-clock": "reporting clocks (scheduler)",
               "runbook": "runbooks", "lever": "containment levers"}


@dataclass
class Outcome:
    at: timedelta
    who: str
    command: str
    result: str  # "ok" | "unavailable" | "refused"
    answer: str


@dataclass
class AutoResult:
    incident_id: int
    card: Card
    scorecard_path: Path
    transcript_path: Path
    postmortem_path: Path | None
    postmortem_note: str
    outcomes: list[Outcome] = field(default_factory=list)
    slack_api_url: str = ""  # the local Slack stand-in the run talked to


def _first_line(text: str) -> str:
    line = next((ln for ln in text.splitlines() if ln.strip()), "")
    return line.replace(":warning: ", "").replace(":white_check_mark: ", "")


def _checked(key: str, base: Settings, scenarios_dir: Path | None, levers_file: Path) -> Scenario:
    """The scenario, refused (UsageError naming file and key) if a step or lever it names does not exist."""
    from bot.config.org import load_config
    from bot.containment.spec import load_levers
    from bot.core.severity import load_rules
    from bot.runbooks.loader import load_library

    rules = load_rules(base.severity_rules_file)
    catalog = load_catalog(scenarios_dir, rules=rules)
    scenario = catalog.get(key)
    config = load_config(base.config_file)
    registry = load_levers(levers_file, config=config, categories=set(rules.categories))
    problems = references.check(scenario, catalog.sources[scenario.key],
                                library=load_library(rules.categories, base.runbooks_dir), registry=registry,
                                regimes=references.regime_names(config))
    if problems:
        raise UsageError(f"Scenario `{scenario.key}` cannot be played with these runbooks, levers and regimes:\n"
                         + "\n".join(problems))
    return scenario


def run_auto(key: str, *, out_dir: Path, settings: Settings | None = None, scenarios_dir: Path | None = None,
             database_url: str | None = None, console: Console | None = None,
             levers_file: Path | None = None) -> AutoResult:
    from bot.slack.harness import (
        Harness,  # the harness builds the app; import lazily (CLI start-up stays fast)
    )

    console = console or Console()
    base = settings or Settings()
    scenarios_dir = scenarios_dir or base.scenarios_dir
    levers_file = levers_file or references.EXERCISE_LEVERS
    scenario = _checked(key, base, scenarios_dir, levers_file)
    out_dir.mkdir(parents=True, exist_ok=True)
    if database_url is None:
        db_file = out_dir / "exercise.db"
        for stale in (db_file, db_file.with_name("exercise.db-wal"), db_file.with_name("exercise.db-shm")):
            stale.unlink(missing_ok=True)  # our own output from a previous run
        database_url = f"sqlite:///{db_file}"
    settings = base.model_copy(update={"database_url": database_url, "scenarios_dir": scenarios_dir,
                                       "announce_channel": None, "levers_file": levers_file})
    start = SystemClock().now().replace(second=0, microsecond=0)
    clock = ManualClock(start)
    with Harness(settings, clock=clock) as h:
        ctx = h.ctx
        ctx.config = ctx.config.model_copy(update={"sandbox_channels": [*ctx.config.sandbox_channels, SANDBOX_ID]})
        sandbox = h.fake.add_channel(SANDBOX_NAME, channel_id=SANDBOX_ID)
        for uid, name in team(scenario).items():  # the scripted team, as the workspace names them
            h.fake.add_user(uid, name)
        _title(console, scenario)
        reply = h.command(f"tabletop start {scenario.key}", user=FACILITATOR, channel=sandbox)
        with ctx.db.session() as session:
            run = session.exec(select(ExerciseRun).where(ExerciseRun.scenario_key == scenario.key)).first()
            if run is None:
                raise UsageError(f"The exercise did not start: {_first_line(reply.text)}")
            number, started = run.incident_id, run.started_at
        channel = h.incident_channel(number)
        console.print(f"[bold]INC-{number}[/] opened in [cyan]#{h.fake.channels[channel]['name']}[/] "
                      f"(simulated clock from {started:%H:%M} UTC)\n")
        timers = ctx.timers
        seen = len(h.fake.history(channel))
        outcomes: list[Outcome] = []

        def move_to(offset: timedelta) -> None:
            nonlocal seen
            target = started + offset
            # Step through every timer due on the way, so each inject arrives at its own offset.
            for _ in range(1000):
                due = [t for t in timers.pending() if t.when <= target]
                if not due:
                    break
                if clock.now() < due[0].when:
                    clock.set(due[0].when)
                timers.run_due()
                history = h.fake.history(channel)
                for message in history[seen:]:
                    if ":incoming_envelope:" in message.text:
                        _inject_line(console, clock.now() - started, message.text)
                seen = len(history)
            if clock.now() < target:
                clock.set(target)

        for action in sorted(scenario.responders, key=lambda a: a.at):
            move_to(action.at)
            outcome = _play(h, channel, action)
            outcomes.append(outcome)
            _action_line(console, outcome)
            seen = len(h.fake.history(channel))
        move_to(max(scenario.duration, max((a.at for a in scenario.responders), default=timedelta(0)))
                + timedelta(minutes=1))
        h.command("tabletop end", user=FACILITATOR, channel=sandbox)
        with ctx.db.session() as session:
            card_row = session.exec(select(Scorecard).where(Scorecard.incident_id == number)).one()
            card, markdown = Card.from_json(card_row.data), card_row.text
        draft, note = runner.render_postmortem(ctx, number)
        scorecard_path = out_dir / "scorecard.md"
        scorecard_path.write_text(markdown, encoding="utf-8")
        transcript_path = out_dir / "transcript.txt"
        transcript_path.write_text(_transcript(h, [sandbox, channel], started), encoding="utf-8")
        postmortem_path = None
        slack_url = h.fake.url
        if isinstance(draft, str):
            postmortem_path = out_dir / "postmortem.md"
            postmortem_path.write_text(draft, encoding="utf-8")
        elif isinstance(draft, Path):
            postmortem_path = draft
    print_scorecard(console, card)
    unavailable = sorted({o.command.split()[0] for o in outcomes if o.result == "unavailable"})
    if unavailable:
        console.print(f"[yellow]Not available in this build:[/] {', '.join(unavailable)} — scored as not done.")
    console.print(f"\n[bold]Scorecard[/]  {scorecard_path}\n[bold]Transcript[/] {transcript_path}")
    console.print(f"[bold]Postmortem[/] {postmortem_path}" if postmortem_path else f"[yellow]{note}[/]")
    console.print(f"[dim]Database   {database_url}[/]")
    return AutoResult(number, card, scorecard_path, transcript_path, postmortem_path, note, outcomes, slack_url)


def _play(h: Any, channel: str, action: Action) -> Outcome:
    text = action.command_text()
    h.invite(action.user, channel)  # the scripted responders are the exercise's team, in its channel
    reply = h.command(text, user=action.user, channel=channel)
    answer = _first_line(reply.text)
    if answer.startswith("Pulling "):  # the lever's own outcome is the last answer
        answer = _first_line(reply.text.strip().splitlines()[-1])
    name = text.split()[0].lower()
    if answer.startswith("Unknown subcommand"):
        feature = PROVIDED_BY.get(name, "a feature")
        return Outcome(action.at, action.user, text, "unavailable", f"not available in this build ({feature})")
    refused = reply.text.lstrip().startswith((":warning:", ":x:"))
    return Outcome(action.at, action.user, text, "refused" if refused else "ok", answer)


def _clock(delta: timedelta) -> str:
    total = int(delta.total_seconds())
    return f"+{total // 60:02d}:{total % 60:02d}"


def _title(console: Console, scenario: Scenario) -> None:
    console.print(Panel.fit(
        f"[bold]{scenario.title}[/]\n{scenario.summary.strip()}\n\n"
        f"[dim]{len(scenario.injects)} injects · {len(scenario.responders)} scripted actions · reach "
        f"SEV{scenario.expected_severity} · contain within {format_duration(scenario.target_mttc)}[/]",
        title="[bold magenta]EXERCISE · tabletop --auto[/]", border_style="magenta"))


def _inject_line(console: Console, at: timedelta, text: str) -> None:
    body = plain_mrkdwn(text.split(":incoming_envelope:", 1)[-1].strip())
    console.print(Text.assemble((f"{_clock(at)} ", "dim"), ("📨 ", ""), (body, "bold yellow")))


def _action_line(console: Console, o: Outcome) -> None:
    style = {"ok": "green", "unavailable": "yellow", "refused": "red"}[o.result]
    mark = {"ok": "✓", "unavailable": "·", "refused": "✗"}[o.result]
    console.print(Text.assemble((f"{_clock(o.at)} ", "dim"), (f"{o.who:<9}", "cyan"), (f"/incident {o.command}", ""),
                                ("  ", ""), (f"{mark} {o.answer}", style)))


def _mark(ok: bool | None) -> Text:
    return Text("✅" if ok else "❌" if ok is False else "➖")


def print_scorecard(console: Console, card: Card) -> None:
    d = lambda s: format_duration(s) if s is not None else "—"  # noqa: E731
    console.print()
    console.print(Rule(f"[bold]Scorecard · {card.incident} · {card.scenario.title}[/]", style="magenta"))
    table = Table(show_header=True, header_style="bold", box=None, padding=(0, 2))
    table.add_column("")
    table.add_column("Measure")
    table.add_column("Result", justify="right")
    table.add_column("Against")
    sev, c, st = card.severity, card.containment, card.status
    table.add_row(_mark(card.acknowledge.seconds is not None), "Time to acknowledge",
                  d(card.acknowledge.seconds), "first IC assigned")
    table.add_row(_mark(sev.reached_seconds is not None), f"Time to reach SEV{sev.expected}",
                  d(sev.reached_seconds), f"opened SEV{sev.initial}, ended SEV{sev.final}")
    table.add_row(_mark(c.met), "Time to contain (MTTC)", d(c.mttc), f"target {d(c.target)}")
    table.add_row(_mark(st.kept), "Status cadence", f"{st.count} updates",
                  f"longest gap {d(st.longest_gap)} / {d(st.cadence)}")
    ans = card.answers
    table.add_row(_mark(ans.on_time == ans.expected), "Inject responses",
                  f"{ans.answered}/{ans.expected}", f"{ans.on_time} on time")
    rb = card.runbook
    required_open = len(rb.overdue) + len(rb.pending)
    table.add_row(_mark(not required_open and not rb.done_late), "Runbook steps",
                  f"{len(rb.done_on_time)} on time", f"{len(rb.done_late)} late · {len(rb.skipped)} "
                  f"skipped · {required_open} required not done ({len(rb.overdue)} overdue) · "
                  f"{len(rb.not_required)} optional not done")
    levers = card.levers
    live = [lv.lever for lv in levers if not lv.dry_run]
    table.add_row(_mark(not live), "Levers pulled", f"{len(levers)} dry run{'' if len(levers) == 1 else 's'}" if not live else f"{len(live)} LIVE",
                  ", ".join(dict.fromkeys(str(lv.lever) for lv in levers)) or "none")
    console.print(table)
    console.print("\n[bold green]What went well[/]")
    for w in card.went_well or ("(nothing stood out)",):
        console.print(f"  [green]+[/] {w}")
    console.print("[bold red]What to practise[/]")
    for p in card.practise or ("Nothing: a clean run.",):
        console.print(f"  [red]-[/] {p}")


def team(scenario: Scenario) -> dict[str, str]:
    """The scripted responders' workspace names: `U0MAYA` is maya, the facilitator is facilitator."""
    ids = {a.user for a in scenario.responders} - {FACILITATOR}
    return {FACILITATOR: "facilitator", **{uid: uid.removeprefix("U0").removeprefix("U").lower() for uid in ids}}


def _transcript(h: Any, channels: list[str], started: Any) -> str:
    """Each channel's history through the one plain-text renderer, people by their workspace names (asked
    once each, outside any transaction), the bot as firebreak."""
    from bot.fakes.slack_state import BOT_USER

    def channel_name(c: Channel) -> str:
        known = h.fake.channels.get(c.id)
        return f"#{known['name'] if known else c.name or c.id}"

    histories = [(h.fake.channels[ch]["name"],
                  [transcript.Posted(m.ts, m.user, m.text) for m in h.fake.history(ch)]) for ch in channels]
    recorder, seen = people.recorder()
    transcript.render(histories, started=started, names=recorder, channel_name=channel_name)
    table = people.lookup(h.ctx, seen - {BOT_USER})
    shown = people.from_table({**table, BOT_USER: "firebreak"})
    return transcript.render(histories, started=started, names=lambda u: shown(u).replace("@firebreak", "firebreak"),
                             channel_name=channel_name)
