"""Load and validate runbook YAML files.

Every problem is collected (never only the first) and reported as `file:line: key: what is wrong`, so
`firebreak runbooks check` can list them all and the bot can refuse to start without half-loading.
Files are read through `bot.config.yamlfile`: each is parsed and validated once per process per content,
so every app build after the first (tests build hundreds) reuses the result.

A runbook file:

    key: prompt_injection
    title: Prompt injection (direct or indirect)
    summary: one line shown in `/incident runbooks`
    applies_to: {categories: [prompt_injection], severities: [1, 2, 3]}
    auto: true              # attach automatically on open (default true); false = only by `runbook use`
    phases:
      - phase: triage       # one of PHASES, in that order, each at most once
        steps:
          - id: confirm-scope
            text: What to do, concretely.
            owner: ic       # a role key from bot.core.incidents.ROLES
            due: {sev1: 15m, sev2: 30m, sev3: 2h}   # or one duration for every severity; omit for none
            required: true  # default true
            severities: [1, 2]   # optional: the step applies only at these severities
            lever: rollback_model  # optional: the containment lever this step offers
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

from bot.config.yamlfile import KeyPath, YamlDocument, YamlError, load_checked, parse_yaml
from bot.core.durations import parse_duration
from bot.core.errors import UsageError
from bot.core.incidents import ROLES

SHIPPED_DIR = Path(__file__).parent
PHASES: dict[str, str] = {
    "triage": "Triage",
    "reproduce": "Reproduce and preserve evidence",
    "contain": "Contain",
    "verify": "Verify",
    "communicate": "Communicate",
    "recover": "Recover",
    "learn": "Learn",
}
PHASE_ORDER = {name: i for i, name in enumerate(PHASES)}
SEVERITIES = (1, 2, 3, 4)
KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
TOP_KEYS = {"key", "title", "summary", "applies_to", "auto", "phases"}
APPLIES_KEYS = {"categories", "severities"}
PHASE_KEYS = {"phase", "steps"}
STEP_KEYS = {"id", "text", "owner", "due", "required", "severities", "lever"}
MAX_STEP_TEXT = 1500


@dataclass(frozen=True)
class StepDef:
    id: str
    phase: str
    text: str
    owner: str
    required: bool = True
    due: dict[int, timedelta] = field(default_factory=dict)
    severities: frozenset[int] = frozenset(SEVERITIES)
    lever: str | None = None

    def applies(self, severity: int) -> bool:
        return severity in self.severities

    def due_after(self, severity: int) -> timedelta | None:
        return self.due.get(severity)


@dataclass(frozen=True)
class Runbook:
    key: str
    title: str
    categories: tuple[str, ...]
    severities: frozenset[int]
    steps: tuple[StepDef, ...]
    source: str
    origin: str = "shipped"  # "shipped" or "organization"
    summary: str = ""
    auto: bool = True

    def applies(self, category: str, severity: int) -> bool:
        return category in self.categories and severity in self.severities

    def steps_for(self, severity: int) -> list[StepDef]:
        return [s for s in self.steps if s.applies(severity)]

    def step(self, step_id: str) -> StepDef | None:
        return next((s for s in self.steps if s.id == step_id), None)


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class RunbookErrors(Exception):
    """One or more runbook files are invalid; `problems` lists every one."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


# ----- key paths and lines ----------------------------------------------------------------------------

Path_ = KeyPath


def _dotted(path: Path_) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


class _Checker:
    def __init__(self, file: str, doc: YamlDocument) -> None:
        self.file = file
        self.doc = doc
        self.problems: list[Problem] = []

    def add(self, path: Path_, message: str) -> None:
        self.problems.append(Problem(self.file, self.doc.line(path), _dotted(path), message))

    def unknown_keys(self, data: dict, allowed: set[str], path: Path_) -> None:
        for key in data:
            if key not in allowed:
                self.add(path + (key,), f"unknown key `{key}` (allowed: {', '.join(sorted(allowed))})")

    def text(self, data: dict, key: str, path: Path_, *, required: bool = True, limit: int = 200) -> str:
        value = data.get(key)
        if value is None:
            if required:
                self.add(path + (key,) if path else (key,), "is required")
            return ""
        if not isinstance(value, str) or not value.strip():
            self.add(path + (key,), "must be non-empty text")
            return ""
        value = " ".join(value.split())
        if len(value) > limit:
            self.add(path + (key,), f"is {len(value)} characters; keep it under {limit}")
        return value

    def severities(self, value: Any, path: Path_) -> frozenset[int]:
        items = value if isinstance(value, list) else [value]
        out: set[int] = set()
        for i, item in enumerate(items):
            sev = _severity(item)
            if sev is None:
                self.add(path + ((i,) if isinstance(value, list) else ()),
                         f"`{item}` is not a severity (use 1, 2, 3, 4 or sev1..sev4)")
            else:
                out.add(sev)
        if not items:
            self.add(path, "names no severity")
        return frozenset(out)


