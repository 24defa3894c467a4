"""`services.scheduler`: what other features (the tabletop, the console) may ask of the scheduler."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from bot.core.text import Msg
from bot.scheduler import jobs, paging, planner

if TYPE_CHECKING:
    from bot.app.services import Services


class SchedulerService:
    def __init__(self, services: Services) -> None:
        self.services = services

    def allow_exercise_pages(self, incident_id: int, allowed: bool = True) -> None:
        """An exercise scenario opts in to paging real people for this incident."""
        paging.allow_exercise_pages(self.services, incident_id, allowed)

    def plan(self, incident_id: int) -> list[Msg]:
        return planner.plan(self.services, incident_id)

    def reconcile(self) -> tuple[int, int]:
        return planner.reconcile(self.services)

    def snooze(self, incident_id: int, *, actor: str) -> datetime:
        """Move the incident's next status reminder by the configured snooze."""
        return jobs.snooze(self.services, incident_id, actor=actor)
