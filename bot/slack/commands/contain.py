"""The Slack face of containment: `/incident levers`, `/incident contain`, `/incident revert`, the confirmation
(a modal, or buttons), the runbook step's lever button (action_id `firebreak_lever_pull`) and the on-resolve
Revert / Leave buttons.

Handlers parse, ask the permission policy, and render; `bot.containment.service` decides and records. Who may:
- pull: `Action.PULL_LEVER` with the lever's `allowed:` list (no list: the incident channel's members), asked
  when the command is typed or the step's button clicked, and again, about whoever confirms, at confirmation;
- revert (command, and the Revert / Leave buttons): `Action.REVERT_LEVER` (the IC or a commander).
A fact the policy cannot have (Slack not answering a membership question) refuses: nothing is pulled.

A confirmation is server-side state (`bot.slack.pending`): the modal's private_metadata and the buttons' values
are one opaque token, usable once, by the person it was made for. Every pull and revert runs on the LEVERS
lane, so a LaunchDarkly outage (a minute of retries) never holds a listener or anyone's ack.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient
from sqlmodel import select

from bot.app.lanes import LEVERS
from bot.containment.records import current_action
from bot.containment.service import ASK_VIEW, ContainmentService, Prepared, PullResult
from bot.containment.spec import Lever
from bot.core import incidents, limits, timeline
from bot.core.errors import Conflict, FirebreakError, UsageError
from bot.core.policy import AccessFacts, Action
from bot.core.text import Code, Msg, User
from bot.slack import interactions, ops, pending
from bot.slack.commands import Invocation, error_text, require
from bot.slack.commands.args import parse_flags
from bot.slack.context import AppContext
from bot.slack.interactions import Click
from bot.slack.listen import DB_DOWN, DatabaseUnavailable
from bot.slack.text import Mrkdwn, md
from bot.slack.views import containment as views
from bot.store.models import ContainmentAction, RunbookStep

log = logging.getLogger(__name__)

LEVERS_USAGE = "/incident levers"
CONTAIN_USAGE = "/incident contain <lever> [<reason>] [--dry-run]"
REVERT_USAGE = "/incident revert <lever> [<reason>]"
PULL_ACTION = "firebreak_lever_pull"
CONFIRM_KIND = views.CONFIRM_VIEW
# A lever name, a reason at its cap and the switch: anything longer is refused before it is parsed or echoed.
MAX_ARGS = 64 + limits.REASON + 16
FAILED_ON_OUR_SIDE = Mrkdwn(":x: Something went wrong on firebreak's side with that lever; it has been logged. "
                            "Check `/incident levers` before retrying.")
_ROW_ID = re.compile(r"[0-9]{1,12}")

Answer = Callable[..., None]


def service(ctx: AppContext) -> ContainmentService:
    assert ctx.containment is not None, "bot.containment.wiring sets it up"
    return ctx.containment


def may_pull(ctx: AppContext, user_id: str, incident_id: int, access: AccessFacts | None, lever: Lever,
             channel_id: str | None) -> None:
    """The policy's answer for this lever; a refusal (audited) says who may and how."""
    acl, roles = ContainmentService.access(lever)
    require(ctx, Action.PULL_LEVER, user_id, incident_id, access, lever_acl=acl, lever_roles=roles,
            channel_id=channel_id, what=f"lever {lever.name}")


# ----- commands --------------------------------------------------------------------------------------------
def list_levers(inv: Invocation) -> None:
    ctx, svc = inv.ctx, service(inv.ctx)
    number = inv.require_incident()
    if inv.args.strip():
        raise inv.usage_error(Msg.of("{cmd} takes no arguments (got {args}).", cmd=Code(LEVERS_USAGE),
                                     args=Code(limits.shown(inv.args.strip(), 40))))
    if not len(svc.registry):
        inv.reply("No levers are configured. Declare them in the file named by FIREBREAK_LEVERS_FILE "
                  "(see levers.example.yml).")
        return
    with ctx.db.session() as session:
        text, blocks = views.lever_list(svc, session, incidents.get(session, number))
    inv.reply(text, blocks=blocks)


