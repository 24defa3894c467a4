"""Measurements of the containment and runbook features through the running bot.

Containment: every pull is on a fresh incident opened through the bot (untimed), and before each live pull
the bench turns the flag back on in the fake LaunchDarkly and waits until that reached the bot's SDK
stream, so each kill really changes the flag and the SDK really has to see it change. One untimed pull
first lets the bot create its SDK client (a one-off per environment and process).

Runbook clicks: Done on the next pending step of a checklist the bot posted, as a signed block_actions.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from bench import ld
from bench.requests import Prepared
from bench.run import Run
from bench.seed import database
from bench.stats import summarize

ANSWERS = 2  # `/incident contain` answers "Pulling…", then the result


def open_incident(run: Run, title: str) -> tuple[int, str]:
    opened = run.open_via_bot(f"open {title}")
    if opened is None:
        raise RuntimeError(f"could not open an incident for set-up; bot log:\n{run.bot.log_tail()}")
    run.settle()
    return opened


def fresh_flag(run: Run) -> None:
    """Turn the flag back on and wait (bounded) until every SDK stream was sent that version."""
    version = ld.turn_flag_back_on(run.ld)
    deadline = time.time() + 5
    while time.time() < deadline:
        with run.ld.lock:
            pushed = sum(1 for p in run.ld.stream_pushes if p["flag"] == ld.KILL_FLAG and p["version"] == version)
        if pushed >= ld.streams(run.ld):
            break
        time.sleep(0.002)
    time.sleep(0.02)  # the SDK parses the event on its own thread


def warm_up(run: Run) -> None:
    if run.shared.get("ld_warm"):
        return
    run.shared["sdk_watch"] = ld.SdkWatcher(run.ld)  # closed by bench/cli.py with the fake
    number, channel = open_incident(run, "Bench containment warm-up --sev 3")
    req = run.command(f"contain {ld.KILL_LEVER} warm-up", channel=channel, label="contain-warm-up")
    run.send(req)
    deadline = time.time() + 30
    while time.time() < deadline and len(run.answers(req.key)) < ANSWERS:
        time.sleep(0.01)
    run.settle()
    if "verified" not in (run.answers(req.key) or [""])[-1]:
        raise RuntimeError(f"the warm-up pull on INC-{number} did not verify: {run.answers(req.key)}; "
                           f"bot log:\n{run.bot.log_tail()}")
    run.shared["ld_warm"] = True


def contain(run: Run, *, dry_run: bool) -> dict[str, Any]:
    """`/incident contain bench-kill` (each on a new incident), ack and completion; live pulls also keep
    (request key, incident) for the overhead breakdown."""
    if not dry_run:
        warm_up(run)
    pulled: list[tuple[str, int]] = []

    def requests() -> Iterator[Prepared]:
        for i in range(run.options.requests):
            number, channel = open_incident(run, f"Bench containment {i + 1} agent exfiltrates via browsing --sev 3")
            if not dry_run:
                fresh_flag(run)
            req = run.command(f"contain {ld.KILL_LEVER} bench pull {i + 1}" + (" --dry-run" if dry_run else ""),
                              channel=channel, label="contain-dry-run" if dry_run else "contain")
            pulled.append((req.key, number))
            yield req

    result = run.sequential(requests(), answers=ANSWERS, timeout=max(run.options.timeout, 30))
    expect = f"Dry run of `{ld.KILL_LEVER}` recorded" if dry_run else f"`{ld.KILL_LEVER}` verified"
    wrong = [f"INC-{n}: {(run.answers(k) or ['(no answer)'])[-1][:160]}" for k, n in pulled
             if expect not in (run.answers(k) or [""])[-1]]
    if wrong:
        result["errors"] += len(wrong)
        result["first_errors"] = (result.get("first_errors") or []) + wrong[:3]
    if not dry_run:
        result["patches_sent"] = len([p for p in run.ld.patch_times if p["flag"] == ld.KILL_FLAG])
        run.shared["ld_pulls"] = pulled
    else:
        result["launchdarkly_calls"] = run.ld.external_requests() if run.ld is not None else None
    return result


def _actions(run: Run, numbers: list[int]) -> dict[int, Any]:
    from sqlmodel import select

    from bot.store.models import ContainmentAction

    with database(run.database_url) as db, db.session() as s:
        rows = s.exec(select(ContainmentAction).where(ContainmentAction.incident_id.in_(numbers),  # type: ignore[union-attr]
                                                      ContainmentAction.lever == ld.KILL_LEVER,
                                                      ContainmentAction.dry_run.is_(False)))  # type: ignore[union-attr]
        return {r.incident_id: (r.requested_at.timestamp(), r.applied_at and r.applied_at.timestamp(),
                                r.verified_at and r.verified_at.timestamp()) for r in rows}


def overhead(run: Run) -> dict[str, Any]:
    """Per live pull: bench sent -> PATCH at the fake, and PATCH answered -> the bot's SDK saw the change."""
    if not run.shared.get("ld_pulls"):  # run alone (--only containment_overhead): pull first
        contain(run, dry_run=False)
    pulled = run.shared.get("ld_pulls") or []
    rows = _actions(run, [n for _, n in pulled])
    with run.ld.lock:
        patches = [p for p in run.ld.patch_times if p["flag"] == ld.KILL_FLAG]
        pushes = [p for p in run.ld.stream_pushes if p["flag"] == ld.KILL_FLAG]
    series: dict[str, list[float]] = {k: [] for k in (
        "to_patch", "to_requested_row", "requested_row_to_patch", "patch_at_fake", "answer_to_stream",
        "answer_to_sdk_observed", "answer_to_verified", "applied_to_verified")}
    watch = run.shared.get("sdk_watch")
    missing: list[int] = []
    slack_before: list[int] = []
    methods: list[str] = []
    for key, number in pulled:
        sent = run.sent_at.get(key)
        patch = next((p for p in patches if sent is not None and p["received_at"] >= sent), None)
        row = rows.get(number)
        if sent is None or patch is None or row is None or row[2] is None:
            missing.append(number)
            continue
        requested, applied, verified = row
        push = min((p["at"] for p in pushes if p["version"] == patch["version"]), default=None)
        series["to_patch"].append((patch["received_at"] - sent) * 1000)
        with run.fake.lock:  # Slack calls the bot made before the PATCH: each is a real round trip in production
            before = [c.method for c in run.fake.calls if sent <= c.at <= patch["received_at"]]
        slack_before.append(len(before))
        methods = methods or before
        series["to_requested_row"].append((requested - sent) * 1000)
        series["requested_row_to_patch"].append((patch["received_at"] - requested) * 1000)
        series["patch_at_fake"].append((patch["answered_at"] - patch["received_at"]) * 1000)
        if push is not None:
            series["answer_to_stream"].append((push - patch["answered_at"]) * 1000)
        observed = watch.first_after(False, patch["received_at"]) if watch is not None else None
        if observed is not None:
            series["answer_to_sdk_observed"].append((observed - patch["answered_at"]) * 1000)
        series["answer_to_verified"].append((verified - patch["answered_at"]) * 1000)
        if applied is not None:
            series["applied_to_verified"].append((verified - applied) * 1000)
    out: dict[str, Any] = {name: summarize(values) for name, values in series.items()}
    out["slack_calls_before_patch"] = {"min": min(slack_before, default=None), "max": max(slack_before, default=None),
                                       "first_pull": methods}
    out["pulls"] = len(pulled)
    out["errors"] = len(missing)
    if missing:
        out["first_errors"] = [f"INC-{n}: no PATCH or no verified_at recorded" for n in missing[:3]]
    return out


