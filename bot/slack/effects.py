"""Slack's side of the effects ledger: how each recorded effect is performed with Slack's Web API.

Each handler is safe to run again after a crash: a post carries its effect id as message metadata and a resumed
attempt looks for it in the channel's history before posting; a channel is looked up by name before another is
created; invites, pins and topics are idempotent. Slack's transient answers (429 with Retry-After, 5xx,
timeouts) become `Retry`, its permanent ones (`msg_too_long`, `channel_not_found`, …) `Failed`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy import bindparam, update
from sqlmodel import col

from bot.app.effects import EffectRunner, Failed, Job, Retry
from bot.core import effects, incidents, secrets, timeline
from bot.core.policy import FactsUnavailable
from bot.core.text import Msg
from bot.slack.context import AppContext
from bot.slack.text import clip, mrkdwn, plain_field
from bot.store.models import Effect, Incident
from bot.store.models.timeline import BOT_ACTOR

log = logging.getLogger(__name__)

METADATA_EVENT = "firebreak_effect"
MAX_MESSAGE = 40_000
TRANSIENT = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout",
             "team_added_to_org", "timeout"}
ALREADY_DONE = {"already_in_channel", "already_pinned", "cant_invite_self"}
PIN = "pin"
TOPIC = "topic"
_SET_TOPIC = update(Incident).where(col(Incident.id) == bindparam("n")).values(topic=bindparam("wanted"))

# A named layout: (ctx, session, data) -> (fallback text, blocks). Features register theirs.
View = Callable[[AppContext, Any, dict[str, Any]], tuple[str, list[dict] | None]]  # no blocks: text only
# After a post: (ctx, job, channel, ts). E.g. the runbook checklist keeps its message's ts.
Then = Callable[[AppContext, Job, str, str], None]


def slack_error(err: Exception) -> str:
    if isinstance(err, SlackApiError):
        return str(err.response.get("error") or "unknown_error")
    return type(err).__name__


def call(what: str, fn: Callable[..., Any], /, **kwargs: Any) -> Any:
    """Call a Web API method, turning Slack's answers into Retry / Failed."""
    try:
        return fn(**kwargs)
    except SlackApiError as err:
        code = slack_error(err)
        if code in ALREADY_DONE:
            return None
        status = getattr(err.response, "status_code", 200)
        if code in TRANSIENT or status == 429 or status >= 500:
            after = err.response.headers.get("Retry-After") if hasattr(err.response, "headers") else None
            raise Retry(f"{what}: {code}", after=float(after) if after else None) from None
        raise Failed(f"{what}: {code}") from None
    except (SlackClientError, OSError) as err:
        raise Retry(f"{what}: {type(err).__name__}") from None


