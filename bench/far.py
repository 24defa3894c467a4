"""Far Slack: what a responder waits for when every Slack call costs a real round trip.

The fake Slack answers every call after `--far-latency` seconds (default 0.15, inside Slack's usual
100-300 ms). For each command the bench sends requests one at a time, each set up untimed with the fake
answering at once (a fresh incident, its IC, a fresh flag), and reports per command:

* calls: the Slack calls the request caused (Web API and response_url answers);
* round trips: the longest chain among them of calls each made after the previous one was answered
  (bot.fakes.slack_calls.critical_path), which is what the last answer waits for;
* last answer: request sent -> the last of those calls answered;
* floor: the fewest round trips Slack's own ordering allows (see FLOORS), and the issue's target.
"""

from __future__ import annotations

from collections.abc import Callable
from statistics import median
from typing import Any

from bench import features, ld
from bench.requests import Prepared
from bench.run import FAILED_ANSWER, IC_USER, Run
from bench.stats import summarize
from bot.fakes.slack_calls import critical_path

# The fewest sequential Slack round trips each command needs. open: the channel must exist before anything
# is put in it, and a message before it is pinned: create; then invite, summary, topic, announcement and the
# answer at once; then pin. Every other command acts on an existing channel and message, so all its calls
# (the channel post, the summary update, the topic, the answer) can go at once: 1. A lever pull's
# LaunchDarkly calls are not Slack's; its Slack floor is the one round trip of its result.
FLOORS = {"open": 3, "ic": 1, "sev": 1, "status": 1, "contained": 1, "resolve": 1, "contain": 1,
          "runbook_click": 1}
# Issue 15's targets (round trips to the last answer with a 150 ms Slack); None where it sets none.
TARGETS: dict[str, int | None] = {"open": 4, "ic": 2, "sev": 2, "status": 2, "contained": 2, "resolve": 2,
                                  "contain": None, "runbook_click": None}
COMMANDS = tuple(FLOORS)


def measure(run: Run, req: Prepared, *, answers: int = 1,
            done: Callable[[list], bool] | None = None) -> dict[str, Any]:
    """Send one request with the fake far away; its calls, round trips, time to the last answer, CPU."""
    start = run.fake.call_count()
    cpu0 = run.bot.cpu_seconds()
    status, sent, _ = run.send(req)
    if status != 200:
        return {"error": f"{req.label}: HTTP {status or 'no answer'}"}
    finished = done or (lambda _calls: len(run.answers(req.key)) >= answers)
    if run.wait_calls(start, finished, run.options.timeout + 60 * run.fake.latency) is None:
        return {"error": f"{req.label}: no answer"}
    run.settle(quiet=max(0.3, 2 * run.fake.latency))
    cpu_ms = (run.bot.cpu_seconds() - cpu0) * 1000
    calls = sorted(run.fake.calls_since(start), key=lambda c: c.start)
    out: dict[str, Any] = {
        "calls": len(calls), "methods": [c.method for c in calls], "round_trips": critical_path(calls),
        "last_answer_ms": (max(c.end or c.start for c in calls) - sent) * 1000, "cpu_ms": cpu_ms}
    text = (run.answers(req.key) or [""])[-1]
    if text.startswith(FAILED_ANSWER):
        out["error"] = f"{req.label}: {text.splitlines()[0][:160]}"
    return out


def _incident(run: Run, what: str, i: int, extra: str = "--sev 3") -> tuple[int, str]:
    return features.open_incident(run, f"Far {what} {i + 1} chatbot repeats a leaked system prompt {extra}")


def _with_ic(run: Run, inc: tuple[int, str]) -> None:
    req = run.ic_command(inc)
    if run.send(req)[0] == 200:
        run.wait_reply(req.key)
    run.settle()


