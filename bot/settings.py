"""Settings from the environment. Secrets are SecretStr so they never print."""

from __future__ import annotations

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
    announce_channel: str | None = Field(None, validation_alias=_env("FIREBREAK_ANNOUNCE_CHANNEL"))
    config_file: Path | None = Field(None, validation_alias=_env("FIREBREAK_CONFIG"))
    severity_rules_file: Path | None = Field(None, validation_alias=_env("FIREBREAK_SEVERITY_RULES"))
    slack_timeout_seconds: float = Field(10.0, validation_alias=_env("FIREBREAK_SLACK_TIMEOUT"))
    worker_threads: int = Field(8, validation_alias=_env("FIREBREAK_WORKER_THREADS"))
    # Scheduler (docs/scheduler.md): "embedded" = `serve` also schedules (under a PostgreSQL advisory lock);
    # "dedicated" = only `firebreak scheduler` runs timers, `serve` just adds them.
    scheduler_mode: str = Field("embedded", pattern="^(embedded|dedicated)$",
                                validation_alias=_env("FIREBREAK_SCHEDULER"))
    scheduler_database_url: str | None = Field(None, validation_alias=_env("FIREBREAK_SCHEDULER_DATABASE_URL"))
    scheduler_interval: float = Field(1.0, gt=0, validation_alias=_env("FIREBREAK_SCHEDULER_INTERVAL"))
    pager_routing_key: SecretStr | None = Field(None, validation_alias=_env("FIREBREAK_PAGER_ROUTING_KEY"))
    pager_webhook_token: SecretStr | None = Field(None, validation_alias=_env("FIREBREAK_PAGER_WEBHOOK_TOKEN"))

    def api_url(self) -> str:
        url = self.slack_api_url
        return url if url.endswith("/") else url + "/"
