"""`/incident ic @user` and `/incident role <role> @user`. The first IC assignment is the acknowledgement."""

from __future__ import annotations

from slack_bolt import App

from bot.core import hooks, incidents
from bot.core.errors import NotAllowed, UsageError
from bot.core.incidents import ROLES, parse_role
from bot.slack.commands import Invocation
from bot.slack.commands.args import parse_mention, tokenize
from bot.slack.context import AppContext
from bot.slack.lifecycle import after_change
from bot.slack.usergroups import commanders_description, is_commander

IC_USAGE = "/incident ic @user"
ROLE_USAGE = f"/incident role <{'|'.join(ROLES)}> @user"


def _assign(inv: Invocation, role: str, mention: str, usage: str) -> None:
    ctx = inv.ctx
    user = parse_mention(mention, usage)
    number = inv.require_incident()
    with ctx.db.session() as session:
        incident = incidents.get(session, number, lock=True)
        current_ic = incidents.roles(session, number).get("ic")
        # Anyone may assign the first IC (that is the acknowledgement); after that only the IC or commanders.
        if role == "ic" and current_ic is not None and not is_commander(ctx, inv.user_id, current_ic):
            raise NotAllowed(f"Only {commanders_description(ctx)} may hand over the IC role of {incident.ref}.")
        previous, acknowledged = incidents.assign_role(session, ctx.clock, incident, role, user, actor=inv.user_id)
        ref, channel = incident.ref, incident.channel_id
    if channel:
        from bot.slack import ops

        ops.safe_call(ctx, number, "conversations.invite", ctx.client.conversations_invite, channel=channel,
                      users=user)
    was = f" (was <@{previous}>)" if previous else ""
    ack = " — incident acknowledged." if acknowledged else ""
    after_change(ctx, number, f":bust_in_silhouette: <@{user}> is now {ROLES[role].lower()} of {ref}{was}{ack}")
    ctx.hooks.emit(hooks.ROLE_ASSIGNED, ctx=ctx, incident_id=number, actor=inv.user_id, role=role, user_id=user,
                   acknowledged=acknowledged)
    inv.reply(f"<@{user}> is {ROLES[role].lower()} of {ref}.")


def assign_ic(inv: Invocation) -> None:
    words = tokenize(inv.args)
    if len(words) != 1:
        raise UsageError("Mention exactly one person to be incident commander.", usage=IC_USAGE)
    _assign(inv, "ic", words[0], IC_USAGE)


def assign_role(inv: Invocation) -> None:
    words = tokenize(inv.args)
    if len(words) != 2:
        raise UsageError("Name a role and mention one person.", usage=ROLE_USAGE)
    try:
        role = parse_role(words[0])
    except UsageError as err:
        raise UsageError(err.message, usage=ROLE_USAGE) from err
    _assign(inv, role, words[1], ROLE_USAGE)


def register(app: App, ctx: AppContext) -> None:
    ctx.commands.add("ic", assign_ic, usage=IC_USAGE, order=5,
                     summary="assign the incident commander (the first assignment acknowledges the incident)")
    ctx.commands.add("role", assign_role, usage=ROLE_USAGE, order=6, summary="assign a role")
