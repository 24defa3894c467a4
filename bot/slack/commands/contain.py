"""The Slack face of containment: `/incident levers`, `/incident contain`, `/incident revert`, the
confirmation modal, the runbook step button (action_id `firebreak_lever_pull`), and on-resolve handling.

Handlers only parse, check and render; `bot.containment.service` does the work (after the ack).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.containment.records import action_dict, actions, current_action, state_label
from bot.containment.service import ContainmentService
from bot.containment.spec import load_levers
from bot.core import hooks, incidents, timeline
from bot.core.durations import format_duration
from bot.core.errors import FirebreakError, UsageError
from bot.core.policy import Action
from bot.postmortem.providers import register_provider
from bot.slack import ops, render
from bot.slack.commands import Invocation, error_text
from bot.slack.commands.args import parse_flags
from bot.slack.context import AppContext
from bot.store.models.timeline import BOT_ACTOR

log = logging.getLogger(__name__)

LEVERS_USAGE = "/incident levers"
CONTAIN_USAGE = "/incident contain <lever> [<reason>] [--dry-run]"
REVERT_USAGE = "/incident revert <lever> [<reason>]"
PULL_ACTION = "firebreak_lever_pull"
CONFIRM_VIEW = "firebreak_lever_confirm"
CONFIRM_BUTTON = "firebreak_lever_confirm_button"
CANCEL_BUTTON = "firebreak_lever_cancel"
REVERT_ACTION = "firebreak_lever_revert"
LEAVE_ACTION = "firebreak_lever_leave"


def service(ctx: AppContext) -> ContainmentService:
    return ctx.containment


# ----- commands --------------------------------------------------------------------------------------------
def list_levers(inv: Invocation) -> None:
    ctx, svc = inv.ctx, service(inv.ctx)
    number = inv.require_incident()
    if inv.args.strip():
        raise inv.usage_error(f"`/incident levers` takes no arguments (got `{inv.args.strip()}`).")
    if not len(svc.registry):
        inv.reply("No levers are configured. Declare them in the file named by FIREBREAK_LEVERS_FILE "
                  "(see levers.example.yml).")
        return
    with ctx.db.session() as session:
        incident = incidents.get(session, number)
        lines = []
        for lever in svc.registry.all():
            row = current_action(session, number, lever.name)
            if row is None:
                past = [a for a in actions(session, number) if a.lever == lever.name]
                row = past[-1] if past else None
            suggested = " :star: _suggested for this category_" if incident.category in lever.categories else ""
            who = f" by {render.user(row.by)} at {render.when(row.requested_at)}" if row else ""
            lines.append(f"• *{lever.name}* — {state_label(row)}{who}{suggested}\n"
                         f"    {lever.description or svc.plan(lever)} _(will {svc.plan(lever)})_")
        ref = incident.ref
    blocks = [render.header(f"Levers for {ref}")]
    blocks += [render.section(chunk) for chunk in render.chunk_lines(lines)]
    blocks.append(render.context("`/incident contain <lever> [reason] [--dry-run]` pulls one; "
                                 "`/incident revert <lever>` undoes it."))
    inv.reply(f"Levers for {ref}", blocks=render.cap_blocks(blocks))


def contain(inv: Invocation) -> None:
    ctx = inv.ctx
    parsed = parse_flags(inv.args, values=set(), switches={"dry-run"}, usage=CONTAIN_USAGE)
    if not parsed.words:
        names = ", ".join(f"`{n}`" for n in service(ctx).registry.names()) or "none are configured"
        raise UsageError(f"Name the lever to pull (levers: {names}).", usage=CONTAIN_USAGE)
    number = inv.require_incident()
    name, reason = parsed.words[0], " ".join(parsed.words[1:])
    dry = bool(parsed.flags.get("dry-run"))
    service(ctx).lever(name, usage=CONTAIN_USAGE)
    start_pull(ctx, inv.client, number=number, lever_name=name, user_id=inv.user_id, channel_id=inv.channel_id,
               channel_name=inv.channel_name, trigger_id=inv.trigger_id, reason=reason, dry_run=dry,
               answer=inv.reply)


def start_pull(ctx: AppContext, client: WebClient, *, number: int, lever_name: str, user_id: str,
               channel_id: str | None, channel_name: str | None, trigger_id: str | None, reason: str,
               dry_run: bool, answer, step: str | None = None) -> None:
    """Check, then either open the confirmation or pull at once (confirm: false)."""
    svc = service(ctx)
    lever, why_dry = svc.precheck(number, lever_name, user_id, channel_id, dry_run=dry_run,
                                  channel_name=channel_name)
    if lever.confirm and trigger_id:
        meta = {"incident": number, "lever": lever.name, "reason": reason[:1000], "dry_run": dry_run,
                "channel": channel_id, "channel_name": channel_name, "step": step}
        view = confirmation_view(ctx, number, lever, reason, why_dry, meta)
        resp = ops.safe_call(ctx, number, "views.open (lever confirmation)", client.views_open,
                             trigger_id=trigger_id, view=view)
        if resp is not None:
            return
    if lever.confirm:
        # No modal (no trigger_id, or Slack refused it): confirm with buttons in an ephemeral message instead.
        meta = {"incident": number, "lever": lever.name, "reason": reason[:500], "dry_run": dry_run,
                "channel": channel_id, "channel_name": channel_name, "step": step}
        answer(f"Pull `{lever.name}` on INC-{number}?", blocks=confirmation_blocks(ctx, number, lever, why_dry, meta))
        return
    # The acknowledgement goes out alongside the pull, not before it: a Slack round trip (100–300 ms) must not
    # stand between the responder and the flag change.
    progress = ctx.lanes.submit_work(answer, f"Pulling `{lever.name}` on INC-{number}…")
    result = svc.pull(number, lever.name, actor=user_id, reason=reason, dry_run=dry_run, channel_id=channel_id,
                      channel_name=channel_name, step=step)
    try:
        progress.result(timeout=10)  # the outcome is said after the progress line, never before it
    except Exception:  # noqa: BLE001 - a lost progress line must not lose the outcome
        log.warning("the progress answer for %s did not go out", lever.name)
    answer(result_text(lever.name, result))


def result_text(name: str, result) -> str:
    if result.dry_run:
        return f"Dry run of `{name}` recorded; nothing was sent."
    if result.error:
        return f":red_circle: `{name}`: {result.outcome.replace('_', ' ')} — {result.error}"
    return f"`{name}` {result.outcome}" + (" — the incident is now contained." if result.contained else ".")


def confirmation_blocks(ctx: AppContext, number: int, lever, why_dry: str | None,
                        meta: dict[str, Any]) -> list[dict]:
    change = service(ctx).plan(lever)
    dry = f"\n:test_tube: *Dry run* ({why_dry}): nothing will be called." if why_dry else ""
    return [render.section(f"*Pull lever `{lever.name}` on INC-{number}?* This will {change}.{dry}"),
            {"type": "actions", "block_id": "lever_confirm", "elements": [
                render.button("Dry run" if why_dry else "Pull lever", CONFIRM_BUTTON, json.dumps(meta),
                              style="danger"),
                render.button("Cancel", CANCEL_BUTTON, json.dumps({"lever": lever.name}))]}]


def confirmation_view(ctx: AppContext, number: int, lever, reason: str, why_dry: str | None,
                      meta: dict[str, Any]) -> dict[str, Any]:
    svc = service(ctx)
    change = svc.plan(lever)
    blocks = [render.section(f"*Pull lever `{lever.name}` on INC-{number}?*\n{lever.description}"),
              render.section(f"*This will* {change}.")]
    if why_dry:
        blocks.append(render.section(f":test_tube: *Dry run* ({why_dry}): firebreak records what it would do and "
                                     "calls nothing."))
    blocks.append({"type": "input", "block_id": "reason", "optional": True,
                   "label": {"type": "plain_text", "text": "Reason (goes into the flag's audit comment)"},
                   "element": {"type": "plain_text_input", "action_id": "value",
                               **({"initial_value": reason} if reason else {})}})
    return {"type": "modal", "callback_id": CONFIRM_VIEW, "private_metadata": json.dumps(meta),
            "title": {"type": "plain_text", "text": "Pull a lever"},
            "submit": {"type": "plain_text", "text": "Dry run" if why_dry else "Pull lever"},
            "close": {"type": "plain_text", "text": "Cancel"}, "blocks": blocks}


def revert(inv: Invocation) -> None:
    ctx = inv.ctx
    words = inv.args.split(maxsplit=1)
    if not words:
        raise UsageError("Name the lever to revert.", usage=REVERT_USAGE)
    number = inv.require_incident()
    svc = service(ctx)
    lever = svc.lever(words[0], usage=REVERT_USAGE)
    inv.reply(f"Reverting `{lever.name}` on INC-{number}…")
    result = svc.revert(number, lever.name, actor=inv.user_id, channel_id=inv.channel_id,
                        reason=words[1] if len(words) > 1 else "")
    inv.reply(f":red_circle: Reverting `{lever.name}` failed: {result.error}" if result.error
              else f"`{lever.name}` reverted" + (" (dry run)." if result.dry_run else "."))


# ----- interactive components ------------------------------------------------------------------------------
def _ephemeral(client: WebClient, channel: str | None, user: str, text: str,
               blocks: list[dict] | None = None) -> None:
    if channel:
        try:
            client.chat_postEphemeral(channel=channel, user=user, text=text, **({"blocks": blocks} if blocks else {}))
        except Exception:  # noqa: BLE001
            log.warning("could not tell %s: %s", user, text)


def register_actions(app: App, ctx: AppContext) -> None:
    @app.action(PULL_ACTION)
    def lever_button(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        user = body["user"]["id"]
        channel = (body.get("channel") or {}).get("id")
        try:
            value = json.loads(body["actions"][0].get("value") or "{}")
            number, name = int(value["incident"]), str(value["lever"])
        except (ValueError, KeyError, TypeError):
            _ephemeral(client, channel, user, ":warning: That lever button is malformed; use "
                                              f"`{CONTAIN_USAGE}`.")
            return
        try:
            start_pull(ctx, client, number=number, lever_name=name, user_id=user, channel_id=channel,
                       channel_name=None, trigger_id=body.get("trigger_id"), reason="", dry_run=False,
                       answer=lambda text, blocks=None: _ephemeral(client, channel, user, text, blocks),
                       step=value.get("step"))
        except FirebreakError as err:
            _ephemeral(client, channel, user, error_text(err))

    def pull_confirmed(client: WebClient, user: str, meta: dict[str, Any], reason: str) -> None:
        channel = meta.get("channel")
        try:
            result = service(ctx).pull(int(meta["incident"]), meta["lever"], actor=user, reason=reason.strip(),
                                       dry_run=bool(meta.get("dry_run")), channel_id=channel,
                                       channel_name=meta.get("channel_name"), step=meta.get("step"))
            _ephemeral(client, channel, user, result_text(meta["lever"], result))
        except FirebreakError as err:
            _ephemeral(client, channel, user, error_text(err))

    @app.view(CONFIRM_VIEW)
    def confirmed(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        meta = json.loads(body["view"].get("private_metadata") or "{}")
        values = body["view"].get("state", {}).get("values", {})
        reason = ((values.get("reason") or {}).get("value") or {}).get("value") or meta.get("reason") or ""
        pull_confirmed(client, body["user"]["id"], meta, reason)

    @app.action(CONFIRM_BUTTON)
    def confirmed_by_button(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        meta = json.loads(body["actions"][0].get("value") or "{}")
        respond(text=f"Pulling `{meta.get('lever')}`…", replace_original=True)
        pull_confirmed(client, body["user"]["id"], meta, meta.get("reason") or "")

    @app.action(CANCEL_BUTTON)
    def cancelled(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        lever = json.loads(body["actions"][0].get("value") or "{}").get("lever")
        respond(text=f"Cancelled: `{lever}` was not pulled.", replace_original=True)

    @app.action(REVERT_ACTION)
    def revert_button(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        user = body["user"]["id"]
        channel = (body.get("channel") or {}).get("id")
        value = json.loads(body["actions"][0].get("value") or "{}")
        try:
            result = service(ctx).revert(int(value["incident"]), value["lever"], actor=user, channel_id=channel,
                                         reason="reverted on resolve")
            respond(text=f"<@{user}> chose to revert `{value['lever']}`"
                    + (f" — it failed: {result.error}" if result.error else "."), replace_original=True)
        except FirebreakError as err:
            _ephemeral(client, channel, user, error_text(err))

    @app.action(LEAVE_ACTION)
    def leave_button(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        user = body["user"]["id"]
        value = json.loads(body["actions"][0].get("value") or "{}")
        with ctx.db.session() as session:
            timeline.record(session, ctx.clock, int(value["incident"]), "note",
                            f"<@{user}> chose to leave lever `{value['lever']}` in place after resolve",
                            actor=user, data={"lever": value["lever"]})
        respond(text=f"<@{user}> left `{value['lever']}` in place.", replace_original=True)


# ----- hooks, summary, postmortem -------------------------------------------------------------------------
def on_resolved(ctx: AppContext, incident_id: int, actor: str, **_: Any) -> None:
    svc = service(ctx)
    for lever, row in svc.standing(incident_id):
        if lever.on_resolve == "revert":
            svc.revert(incident_id, lever.name, actor=BOT_ACTOR, reason=f"{lever.name} reverts on resolve")
        elif lever.on_resolve == "ask":
            with ctx.db.session() as session:
                ic = incidents.roles(session, incident_id).get("ic")
            value = json.dumps({"incident": incident_id, "lever": lever.name})
            text = (f"{render.user(ic) if ic else 'Incident commander'}: INC-{incident_id} is resolved and lever "
                    f"*{lever.name}* is still pulled ({state_label(row)}). Revert it?")
            ops.post_in_incident(ctx, incident_id, text, blocks=[
                render.section(text),
                {"type": "actions", "block_id": f"lever_{lever.name}"[:255], "elements": [
                    render.button("Revert", REVERT_ACTION, value, style="danger"),
                    render.button("Leave it", LEAVE_ACTION, value)]}])


def summary_section(ctx: AppContext, session: Any, incident) -> list[dict]:
    rows = actions(session, incident.id, last=15)
    svc = service(ctx)
    if not rows:
        suggested = [lever.name for lever in svc.registry.for_category(incident.category)]
        if not suggested:
            return []
        return [render.section("*Levers*\nSuggested: " + ", ".join(f"`{n}`" for n in suggested)
                               + " — `/incident contain <lever>`")]
    lines = []
    for a in rows:
        times = f"requested {render.when(a.requested_at)}"
        if a.applied_at:
            times += f", applied +{format_duration(a.applied_at - a.requested_at)}"
        if a.verified_at:
            times += f", verified +{format_duration(a.verified_at - a.requested_at)}"
        mode = " _(dry run)_" if a.dry_run else ""
        lines.append(f"• `{a.lever}` — {state_label(a)}{mode} by {render.user(a.by)} ({times})")
    mttc = incidents.key_times(incident).mttc
    lines.append(f"MTTC: {format_duration(mttc)}" if mttc is not None else "MTTC: not contained yet")
    return [render.section("*Levers*\n" + "\n".join(lines))]


def postmortem(ctx: AppContext, session: Any, incident) -> list[dict[str, Any]]:
    return [action_dict(a) for a in actions(session, incident.id)]


def register(app: App, ctx: AppContext) -> None:
    registry = load_levers(ctx.settings.levers_file, config=ctx.config,
                           categories=set(ctx.rules.categories))  # ConfigError: the bot refuses to start
    ctx.levers = registry
    ctx.containment = ContainmentService(ctx, registry)
    ctx.commands.add("levers", list_levers, usage=LEVERS_USAGE, allow_resolved=True,
                     summary="list the containment levers and their state for this incident",
                     action=Action.VIEW)
    ctx.commands.add("contain", contain, usage=CONTAIN_USAGE,
                     summary="pull a containment lever (LaunchDarkly kill, filter tightening, webhook)")
    ctx.commands.add("revert", revert, usage=REVERT_USAGE, allow_resolved=True,
                     summary="undo a lever pulled on this incident",
                     action=Action.REVERT_LEVER)
    register_actions(app, ctx)
    ctx.hooks.on(hooks.RESOLVED, on_resolved)
    ctx.summary_sections.append(summary_section)
    register_provider(ctx, "containment", postmortem)