class SlackEffects:
    """Registers Slack's handlers on the runner; `views` and `thens` are filled in by features."""

    def __init__(self, ctx: AppContext, runner: EffectRunner) -> None:
        self.ctx = ctx
        self.runner = runner
        self.views: dict[str, View] = {}
        self.thens: dict[str, Then] = {}
        runner.register(effects.POST, self.post, incident=True)
        runner.register(effects.UPDATE, self.update)
        runner.register(effects.SUMMARY, self.summary, incident=True)
        runner.register(PIN, self.pin, incident=True)
        runner.register(TOPIC, self.topic, incident=True)
        runner.register(effects.INVITE, self.invite, incident=True)
        runner.register(effects.EPHEMERAL, self.ephemeral)
        runner.on_failed.append(self.record_failure)

    # ----- places -----------------------------------------------------------------------------------------
    def _incident(self, job: Job) -> Incident | None:
        """The job's incident: as read with the claim, else from the database."""
        if job.incident_id is None:
            return None
        if job.incident is not None:
            return job.incident
        with self.ctx.db.session() as session:
            return session.get(Incident, job.incident_id)

    def _place(self, job: Job, incident: Incident | None) -> str | None:
        to = job.payload.get("to", effects.INCIDENT)
        if to == effects.INCIDENT:
            if incident is None or not incident.channel_id:
                raise Failed("the incident has no channel", quiet=True)
            return incident.channel_id
        if to == effects.ANNOUNCE:
            return self.ctx.settings.announce_channel
        kind, _, target = to.partition(":")
        return target if kind in ("user", "channel") and target else None

    def render(self, job: Job, incident: Incident | None, session: Any = None) -> tuple[str, list[dict] | None]:
        """The message of a post or update. A view renders in `session` when given (the handler's, which holds
        the incident already), else in a session of its own."""
        p = job.payload
        if "view" in p:
            view = self.views.get(p["view"])
            if view is None:
                raise Failed(f"no view named {p['view']!r}")
            if session is None:
                with self.ctx.db.session() as own:
                    text, blocks = self._view(view, own, incident, p.get("data") or {})
            else:
                text, blocks = self._view(view, session, incident, p.get("data") or {})
        elif "msg" in p:
            text, blocks = mrkdwn(Msg.from_json(p["msg"])), None
        else:  # pre-rendered by the caller (already escaped)
            text, blocks = p.get("text", ""), p.get("blocks")
        if incident is not None and incident.is_exercise and not text.startswith("[EXERCISE]"):
            text = "[EXERCISE] " + text  # every message about an exercise says so, wherever it goes
        return clip(secrets.redact(text), MAX_MESSAGE), secrets.redact_data(blocks) if blocks else blocks

    def _view(self, view: View, session: Any, incident: Incident | None, data: dict[str, Any]
              ) -> tuple[str, list[dict] | None]:
        # As read with the claim: the view finds it in the session without reading it again (the session holds it
        # only weakly, so it is kept here while the view runs).
        held = (session.merge(incident, load=False)
                if incident is not None and incident.id is not None and incident.id == data.get("incident") else None)
        try:
            return view(self.ctx, session, data)
        finally:
            del held

    # ----- handlers -------------------------------------------------------------------------------------
    def _find_posted(self, channel: str, job: Job) -> str | None:
        """A resumed post: did an earlier attempt already post it? (the effect id rides in the metadata)"""
        # The latest messages, whatever clock the incident runs on (a tabletop's simulated one included).
        resp = call("conversations.history", self.ctx.client.conversations_history, channel=channel,
                    include_all_metadata=True, limit=200)
        for message in (resp or {}).get("messages") or []:
            meta = message.get("metadata") or {}
            if meta.get("event_type") == METADATA_EVENT and (meta.get("event_payload") or {}).get("effect") == job.id:
                return str(message.get("ts"))
        return None

    def _post(self, job: Job, channel: str, text: str, blocks: list[dict] | None,
              thread_ts: str | None = None) -> str:
        if job.resumed:
            found = self._find_posted(channel, job)
            if found:
                return found
        kwargs: dict[str, Any] = {"channel": channel, "text": text or " ",
                                  "metadata": {"event_type": METADATA_EVENT, "event_payload": {"effect": job.id}}}
        if blocks:
            kwargs["blocks"] = blocks
        if thread_ts:
            kwargs["thread_ts"] = thread_ts
        resp = call("chat.postMessage", self.ctx.client.chat_postMessage, **kwargs)
        return str(resp["ts"]) if resp else ""

    def post(self, job: Job) -> dict[str, Any]:
        incident = self._incident(job)
        channel = self._place(job, incident)
        if not channel:
            return {"skipped": "no such place configured"}
        thread_of = job.payload.get("thread_of")
        if "view" in job.payload or thread_of is not None:  # a view renders from the database; a reply's parent
            with self.ctx.db.session() as session:
                text, blocks = self.render(job, incident, session)
                parent = session.get(Effect, thread_of) if thread_of is not None else None
                thread_ts = (parent.result or {}).get("ts") if parent is not None else None
        else:
            text, blocks = self.render(job, incident)
            thread_ts = None
        ts = self._post(job, channel, text, blocks, thread_ts)
        then = job.payload.get("then")
        if then and ts:
            self.thens[then](self.ctx, job, channel, ts)
        return {"ts": ts, "channel": channel}

    def update(self, job: Job) -> dict[str, Any]:
        """chat.update of a message firebreak posted: `ref` is the post effect that made it (its result says where
        it is), `view`/`data` render it as it is when the update runs. Idempotent (the same content again changes
        nothing). A message someone deleted is posted afresh when `repost` is set; its new place is kept on the
        post effect and the post's `then` learns it."""
        p = job.payload
        with self.ctx.db.session() as session:
            ref = session.get(Effect, p.get("ref"))
            where = dict(ref.result or {}) if ref is not None else {}
            then = (ref.payload or {}).get("then") if ref is not None else None
            channel, ts = where.get("channel"), where.get("ts")
            if not channel or not ts:
                return {"skipped": "the message was never posted"}
            incident = session.get(Incident, job.incident_id) if job.incident_id is not None else None
            text, blocks = self.render(job, incident, session)
        try:
            call("chat.update", self.ctx.client.chat_update, channel=channel, ts=ts, text=text or " ",
                 **({"blocks": blocks} if blocks else {}))
        except Failed as failed:
            if not (p.get("repost") and failed.error.endswith("message_not_found")):
                raise
            ts = self._post(job, channel, text, blocks)
            with self.ctx.db.session() as session:
                row = session.get(Effect, p["ref"])
                if row is not None:
                    row.result = {**(row.result or {}), "channel": channel, "ts": ts}
                    session.add(row)
            if then and ts:
                self.thens[then](self.ctx, job, channel, ts)
            return {"ts": ts, "channel": channel, "reposted": True}
        return {"ts": ts, "channel": channel, "updated": True}

    def summary(self, job: Job) -> dict[str, Any]:
        from bot.slack.summary import summary_blocks, summary_fallback

        incident = self._incident(job)  # as read with the claim: a change after it records another refresh
        if incident is None or not incident.channel_id:
            raise Failed("the incident has no channel", quiet=True)
        assert incident.id is not None
        with self.ctx.db.session() as session:
            roles = incidents.roles(session, incident.id)
            blocks = summary_blocks(self.ctx, session, incident, roles)
            text = summary_fallback(incident)
            channel, ts, current_topic = incident.channel_id, incident.summary_ts, incident.topic or ""
            # The topic names the IC: when the name is not known yet, the topic's own effect asks Slack for it,
            # side by side with this update instead of before it (one round trip off every command's last answer).
            ic = roles.get("ic")
            ic_name = self.ctx.directory.cached_name(ic) if ic and self.ctx.directory is not None else None
            if not ic or ic_name is not None or self.ctx.directory is None:
                topic = channel_topic(incident, roles, ic_name or None)
                if topic != current_topic:  # set only when it changes: setTopic is Tier 2 and posts a notice
                    self._record_topic(session, incident.id, {"topic": topic})
            else:
                self._record_topic(session, incident.id, {"ic": ic})
        if ts:
            call("chat.update", self.ctx.client.chat_update, channel=channel, ts=ts, text=text, blocks=blocks)
            return {"ts": ts, "updated": True}
        ts = self._post(job, channel, text, blocks)
        n = job.incident_id
        # The pin is an effect of its own, in a lane of its own: the channel's next message (the checklist) goes
        # out beside it instead of after it (one round trip off the open's last answer).
        with self.ctx.db.session() as session:
            session.execute(update(Incident).where(col(Incident.id) == n).values(summary_ts=ts))
            effects.record(session, kind=PIN, lane=f"pin:{n}", incident_id=n,  # found when this handler ends
                           payload={"ts": ts}, key=f"inc-{n}:pin:{ts}", created_at=self.ctx.clock.now(), kick=False)
        return {"ts": ts, "posted": True}

    def pin(self, job: Job) -> dict[str, Any]:
        incident = self._incident(job)
        if incident is None or not incident.channel_id:
            raise Failed("the incident has no channel", quiet=True)
        call("pins.add", self.ctx.client.pins_add, channel=incident.channel_id, timestamp=job.payload["ts"])
        return {}

    def _record_topic(self, session: Any, incident_id: int | None, payload: dict[str, Any]) -> None:
        effects.record(session, kind=TOPIC, lane=f"topic:{incident_id}", incident_id=incident_id,
                       payload=payload, created_at=self.ctx.clock.now())

    def topic(self, job: Job) -> dict[str, Any]:

        incident = self._incident(job)
        if incident is None or not incident.channel_id:
            raise Failed("the incident has no channel", quiet=True)
        wanted = job.payload.get("topic")
        if wanted is None:  # rendered here: the IC's name needed a lookup (see `summary`)
            assert incident.id is not None
            with self.ctx.db.session() as session:
                roles = incidents.roles(session, incident.id)
            ic = roles.get("ic")
            name = self.ctx.directory.display_name(ic) if ic and self.ctx.directory is not None else None
            wanted = channel_topic(incident, roles, name)
        if incident.topic == wanted:
            return {"unchanged": True}
        call("conversations.setTopic", self.ctx.client.conversations_setTopic, channel=incident.channel_id,
             topic=wanted)
        self.ctx.db.write_one(_SET_TOPIC, {"n": job.incident_id, "wanted": wanted})
        return {}

    def invite(self, job: Job) -> dict[str, Any]:
        incident = self._incident(job)
        if incident is None or not incident.channel_id:
            raise Failed("the incident has no channel", quiet=True)
        wanted = [u for u in job.payload.get("users") or [] if u and u != BOT_ACTOR]
        source = job.payload.get("members_of")
        if source:
            if self.ctx.directory is None:
                raise Failed(f"the members of {source} cannot be listed")
            try:
                wanted += sorted(self.ctx.directory.members(source))  # the bot is in the channel it made
            except FactsUnavailable as err:
                raise Retry(f"conversations.members of {source} failed: {err}") from err
        members: frozenset[str] = frozenset()
        if self.ctx.directory is not None:
            # Slack refuses a whole invite when one person is already in: invite only the others. A channel made
            # here moments ago has exactly the members known here (no call); any other is asked afresh.
            known = self.ctx.directory.exact_members(incident.channel_id)
            try:
                if known is None:
                    self.ctx.directory.forget_members(incident.channel_id)
                members = known if known is not None else self.ctx.directory.members(incident.channel_id)
            except FactsUnavailable:
                members = frozenset()
        users = [u for u in dict.fromkeys(wanted) if u not in members][:1000]  # Slack's limit per invite
        if users:
            call("conversations.invite", self.ctx.client.conversations_invite, channel=incident.channel_id,
                 users=",".join(users))
            for u in users:
                if self.ctx.directory is not None:
                    self.ctx.directory.joined(incident.channel_id, u)
        return {"invited": users}

    def ephemeral(self, job: Job) -> dict[str, Any]:
        p = job.payload
        text = mrkdwn(Msg.from_json(p["msg"]))
        call("chat.postEphemeral", self.ctx.client.chat_postEphemeral, channel=p["channel"], user=p["user"],
             text=clip(text, MAX_MESSAGE))
        return {}

    # ----- failures ---------------------------------------------------------------------------------------
    def record_failure(self, job: Job, error: str) -> None:
        """A failed Slack effect never goes unseen: it is a `slack_error` fact on the incident's timeline."""
        if job.incident_id is None:
            return
        with self.ctx.db.session() as session:
            if session.get(Incident, job.incident_id) is None:
                return
            timeline.record(session, self.ctx.clock, job.incident_id, "slack_error",
                            f"Slack {error}" if ":" in error else f"Slack {job.kind} failed: {error}",
                            actor=BOT_ACTOR, data={"what": job.kind, "error": error, "effect": job.id})


def channel_topic(incident: Incident, roles: dict[str, str], ic_name: str | None) -> str:
    """The topic text as Slack will hold it: plain, within its 250 characters."""
    from bot.slack.summary import topic_text

    return clip(plain_field(topic_text(incident, roles, ic_name)), 250)
