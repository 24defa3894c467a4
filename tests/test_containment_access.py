"""Who may pull and revert levers, through signed requests: the policy matrix on a public and a private incident,
failing closed when Slack cannot answer, and crafted buttons and confirmations that act on nothing."""

from __future__ import annotations

import json

import pytest

from bot.core import timeline
from bot.slack.harness import Harness
from bot.store.models import ContainmentAction, RunbookStep
from tests.containment_support import LEVERS

QUICK = {"levers": [dict(lever, confirm=False) for lever in LEVERS["levers"]]}
TITLE = "Customer records in browsing answers"


def pulls(h: Harness) -> list[ContainmentAction]:
    with h.ctx.db.session() as s:
        return s.query(ContainmentAction).order_by(ContainmentAction.id).all()


def denied(h: Harness, number: int = 1) -> list:
    with h.ctx.db.session() as s:
        return timeline.events(s, number, kinds=["permission_denied"])


def opened(h: Harness, *, private: bool = False, number: int = 1) -> str:
    flags = " --private" if private else ""
    h.command(f"open {TITLE} --category agent_tool_misuse{flags}", user="U0ALICE")
    return h.incident_channel(number)


@pytest.fixture
def team(make_ld, write_yaml):
    """A harness with levers, a commander group, and the people of the matrix: U0ALICE reports, U0IC is the
    incident commander, U0MEMBER is in the channel, U0CMDR is a commander outside it, U0OUTSIDER is nobody."""

    def make(*, private: bool, levers: dict = QUICK) -> tuple[Harness, str]:
        h = make_ld(levers, config_file=write_yaml("firebreak.yml", {"commanders": ["S0CMDRS"]}))
        h.fake.usergroups["S0CMDRS"] = ["U0CMDR"]
        channel = opened(h, private=private)
        h.invite("U0MEMBER", channel)
        reply = h.command("ic <@U0IC>", channel=channel, user="U0ALICE")  # which invites U0IC
        assert "is incident commander of INC-1" in reply.text, reply.text
        return h, channel

    return make


# (who, where they type) -> may pull (a lever without an access list), may revert
MATRIX = {
    "U0ALICE": ("channel", True, False),      # the reporter: a member; not the IC once there is one
    "U0MEMBER": ("channel", True, False),
    "U0IC": ("channel", True, True),
    "U0CMDR": ("general", False, True),       # a commander outside the channel: reverts, does not pull
    "U0OUTSIDER": ("general", False, False),
}


@pytest.mark.parametrize("private", [False, True], ids=["public", "private"])
@pytest.mark.parametrize("who", list(MATRIX))
def test_the_policy_matrix_for_pulling_and_reverting(team, fake_ld, who, private) -> None:
    h, channel = team(private=private)
    where, may_pull, may_revert = MATRIX[who]
    place = channel if where == "channel" else h.general
    reply = h.command("contain INC-1 kill-staging", user=who, channel=place)
    assert TITLE not in reply.text  # a refusal never shows a private incident's title
    if may_pull:
        assert "applied" in reply.text and [p.by for p in pulls(h)] == [who]
    else:
        assert pulls(h) == [] and fake_ld.external_requests() == 0
        assert ("is private: only members of its channel" if private else "Join") in reply.text
        assert denied(h)[-1].actor == who and denied(h)[-1].data["action"] == "pull_lever"
        h.command("contain INC-1 kill-staging", user="U0IC", channel=channel)
    patches = len(fake_ld.patches)
    reply = h.command("revert INC-1 kill-staging", user=who, channel=place)
    reverted = pulls(h)[-1].reverted_at is not None
    assert reverted is may_revert
    if may_revert:
        assert "reverted" in reply.text and len(fake_ld.patches) == patches + 1
    else:
        assert "may revert levers on INC-1" in reply.text or "is private" in reply.text
        assert len(fake_ld.patches) == patches and denied(h)[-1].data["action"] == "revert_lever"
    assert h.fake.violations == []


