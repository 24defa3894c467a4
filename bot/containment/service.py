"""Pulling and reverting levers for an incident: the containment action row, the timeline, MTTC.

`ContainmentService` (`ctx.containment`) is called by the Slack handlers after the ack; it makes
the slow calls (LaunchDarkly, webhooks, SDK verification) outside any database transaction. The rules:
- one current pull per lever and incident (a unique slot), so two people pulling at once make ONE request;
- dry runs (asked for, exercises, sandbox channels, FIREBREAK_LEVERS_DRY_RUN) call nothing external;
- contained_at is set only by a verified pull (applied_at where the lever cannot be verified) whose proof
  checks do not say "not effective"; an error never marks an incident contained.
"""

from __future__ import annotations

import fnmatch
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot.containment import proof
from bot.containment.base import LeverKind, Pull
from bot.containment.launchdarkly import KillLever, VariationLever
from bot.containment.records import actions, current_action, state_label
from bot.containment.retry import LeverError, RetryPolicy
from bot.containment.runtime import Runtime
from bot.containment.sdk import SdkVerifier
from bot.containment.spec import Lever, LeverRegistry
from bot.containment.webhook import WebhookLever
from bot.core import hooks, incidents, timeline
from bot.core.durations import format_duration
from bot.core.errors import Conflict, NotAllowed, NotFound
from bot.core.incidents import ROLE_ALIASES, ROLES
from bot.core.text import Code, Msg, User, When
from bot.slack import ops, render
from bot.slack.context import AppContext
from bot.slack.usergroups import usergroups
from bot.store.models import ContainmentAction, Incident
from bot.store.models.containment import APPLIED, DRY_RUN, FAILED, NOT_EFFECTIVE, REQUESTED, VERIFIED
from bot.store.models.timeline import BOT_ACTOR

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PullResult:
    action_id: int
    outcome: str
    dry_run: bool
    contained: bool = False
    error: str | None = None


def _role_key(name: str) -> str:
    key = name.strip().lower().replace("-", "_")
    return ROLE_ALIASES.get(key, key)


def _since(start: datetime | None, end: datetime | None) -> str:
    return f"+{format_duration(end - start)}" if start and end else "—"


