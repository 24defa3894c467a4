"""Levers and what they say: hostile text escaped, inputs capped, every pull on the LEVERS lane with no network
call inside a database transaction, and each message told exactly once however often its cause runs."""

from __future__ import annotations

import json
import threading
from urllib.parse import urlencode

import pytest

from bot.core import timeline
from bot.slack.harness import Harness
from bot.store.models import ContainmentAction, Effect, Incident, TimelineEvent
from tests.containment_support import LEVERS, open_incident

HOSTILE = "<!channel> rollback & <b>now</b> <!subteam^S0ALL> <@U0BOB>"
# What Slack sends for that text typed in the message box (escaped once; `@channel` as its token).
AS_SLACK_SENDS = HOSTILE.replace("&", "&amp;").replace("<b>", "&lt;b&gt;").replace("</b>", "&lt;/b&gt;")


def counts(h: Harness) -> tuple[int, int, int]:
    with h.ctx.db.session() as s:
        return (s.query(ContainmentAction).count(), s.query(TimelineEvent).count(), s.query(Effect).count())


def bad_markup(h: Harness) -> list:
    """Broadcasts and broken markup in anything sent, but for the runbook checklist's own usage line (its
    `<id>` placeholder belongs to the runbook feature)."""
    return [f for f in h.fake.broadcasts() if f.kind in ("broadcast", "stray_lt") and "/incident step " not in f.text]


# ----- safe text ---------------------------------------------------------------------------------------------
def test_a_hostile_reason_is_stored_as_typed_and_shown_as_text(make_ld, fake_ld) -> None:
    h = make_ld()
    channel = open_incident(h)
    h.command(f"contain kill-staging {AS_SLACK_SENDS}", channel=channel)  # confirm: false
    typed = "@channel rollback & <b>now</b> @S0ALL @U0BOB"  # Slack's tokens read as text, entities unescaped
    with h.ctx.db.session() as s:
        assert s.query(ContainmentAction).one().reason == typed
        requested = timeline.events(s, 1, kinds=["lever_requested"])[0]
    assert requested.text.endswith(f"— {typed}") and "<@" not in requested.text
    assert typed in fake_ld.patches[0]["comment"]
    pulled = next(t for t in h.fake.raw_texts(channel) if "pulled lever" in t)
    assert "rollback &amp; &lt;b&gt;now&lt;/b&gt;" in pulled
    assert bad_markup(h) == [] and h.fake.violations == []


def test_a_hostile_reason_in_the_modal_reaches_nobody_as_markup(make_ld, fake_ld) -> None:
    h = make_ld()
    channel = open_incident(h)
    h.command("contain kill-browsing", channel=channel)
    h.submit_view(h.last_view(), {"reason": HOSTILE})
    with h.ctx.db.session() as s:
        assert s.query(ContainmentAction).one().reason == HOSTILE  # a modal sends what was typed
    h.command("levers", channel=channel)
    h.command("resolve done", channel=channel)
    assert any("&lt;!channel&gt; rollback &amp;" in t for t in h.fake.raw_texts(channel))
    assert bad_markup(h) == [] and h.fake.violations == []


def test_lever_texts_with_markup_characters_are_escaped(make_ld, fake_ld) -> None:
    levers = {"levers": [{**LEVERS["levers"][2], "description": "Kill <tools> & <!here> for agents"}]}
    h = make_ld(levers)
    channel = open_incident(h)
    reply = h.command("levers", channel=channel)
    assert "Kill <tools> & <!here> for agents" in reply.text  # shown as written
    assert bad_markup(h) == []


# ----- caps --------------------------------------------------------------------------------------------------
def test_an_overlong_reason_is_refused_naming_the_limit(make_ld, fake_ld) -> None:
    h = make_ld()
    channel = open_incident(h)
    before = counts(h)
    reply = h.command("contain kill-staging " + "ж" * 1001, channel=channel)
    assert "The reason is 1,001 characters; the limit is 1,000." in reply.text and "Usage:" in reply.text
    assert "ж" * 100 not in reply.text  # never echoed back
    reply = h.command("contain kill-staging " + "x " * 5_000, channel=channel)
    assert "That is 10,012 characters; `contain` takes a lever's name and a reason of at most 1,000" in reply.text and len(reply.text) < 400
    assert counts(h) == before and fake_ld.external_requests() == 0
    reply = h.command("revert kill-staging " + "y" * 1001, channel=channel)
    assert "the limit is 1,000" in reply.text and counts(h) == before