def contain(inv: Invocation) -> None:
    ctx, svc = inv.ctx, service(inv.ctx)
    if len(inv.args) > MAX_ARGS:
        raise UsageError(f"That is {len(inv.args):,} characters; `contain` takes a lever's name and a reason of "
                         f"at most {limits.REASON:,} characters.", usage=CONTAIN_USAGE)
    parsed = parse_flags(inv.args, values=set(), switches={"dry-run"}, usage=CONTAIN_USAGE)
    if not parsed.words:
        names = ", ".join(f"`{n}`" for n in svc.registry.names()) or "none are configured"
        raise UsageError(f"Name the lever to pull (levers: {names}).", usage=CONTAIN_USAGE)
    number = inv.require_incident()
    lever = svc.lever(parsed.words[0], usage=CONTAIN_USAGE)
    reason = limits.clean(" ".join(parsed.words[1:]), limits.REASON, "reason", usage=CONTAIN_USAGE)
    may_pull(ctx, inv.user_id, number, inv.access, lever, inv.channel_id)
    prepared = svc.prepare(number, lever, dry_run=bool(parsed.flags.get("dry-run")), channel_id=inv.channel_id,
                           channel_name=inv.channel_name)
    offer(ctx, inv.client, prepared, user_id=inv.user_id, channel_id=inv.channel_id,
          channel_name=inv.channel_name, trigger_id=inv.trigger_id, reason=reason,
          dry_run=bool(parsed.flags.get("dry-run")), step=None, answer=inv.reply)


def offer(ctx: AppContext, client: WebClient, prepared: Prepared, *, user_id: str, channel_id: str | None,
          channel_name: str | None, trigger_id: str | None, reason: str, dry_run: bool, step: str | None,
          answer: Answer) -> None:
    """Confirm (a modal; buttons if Slack will not open one) or, for `confirm: false`, pull at once."""
    lever = prepared.lever
    plan = service(ctx).plan(lever)
    if lever.confirm:
        token = pending.stash(ctx, CONFIRM_KIND, {"lever": lever.name, "reason": reason, "dry_run": dry_run,
                                                  "channel": channel_id, "channel_name": channel_name, "step": step},
                              incident_id=prepared.incident_id, user_id=user_id)
        if trigger_id and ops.safe_call(ctx, prepared.incident_id, "views.open (lever confirmation)",
                                        client.views_open, trigger_id=trigger_id,
                                        view=views.confirmation_view(prepared, plan, reason, token)) is not None:
            return
        text, blocks = views.confirmation_message(prepared, plan, token)
        answer(text, blocks=blocks)
        return
    # The pull goes to its lane first, so the change is under way while the person is told it is.
    told = threading.Event()
    ctx.lanes.run(LEVERS, pull_and_answer, ctx, answer, told, prepared.incident_id, lever.name, actor=user_id,
                  reason=reason, dry_run=dry_run, channel_id=channel_id, channel_name=channel_name, step=step)
    try:
        answer(md("Pulling {lever} on {ref}…", lever=Code(lever.name), ref=prepared.ref))
    finally:
        told.set()


def result_text(name: str, result: PullResult) -> Mrkdwn:
    if result.dry_run:
        return md("Dry run of {lever} recorded; nothing was sent.", lever=Code(name))
    if result.error:
        return md(":red_circle: {lever}: {outcome} — {error}", lever=Code(name),
                  outcome=result.outcome.replace("_", " "), error=result.error)
    return md("{lever} {outcome}" + (" — the incident is now contained." if result.contained else "."),
              lever=Code(name), outcome=result.outcome)


