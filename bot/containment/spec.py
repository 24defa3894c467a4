"""The lever file (FIREBREAK_LEVERS_FILE): declared levers, validated at load with messages naming the key.

```yaml
levers:
  - name: kill-browsing-tool
    description: Turn off the agent's browsing tool in production
    type: launchdarkly_kill            # or launchdarkly_variation, webhook
    target: {project: default, flag: agent-browsing, environment: production}
    allowed: [ic, safety]              # roles, config groups, user (U…) or user-group (S…) ids
    confirm: true
    on_resolve: ask                    # revert | ask | leave
    categories: [unsafe_tool_action]
```
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from jinja2 import TemplateSyntaxError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.config.org import SLACK_USER, SLACK_USERGROUP, Config, format_validation_error
from bot.config.yamlfile import load_yaml
from bot.core.errors import ConfigError

LEVER_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
LD_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
LeverType = Literal["launchdarkly_kill", "launchdarkly_variation", "webhook"]
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


class EvalContext(BaseModel):
    """The evaluation context the SDK verifier evaluates the flag for."""

    model_config = ConfigDict(extra="forbid")

    kind: str = "user"
    key: str = "firebreak-containment-check"
    attributes: dict[str, Any] = Field(default_factory=dict)


class FlagTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project: str
    flag: str
    environment: str
    variation: str | int | bool | None = None  # launchdarkly_variation: the variation's name or value
    context: EvalContext = Field(default_factory=EvalContext)

    @field_validator("project", "flag", "environment")
    @classmethod
    def _key(cls, value: str) -> str:
        if not LD_KEY.match(value):
            raise ValueError(f"`{value}` is not a LaunchDarkly key (letters, digits, '.', '_', '-')")
        return value


class HttpRequestSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = None
    method: str = "POST"
    body: str | dict[str, Any] | list[Any] | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    expect: list[int] = Field(default_factory=lambda: [200, 201, 202, 204])

    @field_validator("method")
    @classmethod
    def _method(cls, value: str) -> str:
        value = value.upper()
        if value not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}")
        return value

    @field_validator("expect")
    @classmethod
    def _expect(cls, value: list[int]) -> list[int]:
        bad = [c for c in value if not 100 <= c <= 599]
        if bad or not value:
            raise ValueError("expect lists HTTP status codes between 100 and 599")
        return value


class VerifySpec(BaseModel):
    """A GET whose JSON answer proves the change: `field` (dotted path) must equal `equals`."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = None
    method: str = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    field: str
    equals: Any


class WebhookTarget(HttpRequestSpec):
    url: str
    revert: HttpRequestSpec | None = None
    verify: VerifySpec | None = None


