"""Alert sources and routes as data (FIREBREAK_ALERTS_FILE), validated at load with errors naming the file and
the key, and the one place that decides which route an alert takes.

A source names its format, its authentication (a bearer token or an HMAC signature; the secret is read from
the environment variable the file names, never kept in the file), its rate and how its labels map onto the AI
fields. Routes are tried in order; the first whose conditions all hold decides: `declare`, `triage` or
`attach_only`. An alert no route takes goes to triage when a triage channel is configured, else it is
recorded and nothing is posted.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.config.org import format_validation_error
from bot.config.yamlfile import load_yaml
from bot.core import secrets
from bot.core.durations import parse_duration
from bot.core.errors import ConfigError, UsageError
from bot.core.severity import SeverityRules

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
DECLARE, TRIAGE, ATTACH_ONLY, RECORD = "declare", "triage", "attach_only", "record"
# The fields a condition or a mapping may name; `labels.<key>` names a label.
FIELDS = ("source", "title", "category", "status", "reach", "exposure", "data", "domain", "ongoing",
          "dedup_key", "group_key")
# What a source's mapping may fill, and where Alertmanager's payload has it unless mapped otherwise.
MAPPABLE = ("title", "category", "reach", "exposure", "data", "ongoing", "domain", "dedup_key", "group_key",
            "source_url", "prompt", "output", "model", "surface")
ALERTMANAGER_DEFAULTS: dict[str, list[str]] = {
    "title": ["annotations.summary", "labels.alertname"],
    "category": ["labels.category"],
    "reach": ["labels.reach"],
    "exposure": ["labels.exposure"],
    "data": ["labels.data"],
    "ongoing": ["labels.ongoing"],
    "domain": ["labels.domain"],
    "dedup_key": ["fingerprint"],
    "group_key": ["labels.alertname"],
    "source_url": ["generatorURL"],
    "prompt": ["annotations.prompt"],
    "output": ["annotations.output"],
    "model": ["labels.model"],
    "surface": ["labels.surface"],
}


class Source(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["firebreak", "alertmanager"] = "firebreak"
    auth: Literal["bearer", "hmac"] = "hmac"
    secret_env: str = Field(pattern=r"^[A-Z_][A-Z0-9_]{0,99}$")
    rate_per_second: float = Field(50.0, gt=0, le=10_000)
    burst: int = Field(200, ge=1, le=100_000)
    exercise: bool = False  # every alert of this source is an exercise (a tabletop's own source)
    mapping: dict[str, str | list[str]] = Field(default_factory=dict)
    defaults: dict[str, str] = Field(default_factory=dict)

    @field_validator("mapping")
    @classmethod
    def _mapping(cls, value: dict[str, str | list[str]]) -> dict[str, str | list[str]]:
        for key, paths in value.items():
            if key not in MAPPABLE:
                raise ValueError(f"`{key}` cannot be mapped (one of: {', '.join(MAPPABLE)})")
            for p in [paths] if isinstance(paths, str) else paths:
                if not re.match(r"^(labels|annotations)\.[A-Za-z0-9_.-]{1,100}$|^(fingerprint|generatorURL)$", p):
                    raise ValueError(f"`{p}` is not a label, annotation, fingerprint or generatorURL path")
        return value

    def paths(self, key: str) -> list[str]:
        if key in self.mapping:
            value = self.mapping[key]
            return [value] if isinstance(value, str) else list(value)
        return ALERTMANAGER_DEFAULTS.get(key, [])

    def secret(self) -> str | None:
        value = os.environ.get(self.secret_env)
        if value:
            secrets.register(value)
        return value or None


class Threshold(BaseModel):
    model_config = ConfigDict(extra="forbid")

    at_least: float | None = None
    at_most: float | None = None


class When(BaseModel):
    """Every given condition must hold. Fields: source, title, category, status, reach, exposure, data, domain,
    ongoing, dedup_key, group_key, or `labels.<key>`."""

    model_config = ConfigDict(extra="forbid")

    equals: dict[str, str] = Field(default_factory=dict)
    any_of: dict[str, list[str]] = Field(default_factory=dict, alias="in")
    regex: dict[str, str] = Field(default_factory=dict)
    scores: dict[str, Threshold] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> When:
        for group in (self.equals, self.any_of, self.regex):
            for key in group:
                if key not in FIELDS and not re.match(r"^labels\.[A-Za-z0-9_.-]{1,100}$", key):
                    raise ValueError(f"unknown field `{key}` (fields: {', '.join(FIELDS)}, labels.<key>)")
        for key, pattern in self.regex.items():
            try:
                re.compile(pattern)
            except re.error as err:
                raise ValueError(f"regex for `{key}` does not compile: {err}") from None
        return self


class Route(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str
    when: When = Field(default_factory=When)
    action: Literal["declare", "triage", "attach_only"]
    # Grouping over fields/labels (e.g. [labels.model]); empty: the alert's group_key, else its dedup key.
    group_by: list[str] = Field(default_factory=list)
    levers: list[str] = Field(default_factory=list)   # suggested in the channel when the route declares
    page: list[str] = Field(default_factory=list)     # groups or user ids invited and told on declare

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError("a route name is 1-64 lowercase letters, digits, - or _")
        return value


class Triage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: str | None = Field(None, pattern=r"^[CG][A-Z0-9]{2,20}$")
    remind_after: str = "15m"


class AlertsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sources: dict[str, Source] = Field(default_factory=dict)
    routes: list[Route] = Field(default_factory=list)
    triage: Triage = Field(default_factory=Triage)
    window: str = "5m"             # grouping window and the pace of "N more alerts" updates
    max_repro_cases: int = Field(20, ge=0, le=200)  # per incident, from alert evidence

    @field_validator("sources")
    @classmethod
    def _sources(cls, value: dict[str, Source]) -> dict[str, Source]:
        for name in value:
            if not NAME.match(name):
                raise ValueError(f"source `{name[:40]}`: a name is 1-64 lowercase letters, digits, - or _")
        return value


@dataclass(frozen=True)
class AlertRules:
    """The loaded file: sources, ordered routes and the timings."""

    doc: AlertsFile
    source_file: str
    window: timedelta
    remind_after: timedelta

    @property
    def sources(self) -> dict[str, Source]:
        return self.doc.sources

    def route_for(self, fields: dict[str, Any], scores: dict[str, float]) -> Route | None:
        for route in self.doc.routes:
            if matches(route.when, fields, scores):
                return route
        return None

    def decide(self, fields: dict[str, Any], scores: dict[str, float]) -> tuple[str, str]:
        """(route name, action) for an alert; an alert no route takes goes to triage if there is a channel."""
        route = self.route_for(fields, scores)
        if route is not None:
            return route.name, route.action
        return "default", TRIAGE if self.doc.triage.channel else RECORD

    def route(self, name: str) -> Route | None:
        return next((r for r in self.doc.routes if r.name == name), None)


def field_value(fields: dict[str, Any], key: str) -> str | None:
    if key.startswith("labels."):
        value = (fields.get("labels") or {}).get(key[len("labels."):])
    else:
        value = fields.get(key)
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def matches(when: When, fields: dict[str, Any], scores: dict[str, float]) -> bool:
    for key, want in when.equals.items():
        if field_value(fields, key) != want:
            return False
    for key, allowed in when.any_of.items():
        if field_value(fields, key) not in allowed:
            return False
    for key, pattern in when.regex.items():
        value = field_value(fields, key)
        if value is None or not re.search(pattern, value[:2000]):
            return False
    for name, limit in when.scores.items():
        score = scores.get(name)
        if score is None:
            return False
        if limit.at_least is not None and score < limit.at_least:
            return False
        if limit.at_most is not None and score > limit.at_most:
            return False
    return True


def parse_rules(data: Any, source_file: str, rules: SeverityRules | None = None) -> AlertRules:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source_file}: the top level must be a mapping of keys")
    try:
        doc = AlertsFile.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(source_file, err)) from err
    problems = []
    seen: set[str] = set()
    for i, route in enumerate(doc.routes):
        if route.name in seen:
            problems.append(f"{source_file}: routes[{i}].name: `{route.name}` is used by an earlier route")
        seen.add(route.name)
        if rules is not None:
            for cat in route.when.equals.get("category", ""), *route.when.any_of.get("category", []):
                if cat and cat not in rules.categories:
                    problems.append(f"{source_file}: routes[{i}].when: unknown category `{cat}` "
                                    f"(categories: {', '.join(rules.categories)})")
        for src in [route.when.equals.get("source")] + list(route.when.any_of.get("source", [])):
            if src and src not in doc.sources:
                problems.append(f"{source_file}: routes[{i}].when: unknown source `{src}`")
    for name, source in doc.sources.items():
        default = source.defaults.get("category")
        if default and rules is not None and default not in rules.categories:
            problems.append(f"{source_file}: sources.{name}.defaults.category: unknown category `{default}`")
    durations = {}
    for key, text in (("window", doc.window), ("triage.remind_after", doc.triage.remind_after)):
        try:
            durations[key] = parse_duration(text)
        except UsageError as err:
            problems.append(f"{source_file}: {key}: {err}")
    if problems:
        raise ConfigError("\n".join(problems))
    return AlertRules(doc=doc, source_file=source_file, window=durations["window"],
                      remind_after=durations["triage.remind_after"])


def load_rules(path: Path | None, rules: SeverityRules | None = None) -> AlertRules:
    if path is None:
        return parse_rules({}, "(no alerts file)", rules)
    return parse_rules(load_yaml(path), str(path), rules)
