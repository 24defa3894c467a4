"""Who may work a runbook: one policy (RUNBOOK_STEP) for commands, step menus and forms, asked about the person
who acts, against the incident found on the server. Public and private incidents, members, outsiders, the IC,
commanders, crafted menu values, a Slack that cannot say who is in a channel (refused, never allowed)."""

from __future__ import annotations

import json

import pytest

from bot.slack.harness import Harness
from tests.runbook_support import (
    checklist_message,
    choose,
    choose_value,
    events,
    open_incident,
    step_row,
    told,
    violations,
)

PUBLIC = "Injected instructions in a retrieved wiki page --category prompt_injection --sev 2"
PRIVATE = "Customer addresses in answers --category data_leakage --sev 2"  # data leakage is private by default


def writes(h: Harness, number: int) -> int:
    return len(events(h, number=number))


@pytest.fixture
def two(make_harness, write_yaml) -> tuple[Harness, str, str]:
    """INC-1 public, INC-2 private, both reported by U0ALICE; U0CMDR is a configured commander."""
    h = make_harness(config_file=write_yaml("firebreak.yml", {"commanders": ["U0CMDR"]}))
    public = open_incident(h, PUBLIC)
    private = open_incident(h, PRIVATE, number=2)
    assert h.fake.channels[private]["is_private"] and not h.fake.channels[public]["is_private"]
    return h, public, private


def test_the_policy_matrix_for_step_commands(two) -> None:
    h, public, private = two
    general = h.general
    cases = [
        # (incident, step, user, prepare, allowed, what the refusal says)
        (1, "assign-roles", "U0OUT", None, False, "Only members of INC-1's channel may work the runbook of INC-1. "
                                                  "Join <#"),
        (1, "assign-roles", "U0JOINED", lambda: h.join("U0JOINED", public), True, None),
        (1, "confirm-severity", "U0ALICE", None, True, None),  # the reporter
        (1, "reproduce", "U0CMDR", None, False, "Only members of INC-1's channel"),  # commanders: not by default
        (2, "assign-roles", "U0OUT", None, False, "INC-2 is private: only members of its channel may see or change it."),
        (2, "assign-roles", "U0CMDR", None, False, "INC-2 is private"),
        (2, "assign-roles", "U0INVITED", lambda: h.invite("U0INVITED", private), True, None),
        (2, "confirm-severity", "U0ALICE", None, True, None),
    ]
    for number, step, user, prepare, allowed, refusal in cases:
        if prepare:
            prepare()
        before = writes(h, number)
        reply = h.command(f"step INC-{number} {step} done", user=user, channel=general)
        if allowed:
            assert f"`{step}` done." in reply.text, (number, user, reply.text)
            assert step_row(h, step, number).finished_by == user
        else:
            assert refusal in reply.text, (number, user, reply.text)
            assert writes(h, number) == before and step_row(h, step, number).state == "pending"
    # The IC holds a role: the incident is theirs to run wherever they type.
    h.command("ic <@U0BOB>", channel=private)
    assert "`notify-privacy` done." in h.command("step INC-2 notify-privacy done", user="U0BOB", channel=general).text
    # Nothing of the private incident's title reached anyone outside it.
    assert not [r for r in h.fake.responses if "Customer addresses" in r.get("text", "")]
    assert violations(h) == []


def test_an_organization_may_let_commanders_work_any_runbook(make_harness, write_yaml) -> None:
    h = make_harness(config_file=write_yaml("firebreak.yml", {
        "commanders": ["U0CMDR"], "permissions": {"runbook_step": ["member", "commanders"]}}))
    open_incident(h, PRIVATE)
    reply = h.command("step INC-1 assign-roles done", user="U0CMDR")
    assert "`assign-roles` done." in reply.text and step_row(h, "assign-roles").finished_by == "U0CMDR"


def test_step_menus_ask_the_policy_about_the_clicker(two) -> None:
    h, public, private = two
    msg = checklist_message(h, public)
    before = writes(h, 1)
    reply = choose(h, public, "assign-roles", "done", user="U0OUT")  # in the channel's message, not in the channel
    assert "Only members of INC-1's channel may work the runbook of INC-1" in reply.text
    reply = choose(h, public, "assign-roles", "skip", user="U0OUT")
    assert "Only members of INC-1's channel" in reply.text and len(h.fake.views) == 0
    assert writes(h, 1) == before and reply.ack.status == 200
    h.join("U0OUT", public)
    choose(h, public, "assign-roles", "done", user="U0OUT")
    assert step_row(h, "assign-roles").finished_by == "U0OUT"
    assert checklist_message(h, public).ts == msg.ts


