"""Acks while something slow holds the bot: a slow Slack answer (lock) and LaunchDarkly down (lane).

Slack wants every request acknowledged within 3 seconds, whatever other requests are doing. Both
scenarios measure other users' acks (request sent -> HTTP 200) while one slow dependency is in use:

* lock: a commander (not the IC) changes severity, so the bot asks Slack who is in the commanders' user
  group (`usergroups.users.list`), and the fake takes `--lock-delay` seconds (default 4) to answer. While
  that lookup is in flight, `--lock-users` other users (default 20) each send `/incident status` in their
  own incident, all at once.
* lane: `--lane-pulls` responders (default 10) each confirm a lever pull in its modal (`/incident contain`
  of a `confirm: true` lever, untimed, then the view_submission of "Pull lever", all at once) while the
  fake LaunchDarkly answers every REST call with 503 for `--lane-window` seconds (default 6), so each pull
  sits in its retry budget. Meanwhile `--lane-users` other users (default 20) send `/incident status`,
  spread over the window. Then LaunchDarkly recovers and the bench waits (bounded) for every pull's result.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench import features, ld
from bench.requests import Prepared
from bench.run import Run
from bench.stats import summarize

COMMANDERS_GROUP = "S0BENCHCMD"  # the bot's FIREBREAK_CONFIG names it as commanders
COMMANDER = "U0BENCHCMD"


def org_config(workdir: Path) -> Path:
    """The organization config the bench's bot loads: commanders are a Slack user group, so a commander's
    severity change makes the bot look the group up."""
    path = workdir / "firebreak.yml"
    path.write_text(f"commanders: [{COMMANDERS_GROUP}]\n")
    return path


def _acks(results: list[tuple[int, float, float]], timeout: float) -> dict[str, Any]:
    """Ack times of every request, whatever it was answered: Bolt answers 404 when its listener did not ack
    within 3 s, which Slack shows the user as a failed command. A request with no answer within the
    bench's `--timeout` counts as answered at the timeout (a lower bound)."""
    acks = [(acked - sent) * 1000 if status else timeout * 1000 for status, sent, acked in results]
    return {"ack": summarize(acks), "acks_over_100ms": sum(1 for a in acks if a > 100),
            "acks_over_3s": sum(1 for a in acks if a > 3000),
            "failed_acks": sum(1 for status, _, _ in results if status != 200),
            "failed_statuses": sorted({status for status, _, _ in results if status != 200})}


def _send_all(run: Run, reqs: list[Prepared]) -> list[tuple[int, float, float]]:
    with ThreadPoolExecutor(max_workers=max(1, len(reqs))) as pool:
        return list(pool.map(run.send, reqs))


def lock(run: Run) -> dict[str, Any]:
    o = run.options
    incs = run.ensure_incidents(o.lock_users + 1)
    target, others = incs[0], incs[1:o.lock_users + 1]
    run.ensure_ic([target])  # the commander is not the IC: the bot must ask Slack about the group
    with run.fake.lock:
        run.fake.usergroups[COMMANDERS_GROUP] = [COMMANDER]
    run.fake.fail_next("usergroups.users.list", error=None, delay=o.lock_delay)
    # Lowering needs the IC or a commander (raising is open to every member): the group must be looked up.
    sev = run.command("sev 4 lock: a commander re-assesses", user=COMMANDER, channel=target[1], label="sev")
    probes = [run.command(f"status Lock probe {i + 1}: still investigating", user=f"U0LK{i:04d}", channel=ch,
                          label="status") for i, (_, ch) in enumerate(others)]
    start = run.fake.call_count()
    sev_result: list[tuple[int, float, float]] = []
    sender = threading.Thread(target=lambda: sev_result.append(run.send(sev)))
    sender.start()
    looked_up = run.wait_calls(start, lambda calls: any(c.method == "usergroups.users.list" for c in calls), 10)
    if looked_up is None:
        sender.join()
        raise RuntimeError("the commander's severity change made no usergroups.users.list call; "
                           f"answer: {run.answer(sev.key)!r}")
    results = _send_all(run, probes)
    in_flight = any(c.method == "usergroups.users.list" and c.end is None for c in run.fake.calls_since(start))
    sender.join()
    run.wait_reply(sev.key, o.lock_delay + o.timeout)
    for req in probes:
        run.wait_reply(req.key)
    run.settle()
    out: dict[str, Any] = {"lookup_s": o.lock_delay, "others": len(probes), **_acks(results, o.timeout),
                           "lookup_still_in_flight_after_acks": in_flight,
                           "sev_ack_ms": round((sev_result[0][2] - sev_result[0][1]) * 1000, 1),
                           "sev_answer": run.answer(sev.key)[:160],
                           "unanswered": sum(1 for r in probes if not run.answer(r.key))}
    return out


