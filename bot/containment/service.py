"""Pulling and reverting levers for an incident: the containment action row, the timeline, MTTC.

`ContainmentService` (`services.containment`) decides and records; it never calls Slack. The rules:
- one current pull per lever and incident (a unique slot), so two people pulling at once make ONE request;
- dry runs (asked for, exercises, sandbox channels, FIREBREAK_LEVERS_DRY_RUN) call nothing external;
- contained_at is set only by a verified pull (applied_at where the lever cannot be verified) whose proof
  checks do not say "not effective"; an error never marks an incident contained;
- what the channel must hear is recorded (`bot.core.effects`) in the transaction of the fact it reports, with
  a key per pull and stage (`inc-{n}:lever:{action}:{stage}`); the effects runner posts it after the commit.
  Nothing is recorded to post before the change has gone out, so no Slack round trip delays containment;
- slow calls (LaunchDarkly, webhooks, SDK verification, proof checks) happen outside any transaction, on the
  caller's thread: transports call `pull` and `revert` on the LEVERS lane, never on a listener.

Who may pull or revert is the permission policy's decision (`Action.PULL_LEVER` with `access(lever)`,
`Action.REVERT_LEVER`), asked by the transport before it calls here and again at confirmation time.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot.containment import messages, proof
from bot.containment.base import Applied, LeverKind, Pull
from bot.containment.launchdarkly import KillLever, VariationLever
from bot.containment.records import actions, current_action, state_label
from bot.containment.retry import LeverError, RetryPolicy
from bot.containment.runtime import Runtime
from bot.containment.sdk import SdkVerifier
from bot.containment.spec import Lever, LeverRegistry
from bot.containment.webhook import WebhookLever
from bot.core import effects, hooks, incidents, limits, secrets, timeline
from bot.core.durations import format_duration
from bot.core.errors import Conflict, FirebreakError, NotFound
from bot.core.incidents import ROLE_ALIASES, ROLES
from bot.core.text import Code, Msg, User, When
from bot.store.models import ContainmentAction, Incident
from bot.store.models.containment import APPLIED, DRY_RUN, FAILED, NOT_EFFECTIVE, REQUESTED, VERIFIED
from bot.store.models.timeline import BOT_ACTOR

if TYPE_CHECKING:
    from bot.app.services import Services

log = logging.getLogger(__name__)

# The named layout of the on-resolve question ("revert it?"), rendered by the transport when it is posted.
ASK_VIEW = "lever_on_resolve"
# The durable timer job that gives up on a pull its process did not live to finish (`watch_after` later).
WATCH_JOB = "lever_watchdog"


@dataclass(frozen=True)
class PullResult:
    action_id: int
    outcome: str
    dry_run: bool
    contained: bool = False
    error: str | None = None


@dataclass(frozen=True)
class Prepared:
    """A pull that may go ahead (nothing written yet): what the confirmation shows."""

    lever: Lever
    incident_id: int
    ref: str
    dry_reason: str | None  # why it will be a dry run, None for a live pull


def _role_key(name: str) -> str:
    key = name.strip().lower().replace("-", "_")
    return ROLE_ALIASES.get(key, key)


def _incident_facts(incident: Incident) -> dict[str, Any]:
    """What a lever's templates and comments may say about the incident."""
    return {"ref": incident.ref, "id": incident.id, "title": incident.title, "severity": incident.severity,
            "sev": incident.sev, "category": incident.category, "channel_id": incident.channel_id,
            "is_exercise": incident.is_exercise}


