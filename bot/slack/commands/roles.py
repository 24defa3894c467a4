"""`/incident ic @user` and `/incident role <role> @user`. The first IC assignment is the acknowledgement.

Taking an unfilled IC role for yourself is open to members; handing it over, or giving any role to someone
else, needs the IC or a commander (the policy). Whoever is given a role is invited into the channel — into a
private one only because the person assigning may assign roles.
"""

from __future__ import annotations

from slack_bolt import App

from bot.core import effects, hooks, incidents
from bot.core.errors import UsageError
from bot.core.incidents import ROLES, parse_role
from bot.core.policy import Action
from bot.core.text import Msg, User
from bot.slack.commands import Invocation
from bot.slack.commands.args import tokenize
from bot.slack.context import AppContext

IC_USAGE = "/incident ic @user | @me"
ROLE_USAGE = f"/incident role <{'|'.join(ROLES)}> @user | @me"


def _assign(inv: Invocation, role: str, mention: str, usage: str) -> None:
    ctx = inv.ctx
    user = inv.mention(mention, usage)
    number = inv.require_incident()
    assert inv.facts is not None
    current_ic = inv.facts.ic
    if role == "ic":
        inv.require(Action.TAKE_IC if current_ic is None and user == inv.user_id else Action.ASSIGN_IC)
    else:
        inv.require(Action.TAKE_ROLE if user == inv.user_id else Action.ASSIGN_ROLE)
    with ctx.db.session() as session:
        incident = incidents.get(session, number, lock=True)
        previous, acknowledged = incidents.assign_role(session, ctx.clock, incident, role, user, actor=inv.user_id)
        ref, channel, now = incident.ref, incident.channel_id, ctx.clock.now()
        if channel:
            effects.invite(session, number, [user], created_at=now)
        was = Msg.of(" (was {prev})", prev=User(previous)) if previous else None
        ack = Msg.of(" — incident acknowledged.") if acknowledged else None
        effects.post(session, number, Msg.join([Msg.of(":bust_in_silhouette: {who} is now {role} of {ref}",
                                                       who=User(user), role=ROLES[role].lower(), ref=ref), was, ack],
                                               sep=""), created_at=now)
        effects.summary(session, number, created_at=now)
    if channel and ctx.directory is not None:
        ctx.directory.joined(channel, user)
    ctx.hooks.emit(hooks.ROLE_ASSIGNED, ctx=ctx, incident_id=number, actor=inv.user_id, role=role, user_id=user,
                   acknowledged=acknowledged)
    inv.reply(Msg.of("{who} is {role} of {ref}.", who=User(user), role=ROLES[role].lower(), ref=ref))


def assign_ic(inv: Invocation) -> None:
    words = tokenize(inv.args)
    if len(words) != 1:
        raise UsageError("Mention exactly one person to be incident commander (or `@me`).", usage=IC_USAGE)
    _assign(inv, "ic", words[0], IC_USAGE)


def assign_role(inv: Invocation) -> None:
    words = tokenize(inv.args)
    if len(words) != 2:
        raise UsageError("Name a role and mention one person.", usage=ROLE_USAGE)
    try:
        role = parse_role(words[0])
    except UsageError as err:
        raise UsageError(err.msg, usage=ROLE_USAGE) from err
    _assign(inv, role, words[1], ROLE_USAGE)


def register(app: App, ctx: AppContext) -> None:
    ctx.commands.add("ic", assign_ic, usage=IC_USAGE,
                     summary="take or assign the incident commander role (the first assignment acknowledges it)")
    ctx.commands.add("role", assign_role, usage=ROLE_USAGE, summary="assign a role")