def test_an_access_list_names_roles_groups_and_people(make_ld, fake_ld, write_yaml) -> None:
    levers = {"levers": [{**QUICK["levers"][2], "allowed": ["security", "S0SAFETY", "U0DAVE"]}]}
    h = make_ld(levers)
    h.fake.usergroups["S0SAFETY"] = ["U0CAROL"]
    channel = opened(h)
    h.command("role security <@U0SEC>", channel=channel)
    refused = h.command("contain kill-staging", channel=channel, user="U0ALICE")  # a member, not on the list
    assert ("Only the people on the lever's access list (the security liaison, S0SAFETY, U0DAVE) may pull this "
            "lever on INC-1") in refused.text
    for user in ("U0SEC", "U0CAROL", "U0DAVE"):
        h.command("contain INC-1 kill-staging", user=user)  # from anywhere: the list, not the channel, decides
        assert pulls(h)[-1].by == user
        h.command("revert kill-staging", channel=channel, user="U0ALICE")  # the reporter: no IC yet
    assert len(pulls(h)) == 3 and fake_ld.external_requests() > 0


def test_ic_on_the_list_is_the_reporter_until_there_is_one(make_ld, fake_ld) -> None:
    h = make_ld({"levers": [{**QUICK["levers"][2], "allowed": ["ic"]}]})
    channel = opened(h)
    h.command("contain kill-staging", channel=channel, user="U0ALICE")
    assert [p.by for p in pulls(h)] == ["U0ALICE"]


# ----- fail closed ---------------------------------------------------------------------------------------------
def test_a_failing_membership_lookup_refuses_the_pull(make_ld, fake_ld) -> None:
    h = make_ld(QUICK)
    opened(h)
    h.fake.fail_next("conversations.members", "internal_error", status=500, times=50)
    reply = h.command("contain INC-1 kill-staging", user="U0OUTSIDER")
    assert "could not verify that you may pull this lever on INC-1" in reply.text and "Try again" in reply.text
    assert pulls(h) == [] and fake_ld.external_requests() == 0
    assert denied(h)[-1].data["unverified"] is True


def test_a_failing_group_lookup_refuses_the_pull(make_ld, fake_ld) -> None:
    h = make_ld({"levers": [{**QUICK["levers"][2], "allowed": ["S0SAFETY"]}]})
    h.fake.usergroups["S0SAFETY"] = ["U0CAROL"]
    channel = opened(h)
    h.fake.fail_next("usergroups.users.list", "internal_error", status=500, times=50)
    reply = h.command("contain kill-staging", channel=channel, user="U0CAROL")
    assert "could not verify" in reply.text and pulls(h) == [] and fake_ld.external_requests() == 0


def test_a_channel_less_incident_is_not_open_to_everyone(make_ld, fake_ld) -> None:
    h = make_ld(QUICK)
    h.fake.fail_next("conversations.create", "restricted_action")  # a permanent refusal: no channel
    h.command(f"open {TITLE} --category agent_tool_misuse", user="U0ALICE")
    reply = h.command("contain INC-1 kill-staging", user="U0OUTSIDER")
    assert "Only the people running INC-1 may pull this lever on INC-1" in reply.text
    assert pulls(h) == [] and fake_ld.external_requests() == 0
    h.command("contain INC-1 kill-staging", user="U0ALICE")  # the reporter runs it
    assert [p.by for p in pulls(h)] == ["U0ALICE"]