def _severity(value: Any) -> int | None:
    text = str(value).strip().lower().removeprefix("sev")
    return int(text) if text in {"1", "2", "3", "4"} else None


def _duration(check: _Checker, value: Any, path: Path_) -> timedelta | None:
    try:
        return parse_duration(str(value))
    except UsageError:
        check.add(path, f"`{value}` is not a duration (use 30s, 15m, 1h, 1h30m, 2d)")
        return None


# ----- parsing one file -------------------------------------------------------------------------------

def parse_runbook(text: str, file: str, categories: Iterable[str], *, origin: str = "shipped",
                  problems: list[Problem]) -> Runbook | None:
    """Parse one runbook's text; append every problem to `problems`; return the runbook only when valid."""
    try:
        doc = parse_yaml(text, file)
    except YamlError as err:
        problems.append(Problem(file, err.line, "", err.reason))
        return None
    return check_runbook(doc, file, categories, origin=origin, problems=problems)


def check_runbook(doc: YamlDocument, file: str, categories: Iterable[str], *, origin: str = "shipped",
                  problems: list[Problem]) -> Runbook | None:
    """Validate one parsed runbook; append every problem to `problems`; return the runbook only when valid."""
    known_categories = set(categories)
    check = _Checker(file, doc)
    for path, line in doc.duplicates:
        check.problems.append(Problem(file, line, _dotted(path), "duplicate key (the later value would win)"))
    data = doc.data
    if not isinstance(data, dict):
        check.add((), "the top level must be a mapping with key, title, applies_to and phases")
        problems.extend(check.problems)
        return None
    check.unknown_keys(data, TOP_KEYS, ())

    key = data.get("key")
    if not isinstance(key, str) or not KEY.match(key):
        check.add(("key",), "is required: lowercase letters, digits, `-` or `_`, at most 64 characters"
                  if key is None else f"`{key}` is not a valid key (lowercase letters, digits, `-`, `_`)")
    title = check.text(data, "title", ())
    summary = check.text(data, "summary", (), required=False, limit=300)
    auto = data.get("auto", True)
    if not isinstance(auto, bool):
        check.add(("auto",), "must be true or false")

    applies = data.get("applies_to")
    cats: list[str] = []
    sevs: frozenset[int] = frozenset()
    if not isinstance(applies, dict):
        check.add(("applies_to",), "is required: a mapping with `categories` and `severities`")
    else:
        check.unknown_keys(applies, APPLIES_KEYS, ("applies_to",))
        raw = applies.get("categories")
        raw = [raw] if isinstance(raw, str) else raw
        if not isinstance(raw, list) or not raw:
            check.add(("applies_to", "categories"), "is required: a list of incident categories")
        else:
            for i, cat in enumerate(raw):
                if not isinstance(cat, str) or cat not in known_categories:
                    check.add(("applies_to", "categories", i),
                              f"unknown category `{cat}` (known: {', '.join(sorted(known_categories))})")
                elif cat in cats:
                    check.add(("applies_to", "categories", i), f"category `{cat}` is listed twice")
                else:
                    cats.append(cat)
        if "severities" in applies:
            sevs = check.severities(applies["severities"], ("applies_to", "severities"))
        else:
            sevs = frozenset(SEVERITIES)

    steps: list[StepDef] = []
    phases = data.get("phases")
    if not isinstance(phases, list) or not phases:
        check.add(("phases",), f"is required: a list of phases ({', '.join(PHASES)})")
    else:
        steps = _parse_phases(check, phases, sevs)

    problems.extend(check.problems)
    if check.problems or not isinstance(key, str):  # a bad key is always among the problems
        return None
    return Runbook(key=key, title=title, categories=tuple(cats), severities=sevs, steps=tuple(steps),
                   source=file, origin=origin, summary=summary, auto=auto)