def test_an_overlong_reason_in_the_modal_is_shown_in_the_form(make_ld, fake_ld) -> None:
    h = make_ld()
    channel = open_incident(h)
    h.command("contain kill-browsing", channel=channel)
    view = h.last_view()
    reason = next(b for b in view["blocks"] if b.get("block_id") == "reason")
    assert reason["element"]["max_length"] == 1000
    before = counts(h)
    reply = h.submit_view(view, {"reason": "z" * 1001})
    assert json.loads(reply.ack.body)["errors"] == {"reason": "The reason is 1,001 characters; the limit is 1,000."}
    assert counts(h) == before and fake_ld.external_requests() == 0
    h.submit_view(view, {"reason": "z" * 1000})  # the same confirmation still works
    assert len(fake_ld.patches) == 1


def test_a_long_reason_of_any_script_fits_every_slack_field(make_ld, fake_ld) -> None:
    h = make_ld()
    channel = open_incident(h)
    reason = "Ж😀" * 500  # 1,000 characters, many more in JSON or UTF-16
    h.command(f"contain kill-browsing {reason}", channel=channel)
    h.fake.fail_next("views.open", "trigger_expired")
    reply = h.command(f"contain kill-browsing {reason}", channel=channel)
    pull = reply.ephemeral[-1]["blocks"][-1]["elements"][0]
    h.click(pull["action_id"], pull["value"], channel=channel)
    assert len(fake_ld.patches) == 1 and h.fake.violations == []


# ----- lanes and transactions ----------------------------------------------------------------------------------
def test_every_pull_and_revert_runs_on_the_levers_lane(make_ld, fake_ld) -> None:
    h = make_ld()
    svc = h.ctx.containment
    threads: list[tuple[str, str]] = []
    for kind in svc.kinds.values():
        for name in ("apply", "revert"):
            real = getattr(kind, name)

            def spy(*args, real=real, name=name):
                threads.append((name, threading.current_thread().name))
                return real(*args)

            setattr(kind, name, spy)
    channel = open_incident(h)
    h.command("ic <@U0ALICE>", channel=channel)
    h.command("contain kill-staging", channel=channel)                  # confirm: false, from the command
    h.command("contain kill-browsing", channel=channel)
    h.submit_view(h.last_view(), {})                                     # the modal
    h.fake.fail_next("views.open", "trigger_expired")
    reply = h.command("contain strict-moderation", channel=channel)
    pull = reply.ephemeral[-1]["blocks"][-1]["elements"][0]
    h.click(pull["action_id"], pull["value"], channel=channel)          # the fallback button
    h.command("revert kill-staging", channel=channel)                    # the revert command
    h.command("resolve fixed", channel=channel)                          # kill-browsing reverts on resolve
    ask = next(m for m in h.fake.history(channel) if "still pulled" in m.text)
    h.click("firebreak_lever_revert", ask.blocks[-1]["elements"][0]["value"], channel=channel,
            message_ts=ask.ts)                                           # the Revert button
    assert [n for n, _ in threads] == ["apply"] * 3 + ["revert"] * 3
    assert all(t.startswith("firebreak-levers") for _, t in threads), threads


def test_no_lever_call_is_made_inside_a_database_transaction(db_url, make_ld, fake_ld) -> None:
    h = make_ld(database_url=db_url)
    seen: list[int] = []
    http = h.ctx.containment.runtime.http
    http.event_hooks = {"request": [lambda request: seen.append(getattr(h.ctx.db._local, "depth", 0))],
                        "response": []}
    channel = open_incident(h)
    h.command("contain kill-browsing", channel=channel)
    h.submit_view(h.last_view(), {})
    h.command("contain strict-moderation", channel=channel)
    h.submit_view(h.last_view(), {})
    h.command("revert strict-moderation", channel=channel)
    fake_ld.fail_next("patch", 503)
    h.command("resolve fixed", channel=channel)  # kill-browsing reverts on resolve, after one retry
    assert len(seen) >= 6 and set(seen) == {0}


# ----- exactly once ------------------------------------------------------------------------------------------
def test_each_stage_of_a_pull_is_told_once(make_ld, fake_ld) -> None:
    h = make_ld()
    channel = open_incident(h)
    h.command("contain kill-browsing", channel=channel)
    h.submit_view(h.last_view(), {})
    texts = h.fake.raw_texts(channel)
    for said in ("pulled lever *kill-browsing*", "Lever *kill-browsing* applied", "Lever *kill-browsing* verified",
                 "INC-1 *contained* at <!date^"):
        assert sum(said in t for t in texts) == 1, said
    with h.ctx.db.session() as s:
        keys = [e.key for e in s.query(Effect).filter(Effect.key.like("inc-1:lever:%"))]
    assert sorted(k.rsplit(":", 1)[1] for k in keys) == ["applied", "pulled", "worked"]