def _guarded(answer: Answer, work: Callable[[], Mrkdwn]) -> None:
    """Run lane work and tell the person how it went, whatever happened."""
    try:
        text = work()
    except FirebreakError as err:
        text = error_text(err)
    except DatabaseUnavailable:
        log.warning("a lever action could not reach the database", exc_info=True)
        text = Mrkdwn(DB_DOWN)
    except Exception:  # noqa: BLE001 - the person is told; the log has the details
        log.exception("a lever action failed")
        text = FAILED_ON_OUR_SIDE
    answer(text)


def pull_and_answer(ctx: AppContext, answer: Answer, told: threading.Event | None, incident_id: int, lever: str,
                    **kwargs: Any) -> None:
    """On the LEVERS lane: pull, then answer (after the "Pulling…" line, never before it)."""

    def work() -> Mrkdwn:
        result = service(ctx).pull(incident_id, lever, **kwargs)
        if told is not None:
            told.wait(10)
        return result_text(lever, result)

    _guarded(answer, work)


def revert(inv: Invocation) -> None:
    ctx, svc = inv.ctx, service(inv.ctx)
    name, _, rest = inv.args.strip().partition(" ")
    if not name:
        raise UsageError("Name the lever to revert.", usage=REVERT_USAGE)
    number = inv.require_incident()
    lever = svc.lever(name, usage=REVERT_USAGE)
    reason = limits.clean(rest, limits.REASON, "reason", usage=REVERT_USAGE)
    svc.check_revert(number, lever)
    told = threading.Event()
    ctx.lanes.run(LEVERS, revert_and_answer, ctx, inv.reply, told, number, lever.name, actor=inv.user_id,
                  reason=reason)
    try:
        inv.reply(md("Reverting {lever} on INC-{n}…", lever=Code(lever.name), n=number))
    finally:
        told.set()


def revert_and_answer(ctx: AppContext, answer: Answer, told: threading.Event | None, incident_id: int, lever: str,
                      *, actor: str, reason: str) -> None:
    def work() -> Mrkdwn:
        result = service(ctx).revert(incident_id, lever, actor=actor, reason=reason)
        if told is not None:
            told.wait(10)
        if result.error:
            return md(":red_circle: Reverting {lever} failed: {error}", lever=Code(lever), error=result.error)
        return md("{lever} reverted" + (" (dry run)." if result.dry_run else "."), lever=Code(lever))

    _guarded(answer, work)


# ----- the confirmation ------------------------------------------------------------------------------------
def _modal_reason(values: dict[str, Any]) -> str:
    field = (values.get(views.REASON_BLOCK) or {}).get("value") or {}
    value = field.get("value") if isinstance(field, dict) else None
    return value if isinstance(value, str) else ""


def check_reason(values: dict[str, Any]) -> dict[str, str] | None:
    """Before the modal closes: a reason over its cap or with control characters is shown in the form."""
    try:
        limits.clean(_modal_reason(values), limits.REASON, "reason")
    except UsageError as err:
        return {views.REASON_BLOCK: err.message}
    return None


def confirmed(click: Click, reason: str) -> None:
    """Pull what the token stands for, if the person confirming may (asked again now), once."""
    ctx = click.ctx
    assert click.state is not None and click.incident_id is not None
    p = click.state.payload
    lever = service(ctx).lever(str(p.get("lever")))
    may_pull(ctx, click.user_id, click.incident_id, click.access, lever, click.channel_id)
    pending.take(ctx, click.state.id, CONFIRM_KIND, user_id=click.user_id)  # a second click finds it used
    pull_and_answer(ctx, lambda text: click.reply(text, replace=click.body.get("type") == "block_actions"), None,
                    click.incident_id, lever.name, actor=click.user_id, reason=reason,
                    dry_run=bool(p.get("dry_run")), channel_id=p.get("channel"), channel_name=p.get("channel_name"),
                    step=p.get("step"))


def confirmed_in_modal(click: Click) -> None:
    confirmed(click, limits.clean(_modal_reason(click.value or {}), limits.REASON, "reason"))