def _validated(doc: YamlDocument, *, file: str, categories: list[str],
               origin: str) -> tuple[Runbook | None, tuple[Problem, ...]]:
    """check_runbook as a value: what load_library caches per file content (Runbook and Problem are frozen)."""
    problems: list[Problem] = []
    runbook = check_runbook(doc, file, categories, origin=origin, problems=problems)
    return runbook, tuple(problems)


def _parse_phases(check: _Checker, phases: list, runbook_sevs: frozenset[int]) -> list[StepDef]:
    steps: list[StepDef] = []
    ids: dict[str, Path_] = {}
    last_order = -1
    seen_phases: set[str] = set()
    for p, phase in enumerate(phases):
        ppath: Path_ = ("phases", p)
        if not isinstance(phase, dict):
            check.add(ppath, "each phase must be a mapping with `phase` and `steps`")
            continue
        check.unknown_keys(phase, PHASE_KEYS, ppath)
        name = phase.get("phase")
        if not isinstance(name, str) or name not in PHASES:
            check.add(ppath + ("phase",), f"unknown phase `{name}` (phases, in order: {', '.join(PHASES)})")
            name = None
        elif name in seen_phases:
            check.add(ppath + ("phase",), f"phase `{name}` appears twice; put all its steps in one place")
        elif PHASE_ORDER[name] < last_order:
            check.add(ppath + ("phase",), f"phase `{name}` is out of order (phases, in order: {', '.join(PHASES)})")
        if name:
            seen_phases.add(name)
            last_order = max(last_order, PHASE_ORDER[name])
        items = phase.get("steps")
        if not isinstance(items, list) or not items:
            check.add(ppath + ("steps",), "is required: a list of steps")
            continue
        for s, item in enumerate(items):
            step = _parse_step(check, item, ppath + ("steps", s), name or "triage", runbook_sevs)
            if step is None:
                continue
            if step.id in ids:
                check.add(ppath + ("steps", s, "id"),
                          f"duplicate step id `{step.id}` (first used at {_dotted(ids[step.id])})")
                continue
            ids[step.id] = ppath + ("steps", s)
            steps.append(step)
    return steps


def _parse_step(check: _Checker, item: Any, path: Path_, phase: str, runbook_sevs: frozenset[int]) -> StepDef | None:
    if not isinstance(item, dict):
        check.add(path, "each step must be a mapping with id, text and owner")
        return None
    before = len(check.problems)
    check.unknown_keys(item, STEP_KEYS, path)
    step_id = item.get("id")
    if not isinstance(step_id, str) or not KEY.match(step_id):
        check.add(path + ("id",), "is required" if step_id is None
                  else f"`{step_id}` is not a valid step id (lowercase letters, digits, `-`, `_`)")
    text = check.text(item, "text", path, limit=MAX_STEP_TEXT)
    owner = item.get("owner")
    if owner is None:
        check.add(path + ("owner",), f"is required: one of the roles {', '.join(ROLES)}")
    elif not isinstance(owner, str) or owner not in ROLES:
        check.add(path + ("owner",), f"unknown role `{owner}` (roles: {', '.join(ROLES)})")
    required = item.get("required", True)
    if not isinstance(required, bool):
        check.add(path + ("required",), "must be true or false")
    step_sevs = frozenset(runbook_sevs)
    if "severities" in item:
        step_sevs = check.severities(item["severities"], path + ("severities",))
        outside = sorted(step_sevs - runbook_sevs)
        if outside and runbook_sevs:
            check.add(path + ("severities",), "the runbook does not apply at "
                      + ", ".join(f"SEV{s}" for s in outside))
    due: dict[int, timedelta] = {}
    raw_due = item.get("due")
    if isinstance(raw_due, dict):
        for k, v in raw_due.items():
            sev = _severity(k)
            if sev is None:
                check.add(path + ("due", k), f"`{k}` is not a severity (use sev1..sev4)")
                continue
            delta = _duration(check, v, path + ("due", k))
            if delta is not None:
                due[sev] = delta
    elif raw_due is not None:
        delta = _duration(check, raw_due, path + ("due",))
        if delta is not None:
            due = {s: delta for s in SEVERITIES}
    lever = item.get("lever")
    if lever is not None and (not isinstance(lever, str) or not KEY.match(lever)):
        check.add(path + ("lever",), f"`{lever}` is not a lever name (lowercase letters, digits, `-`, `_`)")
    if len(check.problems) > before or not isinstance(step_id, str) or not isinstance(owner, str):
        return None  # (a bad id or owner is always among the problems)
    return StepDef(id=step_id, phase=phase, text=text, owner=owner, required=required, due=due,
                   severities=step_sevs, lever=lever)


