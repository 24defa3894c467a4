"""`python -m bench`: run the scenarios on each database, print tables, write JSON."""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import secrets
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import contention, ld, report
from bench.botproc import BotProcess, database, workdir
from bench.fake import TimedFakeSlack
from bench.requests import Signer
from bench.run import Options, Run, Skip
from bench.scenarios import SCENARIOS
from bench.targets import evaluate

HELP_LINE = re.compile(r"`/incident (\w+)")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--db", default="sqlite,postgresql", help="comma list: sqlite, postgresql (default both)")
    p.add_argument("--only", default="", help="comma list of scenarios (default all); see --list")
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    p.add_argument("--requests", type=int, default=100, help="requests per at-rest scenario (default 100)")
    p.add_argument("--responders", type=int, default=50, help="burst responders (default 50)")
    p.add_argument("--per-responder", type=int, default=20, help="burst commands per responder (default 20)")
    p.add_argument("--burst-incidents", type=int, default=200, help="open incidents in the burst (default 200)")
    p.add_argument("--list-incidents", type=int, default=1000, help="open incidents for list_1000 (default 1000)")
    p.add_argument("--history-incidents", type=int, default=100_000,
                   help="resolved incidents added for metrics_100k (default 100000)")
    p.add_argument("--timeline-events", type=int, default=5000, help="events for postmortem_5000 (default 5000)")
    p.add_argument("--heavy-requests", type=int, default=10,
                   help="requests per large-history scenario (metrics, postmortem; default 10)")
    p.add_argument("--far-latency", type=float, default=0.15,
                   help="far_slack: seconds the fake Slack takes to answer each call (default 0.15)")
    p.add_argument("--far-requests", type=int, default=5, help="far_slack: requests per command (default 5)")
    p.add_argument("--far-commands", default="",
                   help="far_slack: comma list of the commands to measure (default all), e.g. open")
    p.add_argument("--lock-delay", type=float, default=4.0,
                   help="lock: seconds Slack takes to answer the user-group lookup (default 4)")
    p.add_argument("--lock-users", type=int, default=20, help="lock: other users acked meanwhile (default 20)")
    p.add_argument("--lane-pulls", type=int, default=10, help="lane: lever pulls stuck in 503s (default 10)")
    p.add_argument("--lane-users", type=int, default=20, help="lane: other users acked meanwhile (default 20)")
    p.add_argument("--lane-window", type=float, default=6.0,
                   help="lane: seconds LaunchDarkly answers 503 (default 6)")
    p.add_argument("--settle", type=float, default=0.05, help="quiet seconds that end a request (default 0.05)")
    p.add_argument("--timeout", type=float, default=10.0, help="per-request timeout, seconds (default 10)")
    p.add_argument("--burst-deadline", type=float, default=180.0, help="burst stops sending after this (s)")
    p.add_argument("--json", default="bench/results/latest.json",
                   help="where to write the results (default bench/results/latest.json, git-ignored)")
    p.add_argument("--markdown", metavar="PATH", type=Path, default=None,
                   help="also write the tables as Markdown (as in docs/performance.md)")
    p.add_argument("--profile", metavar="DIR", type=Path, default=None,
                   help="sample the bot with py-spy during the burst; collapsed stacks go to DIR")
    p.add_argument("--bot-env", action="append", default=[], metavar="NAME=VALUE",
                   help="extra environment for the bot (repeatable), e.g. FIREBREAK_WORKER_THREADS=16")
    p.add_argument("--keep", action="store_true", help="keep the work directory (bot log, SQLite file)")
    args = p.parse_args(argv)
    for item in args.bot_env:
        if "=" not in item or not item.split("=", 1)[0]:
            p.error(f"--bot-env takes NAME=VALUE, not {item!r}")
    if min(args.requests, args.responders, args.per_responder, args.burst_incidents, args.list_incidents,
           args.history_incidents, args.timeline_events, args.heavy_requests, args.far_requests, args.lock_users,
           args.lane_pulls, args.lane_users) < 1:
        p.error("counts must be at least 1")
    if not 0 <= args.far_latency <= 2 or not 0 < args.lock_delay <= 30 or not 0 < args.lane_window <= 30:
        p.error("--far-latency takes 0-2 s, --lock-delay and --lane-window 0-30 s")
    return args


def discover_commands(run: Run) -> set[str]:
    """Ask the running bot which subcommands it has (`/incident help`), so scenarios can skip honestly."""
    req = run.command("help", label="help")
    if run.send(req)[0] != 200 or run.wait_reply(req.key) is None:
        raise RuntimeError(f"the bot did not answer /incident help; log:\n{run.bot.log_tail()}")
    run.settle()
    return set(HELP_LINE.findall(run.answer(req.key)))