class ContainmentService:
    def __init__(self, ctx: Services, registry: LeverRegistry, *, retry: RetryPolicy | None = None) -> None:
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
        # Applying is a read and a change, each retried within the budget, each call bounded by the timeout:
        # a pull still `requested` well after that was interrupted (its process stopped).
        per_call = s.lever_retry_budget_seconds + s.lever_http_timeout_seconds
        self.watch_after = timedelta(seconds=2 * per_call + 60)

    def close(self) -> None:
        self.runtime.sdk.close()
        self.runtime.http.close()

    # ----- lookups and rules ---------------------------------------------------------------------------
    def lever(self, name: str, *, usage: str | None = None) -> Lever:
        lever = self.registry.get(name)
        if lever is None:
            known = ", ".join(f"`{n}`" for n in self.registry.names()) or "none are configured"
            raise NotFound(Msg.of("There is no lever {name}. Levers: {known}.",
                                  name=Code(limits.shown(name, 64)), known=known), usage=usage)
        return lever

    def kind(self, lever: Lever) -> LeverKind:
        return self.kinds[lever.type]

    def plan(self, lever: Lever) -> str:
        return self.kind(lever).plan(lever)

    @staticmethod
    def access(lever: Lever) -> tuple[list[str], list[str]]:
        """The lever's `allowed:` list as the policy reads it: (groups and people, incident roles).
        Both empty: the incident channel's members may pull it."""
        roles = [_role_key(who) for who in lever.allowed if _role_key(who) in ROLES]
        others = [who for who in lever.allowed if _role_key(who) not in ROLES]
        return others, roles

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

    def prepare(self, incident_id: int, lever: Lever, *, dry_run: bool = False, channel_id: str | None = None,
                channel_name: str | None = None) -> Prepared:
        """Everything that can refuse a pull, checked before the confirmation. Writes nothing, calls nothing."""
        with self.ctx.db.session() as session:
            incident = incidents.get(session, incident_id)
            incidents.require_open(incident)
            reason = self.dry_run_reason(incident, requested=dry_run, channel_id=channel_id,
                                         channel_name=channel_name)
            self._refuse_if_current(session, incident, lever, dry=reason is not None)
            return Prepared(lever, incident_id, incident.ref, reason)

    def _refuse_if_current(self, session: Session, incident: Incident, lever: Lever, *, dry: bool) -> None:
        assert incident.id is not None
        existing = current_action(session, incident.id, lever.name, dry_run=dry)
        if existing is not None:
            mode = " (dry run)" if existing.dry_run else ""
            raise Conflict(Msg.of("{lever} was already pulled{mode} on {ref} by {who} at {at} — {state}. "
                                  "{revert} undoes it.", lever=Code(lever.name), mode=mode, ref=incident.ref,
                                  who=User(existing.by), at=When(existing.requested_at), state=state_label(existing),
                                  revert=Code(f"/incident revert {lever.name}")))

    # ----- recording -----------------------------------------------------------------------------------
    def _post(self, session: Session, incident_id: int, action_id: int, stage: str, msg: Msg) -> None:
        """A message for the incident channel, recorded with the fact; once per pull and stage."""
        effects.post(session, incident_id, msg, created_at=self.ctx.clock.now(),
                     key=f"inc-{incident_id}:lever:{action_id}:{stage}")

    def _refresh(self, session: Session, incident_id: int) -> None:
        effects.summary(session, incident_id, created_at=self.ctx.clock.now())

    @staticmethod
    def _data(lever: Lever, action_id: int, dry: bool, **extra: Any) -> dict[str, Any]:
        data = {"lever": lever.name, "action_id": action_id, "dry_run": dry}
        data.update({k: v for k, v in extra.items() if v is not None})
        return data

    @staticmethod
    def _error(lever: Lever, exc: Exception, what: str) -> tuple[str, int]:
        """(a message safe to show, attempts): LeverError messages are firebreak's own words, redacted."""
        if isinstance(exc, LeverError):
            return secrets.redact(exc.message) or "", exc.attempts
        log.exception("%s lever %s failed unexpectedly", what, lever.name)
        return f"unexpected error ({type(exc).__name__})", 1

    # ----- pulling -------------------------------------------------------------------------------------
    def pull(self, incident_id: int, lever_name: str, *, actor: str, reason: str = "", dry_run: bool = False,
             channel_id: str | None = None, channel_name: str | None = None, step: str | None = None) -> PullResult:
        """Request, apply, verify, prove, and record containment. Raises FirebreakError for refusals.
        Slow (retries within the lever budget, then verification): call it on the LEVERS lane."""
        lever = self.lever(lever_name)
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
                if self.ctx.timers is not None:  # durable: a crash from here on is found and said
                    self.ctx.timers.at(f"lever-watch:{action_id}", row.requested_at + self.watch_after, WATCH_JOB,
                                       action_id=action_id)
                facts = _incident_facts(incident)
        except IntegrityError:
            # Someone else's insert won the unique slot between our check and our insert.
            with self.ctx.db.session() as session:
                incident = incidents.get(session, incident_id)
                self._refuse_if_current(session, incident, lever, dry=dry_run)
                self._refuse_if_current(session, incident, lever, dry=not dry_run)
            raise Conflict(f"`{lever.name}` is being pulled by someone else right now.") from None
        pull = Pull(action_id=action_id, incident=facts, actor=actor, reason=reason, dry_run=dry)
        return self._carry_out(lever, kind, pull, step=step, dry_reason=why_dry)

    def _carry_out(self, lever: Lever, kind: LeverKind, pull: Pull, *, step: str | None,
                   dry_reason: str | None) -> PullResult:
        clock, n, aid = self.ctx.clock, pull.incident["id"], pull.action_id
        announcement = messages.pulled(pull.actor, lever.name, kind.plan(lever), pull.reason, dry_reason)
        try:
            applied = kind.apply(lever, pull)  # the change goes out before anything is said about it
        except Exception as exc:  # noqa: BLE001 - every failure is reported, none is lost
            return self._failed(lever, kind, pull, exc, phase="apply", announcement=announcement)
        with self.ctx.db.session() as session:
            row = session.get(ContainmentAction, aid)
            assert row is not None
            row.applied_at, row.attempts = clock.now(), applied.attempts
            row.detail, row.previous = applied.detail, applied.previous
            row.outcome = DRY_RUN if applied.dry_run else APPLIED
            timeline.record(session, clock, n, "lever_applied", f"Lever `{lever.name}`: {applied.detail}",
                            actor=pull.actor, data=self._data(lever, aid, pull.dry_run, step=step,
                                                              attempts=applied.attempts))
            self._post(session, n, aid, "pulled", announcement)
            if applied.dry_run:
                self._post(session, n, aid, "dry", messages.dry_recorded(lever.name, applied.detail))
            else:
                self._post(session, n, aid, "applied", messages.applied(lever.name, row.requested_at, row.applied_at,
                                                                        applied.attempts, applied.detail))
            self._refresh(session, n)
            applied_at = row.applied_at
        self.ctx.hooks.emit(hooks.LEVER_APPLIED, ctx=self.ctx, incident_id=n, actor=pull.actor, lever=lever.name,
                            action_id=aid, dry_run=pull.dry_run)
        if applied.dry_run:
            # Proof checks still run, flagged as a dry run (evidence probes then only reach exercise-safe
            # endpoints); whatever they say, a dry run never contains anything.
            proof.run_checks(self.ctx, n, {"lever": lever.name, "action_id": aid, "applied_at": applied_at,
                                           "verified_at": None, "dry_run": True})
            return PullResult(aid, DRY_RUN, True)
        return self._verify(lever, kind, pull, applied)

    def _verify(self, lever: Lever, kind: LeverKind, pull: Pull, applied: Applied) -> PullResult:
        clock, n, aid = self.ctx.clock, pull.incident["id"], pull.action_id
        try:
            verified = kind.verify(lever, pull, applied)
        except Exception as exc:  # noqa: BLE001
            return self._failed(lever, kind, pull, exc, phase="verify")
        with self.ctx.db.session() as session:
            row = session.get(ContainmentAction, aid)
            assert row is not None
            if verified.at is not None:
                row.verified_at, row.outcome = verified.at, VERIFIED
                timeline.record(session, clock, n, "lever_verified", f"Lever `{lever.name}` verified: "
                                f"{verified.detail}", actor=BOT_ACTOR, data=self._data(lever, aid, False))
            else:
                row.detail = f"{row.detail}; not verified: {verified.skipped}"
            action: dict[str, Any] = {"lever": lever.name, "action_id": aid, "applied_at": row.applied_at,
                      "verified_at": row.verified_at, "dry_run": False}
        check = proof.run_checks(self.ctx, n, action)
        if check is not None and not check.effective:
            return self._not_effective(lever, pull, check)
        when = check.at if check is not None else (verified.at or action["applied_at"])
        if verified.at:
            how = f"verified +{format_duration(verified.at - action['applied_at'])} after applying: {verified.detail}"
        else:
            how = f"applied without verification ({verified.skipped})"
        if check is not None:
            how += f"; proof: {check.summary}"
        with self.ctx.db.session() as session:
            incident = incidents.get(session, n, lock=True)
            contained = incident.is_open and incidents.mark_contained(
                session, clock, incident, f"lever {lever.name} ({how})", actor=pull.actor, at=when,
                source="lever", data=self._data(lever, aid, False))
            self._post(session, n, aid, "worked", messages.worked(lever.name, how, incident.ref,
                                                                  when if contained else None,
                                                                  incident.mttc_seconds))
            self._refresh(session, n)
        if contained:
            self.ctx.hooks.emit(hooks.CONTAINED, ctx=self.ctx, incident_id=n, actor=pull.actor,
                                source="lever", lever=lever.name, action_id=aid)
        return PullResult(aid, VERIFIED if verified.at else APPLIED, False, contained=contained)

    def _failed(self, lever: Lever, kind: LeverKind, pull: Pull, exc: Exception, *, phase: str,
                announcement: Msg | None = None) -> PullResult:
        clock, n, aid = self.ctx.clock, pull.incident["id"], pull.action_id
        error, attempts = self._error(lever, exc, "applying" if phase == "apply" else "verifying")
        with self.ctx.db.session() as session:
            row = session.get(ContainmentAction, aid)
            assert row is not None
            row.error = error
            if phase == "apply":
                row.outcome, row.slot, row.attempts = FAILED, None, attempts
            timeline.record(session, clock, n, "lever_failed",
                            f"Lever `{lever.name}` {'failed' if phase == 'apply' else 'could not be verified'}: "
                            f"{error}", actor=BOT_ACTOR, data=self._data(lever, aid, pull.dry_run, error=error,
                                                                         phase=phase))
            if announcement is not None:
                self._post(session, n, aid, "pulled", announcement)
            self._post(session, n, aid, f"{phase}-failed", messages.failed(
                lever.name, pull.incident["ref"], error, secrets.redact(kind.fallback(lever)), phase=phase))
            self._refresh(session, n)
        return PullResult(aid, FAILED, pull.dry_run, error=error)

    def _not_effective(self, lever: Lever, pull: Pull, check: proof.Proof) -> PullResult:
        clock, n, aid = self.ctx.clock, pull.incident["id"], pull.action_id
        with self.ctx.db.session() as session:
            row = session.get(ContainmentAction, aid)
            assert row is not None
            row.outcome = NOT_EFFECTIVE
            row.error = check.summary
            timeline.record(session, clock, n, "lever_not_effective",
                            f"Lever `{lever.name}` applied but not effective: {check.summary}", actor=BOT_ACTOR,
                            data=self._data(lever, aid, False, error=check.summary))
            self._post(session, n, aid, "not-effective",
                       messages.not_effective(lever.name, pull.incident["ref"], check.summary))
            self._refresh(session, n)
        return PullResult(aid, NOT_EFFECTIVE, False, error=check.summary)

    def give_up_interrupted(self, action_id: int) -> bool:
        """A pull still `requested` long after it began: its process stopped between the request and the
        change. Whether the change was made cannot be known here, so the channel is told to check by hand, the
        lever is freed to be pulled again, and the incident is not marked contained. Once per pull."""
        with self.ctx.db.session() as session:
            row = session.get(ContainmentAction, action_id)
            if row is None or row.outcome != REQUESTED:
                return False  # finished (or failed) on its own
            lever = self.registry.get(row.lever)
            incident = incidents.get(session, row.incident_id)
            fallback = self.kind(lever).fallback(lever) if lever is not None else "check the change by hand"
            error = "interrupted: firebreak stopped while applying it, so whether the change was made is unknown"
            row.outcome, row.slot, row.error = FAILED, None, error
            timeline.record(session, self.ctx.clock, row.incident_id, "lever_failed",
                            f"Lever `{row.lever}` failed: {error}", actor=BOT_ACTOR,
                            data={"lever": row.lever, "action_id": action_id, "dry_run": row.dry_run,
                                  "error": error, "phase": "apply", "interrupted": True})
            self._post(session, row.incident_id, action_id, "interrupted", messages.interrupted(
                row.lever, incident.ref, secrets.redact(fallback)))
            self._refresh(session, row.incident_id)
        return True

    # ----- reverting -----------------------------------------------------------------------------------
    def _refuse_revert(self, incident: Incident, lever: Lever, row: ContainmentAction | None) -> ContainmentAction:
        if row is None:
            raise Conflict(f"`{lever.name}` is not pulled on {incident.ref}; nothing to revert.")
        if row.outcome == REQUESTED:
            raise Conflict(Msg.of("{lever} is still being applied (pulled by {who}); revert it once it has "
                                  "finished.", lever=Code(lever.name), who=User(row.by)))
        if row.reverted_by:
            raise Conflict(Msg.of("{who} is already reverting {lever}.", who=User(row.reverted_by),
                                  lever=Code(lever.name)))
        kind = self.kind(lever)
        if not row.dry_run and not kind.can_revert(lever):
            raise Conflict(f"`{lever.name}` has no revert request; undo it by hand: {kind.fallback(lever)}")
        return row

    def check_revert(self, incident_id: int, lever: Lever) -> None:
        """Everything that can refuse a revert, before it is handed to a lane. Writes nothing."""
        with self.ctx.db.session() as session:
            incident = incidents.get(session, incident_id)
            self._refuse_revert(incident, lever, current_action(session, incident_id, lever.name))

    def revert(self, incident_id: int, lever_name: str, *, actor: str, reason: str = "") -> PullResult:
        """Undo the lever's current pull. Slow (the lever budget): call it on the LEVERS lane."""
        lever = self.lever(lever_name)
        kind = self.kind(lever)
        clock = self.ctx.clock
        with self.ctx.db.session() as session:
            incident = incidents.get(session, incident_id, lock=True)
            row = self._refuse_revert(incident, lever, current_action(session, incident_id, lever.name))
            row.reverted_by = actor
            session.add(row)
            aid, dry, previous = row.id, row.dry_run, dict(row.previous or {})
            facts = _incident_facts(incident)
        assert aid is not None
        pull = Pull(action_id=aid, incident=facts, actor=actor, reason=reason, dry_run=dry)
        try:
            done = kind.revert(lever, pull, previous)
        except Exception as exc:  # noqa: BLE001
            return self._revert_failed(lever, kind, pull, exc, previous)
        with self.ctx.db.session() as session:
            reverted = session.get(ContainmentAction, aid)
            assert reverted is not None
            reverted.reverted_at, reverted.slot, reverted.revert_error = clock.now(), None, None
            timeline.record(session, clock, incident_id, "lever_reverted", f"Lever `{lever.name}` reverted: "
                            f"{done.detail}" + (f" — {reason}" if reason else ""), actor=actor,
                            data=self._data(lever, aid, dry, attempts=done.attempts))
            self._post(session, incident_id, aid, "reverted",
                       messages.reverted(actor, lever.name, done.detail, reason, dry=dry))
            self._refresh(session, incident_id)
        self.ctx.hooks.emit(hooks.LEVER_REVERTED, ctx=self.ctx, incident_id=incident_id, actor=actor,
                            lever=lever.name, action_id=aid, dry_run=dry)
        return PullResult(aid, "reverted", dry)

    def _revert_failed(self, lever: Lever, kind: LeverKind, pull: Pull, exc: Exception,
                       previous: dict[str, Any]) -> PullResult:
        n, aid = pull.incident["id"], pull.action_id
        error, _ = self._error(lever, exc, "reverting")
        with self.ctx.db.session() as session:
            row = session.get(ContainmentAction, aid)
            assert row is not None
            row.reverted_by, row.revert_error = None, error
            # Each failed attempt is told once: the key counts the attempts already recorded.
            tries = sum(1 for e in timeline.events(session, n, kinds=["lever_failed"])
                        if e.data.get("action_id") == aid and e.data.get("phase") == "revert")
            timeline.record(session, self.ctx.clock, n, "lever_failed", f"Reverting lever `{lever.name}` failed: "
                            f"{error}", actor=BOT_ACTOR, data=self._data(lever, aid, pull.dry_run, error=error,
                                                                         phase="revert"))
            self._post(session, n, aid, f"revert-failed-{tries + 1}", messages.revert_failed(
                lever.name, error, kind.revert_plan(lever, previous), secrets.redact(kind.fallback(lever))))
            self._refresh(session, n)
        return PullResult(aid, FAILED, pull.dry_run, error=error)

    # ----- on resolve ------------------------------------------------------------------------------------
    def standing(self, incident_id: int) -> list[tuple[Lever, ContainmentAction]]:
        """Pulls that are still in place (for on-resolve handling)."""
        out = []
        with self.ctx.db.session() as session:
            for row in actions(session, incident_id):
                lever = self.registry.get(row.lever)
                if lever and row.slot and row.outcome in (APPLIED, VERIFIED, NOT_EFFECTIVE, DRY_RUN):
                    out.append((lever, row))
        return out

    def after_resolve(self, incident_id: int, *, may_revert: Callable[[], bool]) -> None:
        """Each lever still in place follows its `on_resolve`: `revert` is reverted (by firebreak, on the
        authority of whoever resolved, when `may_revert()` says they may revert levers; otherwise the IC is
        asked), `ask` asks the IC with Revert / Leave buttons, `leave` stays. Slow: runs on the LEVERS lane."""
        standing = self.standing(incident_id)
        revert = [lever for lever, _ in standing if lever.on_resolve == "revert"]
        allowed = bool(revert) and may_revert()
        with self.ctx.db.session() as session:
            incident = incidents.get(session, incident_id)
            resolution = incident.resolved_at.isoformat() if incident.resolved_at else "open"
            for lever, row in standing:
                if lever.on_resolve == "ask" or (lever.on_resolve == "revert" and not allowed):
                    effects.post(session, incident_id, view=ASK_VIEW, data={"action": row.id},
                                 created_at=self.ctx.clock.now(),
                                 key=f"inc-{incident_id}:lever:{row.id}:ask:{resolution}")
        for lever in revert if allowed else []:
            try:
                self.revert(incident_id, lever.name, actor=BOT_ACTOR, reason=f"{lever.name} reverts on resolve")
            except FirebreakError as err:  # someone reverted it meanwhile: nothing left to do
                log.info("on-resolve revert of %s on INC-%s: %s", lever.name, incident_id, err.message)