def _setup(run: Run, name: str, i: int) -> tuple[Prepared, dict[str, Any]]:
    """Untimed: what the measured request acts on. Returns the request and measure()'s keywords."""
    if name == "open":
        return run.command(f"open Far open {i + 1} chatbot repeats a leaked system prompt --sev 3",
                           label="open"), {}
    if name == "contain":
        features.warm_up(run)
        number, channel = _incident(run, "contain", i)
        features.fresh_flag(run)
        return run.command(f"contain {ld.KILL_LEVER} far pull {i + 1}", channel=channel, label="contain"), \
            {"answers": features.ANSWERS}
    if name == "runbook_click":
        from bot.slack.views.checklist import MENU_ACTION as DONE_ACTION

        number, channel = _incident(run, "runbook", i, "--category prompt_injection --sev 2")
        message, value = features.checklist_button(run, number, channel, DONE_ACTION)
        if value is None:
            raise RuntimeError(f"INC-{number}'s checklist has no Done button")
        req = run.signer.click(DONE_ACTION, value, user="U0BENCH", channel=channel, message_ts=message.ts,
                               message_text=message.text, label="runbook click")
        return req, {"done": lambda calls: any(
            (c.method == "chat.update" and "runbook:" in str(c.params.get("text", "")))
            or c.method == "chat.postEphemeral" for c in calls)}
    inc = _incident(run, name, i)
    if name == "ic":
        return run.ic_command(inc), {}
    if name == "sev":
        _with_ic(run, inc)
        return run.command("sev 2 far: impact re-assessed", user=IC_USER, channel=inc[1], label="sev"), {}
    text = {"status": "status Far update: rollback in progress, next update in 30 min",
            "contained": "contained far: flag rolled back", "resolve": "resolve far: system prompt rolled back"}
    return run.command(text[name], channel=inc[1], label=name), {}


def _available(run: Run, name: str) -> str | None:
    """Why a command cannot be measured on this build, or None."""
    need = {"contain": "contain", "runbook_click": "runbook"}.get(name)
    if need and need not in run.commands:
        return f"no `/incident {need}` in this build"
    if name == "contain" and run.ld is None:
        return "no fake LaunchDarkly in this build"
    return None


def far_slack(run: Run) -> dict[str, Any]:
    """Every command of COMMANDS, `--far-requests` times each, with the fake `--far-latency` away."""
    latency, n = run.options.far_latency, run.options.far_requests
    commands: dict[str, Any] = {}
    for name in COMMANDS:
        if run.options.far_commands and name not in run.options.far_commands:
            continue
        if (why := _available(run, name)) is not None:
            commands[name] = {"skipped": why}
            continue
        samples: list[dict[str, Any]] = []
        # With --profile, the bot's Python CPU over the command's requests (its set-up too: for open it is nothing).
        prof = run.options.profile_dir / f"far-{name}-{run.db}.txt" if run.options.profile_dir else None
        with run.bot.profiled(prof):
            for i in range(n):
                run.fake.latency = 0.0
                req, kwargs = _setup(run, name, i)
                run.settle()
                run.fake.latency = latency
                try:
                    samples.append(measure(run, req, **kwargs))
                finally:
                    run.fake.latency = 0.0
        commands[name] = summarize_command(name, samples)
    return {"latency_s": latency, "requests": n, "commands": commands}


def summarize_command(name: str, samples: list[dict[str, Any]]) -> dict[str, Any]:
    good = [s for s in samples if "error" not in s]
    errors = [s["error"] for s in samples if "error" in s]
    out: dict[str, Any] = {"n": len(good), "floor": FLOORS[name], "target": TARGETS[name], "errors": len(errors)}
    if errors:
        out["first_errors"] = errors[:3]
    if good:
        out.update(calls=median(s["calls"] for s in good), round_trips=median(s["round_trips"] for s in good),
                   round_trips_max=max(s["round_trips"] for s in good),
                   last_answer=summarize([s["last_answer_ms"] for s in good]),
                   cpu_ms=round(sum(s["cpu_ms"] for s in good) / len(good), 1),
                   cpu_each_ms=[round(s["cpu_ms"], 1) for s in good], methods=good[0]["methods"])
    return out