# ----- the confirmation: checked again, used once, by its owner only --------------------------------------------
def test_the_policy_is_asked_again_at_confirmation(make_ld, fake_ld) -> None:
    h = make_ld()
    channel = opened(h, private=True)
    h.invite("U0MEMBER", channel)
    h.command("contain kill-browsing", channel=channel, user="U0MEMBER")
    view = h.last_view()
    with h.fake.lock:
        h.fake.channels[channel]["members"].discard("U0MEMBER")  # removed from the channel meanwhile
    h.ctx.directory.forget_channel(channel)
    reply = h.submit_view(view, {}, user="U0MEMBER")
    assert "INC-1 is private" in reply.text and fake_ld.external_requests() == 0
    assert denied(h)[-1].actor == "U0MEMBER" and pulls(h) == []


def test_a_confirmation_works_once(make_ld, fake_ld) -> None:
    h = make_ld()
    channel = opened(h)
    h.command("contain kill-browsing", channel=channel)
    view = h.last_view()
    assert len(view["private_metadata"]) < 40 and "kill" not in view["private_metadata"]
    h.submit_view(view, {})
    again = h.submit_view(view, {})
    assert "out of date" in again.text and len(fake_ld.patches) == 1 and len(pulls(h)) == 1


def test_someone_elses_confirmation_is_out_of_date(make_ld, fake_ld) -> None:
    h = make_ld()
    channel = opened(h)
    h.command("contain kill-browsing", channel=channel, user="U0ALICE")
    reply = h.submit_view(h.last_view(), {}, user="U0BOB")
    assert "out of date" in reply.text  # answered privately after the ack
    assert fake_ld.external_requests() == 0 and pulls(h) == []


@pytest.mark.parametrize("metadata", [
    json.dumps({"incident": 2, "lever": "kill-browsing", "channel": "C0GENERAL"}),  # the old, trusted format
    "", "x" * 39, "∞" * 20,
])
def test_a_crafted_confirmation_modal_pulls_nothing(make_ld, fake_ld, metadata) -> None:
    h = make_ld()
    channel = opened(h)
    opened(h, private=True, number=2)
    h.command("contain kill-browsing", channel=channel, user="U0OUTSIDER")
    view = dict(h.last_view(), private_metadata=metadata)
    reply = h.submit_view(view, {}, user="U0OUTSIDER")
    assert reply.ack.status == 200 and "out of date" in reply.text
    assert fake_ld.external_requests() == 0 and pulls(h) == []


@pytest.mark.parametrize("action_id", ["firebreak_lever_confirm_button", "firebreak_lever_cancel"])
@pytest.mark.parametrize("value", [json.dumps({"incident": 2, "lever": "kill-browsing", "channel": "C0X"}),
                                   "AAAAAAAAAAAAAAAAAAAAAAAA", "", "1"])
def test_crafted_confirmation_buttons_are_out_of_date(make_ld, fake_ld, action_id, value) -> None:
    h = make_ld()
    opened(h)
    opened(h, private=True, number=2)
    reply = h.click(action_id, value, channel=h.general, user="U0OUTSIDER")
    assert reply.ack.status == 200 and "out of date" in reply.text
    assert fake_ld.external_requests() == 0 and pulls(h) == []


def test_a_crafted_step_button_naming_a_private_incident_is_refused(make_ld, fake_ld) -> None:
    h = make_ld({"levers": [{**LEVERS["levers"][0], "name": "disable-tool"}]})
    opened(h, private=True)
    with h.ctx.db.session() as s:
        step = s.query(RunbookStep).filter(RunbookStep.step_id == "disable-tools").one()
    for value in (str(step.id), json.dumps({"incident": 1, "lever": "disable-tool", "step": "disable-tools"})):
        reply = h.click("firebreak_lever_pull", value, channel=h.general, user="U0OUTSIDER")
        assert "INC-1 is private" in reply.text and TITLE not in reply.text
    assert not h.fake.views and fake_ld.external_requests() == 0
    assert [e.actor for e in denied(h)] == ["U0OUTSIDER", "U0OUTSIDER"]


