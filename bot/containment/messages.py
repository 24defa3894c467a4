"""What the incident channel is told about a lever, as messages (`Msg`): firebreak's own words as the template,
everything else — the reason someone typed, an upstream's error, a plan naming a flag or a URL — as values,
which every transport shows as text (escaped for Slack, never markup, never a broadcast).

The containment service records each of these with the fact it reports; the transport renders it later.
"""

from __future__ import annotations

from datetime import datetime

from bot.core.durations import format_duration
from bot.core.text import Msg, User, When

DRY_PREFIX = "[DRY RUN] "


def _reason(reason: str) -> Msg | None:
    return Msg.of(" — {reason}", reason=reason) if reason else None


def pulled(actor: str, lever: str, plan: str, reason: str, dry_reason: str | None) -> Msg:
    """Someone pulled a lever (posted once the change has gone out, so no Slack call delays it)."""
    head = Msg.of((DRY_PREFIX if dry_reason else "") + ":large_yellow_circle: {who} pulled lever *{lever}*: {plan}",
                  who=User(actor), lever=lever, plan=plan)
    dry = Msg.of("\n_Dry run: {why}. Nothing will be changed._", why=dry_reason) if dry_reason else None
    return Msg.join([head, _reason(reason), dry], sep="")


def applied(lever: str, requested_at: datetime, applied_at: datetime, attempts: int, detail: str) -> Msg:
    return Msg.of(":large_orange_circle: Lever *{lever}* applied (+{since} after the request, {attempts} "
                  "attempt{s}): {detail}. Verifying…", lever=lever, since=format_duration(applied_at - requested_at),
                  attempts=attempts, s="" if attempts == 1 else "s", detail=detail)


def dry_recorded(lever: str, detail: str) -> Msg:
    return Msg.of(DRY_PREFIX + ":test_tube: Lever *{lever}* recorded: {detail}. Nothing was sent; the incident is "
                  "not marked contained.", lever=lever, detail=detail)


def failed(lever: str, ref: str, error: str, fallback: str, *, phase: str) -> Msg:
    if phase == "apply":
        return Msg.of(":red_circle: Lever *{lever}* FAILED — firebreak could not make the change, so {ref} is *not* "
                      "contained.\nError: {error}\nManual fallback: {fallback}", lever=lever, ref=ref, error=error,
                      fallback=fallback)
    return Msg.of(":red_circle: Lever *{lever}* was applied but could not be verified, so {ref} is *not* marked "
                  "contained.\nError: {error}\nCheck by hand: {fallback}", lever=lever, ref=ref, error=error,
                  fallback=fallback)


def interrupted(lever: str, ref: str, fallback: str) -> Msg:
    return Msg.of(":red_circle: Lever *{lever}* was interrupted — firebreak stopped while applying it, so whether "
                  "the change was made is unknown and {ref} is *not* marked contained.\nCheck by hand: {fallback}\n"
                  "The lever can be pulled again.", lever=lever, ref=ref, fallback=fallback)


def not_effective(lever: str, ref: str, summary: str) -> Msg:
    return Msg.of(":rotating_light: *Lever {lever} applied but not effective*: {summary}. {ref} is NOT contained — "
                  "pull another lever or escalate.", lever=lever, summary=summary, ref=ref)


def worked(lever: str, how: str, ref: str, contained_at: datetime | None, mttc: float | None) -> Msg:
    """The lever did its job; with `contained_at`, it also contained the incident."""
    head = Msg.of(":large_green_circle: Lever *{lever}* {how}.", lever=lever, how=how)
    if contained_at is None:
        return head
    return Msg.join([head, Msg.of(":white_check_mark: {ref} *contained* at {at}. MTTC: {mttc}", ref=ref,
                                  at=When(contained_at), mttc=format_duration(mttc))])


def reverted(actor: str, lever: str, detail: str, reason: str, *, dry: bool) -> Msg:
    head = Msg.of((DRY_PREFIX if dry else "") + ":leftwards_arrow_with_hook: {who} reverted lever *{lever}*: "
                  "{detail}", who=User(actor), lever=lever, detail=detail)
    return Msg.join([head, _reason(reason)], sep="")


def revert_failed(lever: str, error: str, by_hand: str, fallback: str) -> Msg:
    return Msg.of(":red_circle: Reverting lever *{lever}* FAILED: {error}\nIt is still in place. By hand: {by_hand} — "
                  "{fallback}", lever=lever, error=error, by_hand=by_hand, fallback=fallback)
