"""Prefill the blameless sections with what the timeline shows. Facts only: no judgement, no blame.

Each section is a list of sentences; the template adds the marker where a human must write.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta

from bot.core import facts
from bot.core.durations import format_duration
from bot.core.facts import IncidentFacts, StepFact, StepState
from bot.postmortem.model import BlamelessFacts, ContainmentEntry
from bot.store.models import Incident, TimelineEvent

_TIMES = {1: "once", 2: "twice"}


def times(n: int) -> str:
    return _TIMES.get(n, f"{n} times")


def blameless_facts(incident: Incident, events: list[TimelineEvent], containment: Sequence[ContainmentEntry] | None,
                    f: IncidentFacts, steps: tuple[StepFact, ...], *, ic_assigned: datetime | None
                    ) -> BlamelessFacts:
    """Every number and step state here comes from `f` and `steps` (bot.core.facts), so the draft says
    what the summary, the metrics and a tabletop scorecard say. `containment`: the draft's containment
    actions (their verify times)."""
    contributing: list[str] = []
    went_well: list[str] = []
    hard: list[str] = []
    lucky: list[str] = []
    detected = incident.detected_at
    goal = f"{f.target.label} of {format_duration(f.target.duration)}"

    if f.mttd.done and f.mttd.active >= timedelta(minutes=5):
        contributing.append(f"{format_duration(f.mttd.active)} passed between detection and opening the incident.")

    for e in events:
        if e.kind == "severity_changed":
            verb = "raised" if e.data.get("new", 9) < e.data.get("old", 0) else "lowered"
            contributing.append(f"Severity was {verb} from SEV{e.data.get('old')} to SEV{e.data.get('new')} "
                                f"{format_duration(e.at - detected)} after detection: {e.data.get('reason', '')}")

    if f.mtta.done:
        went_well.append(f"The first incident commander was assigned "
                         f"{format_duration(f.mtta.active)} after the incident was opened.")
    else:
        hard.append("No incident commander was ever assigned.")

    contained = incident.contained_at
    if contained is not None:
        after_ic = (f" ({format_duration(contained - ic_assigned)} after the IC was assigned)"
                    if ic_assigned is not None and contained >= ic_assigned else "")
        sentence = f"Containment took {format_duration(f.mttc.active)} from detection{after_ic}"
        if f.mttc_met:
            went_well.append(f"{sentence}, within the {goal}.")
        else:
            hard.append(f"{sentence}, over the {goal} by {format_duration(f.mttc.active - f.target.duration)}.")
    elif f.is_open:
        hard.append(f"Not contained when this draft was generated, {format_duration(f.mttc.active)} "
                    f"after detection (the {f.target.label} is {format_duration(f.target.duration)}).")
    else:
        hard.append(f"The incident was resolved without a recorded containment (the {f.target.label} is "
                    f"{format_duration(f.target.duration)}).")

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
    verified = [c for c in containment or () if c.verified_at and c.request_to_verify]
    for c in verified:
        went_well.append(f"`{c.lever}` was verified {c.request_to_verify} after it was requested.")

    if steps:
        required = [s for s in steps if s.required]
        if required and all(s.state in (StepState.DONE_ON_TIME, StepState.DONE_LATE) for s in required):
            went_well.append(f"Every required runbook step ({len(required)}) was done.")
        for s in steps:
            if s.state == StepState.SKIPPED:
                contributing.append(f"Runbook step “{s.text}” was skipped: {s.reason or 'no reason given'}.")
        late = [s for s in steps if s.state == StepState.DONE_LATE]
        if late:
            hard.append(f"{len(late)} runbook step(s) finished late: " + "; ".join(f"“{s.text}”" for s in late) + ".")
        unfinished = facts.tally(steps).open_sentence(by="by the resolution" if not f.is_open
                                                      else "when this draft was generated")
        if unfinished:
            hard.append(unfinished)

    slack_errors = sum(1 for e in events if e.kind == "slack_error")
    if slack_errors:
        hard.append(f"Slack calls failed {times(slack_errors)} during the incident (recorded on the timeline).")
    reopened = sum(1 for e in events if e.kind == "reopened")
    if reopened:
        hard.append(f"The incident was reopened {times(reopened)} after being resolved.")

    if f.paused:
        contributing.append(f"The exercise was paused for {format_duration(f.paused)}; paused time is not "
                            "counted in any interval.")

    if incident.ongoing is False:
        lucky.append("The harm was reported as not ongoing when the incident was opened.")
    if incident.exposure == "internal":
        lucky.append("It was found internally before customers or the public reported it.")
    return BlamelessFacts(contributing=tuple(contributing), went_well=tuple(went_well), hard=tuple(hard),
                          lucky=tuple(lucky))

