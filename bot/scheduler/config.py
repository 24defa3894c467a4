"""The `scheduler:` section of the organization config (FIREBREAK_CONFIG): cadences, paging, SLA, regimes.

Durations are written as users write them (`30m`, `4h`, `2d`); `null` (or `none`) turns a timer off.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.core.durations import parse_duration
from bot.core.errors import UsageError

MONTH = re.compile(r"^(\d+)\s*(?:mo|month|months)$")


def check_duration(value: str | None) -> str | None:
    if value is None or str(value).strip().lower() in ("none", "off", ""):
        return None
    text = str(value).strip()
    if MONTH.match(text.lower()):
        return text
    try:
        parse_duration(text)
    except UsageError as err:
        raise ValueError(err.message) from err
    return text


class StageConfig(BaseModel):
    """One report a regime asks for, due `within` a time of awareness (`1mo` = one calendar month)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=40)
    within: str
    label: str | None = None

    @field_validator("within")
    @classmethod
    def _within(cls, value: str) -> str:
        checked = check_duration(value)
        if checked is None:
            raise ValueError("a stage needs a time limit like 72h, 15d or 1mo")
        return checked


class RegimeConfig(BaseModel):
    """A reporting regime an organization adds (e.g. a sector regulator's 48 h notice)."""

    model_config = ConfigDict(extra="forbid")

    label: str
    stages: list[StageConfig] = Field(min_length=1)
    # Optional cases that change the first stage's limit, e.g. {death: 10d}.
    cases: dict[str, str] = Field(default_factory=dict)

    @field_validator("cases")
    @classmethod
    def _cases(cls, value: dict[str, str]) -> dict[str, str]:
        for case, within in value.items():
            if check_duration(within) is None:
                raise ValueError(f"case `{case}` needs a time limit like 48h")
        return value


class PagerConfig(BaseModel):
    """Where acknowledgement pages go. Secrets (routing key, webhook token) come from the environment."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["none", "pagerduty", "webhook"] = "none"
    url: str | None = None  # default for pagerduty: https://events.pagerduty.com/v2/enqueue
    timeout_seconds: float = Field(5.0, gt=0, le=60)
    max_attempts: int = Field(5, ge=1, le=20)
    backoff_seconds: float = Field(30.0, gt=0)  # doubled after each failed attempt

    @model_validator(mode="after")
    def _url(self) -> PagerConfig:
        if self.kind == "webhook" and not self.url:
            raise ValueError("pager.kind webhook needs pager.url")
        return self


def _sev_map(default: dict[int, str | None]):
    return Field(default_factory=lambda: dict(default))


class SchedulerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Remind in the channel when no status update was posted within this interval.
    status_cadence: dict[int, str | None] = _sev_map({1: "30m", 2: "60m", 3: "4h", 4: None})
    # Page when no incident commander is assigned within this time of opening.
    ack_page_after: dict[int, str | None] = _sev_map({1: "5m", 2: "15m", 3: "1h", 4: None})
    # Warn in the channel and to the IC at these fractions of the MTTC target (100 = breach).
    sla_warn_percent: list[int] = Field(default_factory=lambda: [75, 100])
    snooze: str = "15m"
    # Reminders before a reporting deadline: percentages of the window elapsed, or time left.
    report_reminders: list[str] = Field(default_factory=lambda: ["50%", "24h", "4h"])
    regimes: dict[str, RegimeConfig] = Field(default_factory=dict)
    pager: PagerConfig = Field(default_factory=PagerConfig)
    # Exercises never page people; true lets every exercise page (a scenario can opt in per incident).
    page_exercises: bool = False

    @field_validator("status_cadence", "ack_page_after")
    @classmethod
    def _sevs(cls, value: dict[int, str | None]) -> dict[int, str | None]:
        bad = [k for k in value if k not in (1, 2, 3, 4)]
        if bad:
            raise ValueError(f"severities are 1 to 4, not {bad}")
        return {k: check_duration(v) for k, v in value.items()}

    @field_validator("snooze")
    @classmethod
    def _snooze(cls, value: str) -> str:
        if check_duration(value) is None:
            raise ValueError("snooze needs a duration like 15m")
        return value

    @field_validator("sla_warn_percent")
    @classmethod
    def _percents(cls, value: list[int]) -> list[int]:
        if any(p <= 0 or p > 100 for p in value):
            raise ValueError("percentages are between 1 and 100")
        return sorted(set(value))

    @field_validator("report_reminders")
    @classmethod
    def _points(cls, value: list[str]) -> list[str]:
        for point in value:
            parse_point(point)
        return value

    @field_validator("regimes")
    @classmethod
    def _regime_names(cls, value: dict[str, RegimeConfig]) -> dict[str, RegimeConfig]:
        for name in value:
            if not re.match(r"^[a-z0-9][a-z0-9-]{1,59}$", name):
                raise ValueError(f"regime name `{name}`: use lowercase letters, digits and hyphens")
        return value

    def cadence(self, severity: int) -> timedelta | None:
        text = self.status_cadence.get(severity)
        return parse_duration(text) if text else None

    def ack_after(self, severity: int) -> timedelta | None:
        text = self.ack_page_after.get(severity)
        return parse_duration(text) if text else None

    def snooze_for(self) -> timedelta:
        return parse_duration(self.snooze)


def parse_point(text: str) -> tuple[str, float]:
    """`50%` -> ("percent", 50.0); `24h` -> ("before", seconds). Raises ValueError naming the forms."""
    raw = str(text).strip().lower()
    if raw.endswith("%"):
        try:
            pct = float(raw[:-1])
        except ValueError:
            pct = -1
        if not 0 < pct < 100:
            raise ValueError(f"`{text}`: a percentage of the reporting window between 0% and 100%, e.g. 50%")
        return "percent", pct
    try:
        return "before", parse_duration(raw).total_seconds()
    except UsageError as err:
        raise ValueError(f"`{text}`: use a percentage (50%) or the time left before the deadline (24h)") from err
