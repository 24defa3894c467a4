"""The SLA clock: warn at 75% of the MTTC target and at breach, in the channel and to the IC; the target is
the exercise scenario's in a tabletop, and paused exercise time does not count."""

from __future__ import annotations

from datetime import timedelta

from bot.core import timeline
from bot.scheduler import jobs
from bot.slack.harness import Harness
from bot.tabletop.references import EXERCISE_LEVERS
from tests.scheduler_support import findings, texts

SANDBOX = "C0SANDBOX"
FACIL = "U0FACIL"


def sla_events(h: Harness, n: int = 1):
    with h.ctx.db.session() as s:
        return [(e.data["percent"], e.data["target_seconds"]) for e in timeline.events(s, n, kinds=["sla_warning"])]


def test_warns_at_75_percent_and_at_breach_in_channel_and_to_the_ic(db_harness: Harness, clock) -> None:
    h = db_harness
    h.command("open Prompt injection via RAG --sev 2")  # SEV2: MTTC target 4h
    ch = h.incident_channel(1)
    h.command("ic <@U0BOB>", channel=ch)
    t = h.ctx.timers
    clock.advance(hours=2, minutes=59)
    t.run_due()
    assert sla_events(h) == []
    updates = len(h.fake.calls_to("chat.update"))
    clock.advance(minutes=1)
    t.run_due()
    assert any("<@U0BOB> :warning: INC-1 is at 75% of its SEV2 MTTC target (3h of 4h); contain by "
               "2026-01-05 13:00:00 UTC" in x for x in texts(h, ch))
    assert any("INC-1 is at 75%" in x for x in h.fake.texts("DU0BOB"))  # a direct message to the IC
    assert len(h.fake.calls_to("chat.update")) > updates  # the pinned summary's running clock was refreshed
    clock.advance(hours=1)
    t.run_due()
    assert any("INC-1 has breached its SEV2 MTTC target of 4h: 4h since detection and not contained" in x
               for x in texts(h, ch))
    assert sla_events(h) == [(75, 14400), (100, 14400)]
    with h.ctx.db.session() as s:
        [warned, breached] = timeline.events(s, 1, kinds=["sla_warning"])
    assert "contain by 2026-01-05 13:00:00 UTC" in warned.text and "<" not in warned.text + breached.text
    assert h.fake.violations == [] and findings(h) == []


def test_a_warning_run_again_after_a_crash_records_and_posts_nothing_new(harness: Harness, clock) -> None:
    h = harness
    h.command("open Prompt injection via RAG --sev 1")  # 1h target
    ch = h.incident_channel(1)
    h.command("ic <@U0BOB>", channel=ch)
    clock.advance(minutes=45)
    h.ctx.timers.run_due()
    before = (len(h.fake.texts(ch)), len(h.fake.texts("DU0BOB")), sla_events(h))
    # The scheduler died after the job committed and before its ledger row was stamped: the job runs again.
    jobs.sla_warning(h.ctx, incident_id=1, percent=75)
    h.wait()
    assert (len(h.fake.texts(ch)), len(h.fake.texts("DU0BOB")), sla_events(h)) == before
    assert sum("at 75%" in x for x in h.fake.texts(ch)) == 1


def test_containment_stops_the_sla_clock(db_harness: Harness, clock) -> None:
    h = db_harness
    h.command("open Prompt injection via RAG --sev 2")
    ch = h.incident_channel(1)
    clock.advance(hours=1)
    h.command("contained quarantined the document", channel=ch)
    assert h.ctx.timers.pending("inc-1:sla") == []
    clock.advance(hours=10)
    h.ctx.timers.run_due()
    assert sla_events(h) == []


def test_misfired_warnings_coalesce_into_the_latest(harness: Harness, clock) -> None:
    h = harness
    h.command("open Prompt injection via RAG --sev 1")  # 1h target
    clock.advance(hours=5)  # the scheduler was down through both points
    h.ctx.timers.run_due()
    assert sla_events(h) == [(100, 3600)]
    assert not any("at 75%" in x for x in h.fake.texts(h.incident_channel(1)))


def test_downgrade_moves_the_warnings_to_the_new_target(make_harness, write_yaml, clock) -> None:
    h = make_harness(config_file=write_yaml("org.yml", {"commanders": ["U0ALICE"]}))
    h.command("open Prompt injection via RAG --sev 1")
    ch = h.incident_channel(1)
    clock.advance(minutes=30)
    h.command("sev 3 only internal users", channel=ch)  # SEV3: 24h target
    t = h.ctx.timers
    clock.advance(minutes=30)  # the old 75% and breach points pass
    t.run_due()
    assert sla_events(h) == []
    assert t.when("inc-1:sla-75") is not None and t.when("inc-1:sla-75").hour == 3  # 09:00 + 18h
    clock.advance(hours=17)
    t.run_due()
    assert sla_events(h) == [(75, 86400)]


def test_custom_warning_points(make_harness, write_yaml, clock) -> None:
    h = make_harness(config_file=write_yaml("org.yml", {"scheduler": {"sla_warn_percent": [50, 90, 100]}}))
    h.command("open Prompt injection via RAG --sev 1")
    t = h.ctx.timers
    assert sorted(p.key for p in t.pending("inc-1:sla")) == ["inc-1:sla-100", "inc-1:sla-50", "inc-1:sla-90"]
    clock.advance(minutes=30)
    t.run_due()
    assert sla_events(h) == [(50, 3600)]


def test_an_exercise_is_warned_against_its_scenario_target_and_its_pauses_do_not_count(make_harness, write_yaml,
                                                                                       clock) -> None:
    h = make_harness(config_file=write_yaml("config.yml", {"sandbox_channels": ["tabletop-*"]}),
                     levers_file=EXERCISE_LEVERS)
    h.fake.add_channel("tabletop-drills", channel_id=SANDBOX, members=["U0MAYA", FACIL])
    start = clock.now()
    h.command("tabletop start jailbreak-viral", user=FACIL, channel=SANDBOX)  # target_mttc 45m; the rubric's is 1h
    ch = h.incident_channel(1)
    t = h.ctx.timers
    assert {p.key: p.when - start for p in t.pending("inc-1:sla")} == {
        "inc-1:sla-75": timedelta(minutes=33, seconds=45), "inc-1:sla-100": timedelta(minutes=45)}
    clock.advance(minutes=10)
    h.command("tabletop pause", user=FACIL, channel=SANDBOX)
    clock.advance(minutes=30)  # the old 75% point passes during the pause: no warning, the clock is stopped
    t.run_due()
    assert sla_events(h) == []
    h.command("tabletop resume", user=FACIL, channel=SANDBOX)
    assert {p.key: p.when - start for p in t.pending("inc-1:sla")} == {
        "inc-1:sla-75": timedelta(minutes=63, seconds=45), "inc-1:sla-100": timedelta(minutes=75)}
    clock.advance(minutes=23, seconds=45)  # 33m45s of active time
    t.run_due()
    assert sla_events(h) == [(75, 45 * 60)]
    [warning] = [x for x in texts(h, ch) if "MTTC target" in x and "75%" in x]
    assert "INC-1 is at 75% of its exercise MTTC target (33m 45s of 45m); contain by 2026-01-05 10:15:00 UTC" in warning
    assert warning.startswith("[EXERCISE]")