def confirmed_by_button(click: Click) -> None:
    assert click.state is not None
    confirmed(click, str(click.state.payload.get("reason") or ""))


def cancelled(click: Click) -> None:
    assert click.state is not None
    pending.take(click.ctx, click.state.id, CONFIRM_KIND, user_id=click.user_id)
    click.reply(md("Cancelled: {lever} was not pulled.", lever=Code(str(click.state.payload.get("lever")))),
                replace=True)


# ----- the runbook step's lever button ---------------------------------------------------------------------
def _step(ctx: AppContext, value: Any) -> RunbookStep:
    """The checklist step a lever button stands for: its row id (or, from checklists posted before, the
    incident and step id), looked up on the server. The lever is the step's, never the payload's."""
    with ctx.db.session() as session:
        row = None
        if isinstance(value, str) and _ROW_ID.fullmatch(value):
            row = session.get(RunbookStep, int(value))
        elif isinstance(value, str) and len(value) <= 500:
            try:
                data = json.loads(value)
                number, step = int(data["incident"]), str(data["step"])
            except (ValueError, KeyError, TypeError):
                raise pending.Stale() from None
            if 0 < number <= incidents.MAX_ID:
                row = session.exec(select(RunbookStep).where(RunbookStep.incident_id == number,
                                                             RunbookStep.step_id == step)).first()
    if row is None or not row.lever:
        raise pending.Stale()
    return row


def step_clicked(click: Click) -> None:
    ctx = click.ctx
    step = _step(ctx, click.value)
    assert step.lever is not None and click.incident_id is not None
    lever = service(ctx).lever(step.lever)
    may_pull(ctx, click.user_id, click.incident_id, click.access, lever, click.channel_id)
    prepared = service(ctx).prepare(click.incident_id, lever, channel_id=click.channel_id)
    offer(ctx, click.client, prepared, user_id=click.user_id, channel_id=click.channel_id, channel_name=None,
          trigger_id=click.trigger_id, reason="", dry_run=False, step=step.step_id,
          answer=lambda text, blocks=None: click.reply(text, blocks))


# ----- the pinned summary's "Pull a lever…" menu ---------------------------------------------------------
_CHOICE = re.compile(r"([0-9]{1,12}):([A-Za-z0-9_.-]{1,64})")


def _choice(value: Any) -> tuple[int, str]:
    """The menu option's value, `<incident>:<lever>`: only keys; the lever and the policy are checked again."""
    m = _CHOICE.fullmatch(str(value or ""))
    if m is None:
        raise pending.Stale()
    return int(m.group(1)), m.group(2)


def _by_choice(_ctx: AppContext, value: Any) -> tuple[None, int]:
    return None, _choice(value)[0]


def summary_pull(click: Click) -> None:
    """Exactly what `/incident contain <lever>` does, for the person who chose the lever on the summary."""
    ctx = click.ctx
    assert click.incident_id is not None
    lever = service(ctx).lever(_choice(click.value)[1])
    may_pull(ctx, click.user_id, click.incident_id, click.access, lever, click.channel_id)
    prepared = service(ctx).prepare(click.incident_id, lever, channel_id=click.channel_id)
    offer(ctx, click.client, prepared, user_id=click.user_id, channel_id=click.channel_id, channel_name=None,
          trigger_id=click.trigger_id, reason="", dry_run=False, step=None,
          answer=lambda text, blocks=None: click.reply(text, blocks))


# ----- on resolve: Revert / Leave it -----------------------------------------------------------------------
def _row(session: Any, value: Any) -> ContainmentAction:
    """The action row a Revert / Leave button names by id; Stale for anything else."""
    if not isinstance(value, str) or not _ROW_ID.fullmatch(value):
        raise pending.Stale()
    row = session.get(ContainmentAction, int(value))
    if row is None:
        raise pending.Stale()
    return row


