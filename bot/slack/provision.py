"""Creating an incident's channel: a step of the open sequence that always finishes, exactly once.

`conversations.create` can time out after Slack made the channel, so a retried or resumed attempt first looks
the channel up by the names this incident would have used (and adopts it when the bot made it and no other
incident has it) before it creates another: no orphan channel, no incident left without one. A name taken by
somebody else's channel moves on to the next suffix (`-2`, `-3`, …). Transient failures (429 with
Retry-After, 5xx, timeouts) are retried within the effect's budget; when it runs out the failure is recorded
and `/incident repair` starts the sequence again.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select

from bot.app.effects import Failed, Job, Retry
from bot.core import timeline
from bot.slack.effects import call
from bot.store.models import Incident
from bot.store.models.timeline import BOT_ACTOR

log = logging.getLogger(__name__)

MAX_CHANNEL_NAME = 80
NAME_ATTEMPTS = 6
_SLUG_BAD = re.compile(r"[^a-z0-9_-]+")


def slugify(title: str, max_len: int) -> str:
    slug = _SLUG_BAD.sub("-", title.lower()).strip("-_")
    slug = re.sub(r"-{2,}", "-", slug)
    return slug[:max_len].rstrip("-_") or "incident"


def channel_name(number: int, title: str, *, exercise: bool = False, suffix: str = "") -> str:
    """`inc-<n>-<slug>`: lowercase letters, digits, hyphens and underscores, at most 80 characters."""
    prefix = f"inc-{number}-" + ("exercise-" if exercise else "")
    room = MAX_CHANNEL_NAME - len(prefix) - len(suffix)
    return prefix + slugify(title, max(room, 1)) + suffix


def candidate_names(number: int, title: str, exercise: bool) -> list[str]:
    return [channel_name(number, title, exercise=exercise, suffix="" if i == 0 else f"-{i + 1}")
            for i in range(NAME_ATTEMPTS)]


class Provisioner:
    wants_incident = True  # the runner reads the incident with the claim (bot.app.effects.Job.incident)

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self._bot_user: str | None = None

    def bot_user(self) -> str | None:
        if self._bot_user is None and self.ctx.identity is not None:
            self._bot_user = (self.ctx.identity.known() or self.ctx.identity.learn() or {}).get("user_id")
        return self._bot_user

    def find_ours(self, names: list[str], incident_id: int) -> dict[str, Any] | None:
        """A channel with one of these names that this bot created and no other incident uses."""
        wanted = set(names)
        me = self.bot_user()
        if me is None:  # cannot tell ours from somebody else's: ask again later rather than guess
            raise Retry("auth.test: the bot's identity is not known yet")
        cursor = None
        for _ in range(100):
            resp = call("conversations.list", self.ctx.client.conversations_list,
                        types="public_channel,private_channel", exclude_archived=True, limit=1000,
                        **({"cursor": cursor} if cursor else {}))
            for ch in (resp or {}).get("channels") or []:
                if ch.get("name") in wanted and ch.get("creator") in (None, me):
                    with self.ctx.db.session() as session:
                        other = session.exec(select(Incident.id).where(Incident.channel_id == ch["id"],
                                                                       Incident.id != incident_id)).first()
                    if other is None:
                        return ch
            cursor = ((resp or {}).get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return None
        return None

    def __call__(self, job: Job) -> dict[str, Any]:
        assert job.incident_id is not None
        incident = job.incident
        if incident is None:  # not read with the claim (a runner that was not asked to)
            with self.ctx.db.session() as session:
                incident = session.get(Incident, job.incident_id)
        if incident is None:
            raise Failed("the incident no longer exists", quiet=True)
        if incident.channel_id:  # done by an earlier attempt that died before it was marked
            return {"channel": incident.channel_id, "name": incident.channel_name}
        title, private, exercise = incident.title, incident.private, incident.is_exercise
        names = candidate_names(job.incident_id, title, exercise)
        found = self.find_ours(names, job.incident_id) if job.resumed else None
        if found is None:
            found = self._create(names, private)
        return self._record(job.incident_id, found["id"], found["name"], private, adopted=job.resumed,
                            creator=found.get("creator"))

    def _create(self, names: list[str], private: bool) -> dict[str, Any]:
        from bot.app.effects import Failed as FailedError

        last = ""
        for name in names:
            try:
                resp = call("conversations.create", self.ctx.client.conversations_create, name=name,
                            is_private=private)
                return resp["channel"]
            except FailedError as err:
                last = err.error
                if not err.error.endswith("name_taken"):
                    raise
        raise Failed(f"{last} (tried {len(names)} names)")

    def _record(self, incident_id: int, channel_id: str, name: str, private: bool, *, adopted: bool,
                creator: str | None = None) -> dict[str, Any]:
        with self.ctx.db.session() as session:
            session.execute(update(Incident).where(col(Incident.id) == incident_id)  # takes the row's lock
                            .values(channel_id=channel_id, channel_name=name))
            timeline.record(session, self.ctx.clock, incident_id, "channel_created", f"Channel #{name} created",
                            actor=BOT_ACTOR, data={"channel": channel_id, "name": name, "private": private,
                                                   "adopted": adopted})
        if self.ctx.directory is not None:
            if adopted:  # made by an attempt before a crash: who is in it now is asked when it matters
                self.ctx.directory.forget_channel(channel_id)
            else:
                self.ctx.directory.created(channel_id, creator)
        return {"channel": channel_id, "name": name}
