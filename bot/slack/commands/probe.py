"""`/incident probe [<endpoint>]`: replay every repro case against the model, on the PROBES lane.

The command answers at once and hands the run to its own lane, so a slow model endpoint never holds a
listener or the lane other people's commands run on; the run records the result table for the incident
channel itself, and the person who asked gets the outcome privately. With no endpoint configured there is
nothing to replay against: the answer says how to configure one, and nothing is posted in the channel.
"""

from __future__ import annotations

import logging
import time

from slack_bolt import App

from bot.app.lanes import PROBES
from bot.core import limits
from bot.core.errors import UsageError
from bot.core.policy import Action
from bot.core.text import Code, Msg
from bot.evidence import probe, store
from bot.slack.commands import Invocation
from bot.slack.context import AppContext
from bot.slack.text import Mrkdwn

log = logging.getLogger(__name__)

USAGE = "/incident probe [<endpoint name>]"
HOW_TO_CONFIGURE = Mrkdwn(
    ":information_source: No model endpoint is configured, so there is nothing to replay the repro cases against "
    "(nothing was posted in the channel). Add one under `evidence.endpoints` in the file FIREBREAK_CONFIG names, "
    "for example:\n```evidence:\n  endpoints:\n    prod-chat:\n      url: https://api.openai.com/v1\n"
    "      model: gpt-4o-2024-08-06\n      api_key_env: OPENAI_API_KEY   # the variable's name, never the key\n"
    "```\nThen restart firebreak; `firebreak evidence endpoints` checks what is configured, and docs/evidence.md "
    "describes every option (sandboxes for exercises, judges, bounds).")


def run(inv: Invocation) -> None:
    ctx = inv.ctx
    number = inv.require_incident()
    words = inv.args.split()
    if len(words) > 1:
        raise UsageError("Give at most one endpoint name.", usage=USAGE)
    only = words[0] if words else None
    endpoints = ctx.config.evidence.endpoints
    if not endpoints:
        inv.reply(HOW_TO_CONFIGURE)
        return
    if only and only not in endpoints:
        raise UsageError(Msg.of("Unknown endpoint {name}. Configured: {names} (evidence.endpoints in the config "
                                "file).", name=Code(limits.shown(only, 40)), names=", ".join(endpoints)),
                         usage=USAGE)
    with ctx.db.session() as session:
        count = store.case_count(session, number)
    if not count:
        inv.reply(Msg.of("INC-{n} has no repro cases to probe. `/incident repro add` records one first.", n=number))
        return
    deadline = time.monotonic() + ctx.config.evidence.probe.total_budget_seconds  # waiting for the lane counts
    inv.reply(Msg.of("Probing {n} repro case{s} of INC-{number}; the table will be posted in the incident channel.",
                     n=count, s="" if count == 1 else "s", number=number))
    ctx.lanes.run(PROBES, _probe_and_answer, inv, number, only, deadline)


def _probe_and_answer(inv: Invocation, number: int, only: str | None, deadline: float) -> None:
    try:
        outcome = probe.run_probe(inv.ctx, number, trigger="command", actor=inv.user_id, only=only,
                                  deadline=deadline)
    except Exception:  # noqa: BLE001 - the person who asked hears of it; the log has the rest
        log.exception("/incident probe failed for INC-%s", number)
        inv.reply(Mrkdwn(":x: The probe failed on firebreak's side and recorded nothing; it has been logged. "
                         "Try again in a moment."))
        return
    if outcome is None:
        inv.reply(Msg.of("INC-{n} has no repro cases to probe. `/incident repro add` records one first.", n=number))
        return
    inv.reply(Msg.of("Probe done: {summary}. The table is in the incident channel.", summary=outcome.summary))


def register(app: App, ctx: AppContext) -> None:
    ctx.commands.add("probe", run, usage=USAGE, action=Action.ADD_EVIDENCE,
                     summary="replay every repro case against the model and judge each reply")
