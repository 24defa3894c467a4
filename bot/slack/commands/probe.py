"""`/incident probe [<endpoint>]`: replay every repro case against the model and post the table."""

from __future__ import annotations

from slack_bolt import App

from bot.containment import proof
from bot.core.errors import UsageError
from bot.core.policy import Action
from bot.evidence import postmortem, probe, views
from bot.evidence.check import proof_check
from bot.postmortem.providers import register_provider
from bot.slack import ops
from bot.slack.commands import Invocation
from bot.slack.context import AppContext

USAGE = "/incident probe [<endpoint name>]"


def run(inv: Invocation) -> None:
    ctx = inv.ctx
    number = inv.require_incident()
    words = inv.args.split()
    if len(words) > 1:
        raise UsageError("Give at most one endpoint name.", usage=USAGE)
    only = words[0] if words else None
    endpoints = ctx.config.evidence.endpoints
    if only and only not in endpoints:
        raise UsageError(f"Unknown endpoint `{only}`. Configured: {', '.join(endpoints) or 'none'} "
                         "(evidence.endpoints in the config file).", usage=USAGE)
    outcome = probe.run_probe(ctx, number, trigger="command", actor=inv.user_id, only=only)
    if outcome is None:
        inv.reply(f"INC-{number} has no repro cases to probe. `/incident repro add` records one first.")
        return
    ops.post_in_incident(ctx, number, f"Probe of INC-{number}: {outcome.summary}",
                         views.probe_blocks(outcome, ref=f"INC-{number}",
                                            context_line=f"Run by <@{inv.user_id}>."))
    ops.refresh(ctx, number)
    inv.reply(f"Probe done: {outcome.summary}. The table is in the incident channel.")


def register(app: App, ctx: AppContext) -> None:
    ctx.commands.add("probe", run, usage=USAGE,
                     summary="replay every repro case against the model and judge each reply",
                     action=Action.ADD_EVIDENCE)
    proof.register_check(ctx, proof_check)
    register_provider(ctx, "evidence", postmortem.provide)
    ctx.summary_sections.append(postmortem.summary_section)
