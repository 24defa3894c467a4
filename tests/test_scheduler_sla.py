"""The SLA clock: warn at 75% of the MTTC target and at breach, in the channel and to the IC."""

from __future__ import annotations

from bot.core import timeline
from bot.slack.harness import Harness


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
    clock.advance(minutes=1)
    t.run_due()
    assert any("<@U0BOB> :warning: INC-1 is at 75% of its SEV2 MTTC target (3h of 4h); contain by "
               "2026-01-05 13:00:00 UTC" in x for x in h.fake.texts(ch))
    assert any("INC-1 is at 75%" in x for x in h.fake.texts("DU0BOB"))  # a direct message to the IC
    clock.advance(hours=1)
    t.run_due()
    assert any("INC-1 has breached its SEV2 MTTC target of 4h: 4h since detection and not contained" in x
               for x in h.fake.texts(ch))
    assert sla_events(h) == [(75, 14400), (100, 14400)]


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
