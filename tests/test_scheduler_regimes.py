"""Regulatory report clocks: deadline arithmetic per regime, the command, reminders, summary, bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import select

from bot.config.org import Config, load_config
from bot.core import timeline
from bot.core.errors import ConfigError, UsageError
from bot.scheduler.regimes import add_months, deadlines, get_regime, reminder_times
from bot.slack.harness import Harness, seen
from bot.store.models import ReportClock
from tests.scheduler_support import findings, texts

AWARE = datetime(2026, 1, 31, 10, 0, tzinfo=UTC)
CFG = Config()


def due(regime: str, case: str | None = None, **kw) -> list[tuple[str, datetime]]:
    return [(s.name, d) for s, d in deadlines(get_regime(CFG, regime), AWARE, case=case, **kw)]


@pytest.mark.parametrize(("case", "days"), [(None, 15), ("default", 15), ("widespread", 2),
                                            ("critical-infrastructure", 2), ("death", 10)])
def test_eu_ai_act_art73_cases(case, days) -> None:
    assert due("eu-ai-act-art73", case) == [("report", AWARE + timedelta(days=days))]


def test_gdpr_72_hours() -> None:
    assert due("gdpr-72h") == [("notification", AWARE + timedelta(hours=72))]


def test_nis2_stages_with_a_calendar_month() -> None:
    assert due("nis2") == [("early-warning", AWARE + timedelta(hours=24)),
                           ("notification", AWARE + timedelta(hours=72)),
                           ("final", datetime(2026, 2, 28, 10, 0, tzinfo=UTC))]  # 31 Jan + 1 month


def test_dora_counts_from_classification_capped_at_24h_after_awareness() -> None:
    classified = AWARE + timedelta(hours=2)
    assert due("dora", classified_at=classified) == [
        ("initial", classified + timedelta(hours=4)), ("intermediate", classified + timedelta(hours=72)),
        ("final", datetime(2026, 2, 28, 12, 0, tzinfo=UTC))]
    late = AWARE + timedelta(hours=22)
    assert due("dora", classified_at=late)[0] == ("initial", AWARE + timedelta(hours=24))


def test_add_months_clamps_and_crosses_years() -> None:
    assert add_months(datetime(2026, 12, 15, tzinfo=UTC), 1) == datetime(2027, 1, 15, tzinfo=UTC)
    assert add_months(datetime(2028, 1, 31, tzinfo=UTC), 1) == datetime(2028, 2, 29, tzinfo=UTC)


def test_unknown_case_and_case_on_a_regime_without_cases() -> None:
    with pytest.raises(UsageError, match="`war` is not a case of eu-ai-act-art73; cases: default, widespread"):
        due("eu-ai-act-art73", "war")
    with pytest.raises(UsageError, match="gdpr-72h has no cases"):
        due("gdpr-72h", "death")


def test_reminder_points_inside_the_window() -> None:
    start = AWARE
    end = AWARE + timedelta(hours=72)
    assert reminder_times(["50%", "24h", "4h"], start, end) == [
        ("50%", AWARE + timedelta(hours=36)), ("24h", AWARE + timedelta(hours=48)), ("4h", AWARE + timedelta(hours=68))]
    short = AWARE + timedelta(hours=4)  # DORA initial: 24h before is outside the window
    assert [p for p, _ in reminder_times(["50%", "24h", "4h"], start, short)] == ["50%"]


def test_organization_regime_from_config(write_yaml) -> None:
    path = write_yaml("org.yml", {"scheduler": {"regimes": {"uk-ofcom": {
        "label": "Ofcom online safety notice", "stages": [{"name": "notice", "within": "48h"}],
        "cases": {"children": "24h"}}}}})
    cfg = load_config(path)
    regime = get_regime(cfg, "uk-ofcom")
    assert [(s.name, d) for s, d in deadlines(regime, AWARE)] == [("notice", AWARE + timedelta(hours=48))]
    assert [(s.name, d) for s, d in deadlines(regime, AWARE, case="children")] == [("notice", AWARE + timedelta(hours=24))]


@pytest.mark.parametrize(("data", "message"), [
    ({"regimes": {"x-y": {"label": "L", "stages": [{"name": "a", "within": "soon"}]}}},
     "scheduler.regimes.x-y.stages.0.within"),
    ({"regimes": {"Bad Name": {"label": "L", "stages": [{"name": "a", "within": "1h"}]}}}, "regime name `Bad Name`"),
    ({"report_reminders": ["150%"]}, "between 0% and 100%"),
    ({"status_cadence": {5: "1h"}}, "severities are 1 to 4"),
    ({"status_cadence": {1: "often"}}, "is not a duration"),
])
def test_invalid_scheduler_config_names_the_key(write_yaml, data, message) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(write_yaml("org.yml", {"scheduler": data}))


# ----- the command -------------------------------------------------------------------------------------

def opened(h: Harness) -> str:
    h.command("open Customer PII in answers --sev 1")
    return h.incident_channel(1)


def clocks(h: Harness) -> list[ReportClock]:
    with h.ctx.db.session() as s:
        return list(s.exec(select(ReportClock)))


def kinds(h: Harness) -> list[str]:
    with h.ctx.db.session() as s:
        return [e.kind for e in timeline.events(s, 1)]


def summary(h: Harness) -> str:
    return seen(h.summary(1))


def report_reminders(h: Harness, ch: str) -> list[str]:
    # Report-clock reminders only (runbook nudges also carry :alarm_clock:).
    return [x for x in texts(h, ch) if ":alarm_clock:" in x and "report-clock" in x]


def test_gdpr_clock_summary_reminders_and_done(db_harness: Harness, clock) -> None:
    h = db_harness
    ch = opened(h)
    reply = h.command('report-clock gdpr-72h --aware-at "2h ago"', channel=ch)
    assert "Reporting clock started on INC-1" in reply.text
    assert "notify the supervisory authority: due 2026-01-08 07:00:00 UTC — in 2d 22h" in reply.text
    assert "GDPR Art. 33 personal data breach notification" in summary(h)
    assert "due 2026-01-08 07:00:00 UTC" in summary(h)
    assert "report_clock_started" in kinds(h)
    t = h.ctx.timers
    clock.advance(hours=34)  # 36h after awareness = 50%
    t.run_due()
    said = report_reminders(h, ch)
    assert len(said) == 1 and "is due 2026-01-08 07:00:00 UTC (in 1d 12h)" in said[0]
    clock.advance(hours=12)  # 24h before
    t.run_due()
    assert len(report_reminders(h, ch)) == 2 and "(in 1d)" in report_reminders(h, ch)[1]
    before = len(kinds(h))
    h.invite("U0DPO", ch)  # in the (private) channel, but holding no role yet
    reply = h.command("report-clock done gdpr-72h DPA-2026-118", channel=ch, user="U0DPO")
    assert "Only the incident commander or the privacy officer may record reports as done on INC-1" in reply.text
    assert kinds(h)[before:] == ["permission_denied"]  # refused, audited, nothing else written
    h.command("role privacy <@U0DPO>", channel=ch)  # the reporter (no IC yet) makes the DPO the privacy officer
    reply = h.command("report-clock done gdpr-72h DPA-2026-118", channel=ch, user="U0DPO")
    assert "Recorded: gdpr-72h notify the supervisory authority for INC-1, reference `DPA-2026-118`" in reply.text
    assert t.pending("inc-1:report:") == []
    assert "ref `DPA-2026-118`" in summary(h)
    clock.advance(days=5)
    t.run_due()
    assert len(report_reminders(h, ch)) == 2
    assert findings(h) == [] and h.fake.violations == []
    with h.ctx.db.session() as s:
        [done] = timeline.events(s, 1, kinds=["report_clock_done"])
    assert done.data["regime"] == "gdpr-72h" and done.actor == "U0DPO"


def test_deadline_passed_notice(harness: Harness, clock) -> None:
    h = harness
    ch = opened(h)
    h.command("report-clock eu-ai-act-art73 widespread", channel=ch)
    clock.advance(days=2)
    h.ctx.timers.run_due()
    said = report_reminders(h, ch)
    assert len(said) == 1 and "deadline (report to the market surveillance authority) for INC-1 passed" in said[0]
    assert "due 2026-01-07 09:00:00 UTC — :red_circle: OVERDUE" in summary(h)


def test_nis2_done_moves_stage_by_stage(harness: Harness, clock) -> None:
    h = harness
    ch = opened(h)
    h.command("report-clock nis2", channel=ch)
    h.command("report-clock done nis2 CSIRT-1", channel=ch)
    assert not any(k.endswith(":early-warning:due") for k in (p.key for p in h.ctx.timers.pending()))
    assert any(k.endswith(":notification:due") for k in (p.key for p in h.ctx.timers.pending()))
    h.command("report-clock done nis2 CSIRT-2", channel=ch)
    h.command("report-clock done nis2 CSIRT-3", channel=ch)
    [row] = clocks(h)
    assert row.done_at is not None and [s["reference"] for s in row.stages] == ["CSIRT-1", "CSIRT-2", "CSIRT-3"]
    reply = h.command("report-clock done nis2 CSIRT-4", channel=ch)
    assert "Every nis2 report of INC-1 is already recorded" in reply.text


def test_listing_with_no_argument(harness: Harness) -> None:
    h = harness
    ch = opened(h)
    assert "INC-1 has no reporting clock" in h.command("report-clock", channel=ch).text
    h.command("report-clock gdpr-72h", channel=ch)
    assert "Reporting clocks of INC-1" in h.command("report-clock", channel=ch).text
    everywhere = h.command("report-clock").text  # outside an incident channel: every running clock
    assert "Running reporting clocks" in everywhere and "INC-1 · *GDPR" in everywhere


@pytest.mark.parametrize(("args", "message"), [
    ("report-clock hipaa", "`hipaa` is not a reporting regime. Regimes: `eu-ai-act-art73` (cases: widespread, "
                           "critical-infrastructure, death), `gdpr-72h`, `nis2`, `dora`"),
    ("report-clock eu-ai-act-art73 meteor", "`meteor` is not a case of eu-ai-act-art73"),
    ("report-clock gdpr-72h --aware-at yesterday", "`yesterday` is not a time for --aware-at; use an ISO time"),
    ("report-clock gdpr-72h --aware-at 2030-01-01T00:00Z", "--aware-at is in the future"),
    ("report-clock gdpr-72h --when now", "Unknown option `--when`"),
    ("report-clock gdpr-72h --classified-at 1h ago", "--classified-at applies to dora only"),
    ("report-clock a b c", "Too many words"),
    ("report-clock done gdpr-72h", "Give the regime and the reference"),
    ("report-clock done gdpr-72h REF-1", "INC-1 has no gdpr-72h clock"),
    ("report-clock done hipaa REF-1", "`hipaa` is not a reporting regime"),
    ("report-clock waive gdpr-72h not personal data", "INC-1 has no gdpr-72h clock"),
    ("report-clock done gdpr-72h " + "R" * 201, "The reference is 201 characters; the limit is 200."),
    ("report-clock " + "g" * 100, "is not a reporting regime"),
])
def test_bad_input_says_what_and_writes_nothing(db_harness: Harness, args: str, message: str) -> None:
    h = db_harness
    ch = opened(h)
    before = kinds(h)
    reply = h.command(args, channel=ch)
    assert message in reply.text
    assert "Usage: `/incident report-clock" in reply.text
    assert clocks(h) == [] and kinds(h) == before
    assert h.ctx.timers.pending("inc-1:report") == []


def test_second_start_of_the_same_regime_conflicts(harness: Harness) -> None:
    h = harness
    ch = opened(h)
    h.command("report-clock gdpr-72h", channel=ch)
    reply = h.command("report-clock gdpr-72h", channel=ch)
    assert "The gdpr-72h clock of INC-1 is already running" in reply.text
    assert len(clocks(h)) == 1


def test_start_needs_an_incident_and_an_open_one(harness: Harness) -> None:
    h = harness
    reply = h.command("report-clock gdpr-72h")
    assert "This is not an incident channel" in reply.text
    ch = opened(h)
    h.command("resolve done", channel=ch)
    assert "INC-1 is resolved" in h.command("report-clock gdpr-72h", channel=ch).text
    assert clocks(h) == []


def test_resolution_lists_open_obligations_and_their_reminders_continue_until_done(db_harness: Harness,
                                                                                      clock) -> None:
    h = db_harness
    ch = opened(h)
    h.command("report-clock gdpr-72h", channel=ch)
    h.command("resolve contained and fixed", channel=ch)
    [listed] = [x for x in texts(h, ch) if "reporting obligations" in x]
    assert "INC-1 is resolved, but these reporting obligations are not recorded as done: gdpr-72h (notify the " \
           "supervisory authority, due 2026-01-08 09:00:00 UTC)" in listed
    t = h.ctx.timers
    assert {p.key for p in t.pending("inc-1:")} == {"inc-1:report:gdpr-72h:notification:50%",
                                                     "inc-1:report:gdpr-72h:notification:24h",
                                                     "inc-1:report:gdpr-72h:notification:4h",
                                                     "inc-1:report:gdpr-72h:notification:due"}
    clock.advance(hours=36)
    t.run_due()
    assert len(report_reminders(h, ch)) == 1  # after the resolution
    clock.advance(hours=12)
    t.run_due()
    assert len(report_reminders(h, ch)) == 2
    assert not any(":hourglass:" in x for x in texts(h, ch))  # status reminders did stop
    reply = h.command("report-clock done gdpr-72h DPA-9", channel=ch)  # still recordable after resolution
    assert "Recorded" in reply.text
    assert t.pending("inc-1:") == []
    clock.advance(days=5)
    t.run_due()
    assert len(report_reminders(h, ch)) == 2


def test_a_restart_after_resolution_keeps_the_obligations_timers(harness: Harness, clock) -> None:
    h = harness
    ch = opened(h)
    h.command("report-clock gdpr-72h", channel=ch)
    h.command("resolve contained and fixed", channel=ch)
    h.ctx.timers.cancel_prefix("inc-1:")  # the job table lost them
    assert h.ctx.scheduler.reconcile() == (1, 0)
    assert len(h.ctx.timers.pending("inc-1:report:gdpr-72h:")) == 4
    assert h.ctx.timers.pending("inc-1:status") == [] and h.ctx.timers.pending("inc-1:sla") == []


def test_waive_closes_a_clock_with_a_reason_and_only_for_those_allowed(db_harness: Harness, clock) -> None:
    h = db_harness
    ch = opened(h)
    h.command("ic <@U0BOB>", channel=ch)
    h.command("report-clock nis2", channel=ch)
    h.command("report-clock done nis2 CSIRT-1", channel=ch, user="U0BOB")
    h.invite("U0EVE", ch)  # a member of the (private) channel, holding no role
    before = len(kinds(h))
    reply = h.command("report-clock waive nis2 not a significant incident after all", channel=ch, user="U0EVE")
    assert "Only the incident commander or the privacy officer may record reports as done on INC-1" in reply.text
    assert kinds(h)[before:] == ["permission_denied"]
    reply = h.command("report-clock waive nis2", channel=ch, user="U0BOB")
    assert "Give the regime and why no report is owed" in reply.text
    reply = h.command("report-clock waive nis2 " + "x" * 1001, channel=ch, user="U0BOB")
    assert "The reason is 1,001 characters; the limit is 1,000." in reply.text
    assert kinds(h)[before:] == ["permission_denied"]
    # As Slack sends `@channel not significant & below <thresholds>`: a broadcast token and escaped characters.
    reply = h.command("report-clock waive nis2 <!channel> not significant &amp; below &lt;thresholds&gt;", channel=ch,
                      user="U0BOB")
    assert "Waived: the nis2 clock of INC-1" in reply.text
    typed = "@channel not significant & below <thresholds>"
    [row] = clocks(h)
    assert row.done_at is not None and [s.get("waive_reason") for s in row.stages] == [None, typed, typed]
    assert h.ctx.timers.pending("inc-1:report:") == []
    assert f"waived 2026-01-05 09:00:00 UTC: {typed}" in summary(h)
    assert "report_clock_waived" in kinds(h)
    again = h.command("report-clock waive nis2 twice", channel=ch, user="U0BOB")
    assert "Every nis2 report of INC-1 is already recorded or waived" in again.text
    assert findings(h) == [] and h.fake.violations == []


def test_the_list_outside_an_incident_hides_private_clocks_from_non_members(harness: Harness) -> None:
    h = harness
    h.command("open Customer PII of Jane Roe in answers --sev 1 --private")
    h.command("report-clock gdpr-72h", channel=h.incident_channel(1))
    outsider = h.command("report-clock", user="U0EVE").text
    assert "INC-1 · a private incident with 1 running clock(s); details for its members." in outsider
    assert "GDPR" not in outsider
    member = h.command("report-clock", user="U0ALICE").text
    assert "INC-1 · *GDPR Art. 33" in member


def test_dora_with_classification_time(harness: Harness) -> None:
    h = harness
    ch = opened(h)
    reply = h.command('report-clock dora --aware-at "2026-01-05 07:00" --classified-at 2026-01-05T08:30Z',
                      channel=ch)
    assert "initial notification: due 2026-01-05 12:30:00 UTC" in reply.text


# ----- properties ----------------------------------------------------------------------------------------

instants = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2040, 12, 31)).map(
    lambda d: d.replace(tzinfo=UTC))


@given(aware=instants, regime=st.sampled_from(["eu-ai-act-art73", "gdpr-72h", "nis2", "dora"]))
def test_deadlines_are_after_awareness_and_in_stage_order(aware: datetime, regime: str) -> None:
    stages = deadlines(get_regime(CFG, regime), aware)
    dues = [d for _, d in stages]
    assert all(d > aware for d in dues)
    assert dues == sorted(dues)


@given(start=instants, months=st.integers(min_value=0, max_value=36))
def test_add_months_keeps_time_and_never_overshoots_the_month(start: datetime, months: int) -> None:
    out = add_months(start, months)
    assert (out.year * 12 + out.month) - (start.year * 12 + start.month) == months
    assert out.time() == start.time() and out.day <= start.day


@given(start=instants, hours=st.integers(min_value=1, max_value=24 * 40),
       points=st.lists(st.sampled_from(["10%", "50%", "90%", "1h", "4h", "24h", "3d"]), max_size=5))
def test_reminders_fall_strictly_inside_the_window(start: datetime, hours: int, points: list[str]) -> None:
    end = start + timedelta(hours=hours)
    times = [t for _, t in reminder_times(points, start, end)]
    assert all(start < t < end for t in times) and times == sorted(times) and len(set(times)) == len(times)