class Lever(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    type: LeverType
    target: FlagTarget | WebhookTarget
    allowed: list[str] = Field(default_factory=list)
    confirm: bool = True
    on_resolve: Literal["revert", "ask", "leave"] = "ask"
    categories: list[str] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not LEVER_NAME.match(value):
            raise ValueError("a lever name is lowercase letters, digits, '-' and '_' (at most 63), e.g. kill-browsing")
        return value

    @model_validator(mode="before")
    @classmethod
    def _pick_target(cls, data: Any) -> Any:
        # Validate `target` against the model its type needs, so errors name the right keys.
        if isinstance(data, dict) and isinstance(data.get("target"), dict):
            model = WebhookTarget if data.get("type") == "webhook" else FlagTarget
            try:
                data = {**data, "target": model.model_validate(data["target"])}
            except ValidationError as err:
                raise ValueError("; ".join(
                    "target." + ".".join(str(p) for p in e["loc"]) + f": {e['msg']}" for e in err.errors())) from None
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Lever:
        if self.type == "webhook":
            assert isinstance(self.target, WebhookTarget)
            if self.on_resolve == "revert" and self.target.revert is None:
                raise ValueError("on_resolve is `revert` but target.revert (the undo request) is missing")
            for where, text in template_texts(self.target):
                _check_template(where, text)
        else:
            if not isinstance(self.target, FlagTarget):
                raise ValueError("a LaunchDarkly lever's target is {project, flag, environment}")
            if self.type == "launchdarkly_variation" and self.target.variation is None:
                raise ValueError("target.variation is required for launchdarkly_variation (a name or value)")
            if self.type == "launchdarkly_kill" and self.target.variation is not None:
                raise ValueError("target.variation only applies to launchdarkly_variation")
        return self

    @property
    def flag(self) -> FlagTarget:
        assert isinstance(self.target, FlagTarget)
        return self.target

    @property
    def webhook(self) -> WebhookTarget:
        assert isinstance(self.target, WebhookTarget)
        return self.target


def template_texts(target: WebhookTarget):
    def walk(prefix: str, value: Any):
        if isinstance(value, str):
            yield prefix, value
        elif isinstance(value, dict):
            for k, v in value.items():
                yield from walk(f"{prefix}.{k}", v)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                yield from walk(f"{prefix}[{i}]", v)

    yield from walk("target.url", target.url)
    yield from walk("target.body", target.body)
    yield from walk("target.headers", target.headers)
    for name, extra in (("revert", target.revert), ("verify", target.verify)):
        if extra is not None:
            yield from walk(f"target.{name}.url", extra.url)
            yield from walk(f"target.{name}.headers", extra.headers)
            if isinstance(extra, HttpRequestSpec):
                yield from walk(f"target.{name}.body", extra.body)


def _check_template(where: str, text: str) -> None:
    from bot.containment.webhook import template_env

    try:
        template_env().parse(text)
    except TemplateSyntaxError as exc:
        raise ValueError(f"{where}: template error: {exc.message}") from exc


class LeverFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    levers: list[Lever] = Field(default_factory=list)


class LeverRegistry:
    """The levers of this deployment, by name (`ctx.levers`)."""

    def __init__(self, levers: list[Lever] | None = None, source: str | None = None) -> None:
        self._levers = {lever.name: lever for lever in levers or []}
        self.source = source

    def get(self, name: str) -> Lever | None:
        return self._levers.get(name.strip().lower())

    def names(self) -> list[str]:
        return list(self._levers)

    def all(self) -> list[Lever]:
        return list(self._levers.values())

    def for_category(self, category: str) -> list[Lever]:
        return [lever for lever in self._levers.values() if category in lever.categories]

    def __len__(self) -> int:
        return len(self._levers)


def load_levers(path: Path | None, *, config: Config | None = None,
                categories: set[str] | None = None) -> LeverRegistry:
    """Load and validate; raise ConfigError naming the file and key of every problem."""
    if path is None:
        return LeverRegistry()
    data = load_yaml(path) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping with a `levers:` list")
    try:
        parsed = LeverFile.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(path, err)) from err
    problems: list[str] = []
    seen: set[str] = set()
    for i, lever in enumerate(parsed.levers):
        where = f"{path}: levers[{i}] ({lever.name})"
        if lever.name in seen:
            problems.append(f"{where}: name: `{lever.name}` is declared twice")
        seen.add(lever.name)
        for who in lever.allowed:
            if not _known_principal(who, config):
                problems.append(f"{where}: allowed: `{who}` is not a role (ic, scribe, comms, safety, security, "
                                "privacy), a group under `groups` in the config, or a Slack user/user-group id")
        for cat in lever.categories:
            if categories is not None and cat not in categories:
                problems.append(f"{where}: categories: unknown category `{cat}` "
                                f"(known: {', '.join(sorted(categories))})")
    if problems:
        raise ConfigError("\n".join(problems))
    return LeverRegistry(parsed.levers, source=str(path))


def _known_principal(name: str, config: Config | None) -> bool:
    from bot.core.incidents import ROLE_ALIASES, ROLES

    key = name.strip().lower().replace("-", "_")
    if key in ROLES or key in ROLE_ALIASES:
        return True
    if SLACK_USER.match(name) or SLACK_USERGROUP.match(name):
        return True
    return config is not None and name in config.groups