class ContainmentService:
    def __init__(self, ctx: AppContext, registry: LeverRegistry, *, retry: RetryPolicy | None = None) -> None:
        self.ctx = ctx
        self.registry = registry
        s = ctx.settings
        self.runtime = Runtime(
            settings=s, clock=ctx.clock,
            http=httpx.Client(timeout=httpx.Timeout(s.lever_http_timeout_seconds), follow_redirects=False),
            retry=retry or RetryPolicy(budget_seconds=s.lever_retry_budget_seconds),
            sdk=SdkVerifier(s))
        self.kinds: dict[str, LeverKind] = {"launchdarkly_kill": KillLever(self.runtime),
                                            "launchdarkly_variation": VariationLever(self.runtime),
                                            "webhook": WebhookLever(self.runtime)}

    def close(self) -> None:
        self.runtime.sdk.close()
        self.runtime.http.close()

    # ----- lookups and rules ---------------------------------------------------------------------------
    def lever(self, name: str, *, usage: str | None = None) -> Lever:
        lever = self.registry.get(name)
        if lever is None:
            known = ", ".join(f"`{n}`" for n in self.registry.names()) or "none are configured"
            raise NotFound(f"There is no lever `{name}`. Levers: {known}.", usage=usage)
        return lever

    def kind(self, lever: Lever) -> LeverKind:
        return self.kinds[lever.type]

    def plan(self, lever: Lever) -> str:
        return self.kind(lever).plan(lever)

    def dry_run_reason(self, incident: Incident, *, requested: bool, channel_id: str | None = None,
                       channel_name: str | None = None) -> str | None:
        if requested:
            return "--dry-run was given"
        if incident.is_exercise:
            return f"{incident.ref} is an exercise"
        patterns = self.ctx.config.sandbox_channels
        for cid, cname in ((incident.channel_id, incident.channel_name), (channel_id, channel_name)):
            for pattern in patterns:
                if (cid and cid == pattern) or (cname and fnmatch.fnmatchcase(cname, pattern)):
                    return f"#{cname or cid} is a sandbox channel"
        if self.ctx.settings.levers_dry_run:
            return "FIREBREAK_LEVERS_DRY_RUN is set"
        return None

    def check_allowed(self, lever: Lever, incident: Incident, user_id: str, channel_id: str | None,
                      roles: dict[str, str]) -> None:
        """Raise NotAllowed unless the user may pull (or revert) this lever. May call Slack: no lock held."""
        if user_id == BOT_ACTOR:
            return
        if not lever.allowed:
            if not incident.channel_id or channel_id == incident.channel_id:
                return
            resp = ops.safe_call(self.ctx, incident.id, "conversations.members", self.ctx.client.conversations_members,
                                 channel=incident.channel_id)
            if resp is None or user_id in (resp.get("members") or []):
                return
            raise NotAllowed(f"Only people in {incident.ref}'s channel may pull `{lever.name}`; join "
                             f"<#{incident.channel_id}> first.")
        others = [who for who in lever.allowed if _role_key(who) not in ROLES]
        if any(roles.get(_role_key(who)) == user_id for who in lever.allowed):
            return
        if others and usergroups(self.ctx).contains(others, user_id):
            return
        names = ", ".join(f"the {ROLES[_role_key(w)].lower()}" if _role_key(w) in ROLES else f"`{w}`"
                          for w in lever.allowed)
        raise NotAllowed(f"You may not pull `{lever.name}`: it is limited to {names}.")

    def precheck(self, incident_id: int, lever_name: str, user_id: str, channel_id: str | None,
                 *, dry_run: bool = False, channel_name: str | None = None) -> tuple[Lever, str | None]:
        """Everything that can refuse a pull, checked before the confirmation. Writes nothing."""
        lever = self.lever(lever_name)
        with self.ctx.db.session() as session:
            incident = incidents.get(session, incident_id)
            incidents.require_open(incident)
            roles = incidents.roles(session, incident_id)
            reason = self.dry_run_reason(incident, requested=dry_run, channel_id=channel_id,
                                         channel_name=channel_name)
            self._refuse_if_current(session, incident, lever, dry=reason is not None)
        self.check_allowed(lever, incident, user_id, channel_id, roles)
        return lever, reason

    def _refuse_if_current(self, session: Session, incident: Incident, lever: Lever, *, dry: bool) -> None:
        existing = current_action(session, incident.id, lever.name, dry_run=dry)
        if existing is not None:
            mode = " (dry run)" if existing.dry_run else ""
            raise Conflict(Msg.of("{lever} was already pulled{mode} on {ref} by {who} at {at} — {state}. "
                                  "{revert} undoes it.", lever=Code(lever.name), mode=mode, ref=incident.ref,
                                  who=User(existing.by), at=When(existing.requested_at), state=state_label(existing),
                                  revert=Code(f"/incident revert {lever.name}")))

    # ----- pulling -------------------------------------------------------------------------------------
    def pull(self, incident_id: int, lever_name: str, *, actor: str, reason: str = "", dry_run: bool = False,
             channel_id: str | None = None, channel_name: str | None = None, step: str | None = None) -> PullResult:
        """Request, apply, verify, prove, and record containment. Raises FirebreakError for refusals."""
        lever, _ = self.precheck(incident_id, lever_name, actor, channel_id, dry_run=dry_run,
                                 channel_name=channel_name)
        kind = self.kind(lever)
        clock = self.ctx.clock
        try:
            with self.ctx.db.session() as session:
                incident = incidents.get(session, incident_id, lock=True)
                incidents.require_open(incident)
                why_dry = self.dry_run_reason(incident, requested=dry_run, channel_id=channel_id,
                                              channel_name=channel_name)
                dry = why_dry is not None
                self._refuse_if_current(session, incident, lever, dry=dry)
                row = ContainmentAction(incident_id=incident_id, lever=lever.name, type=lever.type,
                                        target=lever.target.model_dump(mode="json"), by=actor, reason=reason,
                                        dry_run=dry, slot="dry" if dry else "live", requested_at=clock.now())
                session.add(row)
                session.flush()
                assert row.id is not None
                action_id = row.id
                mode = f" [dry run: {why_dry}]" if dry else ""
                timeline.record(session, clock, incident_id, "lever_requested",
                                f"Lever `{lever.name}` requested: {kind.plan(lever)}{mode}"
                                + (f" — {reason}" if reason else ""), actor=actor,
                                data=self._data(lever, action_id, dry, step=step, dry_reason=why_dry))
                facts = {"ref": incident.ref, "id": incident.id, "title": incident.title,
                         "severity": incident.severity, "sev": incident.sev, "category": incident.category,
                         "channel_id": incident.channel_id, "is_exercise": incident.is_exercise}
        except IntegrityError:
            # Someone else's insert won the unique slot between our check and our insert.
            with self.ctx.db.session() as session:
                incident = incidents.get(session, incident_id)
                self._refuse_if_current(session, incident, lever, dry=dry_run)
                self._refuse_if_current(session, incident, lever, dry=not dry_run)
            raise Conflict(f"`{lever.name}` is being pulled by someone else right now.") from None
        prefix = "[DRY RUN] " if dry else ""
        announcement = (f"{prefix}:large_yellow_circle: <@{actor}> pulled lever *{lever.name}*: "
                        f"{kind.plan(lever)}" + (f" — {reason}" if reason else "")
                        + (f"\n_Dry run: {why_dry}. Nothing will be changed._" if dry else ""))
        pull = Pull(action_id=action_id, incident=facts, actor=actor, reason=reason, dry_run=dry)
        return self._carry_out(lever, kind, pull, step=step, announcement=announcement)

    def _data(self, lever: Lever, action_id: int, dry: bool, **extra: Any) -> dict[str, Any]:
        data = {"lever": lever.name, "action_id": action_id, "dry_run": dry}
        data.update({k: v for k, v in extra.items() if v is not None})
        return data

    def _carry_out(self, lever: Lever, kind: LeverKind, pull: Pull, *, step: str | None,
                   announcement: str) -> PullResult:
        clock, n, aid = self.ctx.clock, pull.incident["id"], pull.action_id
        # The change goes out first; the channel hears of the pull right after (before "applied"), so no
        # Slack round trip delays containment.
        try:
            applied = kind.apply(lever, pull)
        except Exception as exc:  # noqa: BLE001 - every failure is reported, none is lost
            ops.post_in_incident(self.ctx, n, announcement)
            return self._failed(lever, kind, pull, exc, phase="apply")
        ops.post_in_incident(self.ctx, n, announcement)
        with self.ctx.db.session() as session:
            row = session.get(ContainmentAction, aid)
            row.applied_at, row.attempts = clock.now(), applied.attempts
            row.detail, row.previous = applied.detail, applied.previous
            row.outcome = DRY_RUN if applied.dry_run else APPLIED
            timeline.record(session, clock, n, "lever_applied", f"Lever `{lever.name}`: {applied.detail}",
                            actor=pull.actor, data=self._data(lever, aid, pull.dry_run, step=step,
                                                              attempts=applied.attempts))
            requested_at, applied_at = row.requested_at, row.applied_at
        self.ctx.hooks.emit(hooks.LEVER_APPLIED, ctx=self.ctx, incident_id=n, actor=pull.actor, lever=lever.name,
                            action_id=aid, dry_run=pull.dry_run)
        if applied.dry_run:
            ops.post_in_incident(self.ctx, n, f"[DRY RUN] :test_tube: Lever *{lever.name}* recorded: "
                                              f"{applied.detail}. Nothing was sent; the incident is not marked "
                                              "contained.")
            # Proof checks still run, flagged as a dry run (evidence probes then only reach exercise-safe
            # endpoints); whatever they say, a dry run never contains anything.
            proof.run_checks(self.ctx, n, {"lever": lever.name, "action_id": aid, "applied_at": applied_at,
                                           "verified_at": None, "dry_run": True})
            ops.refresh(self.ctx, n)
            return PullResult(aid, DRY_RUN, True)
        ops.post_in_incident(self.ctx, n, f":large_orange_circle: Lever *{lever.name}* applied "
                                          f"({_since(requested_at, applied_at)} after the request, "
                                          f"{applied.attempts} attempt{'s' if applied.attempts != 1 else ''}): "
                                          f"{applied.detail}. Verifying…")
        try:
            verified = kind.verify(lever, pull, applied)
        except Exception as exc:  # noqa: BLE001
            return self._failed(lever, kind, pull, exc, phase="verify")
        verified_at = verified.at
        with self.ctx.db.session() as session:
            row = session.get(ContainmentAction, aid)
            if verified_at is not None:
                row.verified_at, row.outcome = verified_at, VERIFIED
                timeline.record(session, clock, n, "lever_verified", f"Lever `{lever.name}` verified: "
                                f"{verified.detail}", actor=BOT_ACTOR, data=self._data(lever, aid, False))
            else:
                row.detail = f"{row.detail}; not verified: {verified.skipped}"
            action = {"lever": lever.name, "action_id": aid, "applied_at": row.applied_at,
                      "verified_at": row.verified_at, "dry_run": False}
        check = proof.run_checks(self.ctx, n, action)
        if check is not None and not check.effective:
            return self._not_effective(lever, pull, check)
        when = check.at if check is not None else (verified_at or action["applied_at"])
        how = (f"verified {_since(action['applied_at'], verified_at)} after applying: {verified.detail}"
               if verified_at else f"applied without verification ({verified.skipped})")
        if check is not None:
            how += f"; proof: {check.summary}"
        contained = False
        ref = pull.incident["ref"]
        with self.ctx.db.session() as session:
            incident = incidents.get(session, n, lock=True)
            if incident.is_open:
                contained = incidents.mark_contained(
                    session, clock, incident, f"lever {lever.name} ({how})", actor=pull.actor, at=when,
                    source="lever", data=self._data(lever, aid, False))
            mttc = incidents.key_times(incident).mttc
        message = f":large_green_circle: Lever *{lever.name}* {how}."
        if contained:
            message += f"\n:white_check_mark: {ref} *contained* at {render.when(when)}. MTTC: {format_duration(mttc)}"
        ops.post_in_incident(self.ctx, n, message)
        ops.refresh(self.ctx, n)
        if contained:
            self.ctx.hooks.emit(hooks.CONTAINED, ctx=self.ctx, incident_id=n, actor=pull.actor,
                                source="lever", lever=lever.name, action_id=aid)
        return PullResult(aid, VERIFIED if verified_at else APPLIED, False, contained=contained)

    def _failed(self, lever: Lever, kind: LeverKind, pull: Pull, exc: Exception, *, phase: str) -> PullResult:
        clock, n, aid = self.ctx.clock, pull.incident["id"], pull.action_id
        if isinstance(exc, LeverError):
            error, attempts = self.runtime.redact(exc.message) or "", exc.attempts
        else:
            log.exception("lever %s failed unexpectedly", lever.name)
            error, attempts = f"unexpected error ({type(exc).__name__})", 1
        with self.ctx.db.session() as session:
            row = session.get(ContainmentAction, aid)
            row.error = error
            if phase == "apply":
                row.outcome, row.slot, row.attempts = FAILED, None, attempts
            timeline.record(session, clock, n, "lever_failed",
                            f"Lever `{lever.name}` {'failed' if phase == 'apply' else 'could not be verified'}: "
                            f"{error}", actor=BOT_ACTOR, data=self._data(lever, aid, pull.dry_run, error=error,
                                                                         phase=phase))
        if phase == "apply":
            text = (f":red_circle: Lever *{lever.name}* FAILED — firebreak could not make the change, so "
                    f"{pull.incident['ref']} is *not* contained.\nError: {error}\n"
                    f"Manual fallback: {kind.fallback(lever)}")
        else:
            text = (f":red_circle: Lever *{lever.name}* was applied but could not be verified, so "
                    f"{pull.incident['ref']} is *not* marked contained.\nError: {error}\n"
                    f"Check by hand: {kind.fallback(lever)}")
        ops.post_in_incident(self.ctx, n, self.runtime.redact(text) or text)
        ops.refresh(self.ctx, n)
        return PullResult(aid, FAILED, pull.dry_run, error=error)

    def _not_effective(self, lever: Lever, pull: Pull, check: proof.Proof) -> PullResult:
        clock, n, aid = self.ctx.clock, pull.incident["id"], pull.action_id
        with self.ctx.db.session() as session:
            row = session.get(ContainmentAction, aid)
            row.outcome = NOT_EFFECTIVE
            row.error = check.summary
            timeline.record(session, clock, n, "lever_not_effective",
                            f"Lever `{lever.name}` applied but not effective: {check.summary}", actor=BOT_ACTOR,
                            data=self._data(lever, aid, False, error=check.summary))
        ops.post_in_incident(self.ctx, n, f":rotating_light: *Lever {lever.name} applied but not effective*: "
                                          f"{check.summary}. {pull.incident['ref']} is NOT contained — pull "
                                          "another lever or escalate.")
        ops.refresh(self.ctx, n)
        return PullResult(aid, NOT_EFFECTIVE, False, error=check.summary)

    # ----- reverting -----------------------------------------------------------------------------------
    def revert(self, incident_id: int, lever_name: str, *, actor: str, channel_id: str | None = None,
               reason: str = "") -> PullResult:
        lever = self.lever(lever_name)
        kind = self.kind(lever)
        clock = self.ctx.clock
        with self.ctx.db.session() as session:
            incident = incidents.get(session, incident_id)
            roles = incidents.roles(session, incident_id)
        self.check_allowed(lever, incident, actor, channel_id, roles)
        with self.ctx.db.session() as session:
            incident = incidents.get(session, incident_id, lock=True)
            row = current_action(session, incident_id, lever.name)
            if row is None:
                raise Conflict(f"`{lever.name}` is not pulled on {incident.ref}; nothing to revert.")
            if row.outcome == REQUESTED:
                raise Conflict(Msg.of("{lever} is still being applied (pulled by {who}); revert it once it has "
                                      "finished.", lever=Code(lever.name), who=User(row.by)))
            if row.reverted_by:
                raise Conflict(Msg.of("{who} is already reverting {lever}.", who=User(row.reverted_by),
                                      lever=Code(lever.name)))
            if not row.dry_run and not kind.can_revert(lever):
                raise Conflict(f"`{lever.name}` has no revert request; undo it by hand: {kind.fallback(lever)}")
            row.reverted_by = actor
            session.add(row)
            aid, dry, previous = row.id, row.dry_run, dict(row.previous or {})
            facts = {"ref": incident.ref, "id": incident.id, "title": incident.title, "severity": incident.severity,
                     "sev": incident.sev, "category": incident.category, "channel_id": incident.channel_id,
                     "is_exercise": incident.is_exercise}
        assert aid is not None
        pull = Pull(action_id=aid, incident=facts, actor=actor, reason=reason, dry_run=dry)
        try:
            done = kind.revert(lever, pull, previous)
        except Exception as exc:  # noqa: BLE001
            return self._revert_failed(lever, kind, pull, exc, previous)
        with self.ctx.db.session() as session:
            row = session.get(ContainmentAction, aid)
            row.reverted_at, row.slot, row.revert_error = clock.now(), None, None
            timeline.record(session, clock, incident_id, "lever_reverted", f"Lever `{lever.name}` reverted: "
                            f"{done.detail}" + (f" — {reason}" if reason else ""), actor=actor,
                            data=self._data(lever, aid, dry, attempts=done.attempts))
        self.ctx.hooks.emit(hooks.LEVER_REVERTED, ctx=self.ctx, incident_id=incident_id, actor=actor,
                            lever=lever.name, action_id=aid, dry_run=dry)
        prefix = "[DRY RUN] " if dry else ""
        ops.post_in_incident(self.ctx, incident_id, f"{prefix}:leftwards_arrow_with_hook: <@{actor}> reverted lever "
                                                    f"*{lever.name}*: {done.detail}"
                                                    + (f" — {reason}" if reason else ""))
        ops.refresh(self.ctx, incident_id)
        return PullResult(aid, "reverted", dry)

    def _revert_failed(self, lever: Lever, kind: LeverKind, pull: Pull, exc: Exception,
                       previous: dict[str, Any]) -> PullResult:
        n, aid = pull.incident["id"], pull.action_id
        if isinstance(exc, LeverError):
            error = self.runtime.redact(exc.message) or ""
        else:
            log.exception("reverting lever %s failed unexpectedly", lever.name)
            error = f"unexpected error ({type(exc).__name__})"
        with self.ctx.db.session() as session:
            row = session.get(ContainmentAction, aid)
            row.reverted_by, row.revert_error = None, error
            timeline.record(session, self.ctx.clock, n, "lever_failed", f"Reverting lever `{lever.name}` failed: "
                            f"{error}", actor=BOT_ACTOR, data=self._data(lever, aid, pull.dry_run, error=error,
                                                                         phase="revert"))
        ops.post_in_incident(self.ctx, n, f":red_circle: Reverting lever *{lever.name}* FAILED: {error}\n"
                                          f"It is still in place. By hand: "
                                          f"{kind.revert_plan(lever, previous)} — {kind.fallback(lever)}")
        return PullResult(aid, FAILED, pull.dry_run, error=error)

    def standing(self, incident_id: int) -> list[tuple[Lever, ContainmentAction]]:
        """Pulls that are still in place (for on-resolve handling)."""
        out = []
        with self.ctx.db.session() as session:
            for row in actions(session, incident_id):
                lever = self.registry.get(row.lever)
                if lever and row.slot and row.outcome in (APPLIED, VERIFIED, NOT_EFFECTIVE, DRY_RUN):
                    out.append((lever, row))
        return out
