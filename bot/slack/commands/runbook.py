"""Runbooks in Slack: `/incident runbook`, `/incident runbook use <key>`, `/incident step ...`,
`/incident runbooks`, the checklist buttons and the Skip / Assign modals, and the hooks that attach a
runbook on open and re-evaluate it on a severity change."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.core import hooks, incidents
from bot.core.errors import ConfigError, FirebreakError, NotAllowed, NotFound, UsageError
from bot.core.policy import Action
from bot.core.text import Msg, User
from bot.postmortem.providers import register_provider
from bot.runbooks import checklist, nudges, service
from bot.runbooks.loader import Library, RunbookErrors, load_library
from bot.slack import ops, render
from bot.slack.commands import Invocation, split_first
from bot.slack.commands.args import parse_flags, tokenize
from bot.slack.context import AppContext
from bot.store.models.timeline import BOT_ACTOR

log = logging.getLogger(__name__)

RUNBOOK_USAGE = "/incident runbook [use <key> [--add]]"
STEP_USAGE = "/incident step <id> done | skip <reason> | assign @user"
LIST_USAGE = "/incident runbooks"
SKIP_VIEW = "firebreak_step_skip_modal"
ASSIGN_VIEW = "firebreak_step_assign_modal"


def library(ctx: AppContext) -> Library:
    return ctx.runbooks


# ----- flows shared by commands, buttons and hooks --------------------------------------------------------

def attach_matching(ctx: AppContext, incident_id: int, *, actor: str) -> str | None:
    """On open: attach the runbook for the incident's category and severity, post the checklist."""
    with ctx.db.session() as session:
        incident = incidents.get(session, incident_id, lock=True)
        runbook = library(ctx).match(incident.category, incident.severity)
        if runbook is None:
            category, sev = incident.category, incident.sev
        else:
            service.attach(session, ctx.clock, incident, runbook, actor=actor, auto=True, replace=False)
    if runbook is None:
        ops.post_in_incident(ctx, incident_id, f":clipboard: No runbook applies to `{category}` at {sev}. "
                             "`/incident runbooks` lists them; `/incident runbook use <key>` attaches one.")
        return None
    checklist.publish(ctx, incident_id)
    nudges.schedule(ctx, incident_id)
    ops.refresh(ctx, incident_id)
    return runbook.key


def on_severity_changed(ctx: AppContext, incident_id: int, old: int, new: int, actor: str, **_: Any) -> None:
    """The severity command has already refreshed the pinned summary; it is refreshed again only when the
    runbook line in it changed (steps added or dropped, due times moved, another runbook attached)."""
    with ctx.db.session() as session:
        incident = incidents.get(session, incident_id, lock=True)
        before = checklist.summary_section(ctx, session, incident)
        changes = service.reevaluate(session, ctx.clock, library(ctx), incident, old, actor=actor)
        summary_changed = bool(changes) and checklist.summary_section(ctx, session, incident) != before
    if changes:
        lines = [f":clipboard: Runbook re-evaluated for SEV{old} → SEV{new}:"]
        lines += [line for c in changes for line in c.lines()]
        ops.post_in_incident(ctx, incident_id, render.clip("\n".join(lines)))
    checklist.publish(ctx, incident_id)
    nudges.schedule(ctx, incident_id)
    if summary_changed:
        ops.refresh(ctx, incident_id)


