"""AI-safety severity: classify SEV1..SEV4 from structured inputs, with reasons, using a tunable rubric."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, overload

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.config.org import Condition, format_validation_error
from bot.config.yamlfile import load_yaml
from bot.core.durations import parse_duration
from bot.core.errors import ConfigError, UsageError

SCALE_KEYS = ("reach", "exposure", "data")
SHIPPED_RUBRIC = Path(__file__).with_name("severity.yml")


class CategoryDef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str
    atlas: str | None = None
    base: int = Field(3, ge=1, le=4)
    keywords: list[str] = Field(default_factory=list)


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    severity: int = Field(ge=1, le=4)
    when: Condition
    reason: str
    lowers: bool = False


class Rubric(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scales: dict[str, dict[str, str]]
    regulated_domains: list[str]
    categories: dict[str, CategoryDef]
    rules: list[Rule]
    mttc_targets: dict[int, str]

    @field_validator("scales")
    @classmethod
    def _scales(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        missing = [k for k in SCALE_KEYS if k not in value]
        if missing:
            raise ValueError(f"missing scale(s): {', '.join(missing)}")
        return value

    @model_validator(mode="after")
    def _references(self) -> Rubric:
        problems = []
        for i, rule in enumerate(self.rules):
            for key in SCALE_KEYS:
                for suffix in ("_at_least", "_at_most"):
                    val = getattr(rule.when, key + suffix)
                    if val is not None and val not in self.scales[key]:
                        problems.append(
                            f"rules[{i}].when.{key}{suffix}: unknown value `{val}` "
                            f"(one of: {', '.join(self.scales[key])})"
                        )
            for cat in rule.when.category or []:
                if cat not in self.categories:
                    problems.append(f"rules[{i}].when.category: unknown category `{cat}`")
            for dom in rule.when.regulated_domain or []:
                if dom not in self.regulated_domains:
                    problems.append(f"rules[{i}].when.regulated_domain: unknown domain `{dom}`")
        for sev in (1, 2, 3, 4):
            if sev not in self.mttc_targets:
                problems.append(f"mttc_targets: SEV{sev} has no target")
        for sev, text in self.mttc_targets.items():
            try:
                parse_duration(text)
            except UsageError:
                problems.append(f"mttc_targets.{sev}: `{text}` is not a duration like 1h or 30m")
        if "other" not in self.categories:
            problems.append("categories: an `other` category is required")
        if problems:
            raise ValueError("; ".join(problems))
        return self


@dataclass(frozen=True)
class Inputs:
    """What responders know about the incident. None means 'not given'."""

    category: str
    reach: str | None = None
    exposure: str | None = None
    data: str | None = None
    ongoing: bool | None = None
    regulated_domain: str | None = None


@dataclass(frozen=True)
class Classification:
    severity: int
    reasons: list[str] = field(default_factory=list)

    def explain(self) -> str:
        return f"SEV{self.severity} because " + " and ".join(self.reasons)


class SeverityRules:
    """The loaded rubric: classify, validate inputs, name categories."""

    def __init__(self, rubric: Rubric, source: str) -> None:
        self.rubric = rubric
        self.source = source
        self._keyword_patterns = {
            key: [re.compile(r"\b" + re.escape(k.lower())) for k in cat.keywords]
            for key, cat in rubric.categories.items()
        }

    # --- lookups -----------------------------------------------------------------
    @property
    def categories(self) -> dict[str, CategoryDef]:
        return self.rubric.categories

    def scale(self, key: str) -> dict[str, str]:
        return self.rubric.scales[key]

    def category_label(self, key: str) -> str:
        cat = self.categories.get(key)
        if cat is None:
            return key
        return f"{cat.label} ({cat.atlas})" if cat.atlas else cat.label

    def mttc_target(self, severity: int) -> timedelta:
        return parse_duration(self.rubric.mttc_targets[severity])

    def check_category(self, value: str) -> str:
        key = value.strip().lower().replace("-", "_")
        if key not in self.categories:
            raise UsageError(f"Unknown category `{value}`. Categories: {', '.join(self.categories)}.")
        return key

    def check_scale(self, key: str, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if value not in self.rubric.scales[key]:
            raise UsageError(f"Unknown {key} `{value}`. One of: {', '.join(self.rubric.scales[key])}.")
        return value

    def check_domain(self, value: str | None) -> str | None:
        if not value or value == "none":
            return None
        if value not in self.rubric.regulated_domains:
            raise UsageError(
                f"Unknown regulated domain `{value}`. One of: {', '.join(self.rubric.regulated_domains)}."
            )
        return value

    # --- classification -------------------------------------------------------------
    @overload
    def _rank(self, key: str, value: str) -> int: ...
    @overload
    def _rank(self, key: str, value: str | None) -> int | None: ...
    def _rank(self, key: str, value: str | None) -> int | None:
        if value is None:
            return None
        return list(self.rubric.scales[key]).index(value)

    def matches(self, cond: Condition, inputs: Inputs, severity: int | None = None) -> bool:
        if cond.category is not None and inputs.category not in cond.category:
            return False
        if cond.severity_at_most is not None and (severity is None or severity > cond.severity_at_most):
            return False
        for key in SCALE_KEYS:
            have = self._rank(key, getattr(inputs, key))
            least: str | None = getattr(cond, key + "_at_least")
            most: str | None = getattr(cond, key + "_at_most")
            if least is not None and (have is None or have < self._rank(key, least)):
                return False
            if most is not None and (have is None or have > self._rank(key, most)):
                return False
        if cond.ongoing is not None and inputs.ongoing is not cond.ongoing:
            return False
        if cond.regulated is not None and (inputs.regulated_domain is not None) != cond.regulated:
            return False
        if cond.regulated_domain is not None and inputs.regulated_domain not in cond.regulated_domain:
            return False
        return True

    def classify(self, inputs: Inputs) -> Classification:
        cat = self.categories.get(inputs.category) or self.categories["other"]
        raising = [r for r in self.rubric.rules if not r.lowers and self.matches(r.when, inputs)]
        best = min([cat.base] + [r.severity for r in raising])
        if best < cat.base:
            reasons = [r.reason for r in raising if r.severity == best]
            return Classification(best, _dedupe(reasons))
        if not raising:
            lowering = [r for r in self.rubric.rules if r.lowers and self.matches(r.when, inputs)]
            if lowering:
                low = max(r.severity for r in lowering)
                return Classification(low, _dedupe([r.reason for r in lowering if r.severity == low]))
        reason = f"{cat.label} incidents start at SEV{cat.base}"
        if all(getattr(inputs, k) is None for k in (*SCALE_KEYS, "ongoing")):
            reason += " and no impact details (reach, exposure, data, ongoing) were given"
        else:
            reason += " and nothing given raises it"
        return Classification(cat.base, [reason])

    def suggest_category(self, text: str) -> str:
        """Suggest a category from free text: the one with the most keyword hits, else `other`."""
        lowered = text.lower()
        scores: dict[str, int] = {}
        for key, patterns in self._keyword_patterns.items():
            hits = sum(1 for p in patterns if p.search(lowered))
            if hits:
                scores[key] = hits
        if not scores:
            return "other"
        order = list(self.categories)
        return max(scores, key=lambda k: (scores[k], -order.index(k)))


def _dedupe(items: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    for i in items:
        seen.setdefault(i, None)
    return list(seen)


def parse_rubric(data: Any, source: str) -> SeverityRules:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping")
    try:
        rubric = Rubric.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(source, err)) from err
    return SeverityRules(rubric, source)


def load_rules(path: Path | None = None) -> SeverityRules:
    """Load the organization's rubric, or the shipped default."""
    if path is not None:
        return parse_rubric(load_yaml(Path(path)), str(path))
    return parse_rubric(load_yaml(SHIPPED_RUBRIC, label="bot/core/severity.yml"), "bot/core/severity.yml")


def parse_severity(text: str, usage: str) -> int:
    raw = text.strip().lower().removeprefix("sev")
    if raw not in {"1", "2", "3", "4"}:
        raise UsageError(f"`{text}` is not a severity; use 1, 2, 3 or 4 (SEV1 is the most severe).", usage=usage)
    return int(raw)
