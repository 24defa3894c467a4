"""Runbooks in Slack: `/incident runbook [use <key> [--add]]`, `/incident step …`, `/incident runbooks`, the
checklist's step menu (Done / Skip… / Assign… / Pull lever…) and the Skip and Assign modals.

The domain (bot.runbooks.flows) decides and records; this module parses, asks the permission policy and
answers. Every menu click and form submission goes through bot.slack.interactions: the option value names only
a step row (`<verb>:<row id>`), resolved on the server to its incident, and the policy's RUNBOOK_STEP is asked
about the person who clicked; the modals carry an opaque token (bot.slack.pending) bound to that person.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from slack_bolt import App
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.core import incidents, limits
from bot.core.errors import Conflict, FirebreakError, NotAllowed, UsageError
from bot.core.policy import Action
from bot.core.text import Code, Msg, User
from bot.runbooks import checklist, flows, service
from bot.slack import interactions, pending
from bot.slack.commands import Invocation, split_first
from bot.slack.commands.args import parse_flags, tokenize
from bot.slack.context import AppContext
from bot.slack.interactions import Click
from bot.slack.text import Mrkdwn, clip, md
from bot.slack.views import checklist as views
from bot.store.models.pending import PendingAction
from bot.store.models.runbook import PENDING, RunbookStep

RUNBOOK_USAGE = "/incident runbook [use <key> [--add]]"
STEP_USAGE = "/incident step <id> done | skip <reason> | assign @user"
LIST_USAGE = "/incident runbooks"
SKIP_VIEW = "firebreak_step_skip_modal"
ASSIGN_VIEW = "firebreak_step_assign_modal"
SKIP_KIND, ASSIGN_KIND = "runbook_skip", "runbook_assign"
_VALUE = re.compile(r"^(done|skip|assign|lever):([0-9]{1,12})$")
_USER = re.compile(r"^[UW][A-Z0-9]{2,30}$")


def with_usage(usage: str) -> Callable[[Callable[[Invocation], None]], Callable[[Invocation], None]]:
    """Domain errors (unknown step, already done, not in the incident) also show the command's usage."""
    def wrap(fn: Callable[[Invocation], None]) -> Callable[[Invocation], None]:
        def run(inv: Invocation) -> None:
            try:
                fn(inv)
            except FirebreakError as err:
                if err.usage is None:
                    err.usage = usage
                raise
        run.__name__ = fn.__name__
        run.__doc__ = fn.__doc__
        return run
    return wrap


# ----- slash subcommands ---------------------------------------------------------------------------------
@with_usage(RUNBOOK_USAGE)
def runbook_command(inv: Invocation) -> None:
    ctx = inv.ctx
    number = inv.require_incident()
    verb, rest = split_first(inv.args)
    if not verb:
        with ctx.db.session() as session:
            inv.reply(views.progress_text(ctx, session, incidents.get(session, number)))
        return
    if verb.lower() != "use":
        raise UsageError(Msg.of("Unknown runbook action {verb}.", verb=Code(limits.shown(verb, 30))),
                         usage=RUNBOOK_USAGE)
    parsed = parse_flags(rest, values=set(), switches={"add"}, usage=RUNBOOK_USAGE)
    if len(parsed.words) != 1:
        raise UsageError("Name one runbook key (`/incident runbooks` lists them).", usage=RUNBOOK_USAGE)
    add = bool(parsed.flags.get("add"))
    runbook, change = flows.use_runbook(ctx, number, parsed.words[0], add=add, actor=inv.user_id)
    dropped = Msg.of(", {n} dropped", n=len(change.dropped)) if change.dropped else None
    inv.reply(Msg.join([Msg.of("Runbook {key} {verb}: {added} steps added, {kept} kept", key=Code(runbook.key),
                               verb="added" if add else "switched to", added=len(change.added), kept=len(change.kept)),
                        dropped, Msg.of(".")], sep=""))


@with_usage(STEP_USAGE)
def step_command(inv: Invocation) -> None:
    ctx = inv.ctx
    number = inv.require_incident()
    step_id, rest = split_first(inv.args)
    action, detail = split_first(rest)
    if not step_id or not action:
        raise UsageError("Name a step and what to do with it.", usage=STEP_USAGE)
    action = action.lower()
    if action == "done":
        if detail:
            raise UsageError(Msg.of("{done} takes no more words (got {got}).", done=Code("done"),
                                    got=Code(limits.shown(detail, 30))), usage=STEP_USAGE)
        row = flows.finish_step(ctx, number, step_id, actor=inv.user_id)
        inv.reply(Msg.of("{step} done.", step=Code(row.step_id)))
    elif action == "skip":
        reason = limits.clean(detail, limits.REASON, "skip reason", usage=STEP_USAGE,
                              required=f"Say why `{limits.shown(step_id, 64)}` is skipped.")
        row = flows.finish_step(ctx, number, step_id, actor=inv.user_id, skip=True, reason=reason)
        inv.reply(Msg.of("{step} skipped.", step=Code(row.step_id)))
    elif action == "assign":
        words = tokenize(detail)
        if len(words) != 1:
            raise UsageError("Mention exactly one person to own the step.", usage=STEP_USAGE)
        user = inv.mention(words[0], STEP_USAGE)
        row = flows.assign_step(ctx, number, step_id, user, actor=inv.user_id, directory=ctx.directory)
        inv.reply(Msg.of("{who} owns {step}.", who=User(user), step=Code(row.step_id)))
    else:
        raise UsageError(Msg.of("Unknown step action {action}; use done, skip or assign.",
                                action=Code(limits.shown(action, 30))), usage=STEP_USAGE)