def test_a_crafted_value_naming_another_incidents_step_acts_on_nothing(two) -> None:
    h, public, private = two
    h.join("U0BOB", public)
    msg = checklist_message(h, public)
    secret = step_row(h, "assign-roles", 2)
    before = writes(h, 2)
    for verb in ("done", "skip", "assign"):
        reply = choose_value(h, f"{verb}:{secret.id}", channel=public, message=msg, user="U0BOB")
        assert reply.ack.status == 200
        assert "INC-2 is private: only members of its channel may see or change it." in reply.text
        assert "Customer addresses" not in reply.text
    assert writes(h, 2) == before and step_row(h, "assign-roles", 2).state == "pending" and not h.fake.views


@pytest.mark.parametrize("value", ["done:abc", "nuke:1", "done:", "done:99999999999999", "done:0", "", "done:1:2",
                                   " done:1", "done:１", None, 7, ["done:1"], {"incident": 1, "step": "assign-roles"},
                                   json.dumps({"incident": 1, "step": "assign-roles"})])
def test_malformed_menu_values_are_out_of_date_never_an_action(harness: Harness, value) -> None:
    h = harness
    channel = open_incident(h, PUBLIC)
    before = writes(h, 1)
    reply = choose_value(h, value, channel=channel, message=checklist_message(h, channel))
    assert reply.ack.status == 200
    assert "out of date" in reply.text
    assert writes(h, 1) == before


def test_when_slack_cannot_say_who_is_in_the_channel_the_step_is_refused(harness: Harness) -> None:
    h = harness
    channel = open_incident(h, PUBLIC)
    h.fake.channels[channel]["members"].add("U0BOB")  # a member, but firebreak cannot learn it
    h.ctx.directory.forget_channel(channel)
    h.fake.fail_next("conversations.members", "internal_error", times=20)
    reply = choose(h, channel, "assign-roles", "done", user="U0BOB")
    assert "could not verify that you may work the runbook of INC-1" in reply.text
    assert step_row(h, "assign-roles").state == "pending"
    # Handing a step to someone whose membership cannot be checked is refused the same way.
    reply = h.command("step reproduce assign <@U0BOB>", channel=channel)
    assert "could not verify that <@U0BOB> is in INC-1" in reply.text
    assert step_row(h, "reproduce").owner_id is None and events(h, "step_assigned") == []


def test_a_step_is_never_handed_to_someone_outside_a_private_incident(two) -> None:
    h, _public, private = two
    reply = h.command("step assign-roles assign <@U0OUT>", channel=private)
    assert "<@U0OUT> is not in INC-2: invite them to the incident channel or give them a role first" in reply.text
    assert "U0OUT" not in h.fake.channels[private]["members"]
    assert not [c for c in h.fake.calls_to("conversations.invite") if "U0OUT" in str(c.params)]
    assert events(h, "step_assigned", number=2) == []
    h.invite("U0DANA", private)
    assert "<@U0DANA> owns `assign-roles`." in h.command("step assign-roles assign <@U0DANA>", channel=private).text


def test_a_form_is_for_the_person_who_opened_it(harness: Harness) -> None:
    h = harness
    channel = open_incident(h, PUBLIC)
    choose(h, channel, "reproduce", "skip")
    view = h.last_view()
    h.join("U0BOB", channel)
    reply = h.submit_view(view, {"reason": "not me"}, user="U0BOB")  # someone else submitting Alice's form
    assert "out of date" in reply.text  # answered privately after the ack
    assert step_row(h, "reproduce").state == "pending"
    forged = dict(view, private_metadata="not-a-token-at-all")
    reply = h.submit_view(forged, {"reason": "forged"})
    assert "out of date" in reply.text
    assert step_row(h, "reproduce").state == "pending"


def test_a_form_submitted_after_the_submitter_lost_access_is_refused(harness: Harness) -> None:
    h = harness
    channel = open_incident(h, PUBLIC)
    h.join("U0BOB", channel)
    choose(h, channel, "reproduce", "skip", user="U0BOB")
    view = h.last_view()
    h.fake.channels[channel]["members"].discard("U0BOB")  # Bob left the channel before submitting
    h.ctx.directory.forget_channel(channel)
    h.submit_view(view, {"reason": "done elsewhere"}, user="U0BOB")
    assert "Only members of INC-1's channel" in told(h, "U0BOB")[-1]
    assert step_row(h, "reproduce").state == "pending"
