"""The optional organization config file (FIREBREAK_CONFIG): groups, permissions, escalation, channels.

Validated at load; every error names the file and the key. Read through `bot.config.yamlfile` (one YAML
reader for every configuration file; `load_yaml` is re-exported here for the modules that import it from
this one).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.config.yamlfile import load_yaml
from bot.core.errors import ConfigError
from bot.evidence.settings import EvidenceConfig
from bot.scheduler.config import SchedulerConfig

SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")
SLACK_USERGROUP = re.compile(r"^S[A-Z0-9]{2,}$")
SLACK_TEAM = re.compile(r"^T[A-Z0-9]{2,31}$")
SLACK_ENTERPRISE = re.compile(r"^E[A-Z0-9]{2,31}$")
SLACK_APP = re.compile(r"^A[A-Z0-9]{2,31}$")


class Condition(BaseModel):
    """Conditions shared by severity rules and escalation rules. All given keys must hold."""

    model_config = ConfigDict(extra="forbid")

    category: list[str] | None = None
    severity_at_most: int | None = Field(None, ge=1, le=4)
    reach_at_least: str | None = None
    exposure_at_least: str | None = None
    data_at_least: str | None = None
    reach_at_most: str | None = None
    exposure_at_most: str | None = None
    data_at_most: str | None = None
    ongoing: bool | None = None
    regulated: bool | None = None
    regulated_domain: list[str] | None = None

    @field_validator("category", "regulated_domain", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class EscalationRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    when: Condition = Field(default_factory=Condition)
    notify: list[str]
    reason: str | None = None


class InstallationConfig(BaseModel):
    """Which Slack installation `serve` answers, beyond the one `auth.test` reports (bot/slack/guard.py).

    Enterprise Grid: list the other workspaces (team ids) or the organization (enterprise id) whose requests
    this bot should accept. `app_id`, when set, must be the app the bot token belongs to.
    """

    model_config = ConfigDict(extra="forbid")

    team_ids: list[str] = Field(default_factory=list, max_length=1000)
    enterprise_ids: list[str] = Field(default_factory=list, max_length=100)
    app_id: str | None = None

    @field_validator("team_ids")
    @classmethod
    def _teams(cls, value: list[str]) -> list[str]:
        return _ids(value, SLACK_TEAM, "a Slack team id (T…)")

    @field_validator("enterprise_ids")
    @classmethod
    def _enterprises(cls, value: list[str]) -> list[str]:
        return _ids(value, SLACK_ENTERPRISE, "a Slack enterprise id (E…)")

    @field_validator("app_id")
    @classmethod
    def _app(cls, value: str | None) -> str | None:
        return None if value is None else _ids([value], SLACK_APP, "a Slack app id (A…)")[0]


def _ids(values: list[str], pattern: re.Pattern[str], what: str) -> list[str]:
    """Each id must look like Slack's, so a typo fails at load instead of silently refusing a workspace."""
    for value in values:
        if not isinstance(value, str) or not pattern.match(value):
            raise ValueError(f"`{str(value)[:40]}` is not {what}")
    return values


class Config(BaseModel):
    """Organization settings kept in Git."""

    model_config = ConfigDict(extra="forbid")

    groups: dict[str, list[str]] = Field(default_factory=dict)
    # Who, besides the current IC, may do what the IC may (hand over the IC role, lower severity, resolve, …):
    # group names, user or user-group ids.
    commanders: list[str] = Field(default_factory=list)
    # Who, besides the incident's privacy role, may record a regulatory report as done (DPO, privacy office).
    privacy_officers: list[str] = Field(default_factory=list)
    # Overrides of the permission policy, action -> who may (bot/core/policy.py; `firebreak config check`
    # prints the effective table), e.g. `resolve: [ic, commanders, reporter]`.
    permissions: dict[str, list[str]] = Field(default_factory=dict)
    escalation: list[EscalationRule] = Field(default_factory=list)
    # Channels (ids or fnmatch name patterns) that are tabletop sandboxes.
    sandbox_channels: list[str] = Field(default_factory=list)
    # Model endpoints for probes, the moderation endpoint and the judges (bot/evidence, docs/evidence.md).
    evidence: EvidenceConfig = Field(default_factory=EvidenceConfig)
    # Reminders, acknowledgement paging, SLA and regulatory clocks (bot/scheduler/config.py).
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig)
    # The Slack installation(s) whose requests are accepted, besides the one auth.test reports.
    installation: InstallationConfig = Field(default_factory=InstallationConfig)

    def expand(self, names: list[str]) -> tuple[set[str], set[str]]:
        """Resolve group names into (user ids, user-group ids)."""
        users: set[str] = set()
        usergroups: set[str] = set()
        seen: set[str] = set()

        def walk(name: str) -> None:
            if name in seen:
                return
            seen.add(name)
            if name in self.groups:
                for member in self.groups[name]:
                    walk(member)
            elif SLACK_USERGROUP.match(name):
                usergroups.add(name)
            elif SLACK_USER.match(name):
                users.add(name)

        for n in names:
            walk(n)
        return users, usergroups


def _check_names(config: Config, path: str) -> None:
    known = set(config.groups)
    problems = []

    def check(where: str, name: str) -> None:
        if name not in known and not SLACK_USER.match(name) and not SLACK_USERGROUP.match(name):
            problems.append(
                f"{path}: {where}: `{name}` is neither a group defined under `groups` nor a Slack user (U…) "
                "or user-group (S…) id"
            )

    for group, members in config.groups.items():
        for m in members:
            check(f"groups.{group}", m)
    for m in config.commanders:
        check("commanders", m)
    for m in config.privacy_officers:
        check("privacy_officers", m)
    from bot.core.policy import Action, Subject

    actions, subjects = {a.value for a in Action}, {s.value for s in Subject}
    for action, who in config.permissions.items():
        if action not in actions:
            problems.append(f"{path}: permissions.{action}: unknown action (actions: {', '.join(sorted(actions))})")
        for i, s in enumerate(who):
            if s not in subjects:
                problems.append(f"{path}: permissions.{action}[{i}]: unknown subject `{s}` "
                                f"(subjects: {', '.join(sorted(subjects))})")
    for i, rule in enumerate(config.escalation):
        for m in rule.notify:
            check(f"escalation[{i}].notify", m)
    if problems:
        raise ConfigError("\n".join(problems))


def format_validation_error(path: str | Path, err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        lines.append(f"{path}: {key}: {e['msg']}")
    return "\n".join(lines)


def load_config(path: Path | None) -> Config:
    if path is None:
        return Config()
    data = load_yaml(path) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys")
    try:
        config = Config.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(path, err)) from err
    _check_names(config, str(path))
    return config