def list_command(inv: Invocation) -> None:
    lib = flows.library(inv.ctx)
    lines = [md("*Runbooks* ({use} attaches one):", use=Code("/incident runbook use <key>"))]
    for rb in lib.runbooks.values():
        sevs = ",".join(str(s) for s in sorted(rb.severities))
        auto = " · manual only" if not rb.auto else ""
        org = " · organization" if rb.origin == "organization" else ""
        summary = md("\n    {summary}", summary=rb.summary) if rb.summary else Mrkdwn("")
        lines.append(md("• {key} — *{title}* · {categories} · SEV{sevs} · {n} steps" + auto + org, key=Code(rb.key),
                        title=rb.title, categories=", ".join(rb.categories), sevs=sevs, n=len(rb.steps)) + summary)
    inv.reply(Mrkdwn("\n").join(lines))


# ----- the step menu -------------------------------------------------------------------------------------
def parse_value(value: Any) -> tuple[str, int]:
    """`<verb>:<row id>`, or Stale: a crafted or foreign value is "out of date", never an action."""
    m = _VALUE.match(value) if isinstance(value, str) else None
    if m is None:
        raise pending.Stale()
    return m.group(1), int(m.group(2))


def resolve_step(ctx: AppContext, value: Any) -> tuple[PendingAction | None, int | None]:
    """The incident a step menu acts on, found on the server from the step's row."""
    _verb, row_id = parse_value(value)
    with ctx.db.session() as session:
        row = service.step_by_row(session, row_id)
    if row is None:
        raise pending.Stale()
    return None, row.incident_id


def menu_action(click: Click) -> Action:
    """Every choice in a step menu works the runbook (RUNBOOK_STEP); pulling a lever then also passes
    `/incident contain`'s own check (PULL_LEVER and the lever's access list)."""
    parse_value(click.value)
    return Action.RUNBOOK_STEP


def _row(ctx: AppContext, row_id: int, incident_id: int | None) -> RunbookStep:
    with ctx.db.session() as session:
        row = service.step_by_row(session, row_id)
    if row is None or row.incident_id != incident_id:
        raise pending.Stale()
    return row


def on_menu(click: Click) -> None:
    ctx = click.ctx
    verb, row_id = parse_value(click.value)
    row = _row(ctx, row_id, click.incident_id)
    assert row.incident_id is not None
    if verb == views.DONE_VERB:
        flows.finish_step(ctx, row.incident_id, row.step_id, actor=click.user_id)
        return
    if verb == views.LEVER_VERB:
        pull_lever(click, row)
        return
    with ctx.db.session() as session:
        incidents.require_open(incidents.get(session, row.incident_id))
        current = service.find_step(session, row.incident_id, row.step_id)
        if current.state != PENDING:
            raise Conflict(service.finished_text(current))
    if not click.trigger_id:
        raise UsageError("This button cannot open a form here; use the command instead.", usage=STEP_USAGE)
    kind = SKIP_KIND if verb == views.SKIP_VERB else ASSIGN_KIND
    token = pending.stash(ctx, kind, {"row": row.id, "channel": click.channel_id}, incident_id=row.incident_id,
                          user_id=click.user_id)
    view = skip_modal(row, token) if kind == SKIP_KIND else assign_modal(row, token)
    try:
        click.client.views_open(trigger_id=click.trigger_id, view=view)
    except (SlackApiError, SlackClientError, OSError) as err:
        raise Conflict(Msg.of("Slack did not open the form; use {cmd} instead.",
                              cmd=Code(f"/incident step {row.step_id} {verb}"))) from err


def pull_lever(click: Click, row: RunbookStep) -> None:
    """Pull the step's lever exactly as `/incident contain <lever>` would (the same checks, confirmation and
    answers), for the person who clicked."""
    ctx = click.ctx
    sub = ctx.commands.get("contain")
    if sub is None or not row.lever or not views.lever_known(ctx, row.lever):
        raise Conflict(Msg.of("Lever {lever} is not configured here.", lever=Code(row.lever or "")))
    inv = Invocation(ctx=ctx, sub=sub, args=row.lever, user_id=click.user_id, channel_id=click.channel_id or "",
                     channel_name="", trigger_id=click.trigger_id, client=click.client,
                     respond=lambda **kw: click.reply(kw.get("text") or "", kw.get("blocks")),
                     incident_id=row.incident_id, access=click.access)
    action = sub.action(inv) if callable(sub.action) else sub.action
    if action is not None:
        inv.require(action)
    if not sub.allow_resolved:
        with ctx.db.session() as session:
            incidents.require_open(incidents.get(session, row.incident_id))
    try:
        sub.handler(inv)
    except FirebreakError as err:
        if err.usage is None:
            err.usage = sub.usage
        raise


