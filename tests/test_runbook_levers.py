"""Runbook steps that offer a containment lever: the step's menu pulls it exactly as `/incident contain` does,
and a pulled lever ticks off the steps that offer it (a dry run only in an exercise)."""

from __future__ import annotations

from sqlmodel import select

from bot.store.models import ContainmentAction
from tests.runbook_support import (
    checklist_message,
    choose,
    events,
    message_text,
    open_incident,
    step_block,
    step_row,
)

LEVERS = {"levers": [
    {"name": "disable-tool", "description": "Turn off the agent's misused tool", "type": "launchdarkly_kill",
     "confirm": False, "target": {"project": "default", "flag": "agent-browsing", "environment": "production"},
     "on_resolve": "leave"},
    {"name": "human-review", "description": "Route the agent's actions to human review",
     "type": "launchdarkly_variation", "on_resolve": "ask",
     "target": {"project": "default", "flag": "moderation-strictness", "environment": "production",
                "variation": "strict"}},
]}
AGENT = "Agent emails customers on its own --category agent_tool_misuse --sev 1"


def pulls(h) -> list[ContainmentAction]:
    with h.ctx.db.session() as session:
        return list(session.exec(select(ContainmentAction)))


def test_pulling_a_lever_ticks_off_the_steps_that_offer_it(make_ld) -> None:
    h = make_ld(levers=LEVERS)
    channel = open_incident(h, AGENT)
    h.command("contain disable-tool the agent keeps sending mail", channel=channel, user="U0ALICE")
    [pulled] = pulls(h)
    assert pulled.lever == "disable-tool" and not pulled.dry_run
    row = step_row(h, "disable-tools")
    assert row.state == "done" and row.finished_by == "U0ALICE"
    [done] = events(h, "step_done")
    assert done.data["lever"] == "disable-tool" and done.data["step"] == "disable-tools"
    text = message_text(checklist_message(h, channel))
    assert "~`disable-tools`~ done by <@U0ALICE>" in text and step_block(checklist_message(h, channel),
                                                                          "disable-tools") is None
    assert step_row(h, "human-in-loop").state == "pending"  # another lever's step stays open


def test_a_dry_run_on_a_real_incident_ticks_nothing_off(make_ld) -> None:
    h = make_ld(levers=LEVERS)
    channel = open_incident(h, AGENT)
    h.command("contain disable-tool rehearsing --dry-run", channel=channel)
    assert [p.dry_run for p in pulls(h)] == [True]
    assert step_row(h, "disable-tools").state == "pending" and events(h, "step_done") == []


def test_the_step_menu_pulls_the_lever_as_the_command_does(make_ld) -> None:
    h = make_ld(levers=LEVERS)
    channel = open_incident(h, AGENT)
    msg = checklist_message(h, channel)
    options = [o["text"]["text"] for o in step_block(msg, "disable-tools")["accessory"]["options"]]
    assert options == ["Done", "Skip…", "Assign…", "Pull lever…"]
    assert "Pull lever…" not in str(step_block(msg, "purge-memory"))  # purge-agent-memory is not configured here
    # A lever that asks for confirmation opens the same confirmation as the command; nothing is pulled yet.
    views = len(h.fake.views)
    choose(h, channel, "human-in-loop", "lever")
    assert len(h.fake.views) == views + 1 and pulls(h) == []
    assert "human-review" in str(h.last_view())
    # A lever without confirmation is pulled at once, and its step ticked off.
    reply = choose(h, channel, "disable-tools", "lever")
    assert [p.lever for p in pulls(h)] == ["disable-tool"] and pulls(h)[0].by == "U0ALICE"
    assert "disable-tool" in reply.text  # the puller is told, privately, as the command tells them
    assert step_row(h, "disable-tools").state == "done"


def test_an_outsider_cannot_pull_a_lever_from_the_menu(make_ld) -> None:
    h = make_ld(levers=LEVERS)
    channel = open_incident(h, AGENT)
    reply = choose(h, channel, "disable-tools", "lever", user="U0OUT")
    assert reply.ack.status == 200 and reply.text.startswith(":warning:")
    assert pulls(h) == [] and step_row(h, "disable-tools").state == "pending"