def _standing(ctx: AppContext, value: Any) -> ContainmentAction:
    """The pull a Revert / Leave button stands for (the action row's id), if it is still in place."""
    with ctx.db.session() as session:
        row = _row(session, value)
        current = current_action(session, row.incident_id, row.lever)
    if current is None or current.id != row.id:
        raise Conflict(Msg.of("{lever} is no longer in place on INC-{n}: nothing to do.", lever=Code(row.lever),
                              n=row.incident_id))
    return row


def _by_row(ctx: AppContext, value: Any) -> tuple[None, int]:
    with ctx.db.session() as session:
        return None, _row(session, value).incident_id


def _by_step(ctx: AppContext, value: Any) -> tuple[None, int]:
    return None, _step(ctx, value).incident_id


def revert_clicked(click: Click) -> None:
    ctx = click.ctx
    row = _standing(ctx, click.value)

    def work() -> Mrkdwn:
        result = service(ctx).revert(row.incident_id, row.lever, actor=click.user_id, reason="reverted on resolve")
        if result.error:
            return md("{who} chose to revert {lever} — it failed: {error}", who=User(click.user_id),
                      lever=Code(row.lever), error=result.error)
        return md("{who} chose to revert {lever}.", who=User(click.user_id), lever=Code(row.lever))

    _guarded(lambda text: click.reply(text, replace=True), work)


def leave_clicked(click: Click) -> None:
    ctx = click.ctx
    row = _standing(ctx, click.value)
    with ctx.db.session() as session:
        timeline.record(session, ctx.clock, row.incident_id, "note",
                        f"{click.user_id} chose to leave lever `{row.lever}` in place after resolve",
                        actor=click.user_id, data={"lever": row.lever, "action_id": row.id, "left": True})
    click.reply(md("{who} left {lever} in place.", who=User(click.user_id), lever=Code(row.lever)), replace=True)


def register(app: App, ctx: AppContext) -> None:
    ctx.commands.add("levers", list_levers, usage=LEVERS_USAGE, allow_resolved=True, action=Action.VIEW,
                     summary="list the containment levers and their state for this incident")
    # Pulling asks the policy with the lever's own access list (in the handler, once the lever is known); the
    # incident must be open, which the service checks after the policy has answered.
    ctx.commands.add("contain", contain, usage=CONTAIN_USAGE, allow_resolved=True,
                     summary="pull a containment lever (LaunchDarkly kill, filter tightening, webhook)")
    ctx.commands.add("revert", revert, usage=REVERT_USAGE, allow_resolved=True, action=Action.REVERT_LEVER,
                     summary="undo a lever pulled on this incident (IC or commanders)")
    interactions.modal(app, ctx, views.CONFIRM_VIEW, confirmed_in_modal, kind=CONFIRM_KIND, validate=check_reason,
                       lane=LEVERS)
    interactions.button(app, ctx, views.CONFIRM_BUTTON, confirmed_by_button,
                        resolve=interactions.by_token(CONFIRM_KIND), action=None, lane=LEVERS)
    interactions.button(app, ctx, views.CANCEL_BUTTON, cancelled, resolve=interactions.by_token(CONFIRM_KIND),
                        action=None)
    interactions.button(app, ctx, PULL_ACTION, step_clicked, resolve=_by_step, action=None)
    interactions.button(app, ctx, views.SUMMARY_PULL, summary_pull, resolve=_by_choice, action=None)
    interactions.button(app, ctx, views.REVERT_ACTION, revert_clicked, resolve=_by_row,
                        action=Action.REVERT_LEVER, lane=LEVERS)
    interactions.button(app, ctx, views.LEAVE_ACTION, leave_clicked, resolve=_by_row, action=Action.REVERT_LEVER)
    assert ctx.slack_effects is not None
    ctx.slack_effects.views[ASK_VIEW] = views.ask_view
    ctx.summary_sections.append(views.summary_section)
