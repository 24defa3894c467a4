"""Settings from the environment. Secrets are SecretStr so they never print."""

from __future__ import annotations

import os
import re
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _env(name: str) -> AliasChoices:
    return AliasChoices(name, name.lower())


class Settings(BaseSettings):
    """Everything the bot reads from its environment.

    Field names are Python-friendly; the environment variable is the alias.
    Construct with keyword arguments in tests: `Settings(database_url=..., slack_api_url=...)`.
    """

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    slack_bot_token: SecretStr = Field(SecretStr("xoxb-local-console"), validation_alias=_env("SLACK_BOT_TOKEN"))
    slack_signing_secret: SecretStr = Field(
        SecretStr("local-console-signing-secret"), validation_alias=_env("SLACK_SIGNING_SECRET")
    )
    slack_app_token: SecretStr | None = Field(None, validation_alias=_env("SLACK_APP_TOKEN"))
    slack_api_url: str = Field("https://slack.com/api/", validation_alias=_env("SLACK_API_URL"))
    database_url: str = Field("sqlite:///firebreak.db", validation_alias=_env("DATABASE_URL"))
    # How long a command waits for the database (SQLite's write lock, a pooled connection) before it is
    # answered "not applied, try again" instead of waiting on: acks never wait on it either way.
    database_lock_timeout: float = Field(15.0, gt=0, le=300, validation_alias=_env("FIREBREAK_DB_LOCK_TIMEOUT"))
    announce_channel: str | None = Field(None, validation_alias=_env("FIREBREAK_ANNOUNCE_CHANNEL"))
    config_file: Path | None = Field(None, validation_alias=_env("FIREBREAK_CONFIG"))
    severity_rules_file: Path | None = Field(None, validation_alias=_env("FIREBREAK_SEVERITY_RULES"))
    slack_timeout_seconds: float = Field(10.0, validation_alias=_env("FIREBREAK_SLACK_TIMEOUT"))
    # An organization's own tabletop scenarios (added to the shipped ones; same key replaces).
    scenarios_dir: Path | None = Field(None, validation_alias=_env("FIREBREAK_SCENARIOS_DIR"))
    # An organization's own runbooks (YAML), added to the shipped ones; a runbook with a shipped key replaces it.
    runbooks_dir: Path | None = Field(None, validation_alias=_env("FIREBREAK_RUNBOOKS_DIR"))
    worker_threads: int = Field(8, validation_alias=_env("FIREBREAK_WORKER_THREADS"))
    # An organization's own templates, searched before the shipped ones (bot/templates/: postmortem.md.j2,
    # regulator_summary.md.j2, scorecard.md.j2), one file at a time.
    templates_dir: Path | None = Field(None, validation_alias=_env("FIREBREAK_TEMPLATES_DIR"))

    # Containment levers (issue 4).
    levers_file: Path | None = Field(None, validation_alias=_env("FIREBREAK_LEVERS_FILE"))
    levers_dry_run: bool = Field(False, validation_alias=_env("FIREBREAK_LEVERS_DRY_RUN"))
    lever_retry_budget_seconds: float = Field(60.0, gt=0, le=60, validation_alias=_env("FIREBREAK_LEVER_RETRY_BUDGET"))
    lever_http_timeout_seconds: float = Field(10.0, gt=0, validation_alias=_env("FIREBREAK_LEVER_HTTP_TIMEOUT"))
    lever_verify_timeout_seconds: float = Field(30.0, gt=0, validation_alias=_env("FIREBREAK_LEVER_VERIFY_TIMEOUT"))
    launchdarkly_api_token: SecretStr | None = Field(None, validation_alias=_env("LAUNCHDARKLY_API_TOKEN"))
    launchdarkly_api_url: str = Field("https://app.launchdarkly.com", validation_alias=_env("LAUNCHDARKLY_API_URL"))
    launchdarkly_base_uri: str = Field("https://sdk.launchdarkly.com", validation_alias=_env("LAUNCHDARKLY_BASE_URI"))
    launchdarkly_stream_uri: str = Field("https://stream.launchdarkly.com",
                                         validation_alias=_env("LAUNCHDARKLY_STREAM_URI"))
    launchdarkly_events_uri: str = Field("https://events.launchdarkly.com",
                                         validation_alias=_env("LAUNCHDARKLY_EVENTS_URI"))
    # SDK keys by environment key; tests and the console set them here, deployments use
    # LAUNCHDARKLY_SDK_KEY_<ENVIRONMENT> (read by `launchdarkly_sdk_key`).
    launchdarkly_sdk_keys: dict[str, SecretStr] = Field(default_factory=dict,
                                                        validation_alias=_env("FIREBREAK_LAUNCHDARKLY_SDK_KEYS"))

    def launchdarkly_sdk_key(self, environment: str) -> SecretStr | None:
        """The SDK key for a LaunchDarkly environment: LAUNCHDARKLY_SDK_KEY_PRODUCTION for `production`."""
        if environment in self.launchdarkly_sdk_keys:
            return self.launchdarkly_sdk_keys[environment]
        value = os.environ.get(sdk_key_variable(environment))
        return SecretStr(value) if value else None
    # Scheduler (docs/scheduler.md): "embedded" = `serve` also schedules (under a PostgreSQL advisory lock);
    # "dedicated" = only `firebreak scheduler` runs timers, `serve` just adds them.
    scheduler_mode: str = Field("embedded", pattern="^(embedded|dedicated)$",
                                validation_alias=_env("FIREBREAK_SCHEDULER"))
    scheduler_database_url: str | None = Field(None, validation_alias=_env("FIREBREAK_SCHEDULER_DATABASE_URL"))
    scheduler_interval: float = Field(1.0, gt=0, validation_alias=_env("FIREBREAK_SCHEDULER_INTERVAL"))
    pager_routing_key: SecretStr | None = Field(None, validation_alias=_env("FIREBREAK_PAGER_ROUTING_KEY"))
    pager_webhook_token: SecretStr | None = Field(None, validation_alias=_env("FIREBREAK_PAGER_WEBHOOK_TOKEN"))
    # `serve` (docs/socket-mode.md): an optional health port for Socket Mode deployments (GET /healthz, /livez),
    # and how long start-up may wait for Slack (auth.test, the first Socket Mode connection) before giving up.
    health_port: int | None = Field(None, ge=1, le=65535, validation_alias=_env("FIREBREAK_HEALTH_PORT"))
    startup_timeout_seconds: float = Field(30.0, gt=0, le=600, validation_alias=_env("FIREBREAK_STARTUP_TIMEOUT"))
    # Alert intake (docs/alerts.md): sources, routes and grouping in their own YAML file; in Socket Mode an HTTP
    # listener for POST /alerts/<source> starts on this port when sources are configured.
    alerts_file: Path | None = Field(None, validation_alias=_env("FIREBREAK_ALERTS_FILE"))
    alerts_port: int = Field(3100, ge=1, le=65535, validation_alias=_env("FIREBREAK_ALERTS_PORT"))

    def api_url(self) -> str:
        url = self.slack_api_url
        return url if url.endswith("/") else url + "/"


def sdk_key_variable(environment: str) -> str:
    """`production` -> LAUNCHDARKLY_SDK_KEY_PRODUCTION; `eu-west` -> LAUNCHDARKLY_SDK_KEY_EU_WEST."""
    return "LAUNCHDARKLY_SDK_KEY_" + re.sub(r"[^A-Z0-9]+", "_", environment.upper()).strip("_")
