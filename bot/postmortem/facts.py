"""Prefill the blameless sections with what the timeline shows. Facts only: no judgement, no blame.

Each section is a list of sentences; the template adds the marker where a human must write.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from bot.core.durations import format_duration
from bot.store.models import Incident, TimelineEvent

_TIMES = {1: "once", 2: "twice"}


def times(n: int) -> str:
    return _TIMES.get(n, f"{n} times")


def blameless_facts(ctx: Any, incident: Incident, events: list[TimelineEvent], context: dict[str, Any], *,
                    ic_assigned: datetime | None, target: timedelta, names: Any) -> dict[str, list[str]]:
    contributing: list[str] = []
    went_well: list[str] = []
    hard: list[str] = []
    lucky: list[str] = []
    sev = incident.sev
    detected, opened = incident.detected_at, incident.opened_at

    mttd = opened - detected
    if mttd >= timedelta(minutes=5):
        contributing.append(f"{format_duration(mttd)} passed between detection and opening the incident.")

    for e in events:
        if e.kind == "severity_changed":
            verb = "raised" if e.data.get("new", 9) < e.data.get("old", 0) else "lowered"
            contributing.append(f"Severity was {verb} from SEV{e.data.get('old')} to SEV{e.data.get('new')} "
                                f"{format_duration(e.at - detected)} after detection: {e.data.get('reason', '')}")

    if incident.acknowledged_at is not None:
        went_well.append(f"The first incident commander was assigned "
                         f"{format_duration(incident.acknowledged_at - opened)} after the incident was opened.")
    else:
        hard.append("No incident commander was ever assigned.")

    contained = incident.contained_at
    if contained is not None:
        mttc = contained - detected
        after_ic = (f" ({format_duration(contained - ic_assigned)} after the IC was assigned)"
                    if ic_assigned is not None and contained >= ic_assigned else "")
        sentence = f"Containment took {format_duration(mttc)} from detection{after_ic}"
        if mttc <= target:
            went_well.append(f"{sentence}, within the {sev} target of {format_duration(target)}.")
        else:
            hard.append(f"{sentence}, over the {sev} target of {format_duration(target)} "
                        f"by {format_duration(mttc - target)}.")
    else:
        hard.append(f"Not contained when this draft was generated, {format_duration(ctx.clock.now() - detected)} "
                    f"after detection (the {sev} target is {format_duration(target)}).")

    failures: Counter[tuple[str, str]] = Counter()
    for e in events:
        if e.kind == "lever_failed":
            failures[(str(e.data.get("lever", "?")), str(e.data.get("error") or "an unknown error"))] += 1
    for (lever, error), n in failures.items():
        hard.append(f"Applying `{lever}` failed {times(n)} on {error}.")
    for e in events:
        if e.kind == "lever_not_effective":
            contributing.append(f"`{e.data.get('lever', '?')}` was applied but did not stop the behaviour "
                                f"({format_duration(e.at - detected)} after detection).")
        elif e.kind == "lever_reverted":
            contributing.append(f"`{e.data.get('lever', '?')}` was reverted "
                                f"{format_duration(e.at - detected)} after detection.")
    verified = [c for c in context.get("containment") or [] if c.get("verified_at") and c.get("request_to_verify")]
    for c in verified:
        went_well.append(f"`{c['lever']}` was verified {c['request_to_verify']} after it was requested.")

    steps = context.get("runbook") or []
    if steps:
        required = [s for s in steps if s.get("required")]
        if required and all(s["state"] == "done" for s in required):
            went_well.append(f"Every required runbook step ({len(required)}) was done.")
        for s in steps:
            if s["state"] == "skipped":
                contributing.append(f"Runbook step “{s['text']}” was skipped: {s.get('reason') or 'no reason given'}.")
        late = [s for s in steps if s.get("late")]
        if late:
            hard.append(f"{len(late)} runbook step(s) finished late: " + "; ".join(f"“{s['text']}”" for s in late) + ".")
        pending = [s for s in steps if s["state"] == "pending" and s.get("required")]
        if pending:
            hard.append(f"{len(pending)} required runbook step(s) were never done.")

    slack_errors = sum(1 for e in events if e.kind == "slack_error")
    if slack_errors:
        hard.append(f"Slack calls failed {times(slack_errors)} during the incident (recorded on the timeline).")
    reopened = sum(1 for e in events if e.kind == "reopened")
    if reopened:
        hard.append(f"The incident was reopened {times(reopened)} after being resolved.")

    if incident.ongoing is False:
        lucky.append("The harm was reported as not ongoing when the incident was opened.")
    if incident.exposure == "internal":
        lucky.append("It was found internally before customers or the public reported it.")
    return {"contributing": contributing, "went_well": went_well, "hard": hard, "lucky": lucky}
