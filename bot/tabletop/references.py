"""Cross-checks of a scenario against the runbooks and the lever file it will be played with.

A scenario names runbook steps (`expects: - step: preserve-evidence`, scripted `step <id> done`), levers
(`expects: - lever: emergency-filter`, scripted `contain <lever>`) and reporting-clock regimes
(`expects: - report_clock: gdpr-72h`, scripted `report-clock gdpr-72h`). A name that does not exist would make a
scripted move fail and an expectation impossible to meet, so `firebreak scenarios check` and `tabletop run
--auto` report it, naming the file and the key.

Steps are looked up in the runbook that attaches automatically for the scenario's category at its expected
severity (or the runbook an expectation names); a step must apply at that severity. Levers are checked
only when a lever file is configured (`registry` given): an organization's levers are its own business.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from bot.tabletop.scenario import Catalog, Scenario

EXERCISE_LEVERS = Path(__file__).with_name("exercise-levers.yml")
_STEP = re.compile(r"^step\s+(\S+)")
_CONTAIN = re.compile(r"^contain\s+(\S+)")
_CLOCK = re.compile(r"^report-clock\s+(?:done\s+)?(\S+)")


def references(scenario: Scenario) -> tuple[list[tuple[str, str, str | None]], list[tuple[str, str]]]:
    """([(where, step id, runbook or None)], [(where, lever)]) every step and lever the scenario names."""
    steps: list[tuple[str, str, str | None]] = []
    levers: list[tuple[str, str]] = []
    for i, inject in enumerate(scenario.injects):
        for j, exp in enumerate(inject.expects):
            where = f"injects.{i}.expects.{j}"
            if exp.kind == "step":
                steps.append((f"{where}.step", str(exp.step), exp.runbook))
            elif exp.kind == "lever":
                levers.append((f"{where}.lever", str(exp.lever)))
    for i, action in enumerate(scenario.responders):
        text = action.do.strip()
        if m := _STEP.match(text):
            steps.append((f"responders.{i}.do", m.group(1), None))
        elif m := _CONTAIN.match(text):
            if not m.group(1).startswith("--"):
                levers.append((f"responders.{i}.do", m.group(1)))
    return steps, levers


def clocks(scenario: Scenario) -> list[tuple[str, str]]:
    """[(where, regime)] every reporting-clock regime the scenario names."""
    out = [(f"injects.{i}.expects.{j}.report_clock", str(exp.report_clock))
           for i, inject in enumerate(scenario.injects) for j, exp in enumerate(inject.expects)
           if exp.kind == "report_clock"]
    out += [(f"responders.{i}.do", m.group(1)) for i, a in enumerate(scenario.responders)
            if (m := _CLOCK.match(a.do.strip())) and not m.group(1).startswith("--")]
    return out


def check(scenario: Scenario, path: Path, *, library: Any = None, registry: Any = None,
          regimes: set[str] | None = None) -> list[str]:
    """Problems, each `file: key: what is wrong`. `library`: bot.runbooks Library; `registry`: LeverRegistry;
    `regimes`: the reporting-clock regime names (bot.scheduler.regimes)."""
    problems: list[str] = []
    for where, regime in clocks(scenario) if regimes is not None else []:
        if regimes is not None and regime not in regimes:
            problems.append(f"{path}: {where}: no reporting regime `{regime}` (regimes: "
                            f"{', '.join(sorted(regimes or ()))})")
    steps, levers = references(scenario)
    sev = scenario.expected_severity
    if library is not None:
        attached = library.match(scenario.category, sev)
        for where, step_id, key in steps:
            runbook = library.get(key) if key else attached
            if runbook is None:
                problems.append(f"{path}: {where}: " + (f"no runbook `{key}`" if key else
                                f"no runbook attaches for category `{scenario.category}` at SEV{sev}")
                                + f", so step `{step_id}` cannot be done")
                continue
            step = runbook.step(step_id)
            if step is None or not step.applies(sev):
                known = ", ".join(s.id for s in runbook.steps_for(sev))
                problems.append(f"{path}: {where}: runbook `{runbook.key}` has no step `{step_id}` at SEV{sev} "
                                f"(its steps: {known})")
    if registry is not None:
        names = set(registry.names())
        for where, lever in levers:
            if lever.lower() not in names:
                problems.append(f"{path}: {where}: no lever `{lever}` in {registry.source or 'the lever file'} "
                                f"(levers: {', '.join(sorted(names)) or 'none'})")
    return problems


def regime_names(config: Any) -> set[str] | None:
    """The reporting regimes of this deployment (None when the scheduler feature is not installed)."""
    try:
        from bot.scheduler.regimes import regimes
    except ImportError:
        return None
    return set(regimes(config))


def check_catalog(catalog: Catalog, *, library: Any = None, registry: Any = None,
                  regimes: set[str] | None = None) -> None:
    """Move every scenario with a broken reference from `catalog.scenarios` to `catalog.errors`."""
    for key in list(catalog.scenarios):
        path = catalog.sources[key]
        problems = check(catalog.scenarios[key], path, library=library, registry=registry, regimes=regimes)
        if problems:
            catalog.errors[path] = "\n".join(problems)
            del catalog.scenarios[key]
            del catalog.sources[key]