def test_the_step_button_by_row_id_opens_the_confirmation(make_ld, fake_ld) -> None:
    h = make_ld({"levers": [{**LEVERS["levers"][0], "name": "disable-tool"}]})
    channel = opened(h)
    with h.ctx.db.session() as s:
        step = s.query(RunbookStep).filter(RunbookStep.step_id == "disable-tools").one()
    h.click("firebreak_lever_pull", str(step.id), channel=channel)
    h.submit_view(h.last_view(), {})
    assert len(fake_ld.patches) == 1
    with h.ctx.db.session() as s:
        assert timeline.events(s, 1, kinds=["lever_requested"])[0].data["step"] == "disable-tools"


def test_a_crafted_revert_button_naming_another_incident_reverts_nothing(make_ld, fake_ld) -> None:
    h = make_ld(QUICK)
    mine = opened(h)
    theirs = opened(h, private=True, number=2)
    h.command("contain kill-staging", channel=theirs, user="U0ALICE")
    target = pulls(h)[0]
    assert target.incident_id == 2
    for action_id in ("firebreak_lever_revert", "firebreak_lever_leave"):
        reply = h.click(action_id, str(target.id), channel=mine, user="U0OUTSIDER")
        assert "may revert levers on INC-2" in reply.text or "INC-2 is private" in reply.text
    for value in ("0", "-1", "1e3", "", "١"):
        assert "out of date" in h.click("firebreak_lever_revert", value, channel=mine, user="U0OUTSIDER").text
    assert pulls(h)[0].reverted_at is None and len(fake_ld.patches) == 1
    with h.ctx.db.session() as s:
        assert timeline.events(s, 2, kinds=["note"]) == []


# ----- the pinned summary's "Pull a lever…" menu ---------------------------------------------------------------
def summary_menu(h: Harness, channel: str) -> tuple[str, dict]:
    """The pinned summary's lever menu (its message ts and the select element), as a person sees it."""
    [summary] = h.fake.pinned(channel)
    for block in summary.blocks:
        accessory = block.get("accessory") or {}
        if accessory.get("action_id") == "firebreak_summary_lever":
            return summary.ts, accessory
    raise AssertionError("the summary has no lever menu")


def choose_lever(h: Harness, channel: str, ts: str | None, value: str, *, user: str = "U0ALICE"):
    return h.interaction({
        "type": "block_actions", "user": {"id": user, "name": user.lower()}, "channel": {"id": channel},
        "container": {"type": "message", "message_ts": ts, "channel_id": channel},
        "message": {"ts": ts, "text": "", "blocks": []},
        "actions": [{"type": "static_select", "action_id": "firebreak_summary_lever", "block_id": "levers",
                     "selected_option": {"text": {"type": "plain_text", "text": "x"}, "value": value},
                     "action_ts": "1"}]})


def test_the_summary_menu_pulls_a_lever_as_the_command_does(make_ld, fake_ld) -> None:
    h = make_ld()
    channel = opened(h)
    ts, menu = summary_menu(h, channel)
    assert [o["value"] for o in menu["options"]] == ["1:kill-browsing"]  # the category's levers
    choose_lever(h, channel, ts, "1:kill-browsing")
    h.submit_view(h.last_view(), {"reason": "agent browsing exfiltrates"})  # the same confirmation
    assert len(fake_ld.patches) == 1 and [p.lever for p in pulls(h)] == ["kill-browsing"]


@pytest.mark.parametrize("value", ["2:kill-browsing", "1:no-such-lever", "kill-browsing", "", "1:" + "x" * 70])
def test_a_crafted_summary_menu_choice_pulls_nothing(make_ld, fake_ld, value) -> None:
    h = make_ld()
    opened(h)
    opened(h, private=True, number=2)
    reply = choose_lever(h, h.general, None, value, user="U0OUTSIDER")
    assert reply.ack.status == 200 and reply.text  # answered: private, unknown lever or out of date
    assert TITLE not in reply.text
    assert not h.fake.views and fake_ld.external_requests() == 0 and pulls(h) == []