def _confirmation(run: Run, number: int, channel: str, user: str, i: int) -> Prepared:
    """Untimed: `/incident contain` the confirm lever, wait for its modal, and build the submission that a
    click on "Pull lever" sends (a view_submission with the modal as Slack keeps it)."""
    before = run.fake.call_count()
    req = run.command(f"contain {ld.CONFIRM_LEVER} lane pull {i + 1}", user=user, channel=channel,
                      label="contain")
    run.send(req)
    if run.wait_calls(before, lambda calls: any(c.method == "views.open" for c in calls), 10) is None:
        raise RuntimeError(f"INC-{number}: no confirmation modal; answer: {run.answer(req.key)!r}")
    run.settle()
    with run.fake.lock:
        view = next(v for v in reversed(run.fake.views.values())  # its metadata is an opaque token
                    if f"on INC-{number}?" in json.dumps(v.get("blocks")))
    submitted = {k: v for k, v in view.items() if k != "trigger_id"}
    submitted["state"] = {"values": {"reason": {"value": {"type": "plain_text_input", "value": "lane"}}}}
    return run.signer.interaction({"type": "view_submission", "user": {"id": user, "name": user.lower()},
                                   "view": submitted}, label="lever confirmed")


def _finished(run: Run, user: str) -> bool:
    """The pull's result reached its responder (an ephemeral naming the lever)."""
    with run.fake.lock:
        return any(e.get("user") == user and ld.CONFIRM_LEVER in str(e.get("text")) for e in run.fake.ephemerals)


def lane(run: Run) -> dict[str, Any]:
    o = run.options
    features.warm_up(run)
    pullers = [f"U0LP{i:04d}" for i in range(o.lane_pulls)]
    pulls = [features.open_incident(run, f"Bench lane {i + 1} agent exfiltrates via browsing --sev 3")
             for i in range(o.lane_pulls)]
    probes_on = run.ensure_incidents(o.lane_users)
    features.fresh_flag(run)
    confirmations = [_confirmation(run, number, channel, user, i)
                     for i, ((number, channel), user) in enumerate(zip(pulls, pullers, strict=True))]
    probes = [run.command(f"status Lane probe {i + 1}: still investigating", user=f"U0LN{i:04d}", channel=ch,
                          label="status") for i, (_, ch) in enumerate(probes_on)]
    before = len(run.ld.requests)
    for kind in ("get", "patch"):
        run.ld.fail_next(kind, 503, times=100_000)
    started = time.time()
    spacing = o.lane_window / max(1, len(probes))
    results: list[tuple[int, float, float]] = [(0, 0.0, 0.0)] * len(probes)

    def probe(i: int, req: Prepared) -> None:  # on its own thread: a slow ack must not stretch the window
        time.sleep(max(0.0, started + i * spacing - time.time()))
        results[i] = run.send(req)

    senders = [threading.Thread(target=probe, args=(i, req)) for i, req in enumerate(probes)]
    with ThreadPoolExecutor(max_workers=max(1, len(confirmations))) as pool:
        submitted = pool.map(run.send, confirmations)
        for t in senders:
            t.start()
        time.sleep(max(0.0, started + o.lane_window - time.time()))
        with run.ld.lock:
            run.ld.faults.clear()
            refused = sum(1 for r in run.ld.requests[before:] if r.status == 503)
        pulled = list(submitted)
    for t in senders:
        t.join()
    deadline = time.time() + 75  # the retry budget is 60 s by default
    while time.time() < deadline and not all(_finished(run, u) for u in pullers):
        time.sleep(0.05)
    run.settle()
    with run.fake.lock:
        finals = [e["text"] for e in run.fake.ephemerals if e.get("user") in pullers
                  and ld.CONFIRM_LEVER in str(e.get("text"))]
    pull_acks = _acks(pulled, o.timeout)
    return {"pulls": len(confirmations), "window_s": o.lane_window, "others": len(probes),
            **_acks(results, o.timeout), "pull_acks": pull_acks["ack"],
            "pulls_failed_acks": pull_acks["failed_acks"],
            "launchdarkly_503s": refused, "pulls_verified": sum(1 for t in finals if "verified" in t),
            "pull_results": sorted({t.split(" — ")[0][:120] for t in finals}),
            "pulls_unfinished": sum(1 for u in pullers if not _finished(run, u))}
