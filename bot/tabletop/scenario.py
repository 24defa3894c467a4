"""Tabletop scenarios: YAML files validated at load, with errors that name the file and the key.

A scenario is data an organization keeps in Git: what the team is told at the start, the facts the bot
feeds in as time passes (injects, at offsets from the start), what a well-run team does in answer to each
inject, the severity it should reach and the containment time it should beat, and an optional script of
responder actions that `firebreak tabletop run --auto` plays through the real app.

Shipped scenarios live in `bot/tabletop/scenarios/`; FIREBREAK_SCENARIOS_DIR adds an organization's own
(a scenario there with the same key replaces the shipped one). The file name must be `<key>.yml`, so a
broken file can still be named when someone asks for its scenario.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.config.org import format_validation_error, load_yaml
from bot.core.durations import parse_duration
from bot.core.errors import ConfigError, UsageError

SHIPPED_DIR = Path(__file__).with_name("scenarios")
KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{1,62}$")
INJECT_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")
SUFFIXES = (".yml", ".yaml")


def _duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, str) and re.fullmatch(r"\+?0[smhd]?", value.strip()):
        return timedelta(0)
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError("write a duration with a unit, e.g. 3m or 1h30m")
    if not isinstance(value, str):
        raise ValueError("must be a duration such as 3m or 1h30m")
    try:
        return parse_duration(value.strip().lstrip("+"))
    except UsageError as err:
        raise ValueError(err.message) from err


class Expectation(BaseModel):
    """One response the team is expected to make. Exactly one key is given."""

    model_config = ConfigDict(extra="forbid")

    severity: int | None = Field(None, ge=1, le=4, description="severity at least this severe (a SEV number)")
    step: str | None = Field(None, description="a runbook step id, done (optionally `runbook: key`)")
    runbook: str | None = None
    lever: str | None = Field(None, description="a containment lever applied (dry-run in exercises)")
    status_update: bool | None = None
    report_clock: str | None = Field(None, description="a reporting clock started, e.g. gdpr-72h")
    acknowledge: bool | None = None
    contained: bool | None = None

    @model_validator(mode="after")
    def _one(self) -> Expectation:
        given = [k for k in ("severity", "step", "lever", "status_update", "report_clock", "acknowledge",
                             "contained") if getattr(self, k) not in (None, False)]
        if len(given) != 1:
            raise ValueError("give exactly one of severity, step, lever, status_update, report_clock, "
                             f"acknowledge, contained (got {', '.join(given) or 'none'})")
        if self.runbook and not self.step:
            raise ValueError("`runbook` only qualifies a `step` expectation")
        return self

    @property
    def kind(self) -> str:
        for k in ("severity", "step", "lever", "status_update", "report_clock", "acknowledge", "contained"):
            if getattr(self, k) not in (None, False):
                return k
        raise AssertionError("validated expectation without a kind")

    def describe(self) -> str:
        match self.kind:
            case "severity":
                return f"severity raised to SEV{self.severity} or higher"
            case "step":
                return f"runbook step `{self.step}` done" + (f" ({self.runbook})" if self.runbook else "")
            case "lever":
                return f"lever `{self.lever}` applied"
            case "status_update":
                return "a status update posted"
            case "report_clock":
                return f"reporting clock `{self.report_clock}` started"
            case "acknowledge":
                return "incident acknowledged (IC assigned)"
            case _:
                return "incident contained"


class Inject(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    at: timedelta
    text: str = Field(min_length=1, max_length=2500)
    expects: list[Expectation] = Field(default_factory=list)
    # How long the team has to answer the inject's expectations for them to count as on time.
    within: timedelta = timedelta(minutes=10)

    @field_validator("at", "within", mode="before")
    @classmethod
    def _durations(cls, value: Any) -> timedelta:
        return _duration(value)

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not INJECT_ID.match(value):
            raise ValueError("use lowercase letters, digits, - or _ (at most 63 characters)")
        return value


class Opening(BaseModel):
    """The rubric inputs the exercise incident opens with (the team is expected to re-assess)."""

    model_config = ConfigDict(extra="forbid")

    reach: str | None = None
    exposure: str | None = None
    data: str | None = None
    ongoing: bool | None = None
    domain: str | None = None
    severity: int | None = Field(None, ge=1, le=4)


class Action(BaseModel):
    """A scripted responder's move for `--auto`: an `/incident` command typed by `user` at an offset."""

    model_config = ConfigDict(extra="forbid")

    at: timedelta
    user: str
    do: str = Field(min_length=1)

    @field_validator("at", mode="before")
    @classmethod
    def _at(cls, value: Any) -> timedelta:
        return _duration(value)

    @field_validator("user")
    @classmethod
    def _user(cls, value: str) -> str:
        if not SLACK_USER.match(value):
            raise ValueError("must be a Slack user id such as U0MAYA")
        return value

    def command_text(self) -> str:
        """`ic @U0MAYA` -> `ic <@U0MAYA>`: the form Slack sends mentions in."""
        return re.sub(r"(?<![<\w])@([UW][A-Z0-9]{2,})\b", r"<@\1>", self.do.strip())


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str
    title: str = Field(min_length=3, max_length=150)
    category: str
    summary: str = Field(min_length=1)
    starting_facts: list[str] = Field(min_length=1)
    opening: Opening = Field(default_factory=Opening)
    expected_severity: int = Field(ge=1, le=4)
    target_mttc: timedelta
    status_cadence: timedelta = timedelta(minutes=15)
    # Exercises never page real people unless the scenario says so; the scheduler reads this per exercise.
    page_real_people: bool = False
    # Evidence probes in an exercise reach only `exercise_safe` endpoints unless the scenario opts in here.
    allow_real_endpoints: bool = False
    injects: list[Inject] = Field(min_length=1)
    responders: list[Action] = Field(default_factory=list)

    @field_validator("target_mttc", "status_cadence", mode="before")
    @classmethod
    def _durations(cls, value: Any) -> timedelta:
        return _duration(value)

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        if not KEY.match(value):
            raise ValueError("use lowercase letters, digits, - or _ (2 to 63 characters)")
        return value

    @model_validator(mode="after")
    def _order(self) -> Scenario:
        ids = [i.id for i in self.injects]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"inject ids must be unique (repeated: {', '.join(dupes)})")
        offsets = [i.at for i in self.injects]
        if offsets != sorted(offsets):
            raise ValueError("injects must be listed in the order of their `at` offsets")
        return self

    @property
    def duration(self) -> timedelta:
        return self.injects[-1].at

    def expected(self) -> list[tuple[Inject, Expectation]]:
        return [(i, e) for i in self.injects for e in i.expects]

    def snapshot(self) -> dict[str, Any]:
        """JSON-safe copy stored with the exercise, so a run keeps its scenario if the file changes."""
        def plain(value: Any) -> Any:
            if isinstance(value, timedelta):
                return f"{int(value.total_seconds())}s"
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            if isinstance(value, list):
                return [plain(v) for v in value]
            return value

        return plain(self.model_dump(exclude_none=True))

    @classmethod
    def from_snapshot(cls, data: dict[str, Any]) -> Scenario:
        return cls.model_validate(data)