def run_db(db: str, names: list[str], options: Options, keep: bool,
           bot_env: dict[str, str] | None = None) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with workdir(keep) as wd, database(db, wd) as url:
        fake = TimedFakeSlack(token="xoxb-bench-" + secrets.token_hex(8)).start()
        general = fake.add_channel("general", channel_id="C0GENERAL")
        announce = fake.add_channel("ai-incidents", channel_id="C0ANNOUNCE")
        secret = secrets.token_hex(16)
        started = ld.start(wd)  # the fake LaunchDarkly and the lever file, when this build has containment
        fake_ld, ld_env = started if started else (None, {})
        org = {"FIREBREAK_CONFIG": str(contention.org_config(wd))}
        bot = BotProcess(database_url=url, slack_api_url=fake.url, bot_token=fake.token, signing_secret=secret,
                         announce_channel=announce, workdir=wd, extra_env={**org, **ld_env, **(bot_env or {})})
        run: Run | None = None
        try:
            bot.start()
            run = Run(db=db, database_url=url, options=options, fake=fake, bot=bot,
                      signer=Signer(secret, fake.origin, fake.trigger_id), general=general, announce=announce, ld=fake_ld)
            run.commands = discover_commands(run)
            for name in names:
                sc = SCENARIOS[name]
                print(f"[{db}] {name}: {sc.title} ...", file=sys.stderr, flush=True)
                t0 = time.perf_counter()
                try:
                    results[name] = sc.fn(run)
                except Skip as skip:
                    results[name] = {"skipped": str(skip)}
                except Exception as exc:  # noqa: BLE001 - one broken scenario must not hide the others
                    traceback.print_exc()
                    results[name] = {"failed": f"{type(exc).__name__}: {exc}"}
                results[name]["wall_s"] = round(time.perf_counter() - t0, 2)
                if bot.proc is not None and bot.proc.poll() is not None:
                    raise RuntimeError(f"the bot died during {name}; log:\n{bot.log_tail()}")
        finally:
            bot.stop()
            fake.stop()
            if run is not None and run.shared.get("sdk_watch") is not None:
                run.shared["sdk_watch"].close()
            if fake_ld is not None:
                fake_ld.stop()
        if keep:
            print(f"[{db}] work directory kept: {wd}", file=sys.stderr)
    return results


def machine_reference_ms(rounds: int = 5) -> dict[str, float]:
    """How fast this machine runs Python right now: a fixed loop (integer arithmetic, string keys in a dict),
    timed `rounds` times in CPU time. Shared machines vary by tens of per cent from hour to hour; the CPU figures
    of a run scale with this one, so runs far apart are compared through it."""
    times = []
    for _ in range(rounds):
        start = time.process_time()
        total, table = 0, {}
        for i in range(1_000_000):
            total += i * i
        for i in range(100_000):
            table[str(i)] = i
        times.append((time.process_time() - start) * 1000)
    times.sort()
    return {"min": round(times[0], 1), "median": round(times[len(times) // 2], 1)}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        print("\n".join(report.describe()))
        return 0
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        print(f"unknown scenario(s): {', '.join(unknown)}; known: {', '.join(SCENARIOS)}", file=sys.stderr)
        return 2
    dbs = [d.strip() for d in args.db.split(",") if d.strip()]
    bad = [d for d in dbs if d not in ("sqlite", "postgresql")]
    if bad or not dbs:
        print(f"--db takes sqlite and/or postgresql, not {', '.join(bad) or 'nothing'}", file=sys.stderr)
        return 2
    options = Options(requests=args.requests, responders=args.responders, per_responder=args.per_responder,
                      burst_incidents=args.burst_incidents, list_incidents=args.list_incidents,
                      history_incidents=args.history_incidents, timeline_events=args.timeline_events,
                      heavy_requests=args.heavy_requests,
                      settle=args.settle, timeout=args.timeout, burst_deadline=args.burst_deadline,
                      profile_dir=args.profile, far_latency=args.far_latency, far_requests=args.far_requests,
                      far_commands=tuple(c.strip() for c in args.far_commands.split(",") if c.strip()),
                      lock_delay=args.lock_delay, lock_users=args.lock_users, lane_pulls=args.lane_pulls,
                      lane_users=args.lane_users, lane_window=args.lane_window)
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    bot_env = dict(item.split("=", 1) for item in args.bot_env)
    out: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "load_avg_at_start": list(os.getloadavg()), "reference_ms_at_start": machine_reference_ms()},
        "bot_env": bot_env, "options": {k: str(v) if isinstance(v, Path) else v for k, v in vars(options).items()}, "results": {}, "targets": {},
    }
    for db in dbs:
        out["results"][db] = run_db(db, names, options, args.keep, bot_env)
        out["targets"][db] = evaluate(out["results"][db])
        print("\n".join(report.latency_table(db, out["results"][db])), flush=True)
    out["machine"]["load_avg_at_end"] = list(os.getloadavg())
    out["machine"]["reference_ms_at_end"] = machine_reference_ms()
    print("\n".join(report.targets_table(out["targets"])))
    print(f"machine reference (a fixed Python loop, CPU ms, min / median of 5; CPU figures scale with it): "
          f"{out['machine']['reference_ms_at_start']} at start, {out['machine']['reference_ms_at_end']} at end")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    print(f"\nresults written to {args.json}")
    if args.markdown:
        args.markdown.write_text(report.markdown(out))
        print(f"markdown written to {args.markdown}")
    return 0