def test_resolving_again_asks_and_reverts_nothing_twice(make_ld, fake_ld) -> None:
    h = make_ld()
    channel = open_incident(h)
    for lever in ("kill-browsing", "strict-moderation"):  # on_resolve: revert, ask
        h.command(f"contain {lever}", channel=channel)
        h.submit_view(h.last_view(), {})
    h.command("resolve fixed", channel=channel)
    patches = len(fake_ld.patches)
    svc = h.ctx.containment
    svc.after_resolve(1, may_revert=lambda: True)  # the hook runs again (a re-delivered resolve)
    h.wait()
    assert len(fake_ld.patches) == patches
    assert sum("still pulled" in t for t in h.fake.texts(channel)) == 1


def test_a_resolver_who_may_not_revert_levers_leaves_the_choice_to_the_ic(make_ld, fake_ld, write_yaml) -> None:
    config = write_yaml("firebreak.yml", {"permissions": {"resolve": ["member"]}})
    h = make_ld(config_file=config)
    channel = open_incident(h)
    h.command("ic <@U0BOB>", channel=channel)
    h.command("contain kill-browsing", channel=channel)  # on_resolve: revert
    h.submit_view(h.last_view(), {})
    h.command("resolve fixed", channel=channel, user="U0CAROL")  # a member may resolve here, not revert
    assert fake_ld.env("agent-browsing")["on"] is False
    ask = [m for m in h.fake.history(channel) if "still pulled" in m.text]
    assert len(ask) == 1 and "<@U0BOB>" in ask[0].text and "kill-browsing" in ask[0].text


def test_a_redelivered_confirmation_pulls_once(make_ld, fake_ld) -> None:
    h = make_ld()
    channel = open_incident(h)
    h.command("contain kill-browsing", channel=channel)
    view = h.last_view()
    payload = {"type": "view_submission", "user": {"id": "U0ALICE", "name": "u0alice"},
               "view": {**view, "state": {"values": {}}}, "team": {"id": "T0FIREBRK"}, "api_app_id": "A0FIREBRK",
               "token": "legacy-unused", "trigger_id": h.fake.trigger_id()}
    body = urlencode({"payload": json.dumps(payload)})
    ctype = "application/x-www-form-urlencoded"
    h.dispatch(body, ctype)
    h.dispatch(body, ctype, headers=h.sign(body, ctype, retry_num=1))  # Slack's retry of the same request
    assert len(fake_ld.patches) == 1
    with h.ctx.db.session() as s:
        assert s.query(ContainmentAction).count() == 1


class Crash(BaseException):
    """The process dying under a pull (nothing after it runs, nothing catches it)."""


def test_a_pull_interrupted_by_a_crash_is_said_and_freed(make_ld, fake_ld, clock) -> None:
    h = make_ld()
    channel = open_incident(h)
    h.command("contain kill-staging", channel=channel)  # a pull that finishes: its watchdog will find it done
    h.command("revert kill-staging", channel=channel)
    kind = h.ctx.containment.kinds["launchdarkly_kill"]
    real = kind.apply

    def crash(*args):
        raise Crash()

    kind.apply = crash
    with pytest.raises(Crash):
        h.ctx.containment.pull(1, "kill-staging", actor="U0ALICE", channel_id=channel)
    kind.apply = real
    stuck = h.command("contain kill-staging", channel=channel)
    assert "already pulled on INC-1" in stuck.text and "being applied" in stuck.text
    clock.advance(minutes=3)
    h.ctx.timers.run_due()
    assert not any("interrupted" in t for t in h.fake.texts(channel))  # not yet: it could still be applying
    clock.advance(minutes=1)
    h.ctx.timers.run_due()
    h.ctx.timers.run_due()
    told = [t for t in h.fake.texts(channel) if "was interrupted" in t]
    assert len(told) == 1 and "Check by hand: turn off flag `agent-browsing` in environment `staging`" in told[0]
    with h.ctx.db.session() as s:
        rows = s.query(ContainmentAction).order_by(ContainmentAction.id).all()
        assert [r.outcome for r in rows] == ["applied", "failed"] and rows[1].slot is None
        assert s.get(Incident, 1).contained_at == rows[0].applied_at  # from the first pull, not this one
    h.command("contain kill-staging", channel=channel)  # the lever is free again
    assert len(fake_ld.patches) == 3