# ----- runbooks -------------------------------------------------------------------------------------------
def checklist_button(run: Run, number: int, channel: str, done_action: str) -> tuple[Any, str | None]:
    """The checklist message and the Done value of its first step menu (None when every step is finished)."""
    message = next((m for m in run.fake.history(channel) if m.text.startswith(f"INC-{number} runbook:")), None)
    if message is None:
        raise RuntimeError(f"INC-{number} has no runbook checklist in its channel")
    for block in message.blocks:
        accessory = block.get("accessory") or {}
        if accessory.get("action_id") == done_action:
            done = [o["value"] for o in accessory.get("options") or [] if str(o.get("value", "")).startswith("done:")]
            if done:
                return message, done[0]
    return message, None


def runbook_clicks(run: Run, done_action: str) -> dict[str, Any]:
    """Done on the next pending step; a new incident (with its checklist) when one runs out of buttons."""
    ephemerals_before = len(run.fake.ephemerals)
    current: list[tuple[int, str]] = []

    def requests() -> Iterator[Prepared]:
        for _ in range(run.options.requests):
            value = None
            if current:
                message, value = checklist_button(run, *current[0], done_action)
            if value is None:
                current[:] = [open_incident(run, f"Bench runbook incident {len(run.shared.setdefault('rb', [])) + 1} "
                                         "injected instructions in a retrieved page --category prompt_injection "
                                         "--sev 2")]
                run.shared["rb"].append(current[0])
                message, value = checklist_button(run, *current[0], done_action)
                if value is None:
                    raise RuntimeError(f"INC-{current[0][0]}'s checklist has no Done button")
            step = next((b.get("block_id", "step") for b in message.blocks if value in str(b.get("accessory"))),
                        "step").removeprefix("step:")
            yield run.signer.click(done_action, value, user="U0BENCH", channel=current[0][1], message_ts=message.ts,
                                   message_text=message.text, label=f"done {step}")

    def answered(calls: list) -> bool:
        return any((c.method == "chat.update" and "runbook:" in str(c.params.get("text", "")))
                   or c.method == "chat.postEphemeral" for c in calls)

    result = run.sequential(requests(), done=answered)
    refused = [e["text"] for e in run.fake.ephemerals[ephemerals_before:]
               if e.get("user") == "U0BENCH" and str(e.get("text", "")).startswith(":warning:")]
    if refused:
        result["errors"] += len(refused)
        result["first_errors"] = (result.get("first_errors") or []) + [t[:160] for t in refused[:3]]
    result["incidents"] = len(run.shared.get("rb", []))
    return result
