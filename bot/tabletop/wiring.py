"""The tabletop feature's domain wiring (no Slack): the timer job that delivers injects."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.tabletop import runner

if TYPE_CHECKING:
    from bot.app.services import Services


def setup(services: Services) -> None:
    services.timers.register(runner.JOB, runner.inject_job)