def user_in_incident(ctx: AppContext, incident_id: int, user_id: str) -> bool:
    """A role holder or a member of the incident channel."""
    with ctx.db.session() as session:
        incident = incidents.get(session, incident_id)
        if user_id in incidents.roles(session, incident_id).values():
            return True
        channel = incident.channel_id
    if not channel:
        return False
    cursor = None
    for _page in range(50):
        try:
            resp = ctx.client.conversations_members(channel=channel, cursor=cursor, limit=1000)
        except (SlackApiError, SlackClientError, OSError) as err:
            raise FirebreakError(f"Could not check who is in the incident channel ({ops.slack_error_text(err)}); "
                                 "try again.") from err
        if user_id in (resp.get("members") or []):
            return True
        cursor = (resp.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            return False
    return False


def finish_step(ctx: AppContext, incident_id: int, step_id: str, user_id: str, *, skip: bool,
                reason: str | None = None) -> tuple[str, str]:
    """The database part of Done / Skip: validated and committed, or an error with nothing written."""
    with ctx.db.session() as session:
        incidents.require_open(incidents.get(session, incident_id))
        row = service.finish(session, ctx.clock, incident_id, step_id, actor=user_id, skip=skip, reason=reason)
        return row.step_id, row.text


def after_finish(ctx: AppContext, incident_id: int, step: str, text: str, user_id: str, *,
                 reason: str | None = None) -> None:
    """The Slack part, after the commit (and after the ack for modal submissions)."""
    if reason:
        ops.post_in_incident(ctx, incident_id, f":fast_forward: <@{user_id}> skipped `{step}` "
                             f"({render.clip(text, 120)}): {reason}")
    checklist.publish(ctx, incident_id)
    nudges.schedule(ctx, incident_id)
    ops.refresh(ctx, incident_id)


def do_finish(ctx: AppContext, incident_id: int, step_id: str, user_id: str, *, skip: bool,
              reason: str | None = None) -> str:
    step, text = finish_step(ctx, incident_id, step_id, user_id, skip=skip, reason=reason)
    after_finish(ctx, incident_id, step, text, user_id, reason=reason if skip else None)
    return f"`{step}` {'skipped' if skip else 'done'}."


def assign_step(ctx: AppContext, incident_id: int, step_id: str, user: str, actor: str) -> tuple[str, str]:
    """The checked part of Assign: the step exists and is pending, the user is in the incident; committed."""
    with ctx.db.session() as session:
        incidents.require_open(incidents.get(session, incident_id))
        service.find_step(session, incident_id, step_id)  # unknown step first: a clearer answer
    if not user_in_incident(ctx, incident_id, user):
        raise NotAllowed(Msg.of("{who} is not in INC-{n}: invite them to the incident channel or give them a "
                                "role first.", who=User(user), n=incident_id))
    with ctx.db.session() as session:
        row, _previous = service.assign(session, ctx.clock, incident_id, step_id, user, actor=actor)
        return row.step_id, row.text


def after_assign(ctx: AppContext, incident_id: int, step: str, text: str, user: str, actor: str) -> None:
    ops.post_in_incident(ctx, incident_id, f":bust_in_silhouette: <@{user}> now owns `{step}` "
                         f"({render.clip(text, 160)}) — handed off by <@{actor}>.")
    checklist.publish(ctx, incident_id)


def do_assign(ctx: AppContext, incident_id: int, step_id: str, user: str, actor: str) -> str:
    step, text = assign_step(ctx, incident_id, step_id, user, actor)
    after_assign(ctx, incident_id, step, text, user, actor)
    return f"<@{user}> owns `{step}`."


# ----- slash subcommands ---------------------------------------------------------------------------------

def with_usage(usage: str):
    """Domain errors (unknown step, already done, not in the incident) also show the command's usage."""
    def wrap(fn):
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


@with_usage(RUNBOOK_USAGE)
def runbook_command(inv: Invocation) -> None:
    ctx = inv.ctx
    number = inv.require_incident()
    verb, rest = split_first(inv.args)
    if not verb:
        with ctx.db.session() as session:
            inv.reply(checklist.progress_text(ctx, session, incidents.get(session, number)))
        return
    if verb.lower() != "use":
        raise UsageError(f"Unknown runbook action `{verb}`.", usage=RUNBOOK_USAGE)
    parsed = parse_flags(rest, values=set(), switches={"add"}, usage=RUNBOOK_USAGE)
    if len(parsed.words) != 1:
        raise UsageError("Name one runbook key (`/incident runbooks` lists them).", usage=RUNBOOK_USAGE)
    key = parsed.words[0].lower()
    runbook = library(ctx).get(key)
    if runbook is None:
        raise NotFound(f"There is no runbook `{key}`. Runbooks: {', '.join(library(ctx).runbooks)}.",
                       usage=RUNBOOK_USAGE)
    add = bool(parsed.flags.get("add"))
    with ctx.db.session() as session:
        incident = incidents.get(session, number, lock=True)
        change = service.attach(session, ctx.clock, incident, runbook, actor=inv.user_id, auto=False,
                                replace=not add)
    verb_text = "added" if add else "switched to"
    lines = [f":clipboard: <@{inv.user_id}> {verb_text} runbook *{runbook.title}* (`{runbook.key}`)."]
    lines += change.lines()
    ops.post_in_incident(ctx, number, render.clip("\n".join(lines)))
    checklist.publish(ctx, number)
    nudges.schedule(ctx, number)
    ops.refresh(ctx, number)
    inv.reply(f"Runbook `{runbook.key}` {verb_text}: {len(change.added)} steps added, {len(change.kept)} kept"
              + (f", {len(change.dropped)} dropped." if change.dropped else "."))


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
            raise UsageError(f"`done` takes no more words (got `{detail}`).", usage=STEP_USAGE)
        inv.reply(do_finish(ctx, number, step_id, inv.user_id, skip=False))
    elif action == "skip":
        if not detail:
            raise UsageError(f"Say why `{step_id}` is skipped.", usage=STEP_USAGE)
        inv.reply(do_finish(ctx, number, step_id, inv.user_id, skip=True, reason=detail))
    elif action == "assign":
        words = tokenize(detail)
        if len(words) != 1:
            raise UsageError("Mention exactly one person to own the step.", usage=STEP_USAGE)
        user = inv.mention(words[0], STEP_USAGE)
        inv.reply(do_assign(ctx, number, step_id, user, inv.user_id))
    else:
        raise UsageError(f"Unknown step action `{action}`; use done, skip or assign.", usage=STEP_USAGE)


def list_command(inv: Invocation) -> None:
    lib = library(inv.ctx)
    lines = ["*Runbooks* (`/incident runbook use <key>` attaches one):"]
    for rb in lib.runbooks.values():
        sevs = ",".join(str(s) for s in sorted(rb.severities))
        auto = "" if rb.auto else " · manual only"
        org = " · organization" if rb.origin == "organization" else ""
        lines.append(f"• `{rb.key}` — *{rb.title}* · {', '.join(rb.categories)} · SEV{sevs} · "
                     f"{len(rb.steps)} steps{auto}{org}" + (f"\n    {rb.summary}" if rb.summary else ""))
    inv.reply("\n".join(lines))


# ----- buttons and modals --------------------------------------------------------------------------------

def _parse_value(value: str) -> tuple[int, str]:
    try:
        data = json.loads(value)
        return int(data["incident"]), str(data["step"])
    except (ValueError, KeyError, TypeError) as err:
        raise UsageError("That button is not from a firebreak checklist.") from err


def _tell(ctx: AppContext, channel: str | None, user: str, text: str) -> None:
    if not channel:
        return
    try:
        ctx.client.chat_postEphemeral(channel=channel, user=user, text=text)
    except (SlackApiError, SlackClientError, OSError) as err:
        log.warning("ephemeral answer failed: %s", ops.slack_error_text(err))


def _modal(callback_id: str, title: str, submit: str, meta: dict, text: str, block: dict) -> dict:
    return {"type": "modal", "callback_id": callback_id, "title": {"type": "plain_text", "text": title},
            "submit": {"type": "plain_text", "text": submit}, "close": {"type": "plain_text", "text": "Cancel"},
            "private_metadata": json.dumps(meta), "blocks": [render.section(text), block]}


def register_interactions(app: App, ctx: AppContext) -> None:
    @app.action(checklist.DONE_ACTION)
    def done_clicked(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        user, channel = body["user"]["id"], (body.get("channel") or {}).get("id")
        try:
            number, step = _parse_value(body["actions"][0]["value"])
            do_finish(ctx, number, step, user, skip=False)
        except FirebreakError as err:
            _tell(ctx, channel, user, f":warning: {err.message}")

    def open_modal(body: dict[str, Any], client: WebClient, kind: str) -> None:
        user, channel = body["user"]["id"], (body.get("channel") or {}).get("id")
        try:
            number, step = _parse_value(body["actions"][0]["value"])
            with ctx.db.session() as session:
                incidents.require_open(incidents.get(session, number))
                row = service.find_step(session, number, step)
                if row.state != "pending":
                    raise FirebreakError(service.finished_text(row))
                text = f"*`{row.step_id}`* {render.clip(row.text, 2500)}"
        except FirebreakError as err:
            _tell(ctx, channel, user, f":warning: {err.message}")
            return
        meta = {"incident": number, "step": step, "channel": channel}
        if kind == "skip":
            view = _modal(SKIP_VIEW, "Skip a step", "Skip", meta, text, {
                "type": "input", "block_id": "reason", "label": {"type": "plain_text", "text": "Why skip it?"},
                "element": {"type": "plain_text_input", "action_id": "value", "multiline": True}})
        else:
            view = _modal(ASSIGN_VIEW, "Hand off a step", "Assign", meta, text, {
                "type": "input", "block_id": "user", "label": {"type": "plain_text", "text": "New owner"},
                "element": {"type": "users_select", "action_id": "value"}})
        ops.safe_call(ctx, number, "views.open", client.views_open, trigger_id=body["trigger_id"], view=view)

    @app.action(checklist.SKIP_ACTION)
    def skip_clicked(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        open_modal(body, client, "skip")

    @app.action(checklist.ASSIGN_ACTION)
    def assign_clicked(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        open_modal(body, client, "assign")

    @app.view(SKIP_VIEW)
    def skip_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        meta = json.loads(view.get("private_metadata") or "{}")
        reason = ((view["state"]["values"].get("reason") or {}).get("value") or {}).get("value") or ""
        if not reason.strip():
            ack(response_action="errors", errors={"reason": "Say why the step is skipped."})
            return
        number, step_id, user = int(meta["incident"]), str(meta["step"]), body["user"]["id"]
        try:
            step, text = finish_step(ctx, number, step_id, user, skip=True, reason=reason)
        except FirebreakError as err:
            ack(response_action="errors", errors={"reason": err.message})
            return
        ack()
        after_finish(ctx, number, step, text, user, reason=reason.strip())

    @app.view(ASSIGN_VIEW)
    def assign_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        meta = json.loads(view.get("private_metadata") or "{}")
        user = ((view["state"]["values"].get("user") or {}).get("value") or {}).get("selected_user")
        if not user:
            ack(response_action="errors", errors={"user": "Choose who should own the step."})
            return
        number, actor = int(meta["incident"]), body["user"]["id"]
        try:
            step, text = assign_step(ctx, number, str(meta["step"]), user, actor)
        except FirebreakError as err:
            ack(response_action="errors", errors={"user": err.message})
            return
        ack()
        after_assign(ctx, number, step, text, user, actor)


# ----- registration --------------------------------------------------------------------------------------

def load(ctx: AppContext) -> Library:
    try:
        return load_library(ctx.rules.categories, ctx.settings.runbooks_dir)
    except RunbookErrors as err:
        raise ConfigError("runbooks are invalid:\n" + str(err)) from err


def register(app: App, ctx: AppContext) -> None:
    ctx.runbooks = load(ctx)
    ctx.commands.add("runbook", runbook_command, usage=RUNBOOK_USAGE,
                     summary="show the runbook checklist, or switch to (or --add) another runbook",
                     action=lambda inv: Action.RUNBOOK_STEP if inv.args.strip() else Action.VIEW)
    ctx.commands.add("step", step_command, usage=STEP_USAGE,
                     summary="finish, skip (with a reason) or hand off a runbook step",
                     action=Action.RUNBOOK_STEP)
    ctx.commands.add("runbooks", list_command, usage=LIST_USAGE, incident="none",
                     summary="list the runbooks available")
    register_interactions(app, ctx)
    ctx.summary_sections.append(checklist.summary_section)
    ctx.timers.register(nudges.JOB, nudges.nudge_overdue)
    register_provider(ctx, "runbook", lambda c, session, incident: service.postmortem_rows(
        session, c.clock, incident, incidents.roles(session, incident.id)))

    def opened(ctx: AppContext, incident_id: int, **_: Any) -> None:
        attach_matching(ctx, incident_id, actor=BOT_ACTOR)

    def refresh_only(ctx: AppContext, incident_id: int, **_: Any) -> None:
        checklist.publish(ctx, incident_id)

    def resolved(ctx: AppContext, incident_id: int, **_: Any) -> None:
        nudges.cancel(ctx, incident_id)
        checklist.publish(ctx, incident_id)

    def reopened(ctx: AppContext, incident_id: int, **_: Any) -> None:
        nudges.schedule(ctx, incident_id)
        checklist.publish(ctx, incident_id)

    ctx.hooks.on(hooks.OPENED, opened)
    ctx.hooks.on(hooks.SEVERITY_CHANGED, on_severity_changed)
    ctx.hooks.on(hooks.ROLE_ASSIGNED, refresh_only)
    ctx.hooks.on(hooks.RESOLVED, resolved)
    ctx.hooks.on(hooks.REOPENED, reopened)