@dataclass
class Catalog:
    """Every scenario found, by key, and the files that could not be loaded (path -> message)."""

    scenarios: dict[str, Scenario] = field(default_factory=dict)
    sources: dict[str, Path] = field(default_factory=dict)
    errors: dict[Path, str] = field(default_factory=dict)

    def get(self, key: str) -> Scenario:
        key = key.strip().lower()
        if key in self.scenarios:
            return self.scenarios[key]
        broken = [msg for path, msg in self.errors.items() if path.stem == key]
        if broken:
            raise UsageError(f"Scenario `{key}` cannot be used: its file is invalid.\n" + "\n".join(broken))
        known = ", ".join(sorted(self.scenarios)) or "(none)"
        raise UsageError(f"Unknown scenario `{key}`. Scenarios: {known}.")


def parse_scenario(data: Any, path: Path, *, categories: set[str] | None = None,
                   scales: dict[str, set[str]] | None = None, domains: set[str] | None = None) -> Scenario:
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys")
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(path, err)) from err
    problems = []
    if path.stem != scenario.key:
        problems.append(f"{path}: key: `{scenario.key}` must match the file name (`{path.stem}`)")
    if categories is not None and scenario.category not in categories:
        problems.append(f"{path}: category: unknown category `{scenario.category}` "
                        f"(one of: {', '.join(sorted(categories))})")
    for name, allowed in (scales or {}).items():
        value = getattr(scenario.opening, name)
        if value is not None and value not in allowed:
            problems.append(f"{path}: opening.{name}: unknown value `{value}` (one of: {', '.join(allowed)})")
    if domains is not None and scenario.opening.domain not in (None, *domains):
        problems.append(f"{path}: opening.domain: unknown domain `{scenario.opening.domain}` "
                        f"(one of: {', '.join(sorted(domains))})")
    for i, action in enumerate(scenario.responders):
        if action.at > scenario.duration + scenario.target_mttc:
            problems.append(f"{path}: responders.{i}.at: {action.at} is after the exercise can last")
    if problems:
        raise ConfigError("\n".join(problems))
    return scenario


def scenario_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.suffix in SUFFIXES and p.is_file())


def load_catalog(extra_dir: Path | None = None, *, rules: Any = None, shipped: bool = True) -> Catalog:
    """Load the shipped scenarios and an organization's directory; later directories override keys."""
    checks: dict[str, Any] = {}
    if rules is not None:
        checks = {"categories": set(rules.categories),
                  "scales": {k: set(rules.scale(k)) for k in ("reach", "exposure", "data")},
                  "domains": set(rules.rubric.regulated_domains)}
    catalog = Catalog()
    dirs = ([SHIPPED_DIR] if shipped else []) + ([extra_dir] if extra_dir else [])
    for directory in dirs:
        if not directory.is_dir():
            catalog.errors[directory] = f"{directory}: not a directory of scenario files"
            continue
        for path in scenario_files(directory):
            try:
                scenario = parse_scenario(load_yaml(path), path, **checks)
            except ConfigError as err:
                catalog.errors[path] = str(err)
                continue
            catalog.scenarios[scenario.key] = scenario
            catalog.sources[scenario.key] = path
    return catalog


def catalog_for(ctx: Any) -> Catalog:
    """The scenarios a live exercise may use: validated, their runbook steps and reporting regimes checked
    against this bot's runbooks and config (lever names are not: `scenarios check` checks a lever file)."""
    from bot.tabletop.references import check_catalog, regime_names

    catalog = load_catalog(ctx.settings.scenarios_dir, rules=ctx.rules)
    check_catalog(catalog, library=ctx.runbooks, regimes=regime_names(ctx.config))
    return catalog