# ----- the library -------------------------------------------------------------------------------------

class Library:
    """Every runbook available: the shipped ones, replaced or extended by the organization's directory."""

    def __init__(self, runbooks: dict[str, Runbook]) -> None:
        self.runbooks = dict(sorted(runbooks.items()))

    def __len__(self) -> int:
        return len(self.runbooks)

    def get(self, key: str) -> Runbook | None:
        return self.runbooks.get(key)

    def candidates(self, category: str, severity: int) -> list[Runbook]:
        found = [r for r in self.runbooks.values() if r.auto and r.applies(category, severity)]
        if not found:
            return []
        # The organization's runbooks win over shipped ones; then the most specific (fewest categories).
        best = min(_rank(r) for r in found)
        return [r for r in found if _rank(r) == best]

    def match(self, category: str, severity: int) -> Runbook | None:
        """The runbook to attach automatically (validated at load to be unambiguous)."""
        found = self.candidates(category, severity)
        return found[0] if found else None


def _rank(runbook: Runbook) -> tuple[int, int]:
    return (0 if runbook.origin == "organization" else 1, len(runbook.categories))


def runbook_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in (".yml", ".yaml"))


def load_library(categories: Iterable[str], extra_dir: Path | None = None, *,
                 include_shipped: bool = True) -> Library:
    """Load and validate every runbook; raise RunbookErrors listing all problems, or return the Library."""
    categories = list(categories)
    problems: list[Problem] = []
    loaded: dict[str, Runbook] = {}
    sources: list[tuple[Path, str]] = []
    if include_shipped:
        sources.append((SHIPPED_DIR, "shipped"))
    if extra_dir is not None:
        extra = Path(extra_dir)
        if not extra.is_dir():
            problems.append(Problem(str(extra), None, "", "is not a directory of runbook files"))
        else:
            sources.append((extra, "organization"))
    for directory, origin in sources:
        seen: dict[str, str] = {}
        for path in runbook_files(directory):
            label = _label(path, origin)
            try:
                runbook, found = load_checked(path, partial(_validated, file=label, categories=categories,
                                                            origin=origin),
                                              label=label, key=(origin, tuple(categories)))
            except YamlError as err:
                problems.append(Problem(label, err.line, "", err.reason))
                continue
            problems.extend(found)
            if runbook is None:
                continue
            if runbook.key in seen:
                problems.append(Problem(label, 1, "key",
                                        f"duplicate runbook key `{runbook.key}` (also in {seen[runbook.key]})"))
                continue
            seen[runbook.key] = label
            loaded[runbook.key] = runbook  # an organization's runbook replaces a shipped one with its key
    library = Library(loaded)
    problems.extend(_ambiguities(library, categories))
    if problems:
        raise RunbookErrors(problems)
    return library


def _label(path: Path, origin: str) -> str:
    if origin == "shipped":
        return f"bot/runbooks/{path.name}"
    return str(path)


def _ambiguities(library: Library, categories: list[str]) -> list[Problem]:
    out: list[Problem] = []
    reported: set[tuple[str, ...]] = set()
    for category in categories:
        for sev in SEVERITIES:
            found = library.candidates(category, sev)
            keys = tuple(sorted(r.key for r in found))
            if len(found) > 1 and keys not in reported:
                reported.add(keys)
                out.append(Problem(found[1].source, None, "applies_to",
                                   f"runbooks {', '.join(f'`{k}`' for k in keys)} all apply to `{category}` at "
                                   f"SEV{sev}; narrow `applies_to` or set `auto: false` on all but one"))
    return out