# ----- the Skip and Assign modals ------------------------------------------------------------------------
def _modal(callback_id: str, title: str, submit: str, token: str, row: RunbookStep, block: dict) -> dict:
    return {"type": "modal", "callback_id": callback_id, "title": {"type": "plain_text", "text": title},
            "submit": {"type": "plain_text", "text": submit}, "close": {"type": "plain_text", "text": "Cancel"},
            "private_metadata": token,
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": clip(
                md("*{step}* {text}", step=Code(row.step_id), text=row.text), 2900)}}, block]}


def skip_modal(row: RunbookStep, token: str) -> dict:
    return _modal(SKIP_VIEW, "Skip a step", "Skip", token, row, {
        "type": "input", "block_id": "reason", "label": {"type": "plain_text", "text": "Why skip it?"},
        "element": {"type": "plain_text_input", "action_id": "value", "multiline": True,
                    "max_length": limits.REASON}})


def assign_modal(row: RunbookStep, token: str) -> dict:
    return _modal(ASSIGN_VIEW, "Hand off a step", "Assign", token, row, {
        "type": "input", "block_id": "user", "label": {"type": "plain_text", "text": "New owner"},
        "hint": {"type": "plain_text", "text": "Someone in the incident: a member of its channel or a role holder."},
        "element": {"type": "users_select", "action_id": "value"}})


def _answer(values: dict[str, Any], block: str, key: str) -> Any:
    state = (values.get(block) or {}).get("value")
    return state.get(key) if isinstance(state, dict) else None


def validate_skip(values: dict[str, Any]) -> dict[str, str] | None:
    reason = _answer(values, "reason", "value")
    if reason is not None and not isinstance(reason, str):
        return {"reason": "Say why the step is skipped."}
    try:
        limits.clean(reason or "", limits.REASON, "reason", required="Say why the step is skipped.")
    except UsageError as err:
        return {"reason": err.message}
    return None


def validate_assign(values: dict[str, Any]) -> dict[str, str] | None:
    user = _answer(values, "user", "selected_user")
    if not isinstance(user, str) or not _USER.match(user):
        return {"user": "Choose who should own the step."}
    return None


def on_skip(click: Click) -> None:
    assert click.state is not None
    row = _row(click.ctx, _state_row(click.state), click.incident_id)
    assert row.incident_id is not None
    flows.finish_step(click.ctx, row.incident_id, row.step_id, actor=click.user_id, skip=True,
                      reason=str(_answer(click.value, "reason", "value") or ""))


def on_assign(click: Click) -> None:
    assert click.state is not None
    row = _row(click.ctx, _state_row(click.state), click.incident_id)
    assert row.incident_id is not None
    user = str(_answer(click.value, "user", "selected_user") or "")
    try:
        flows.assign_step(click.ctx, row.incident_id, row.step_id, user, actor=click.user_id,
                          directory=click.ctx.directory)
    except NotAllowed as err:
        err.usage = err.usage or STEP_USAGE
        raise


def _state_row(state: PendingAction) -> int:
    value = (state.payload or {}).get("row")
    if not isinstance(value, int):
        raise pending.Stale()
    return value


# ----- registration --------------------------------------------------------------------------------------
def register(app: App, ctx: AppContext) -> None:
    assert ctx.slack_effects is not None
    ctx.slack_effects.views[checklist.VIEW] = views.view
    ctx.slack_effects.thens[checklist.THEN] = views.keep_ts
    ctx.commands.add("runbook", runbook_command, usage=RUNBOOK_USAGE,
                     summary="show the runbook checklist, or switch to (or --add) another runbook",
                     action=lambda inv: Action.RUNBOOK_STEP if inv.args.strip() else Action.VIEW)
    ctx.commands.add("step", step_command, usage=STEP_USAGE,
                     summary="finish, skip (with a reason) or hand off a runbook step",
                     action=Action.RUNBOOK_STEP)
    ctx.commands.add("runbooks", list_command, usage=LIST_USAGE, incident="none",
                     summary="list the runbooks available")
    interactions.button(app, ctx, views.MENU_ACTION, on_menu, resolve=resolve_step, action=menu_action)
    interactions.modal(app, ctx, SKIP_VIEW, on_skip, kind=SKIP_KIND, validate=validate_skip,
                       action=Action.RUNBOOK_STEP)
    interactions.modal(app, ctx, ASSIGN_VIEW, on_assign, kind=ASSIGN_KIND, validate=validate_assign,
                       action=Action.RUNBOOK_STEP)
    ctx.summary_sections.append(views.summary_section)
