"""The scenario registry. Each scenario measures one thing on a `Run` and returns a dict of figures, or
raises `Skip(reason)` when the feature it measures is not in this build.

Adding a measurement is a few lines: decorate a function with `@scenario(name, title)`; check for the
feature first (`run.require_command("contain", "containment")`, `run.require_module("bot.metrics", ...)`);
build requests with `run.command(...)`; measure with `run.sequential(reqs)`. Register a target for it in
`bench/targets.py`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench import contention, far, features, seed
from bench.burst import run_in_process
from bench.run import IC_USER, Run
from bench.stats import summarize


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    fn: Callable[[Run], dict[str, Any]]


SCENARIOS: dict[str, Scenario] = {}


def scenario(name: str, title: str) -> Callable[[Callable[[Run], dict[str, Any]]], Callable[[Run], dict[str, Any]]]:
    def register(fn: Callable[[Run], dict[str, Any]]) -> Callable[[Run], dict[str, Any]]:
        if name in SCENARIOS:
            raise ValueError(f"scenario {name!r} registered twice")
        SCENARIOS[name] = Scenario(name, title, fn)
        return fn

    return register


# ----- process ------------------------------------------------------------------------------------------
@scenario("process", "start-up to ready; idle RSS; idle CPU")
def process(run: Run) -> dict[str, Any]:
    time.sleep(1.0)  # let start-up garbage settle before calling the process idle
    cpu0 = run.bot.cpu_seconds()
    time.sleep(2.0)  # what an idle bot spends per second, part of every per-request CPU window
    idle_cpu = (run.bot.cpu_seconds() - cpu0) * 1000 / 2.0
    return {"startup_s": round(run.bot.startup_s or 0.0, 3), "idle": run.bot.memory_mb(),
            "idle_cpu_ms_per_s": round(idle_cpu, 1)}


# ----- the incident lifecycle at rest (one request in flight) -------------------------------------------
@scenario("open", "/incident open <title> --sev 3")
def open_(run: Run) -> dict[str, Any]:
    base = len(run.incidents)
    reqs = [run.command(f"open Bench incident {base + i + 1} model produced unsafe output --sev 3", label="open")
            for i in range(run.options.requests)]
    result = run.sequential(reqs)
    for req in reqs:
        opened = run.parse_opened(req.key)
        if opened:
            run.incidents.append(opened)
    return result


@scenario("ic", "/incident ic @user (first IC: the acknowledgement)")
def ic(run: Run) -> dict[str, Any]:
    n = run.options.requests
    without = [inc for inc in run.ensure_incidents(len(run.with_ic) + n) if inc[0] not in run.with_ic][:n]
    return run.sequential([run.ic_command(inc) for inc in without])


@scenario("sev", "/incident sev <1-4> <reason> by the IC")
def sev(run: Run) -> dict[str, Any]:
    incs = run.ensure_incidents(run.options.requests)
    run.ensure_ic(incs)
    reqs = []
    for i, (number, channel) in enumerate(incs):
        new = 2 if i % 2 == 0 else 4
        reqs.append(run.command(f"sev {new} bench: impact re-assessed", user=IC_USER, channel=channel, label="sev"))
        run.severity[number] = new
    return run.sequential(reqs)


@scenario("status", "/incident status <update>")
def status(run: Run) -> dict[str, Any]:
    incs = run.ensure_incidents(run.options.requests)
    return run.sequential([run.command(f"status Bench update {i}: rollback in progress, next update in 30 min",
                                       channel=ch, label="status") for i, (_, ch) in enumerate(incs)])


@scenario("list", "/incident list (the incidents opened so far)")
def list_(run: Run) -> dict[str, Any]:
    run.ensure_incidents(1)
    result = run.sequential([run.command("list", label="list") for _ in range(run.options.requests)])
    result["open_incidents"] = len(run.incidents)
    return result


@scenario("contained", "/incident contained <note>")
def contained(run: Run) -> dict[str, Any]:
    n = run.options.requests
    incs = [inc for inc in run.ensure_incidents(len(run.contained) + n) if inc[0] not in run.contained][:n]
    run.contained.update(number for number, _ in incs)
    return run.sequential([run.command("contained bench: flag rolled back", channel=ch, label="contained")
                           for _, ch in incs])


@scenario("resolve", "/incident resolve <summary> (on incidents opened for it)")
def resolve(run: Run) -> dict[str, Any]:
    opened = [features.open_incident(run, f"Bench resolve {i + 1} model output drift --sev 3")
              for i in range(run.options.requests)]
    return run.sequential([run.command("resolve bench: rolled back", channel=ch, label="resolve")
                           for _, ch in opened])


# ----- containment and runbooks (bench/features.py); each skips, with the reason, on a build without it ---
@scenario("contain_dry_run", "/incident contain <lever> --dry-run (confirm: false lever, new incident each)")
def contain_dry_run(run: Run) -> dict[str, Any]:
    run.require_command("contain", "containment, issue 4")
    return features.contain(run, dry_run=True)


@scenario("contain_launchdarkly", "/incident contain <lever> against the fake LaunchDarkly, to verified")
def contain_launchdarkly(run: Run) -> dict[str, Any]:
    run.require_command("contain", "containment, issue 4")
    run.require_module("bot.fakes.launchdarkly", "the fake LaunchDarkly server, issue 4")
    return features.contain(run, dry_run=False)


@scenario("containment_overhead", "contain request -> LaunchDarkly PATCH; PATCH answer -> SDK sees it")
def containment_overhead(run: Run) -> dict[str, Any]:
    run.require_command("contain", "containment, issue 4")
    run.require_module("bot.fakes.launchdarkly", "the fake LaunchDarkly server, issue 4")
    return features.overhead(run)


@scenario("runbook_click", "runbook checklist Done button (signed block_actions)")
def runbook_click(run: Run) -> dict[str, Any]:
    run.require_command("runbook", "runbooks, issue 3")
    checklist = run.require_module("bot.slack.views.checklist", "runbooks, issue 3")
    return features.runbook_clicks(run, checklist.MENU_ACTION)


# ----- the burst ----------------------------------------------------------------------------------------
def burst_plan(run: Run, incs: list[tuple[int, str]]) -> list[list]:
    """responders x per_responder commands; in each round the responders hit different incidents."""
    o = run.options
    plans: list[list] = []
    sev_count = 0
    for r in range(o.responders):
        user, plan = f"U0R{r:04d}", []
        for j in range(o.per_responder):
            number, channel = incs[(r + j * o.responders) % len(incs)]
            kind = j % 10
            if kind <= 3:
                plan.append(run.command(f"status Burst {r}/{j}: still investigating", user=user, channel=channel,
                                        label="status"))
            elif kind <= 5:
                plan.append(run.command("status", user=user, channel=channel, label="status-show"))
            elif kind <= 7:
                plan.append(run.command(f"timeline add Burst note {r}/{j}", user=user, channel=channel,
                                        label="timeline-add"))
            elif kind == 8:
                plan.append(run.command("list", user=user, label="list"))
            else:  # the IC re-assesses a different incident each time
                number, channel = incs[sev_count % len(incs)]
                sev_count += 1
                new = 3 if run.severity.get(number, 3) == 2 else 2
                run.severity[number] = new
                plan.append(run.command(f"sev {new} burst re-assessment", user=IC_USER, channel=channel,
                                        label="sev"))
        plans.append(plan)
    return plans


@scenario("burst", "responders x commands, as fast as acknowledged, across the open incidents")
def burst(run: Run) -> dict[str, Any]:
    o = run.options
    incs = run.ensure_incidents(o.burst_incidents)
    run.ensure_ic(incs)
    plans = burst_plan(run, incs)
    prof = o.profile_dir / f"burst-{run.db}.txt" if o.profile_dir else None
    cpu0, bench_cpu0 = run.bot.cpu_seconds(), time.process_time()
    with run.bot.profiled(prof):
        records = run_in_process(run.bot.events_url, plans, deadline_s=o.burst_deadline, timeout=o.timeout)
        acked = [r for r in records if r[2] == 200]
        deadline = time.time() + 60
        while time.time() < deadline and any(r[0] not in run.fake.reply_at for r in acked):
            time.sleep(0.05)
        run.settle()
    bot_cpu, bench_cpu = run.bot.cpu_seconds() - cpu0, time.process_time() - bench_cpu0
    acks = [(r[4] - r[3]) * 1000 for r in acked]
    replies = [(run.fake.reply_at[r[0]] - r[3]) * 1000 for r in acked if r[0] in run.fake.reply_at]
    first = min((r[3] for r in acked), default=0.0)
    last_ack = max((r[4] for r in acked), default=first)
    last_reply = max((run.fake.reply_at[r[0]] for r in acked if r[0] in run.fake.reply_at), default=first)
    failed_answers = [run.answer(r[0]) for r in acked if run.answer(r[0]).startswith((":warning:", ":x:"))]
    out: dict[str, Any] = {
        "responders": o.responders, "commands_each": o.per_responder, "incidents": len(incs),
        "sent": sum(1 for r in records if r[2] != -1), "not_sent_deadline": sum(1 for r in records if r[2] == -1),
        "http_errors": sum(1 for r in records if r[2] not in (200, -1)),
        "acks_over_3s": sum(1 for a in acks if a > 3000),
        "ack": summarize(acks), "reply": summarize(replies), "unanswered": len(acked) - len(replies),
        "failed_answers": len(failed_answers),
        "ack_throughput_per_s": round(len(acked) / (last_ack - first), 1) if last_ack > first else None,
        "handled_per_s": round(len(replies) / (last_reply - first), 1) if last_reply > first else None,
        "after": run.bot.memory_mb(),
        "bot_cpu_s": round(bot_cpu, 2), "bot_cpu_ms_per_command": round(bot_cpu * 1000 / max(1, len(acked)), 2),
        "fake_slack_cpu_s": round(bench_cpu, 2),
    }
    if failed_answers:
        out["first_failed_answers"] = [a.splitlines()[0][:160] for a in failed_answers[:3]]
    return out


# ----- large histories ----------------------------------------------------------------------------------
@scenario("list_1000", "/incident list with many open incidents")
def list_many(run: Run) -> dict[str, Any]:
    total = seed.open_incidents(run.database_url, run.options.list_incidents)
    result = run.sequential([run.command("list", label="list") for _ in range(run.options.requests)])
    result["open_incidents"] = total
    return result


@scenario("metrics_100k", "/incident metrics --since all over a long history")
def metrics_100k(run: Run) -> dict[str, Any]:
    run.require_command("metrics", "metrics, issue 5")
    t0 = time.perf_counter()
    total = seed.history(run.database_url, run.options.history_incidents)
    seeded_s = time.perf_counter() - t0
    # The table is posted in the channel (then the chart uploaded), not answered to the response_url.
    posted = lambda calls: any(c.method == "chat.postMessage" and c.params.get("channel") == run.general  # noqa: E731
                               for c in calls)
    result = run.sequential([run.command("metrics --since all", label="metrics")
                             for _ in range(run.options.heavy_requests)], done=posted, quiet=0.5, timeout=60)
    result.update(incidents=total, seed_s=round(seeded_s, 1))
    return result


@scenario("postmortem_5000", "/incident postmortem for an incident with a long timeline")
def postmortem_5000(run: Run) -> dict[str, Any]:
    run.require_command("postmortem", "postmortems, issue 5")
    opened = run.open_via_bot("open Bench postmortem incident long timeline --sev 2")
    if opened is None:
        raise RuntimeError(f"could not open the postmortem incident; bot log:\n{run.bot.log_tail()}")
    run.settle()
    events = seed.timeline(run.database_url, opened[0], run.options.timeline_events)
    result = run.sequential([run.command("postmortem", channel=opened[1], label="postmortem")
                             for _ in range(run.options.heavy_requests)], timeout=60)
    result["timeline_events"] = events
    return result


# ----- what responders feel: a far Slack, a slow lookup, LaunchDarkly down (bench/far.py, contention.py) --
@scenario("far_slack", "each command with the fake Slack answering after --far-latency: calls, round trips")
def far_slack(run: Run) -> dict[str, Any]:
    return far.far_slack(run)


@scenario("lock", "other users' acks while Slack answers a user-group lookup in --lock-delay seconds")
def lock(run: Run) -> dict[str, Any]:
    run.require_command("sev", "severity changes")
    return contention.lock(run)


@scenario("lane", "other users' acks while lever pulls retry LaunchDarkly's 503s")
def lane(run: Run) -> dict[str, Any]:
    run.require_command("contain", "containment, issue 4")
    run.require_module("bot.fakes.launchdarkly", "the fake LaunchDarkly server, issue 4")
    return contention.lane(run)
