"""Pulling levers from Slack: dry runs, races, refusals, permissions, on-resolve, proof checks."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from bot.app.opening import open_and_provision
from bot.containment import proof
from bot.core import timeline
from bot.core.incidents import OpenRequest
from bot.core.severity import Inputs
from bot.slack.harness import Harness
from bot.store.models import ContainmentAction, Incident, TimelineEvent
from tests.containment_support import LEVERS, open_incident


def counts(h: Harness) -> tuple[int, int]:
    with h.ctx.db.session() as s:
        return s.query(ContainmentAction).count(), s.query(TimelineEvent).count()


def rows(h: Harness) -> list[ContainmentAction]:
    with h.ctx.db.session() as s:
        return s.query(ContainmentAction).order_by(ContainmentAction.id).all()


def incident(h: Harness) -> Incident:
    with h.ctx.db.session() as s:
        return s.get(Incident, 1)


# ----- dry run: nothing leaves -------------------------------------------------------------------------------
def assert_dry(h: Harness, fake_ld, channel: str) -> None:
    assert fake_ld.external_requests() == 0
    assert fake_ld.count("stream") == 0 and h.ctx.containment.runtime.sdk.created == 0
    r = rows(h)[-1]
    assert r.dry_run and r.outcome == "dry_run" and r.applied_at is not None and r.verified_at is None
    assert incident(h).contained_at is None
    with h.ctx.db.session() as s:
        applied = timeline.events(s, 1, kinds=["lever_applied"])
        assert applied[-1].data["dry_run"] is True
    assert any("Nothing was sent" in t for t in h.fake.texts(channel))


def test_dry_run_flag_sends_nothing(make_ld, fake_ld) -> None:
    h = make_ld()
    checked: list[dict] = []
    proof.register_check(h.ctx, lambda ctx, n, action: checked.append(action) or
                         proof.Proof(True, ctx.clock.now(), "would be refused"))
    channel = open_incident(h)
    h.command("contain kill-browsing --dry-run", channel=channel)
    view = h.last_view()
    assert "Dry run" in json.dumps(view)
    h.submit_view(view, {})
    assert_dry(h, fake_ld, channel)  # an effective proof does not contain a dry run
    assert checked[0]["dry_run"] is True and checked[0]["lever"] == "kill-browsing"
    # a dry run does not block the real pull
    h.command("contain kill-browsing", channel=channel)
    h.submit_view(h.last_view(), {})
    assert len(fake_ld.patches) == 1 and incident(h).contained_at is not None


def test_exercise_incident_is_always_dry(make_ld, fake_ld) -> None:
    h = make_ld()
    n, channel, _ = open_and_provision(h.ctx, OpenRequest(title="Tabletop: browsing leak", reporter_id="U0ALICE",
                                                          inputs=Inputs(category="agent_tool_misuse"),
                                                          is_exercise=True))
    h.command("contain kill-staging", channel=channel)  # confirm: false
    assert_dry(h, fake_ld, channel)
    assert h.fake.texts(channel)[-1].startswith("[EXERCISE]")


def test_sandbox_channel_is_dry(make_ld, fake_ld, write_yaml) -> None:
    h = make_ld(config_file=write_yaml("config.yml", {"sandbox_channels": ["inc-*-sandbox*"]}))
    channel = open_incident(h, "sandbox drill of the browsing leak --category agent_tool_misuse")
    h.command("contain kill-staging", channel=channel)
    assert_dry(h, fake_ld, channel)


def test_settings_dry_run(make_ld, fake_ld) -> None:
    h = make_ld(levers_dry_run=True)
    channel = open_incident(h)
    h.command("contain kill-staging", channel=channel)
    assert_dry(h, fake_ld, channel)


# ----- races -------------------------------------------------------------------------------------------------
def test_two_people_pulling_at_once_make_one_request(db_url, make_ld, fake_ld) -> None:
    h = make_ld(database_url=db_url)
    channel = open_incident(h)
    h.command("contain kill-browsing", channel=channel, user="U0ALICE")
    view_a = h.last_view()
    h.command("contain kill-browsing", channel=channel, user="U0BOB")
    view_b = h.last_view()
    a = h.submit_view(view_a, {}, user="U0ALICE", wait=False)
    b = h.submit_view(view_b, {}, user="U0BOB", wait=False)
    h.wait()
    assert len(fake_ld.patches) == 1 and fake_ld.count("patch") == 1
    assert len(rows(h)) == 1
    winner = rows(h)[0].by
    loser = "U0BOB" if winner == "U0ALICE" else "U0ALICE"
    told = [c.params for c in h.fake.calls_to("chat.postEphemeral") if c.params.get("user") == loser]
    assert told and f"already pulled on INC-1 by <@{winner}>" in told[-1]["text"]
    assert a.ack.status == 200 and b.ack.status == 200


# ----- refusals: a message, nothing written ------------------------------------------------------------------
@pytest.mark.parametrize("text,expected", [
    ("contain", "Name the lever to pull"),
    ("contain nope", "There is no lever `nope`. Levers: `kill-browsing`, `strict-moderation`, `kill-staging`."),
    ("contain kill-browsing --force", "Unknown option `--force`"),
    ("revert", "Name the lever to revert."),
    ("revert kill-browsing", "`kill-browsing` is not pulled on INC-1; nothing to revert."),
    ("levers extra", "takes no arguments"),
])
def test_bad_input_answers_with_usage_and_writes_nothing(make_ld, fake_ld, text, expected) -> None:
    h = make_ld()
    channel = open_incident(h)
    before = counts(h)
    reply = h.command(text, channel=channel)
    assert expected in reply.text
    assert "Usage: `/incident" in reply.text or "not pulled" in reply.text
    assert counts(h) == before and fake_ld.external_requests() == 0


def test_already_applied_says_who_and_when(make_ld, fake_ld) -> None:
    h = make_ld()
    channel = open_incident(h)
    h.command("contain kill-staging", channel=channel, user="U0BOB")
    before = counts(h)
    reply = h.command("contain kill-staging", channel=channel, user="U0ALICE")
    assert "`kill-staging` was already pulled on INC-1 by <@U0BOB> at 2026-01-05 09:00:00 UTC" in reply.text
    assert counts(h) == before and len(fake_ld.patches) == 1


def test_resolved_incident_refuses(make_ld, fake_ld) -> None:
    h = make_ld()
    channel = open_incident(h)
    h.command("resolve false alarm", channel=channel)
    before = counts(h)
    reply = h.command("contain kill-staging", channel=channel)
    assert "INC-1 is resolved" in reply.text
    assert counts(h) == before and fake_ld.external_requests() == 0


def test_not_allowed(make_ld, fake_ld) -> None:
    levers = {"levers": [{**LEVERS["levers"][2], "allowed": ["ic", "S0SAFETY"]}]}
    h = make_ld(levers)
    h.fake.usergroups["S0SAFETY"] = ["U0CAROL"]
    channel = open_incident(h)
    h.command("ic <@U0BOB|bob>", channel=channel)
    before = counts(h)
    reply = h.command("contain kill-staging", channel=channel, user="U0MALLORY")
    assert ("Only the people on the lever's access list (the incident commander, S0SAFETY) may pull this lever "
            "on INC-1. Ask <@U0BOB>, the incident commander.") in reply.text
    # Nothing written but the audit fact of the refusal.
    assert counts(h) == (before[0], before[1] + 1) and fake_ld.external_requests() == 0
    with h.ctx.db.session() as s:
        denied = timeline.events(s, 1, kinds=["permission_denied"])
    assert denied[-1].actor == "U0MALLORY" and denied[-1].data["what"] == "lever kill-staging"
    h.command("contain kill-staging", channel=channel, user="U0CAROL")  # in S0SAFETY
    h.command("revert kill-staging", channel=channel, user="U0BOB")
    h.command("contain kill-staging", channel=channel, user="U0BOB")  # the IC
    assert [r.by for r in rows(h)] == ["U0CAROL", "U0BOB"]


def lever_step_levers() -> dict:
    """The shipped agent_tool_misuse runbook offers lever `disable-tool` on its step `disable-tools`."""
    return {"levers": [{**LEVERS["levers"][0], "name": "disable-tool"}]}


def test_lever_button_from_runbook_opens_the_confirmation(make_ld, fake_ld) -> None:
    from tests.runbook_support import choose

    h = make_ld(lever_step_levers())
    channel = open_incident(h)
    choose(h, channel, "disable-tools", "lever")  # the step's menu: Pull lever…
    view = h.last_view()
    assert view["callback_id"] == "firebreak_lever_confirm" and "disable-tool" in json.dumps(view["blocks"])
    h.submit_view(view, {"reason": "runbook step"})
    assert len(fake_ld.patches) == 1 and "runbook step" in fake_ld.patches[0]["comment"]
    from tests.runbook_support import step_row

    assert step_row(h, "disable-tools").state == "done"  # the pull ticks the step that offered it
    assert h.fake.violations == []


@pytest.mark.parametrize("value", [
    json.dumps({"incident": 1, "lever": "kill-browsing", "step": "contain-1"}),  # no such step
    json.dumps({"incident": 1, "step": "assign-roles"}),                        # a step without a lever
    json.dumps({"incident": "1; drop", "step": "disable-tools"}),               # wrong types
    "99999", "٣", "", "{", json.dumps([1, 2]),
])
def test_crafted_lever_step_buttons_are_out_of_date(make_ld, fake_ld, value) -> None:
    h = make_ld(lever_step_levers())
    channel = open_incident(h)
    before = counts(h)
    reply = h.click("firebreak_lever_pull", value, channel=channel)
    assert reply.ack.status == 200 and "out of date" in reply.text
    assert counts(h) == before and not h.fake.views and fake_ld.external_requests() == 0


# ----- listing, summary, postmortem --------------------------------------------------------------------------
def test_levers_listing_and_postmortem_shape(make_ld, fake_ld, clock) -> None:
    h = make_ld()
    channel = open_incident(h)
    assert "Suggested: `kill-browsing`" in h.summary(1)
    h.command("contain kill-staging", channel=channel)
    reply = h.command("levers", channel=channel)
    assert "*kill-staging* — applied (not verified) by <@U0ALICE>" in reply.text
    assert "*kill-browsing* — not pulled" in reply.text and "suggested for this category" in reply.text
    from bot.postmortem.providers import collect

    with h.ctx.db.session() as s:
        data = collect(h.ctx, s, s.get(Incident, 1))["containment"]
    assert set(data[0]) == {"lever", "type", "target", "requested_at", "applied_at", "verified_at", "reverted_at",
                            "by", "outcome", "error", "attempts", "dry_run"}
    assert data[0]["target"]["environment"] == "staging"


# ----- on resolve --------------------------------------------------------------------------------------------
def test_resolve_reverts_asks_or_leaves(make_ld, fake_ld) -> None:
    h = make_ld()
    channel = open_incident(h)
    h.command("ic <@U0BOB|bob>", channel=channel)
    for lever in ("kill-browsing", "strict-moderation"):
        h.command(f"contain {lever}", channel=channel)
        h.submit_view(h.last_view(), {})
    h.command("contain kill-staging", channel=channel)
    h.command("resolve rolled back", channel=channel, user="U0BOB")  # the IC resolves
    assert fake_ld.env("agent-browsing")["on"] is True          # revert
    assert fake_ld.env("agent-browsing", "staging")["on"] is False  # leave
    assert fake_ld.env("moderation-strictness")["fallthrough"] == {"variation": 1}  # ask
    ask = [m for m in h.fake.history(channel) if "still pulled" in m.text]
    assert len(ask) == 1 and "<@U0BOB>" in ask[0].text and "strict-moderation" in ask[0].text
    revert_button = ask[0].blocks[-1]["elements"][0]
    assert revert_button["action_id"] == "firebreak_lever_revert"
    refused = h.click("firebreak_lever_revert", revert_button["value"], channel=channel, message_ts=ask[0].ts,
                      user="U0ALICE")  # the reporter, not the IC any more
    assert "Only the incident commander may revert levers on INC-1" in refused.text
    assert fake_ld.env("moderation-strictness")["fallthrough"] == {"variation": 1}
    h.click("firebreak_lever_revert", revert_button["value"], channel=channel, message_ts=ask[0].ts, user="U0BOB")
    assert fake_ld.env("moderation-strictness")["fallthrough"] == {"variation": 0}
    with h.ctx.db.session() as s:
        reverted = timeline.events(s, 1, kinds=["lever_reverted"])
    assert [e.data["lever"] for e in reverted] == ["kill-browsing", "strict-moderation"]


# ----- proof checks ------------------------------------------------------------------------------------------
def test_not_effective_proof_keeps_the_incident_uncontained(make_ld, fake_ld, clock) -> None:
    h = make_ld()
    proof.register_check(h.ctx, lambda ctx, n, action: proof.Proof(False, ctx.clock.now(), "2 of 3 repros still work"))
    channel = open_incident(h)
    h.command("contain kill-staging", channel=channel)
    assert incident(h).contained_at is None
    assert rows(h)[0].outcome == "not_effective"
    assert "applied but not effective" in h.fake.texts(channel)[-1]
    with h.ctx.db.session() as s:
        assert len(timeline.events(s, 1, kinds=["lever_not_effective"])) == 1


def test_effective_proof_sets_contained_at_to_its_time(make_ld, fake_ld, clock) -> None:
    h = make_ld()
    channel = open_incident(h)
    proved = clock.now() + timedelta(minutes=9)
    proof.register_check(h.ctx, lambda ctx, n, action: proof.Proof(True, proved, "3 of 3 repros refused"))
    h.command("contain kill-staging", channel=channel)
    assert incident(h).contained_at == proved
    assert "MTTC: 9m" in h.summary(1)


def test_outside_the_channel_only_members_may_pull(make_ld, fake_ld) -> None:
    h = make_ld()
    channel = open_incident(h)  # U0ALICE opened it and is in the channel
    before = counts(h)
    reply = h.command("contain INC-1 kill-staging", user="U0STRANGER")
    assert f"Only members of INC-1's channel may pull this lever on INC-1. Join <#{channel}> first" in reply.text
    assert counts(h) == (before[0], before[1] + 1) and fake_ld.external_requests() == 0  # the audit fact only
    h.command("contain INC-1 kill-staging", user="U0ALICE")
    assert rows(h)[0].by == "U0ALICE" and len(fake_ld.patches) == 1


def test_leave_it_on_resolve_records_the_choice(make_ld, fake_ld) -> None:
    h = make_ld()
    channel = open_incident(h)
    h.command("contain strict-moderation", channel=channel)
    h.submit_view(h.last_view(), {})
    h.command("resolve done", channel=channel)
    ask = [m for m in h.fake.history(channel) if "still pulled" in m.text][0]
    assert "Incident commander" in ask.text  # no IC assigned: addressed to the role
    leave = ask.blocks[-1]["elements"][1]
    refused = h.click(leave["action_id"], leave["value"], channel=channel, message_ts=ask.ts, user="U0BOB")
    assert "may revert levers on INC-1" in refused.text  # a member, but neither the IC nor the reporter
    reply = h.click(leave["action_id"], leave["value"], channel=channel, message_ts=ask.ts, user="U0ALICE")
    assert "<@U0ALICE> left `strict-moderation` in place." in reply.text  # the reporter acts while no IC exists
    assert fake_ld.env("moderation-strictness")["fallthrough"] == {"variation": 1}
    with h.ctx.db.session() as s:
        notes = [e for e in timeline.events(s, 1, kinds=["note"]) if "leave lever `strict-moderation`" in e.text]
    assert len(notes) == 1 and "<@" not in notes[0].text and notes[0].actor == "U0ALICE"


def test_many_simultaneous_pulls_make_one_request(db_url, make_ld, fake_ld) -> None:
    import threading

    from bot.core.errors import Conflict

    h = make_ld(database_url=db_url)
    channel = open_incident(h)
    svc = h.ctx.containment
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def go(user: str) -> None:
        barrier.wait()
        try:
            outcomes.append(svc.pull(1, "kill-browsing", actor=user, channel_id=channel).outcome)
        except Conflict as err:
            outcomes.append(err.message)

    threads = [threading.Thread(target=go, args=(f"U0USER{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(fake_ld.patches) == 1 and fake_ld.count("patch") == 1
    assert outcomes.count("verified") == 1
    refused = [o for o in outcomes if o != "verified"]
    assert len(refused) == 3 and all("already pulled on INC-1 by @U0USER" in o for o in refused)


def test_unique_slot_catches_a_pull_the_checks_missed(db_url, make_ld, fake_ld, clock) -> None:
    """If another process inserts between our check and our insert, the database refuses the second row."""
    from bot.core.errors import Conflict

    h = make_ld(database_url=db_url)
    channel = open_incident(h)
    with h.ctx.db.session() as s:
        s.add(ContainmentAction(incident_id=1, lever="kill-browsing", type="launchdarkly_kill", by="U0BOB",
                                slot="live", outcome="applied", requested_at=clock.now()))
    svc = h.ctx.containment
    real = svc._refuse_if_current
    calls = {"n": 0}

    def blind_then_real(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] <= 1:  # the locked check misses the other row
            return None
        return real(*args, **kwargs)

    svc._refuse_if_current = blind_then_real
    with pytest.raises(Conflict) as err:
        svc.pull(1, "kill-browsing", actor="U0ALICE", channel_id=channel)
    assert "already pulled on INC-1 by @U0BOB" in err.value.message
    assert fake_ld.external_requests() == 0 and len(rows(h)) == 1
