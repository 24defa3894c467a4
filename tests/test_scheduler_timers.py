"""The durable timers service: the timers contract on a persistent store, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlmodel import select

from bot.config.settings import Settings
from bot.core.clock import ManualClock
from bot.core.timers import incident_key
from bot.scheduler.durable import DurableTimers
from bot.slack.app import build
from bot.store.models import SchedulerRun


def make_bot(url: str, clock: ManualClock):
    bot = build(Settings(database_url=url, slack_api_url="http://127.0.0.1:9/"), clock)
    bot.ctx.db.create_all()
    return bot


@pytest.fixture
def bots(db_url: str, clock: ManualClock):
    made = []

    def make():
        bot = make_bot(db_url, clock)
        made.append(bot)
        return bot

    yield make
    for bot in made:
        bot.close()


def recorder(fired: list):
    def job(ctx, **kwargs):
        fired.append(kwargs)
    return job


def test_contract_at_replace_cancel_pending_run_due(bots, clock: ManualClock) -> None:
    bot = bots()
    t = bot.ctx.timers
    assert isinstance(t, DurableTimers)
    fired: list = []
    t.register("rec", recorder(fired))
    now = clock.now()
    t.at(incident_key(1, "a"), now + timedelta(minutes=5), "rec", n=1)
    t.at(incident_key(1, "a"), now + timedelta(minutes=10), "rec", n=2)  # replaces, idempotent
    t.at(incident_key(1, "b"), now + timedelta(minutes=1), "rec", n=3)
    t.at(incident_key(12, "a"), now + timedelta(minutes=1), "rec", n=4)
    assert [p.key for p in t.pending("inc-1:")] == ["inc-1:b", "inc-1:a"]
    assert t.pending("inc-1:")[1].kwargs == {"n": 2} and t.pending("inc-1:")[1].when == now + timedelta(minutes=10)
    clock.advance(minutes=5)
    assert t.run_due() == 2
    assert sorted(f["n"] for f in fired) == [3, 4]
    assert t.run_due() == 0  # once only
    t.cancel_prefix("inc-1:")
    assert t.pending() == []
    clock.advance(hours=1)
    assert t.run_due() == 0 and len(fired) == 2


def test_cancel_prefix_treats_wildcards_literally(bots, clock: ManualClock) -> None:
    t = bots().ctx.timers
    t.register("rec", recorder([]))
    t.at("inc-1:x_y", clock.now() + timedelta(minutes=1), "rec")
    t.at("inc-1:xzy", clock.now() + timedelta(minutes=1), "rec")
    t.cancel_prefix("inc-1:x_")
    assert [p.key for p in t.pending()] == ["inc-1:xzy"]
    t.cancel("inc-1:xzy")
    t.cancel("inc-1:missing")  # no error
    assert t.pending() == []


def test_bad_timers_are_refused_and_nothing_is_stored(bots, clock: ManualClock) -> None:
    t = bots().ctx.timers
    t.register("rec", recorder([]))
    with pytest.raises(KeyError, match="no timer job registered as 'nope'"):
        t.at("k", clock.now(), "nope")
    with pytest.raises(TypeError, match="JSON-serialisable"):
        t.at("k", clock.now(), "rec", stamp=clock.now())
    with pytest.raises(ValueError, match="timezone-aware"):
        t.at("k", clock.now().replace(tzinfo=None), "rec")
    assert t.pending() == []


def test_timers_survive_a_restart_and_run_once(bots, clock: ManualClock) -> None:
    first = bots()
    t1 = first.ctx.timers
    t1.register("rec", recorder([]))
    t1.at("inc-3:later", clock.now() + timedelta(minutes=30), "rec", note="kept")
    first.close()
    second = bots()  # a new process on the same database
    fired: list = []
    t2 = second.ctx.timers
    t2.register("rec", recorder(fired))
    assert [(p.key, p.kwargs) for p in t2.pending()] == [("inc-3:later", {"note": "kept"})]
    clock.advance(hours=3)  # long past due: a misfire runs once, not once per missed interval
    assert t2.run_due() == 1 and fired == [{"note": "kept"}]
    with second.ctx.db.session() as s:
        runs = list(s.exec(select(SchedulerRun)))
    assert [(r.key, r.outcome) for r in runs] == [("inc-3:later", "ok")]


def test_failing_job_does_not_stop_others_and_is_recorded(bots, clock: ManualClock) -> None:
    t = bots().ctx.timers
    fired: list = []

    def boom(ctx, **kw):
        raise RuntimeError("boom")

    t.register("boom", boom)
    t.register("rec", recorder(fired))
    t.at("a", clock.now(), "boom")
    t.at("b", clock.now(), "rec", ok=True)
    assert t.run_due() == 2 and fired == [{"ok": True}]
    with t.ctx.db.session() as s:
        outcomes = {r.key: r.outcome for r in s.exec(select(SchedulerRun))}
    assert outcomes == {"a": "failed: RuntimeError", "b": "ok"}
    assert t.run_due() == 0  # not retried forever


def test_two_schedulers_racing_fire_each_timer_once(bots, clock: ManualClock) -> None:
    a, b = bots(), bots()
    fired: list = []
    lock = threading.Lock()

    def job(ctx, *, i):
        with lock:
            fired.append(i)

    for bot in (a, b):
        bot.ctx.timers.register("rec", job)
    for i in range(30):
        a.ctx.timers.at(f"k{i:02d}", clock.now(), "rec", i=i)
    threads = [threading.Thread(target=bot.ctx.timers.run_due) for bot in (a, b, a, b)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert sorted(fired) == list(range(30))


def test_interrupted_firing_is_requeued_once_by_the_next_scheduler(bots, clock: ManualClock) -> None:
    bot = bots()
    t = bot.ctx.timers
    fired: list = []
    t.register("rec", recorder(fired))
    with bot.ctx.db.session() as s:  # a scheduler that claimed two timers and died in the middle of one
        s.add(SchedulerRun(key="inc-1:x", job="rec", kwargs={"v": 1}, due_at=clock.now(), claimed_at=clock.now(),
                           owner="dead-process"))
        s.add(SchedulerRun(key="inc-1:y", job="rec", kwargs={"v": 2}, due_at=clock.now(), claimed_at=clock.now(),
                           owner="dead-process", finished_at=clock.now(), outcome="ok"))
    assert t.recover_interrupted() == 1
    assert t.recover_interrupted() == 0  # once
    assert t.run_due() == 1 and fired == [{"v": 1}]


def test_runbook_style_job_keeps_working_through_the_interface(bots, clock: ManualClock) -> None:
    """The runbook feature registers `runbook_nudge` via `ctx.timers` and must work unchanged."""
    bot = bots()
    t = bot.ctx.timers
    seen: list = []
    t.register("runbook_nudge", lambda ctx, **kw: seen.append((ctx is bot.ctx, kw)))
    t.at(incident_key(7, "runbook:contain:2"), clock.now() + timedelta(minutes=15), "runbook_nudge",
         incident_id=7, runbook="jailbreak", step=2)
    clock.advance(minutes=15)
    t.run_due()
    assert seen == [(True, {"incident_id": 7, "runbook": "jailbreak", "step": 2})]


def test_job_with_unregistered_name_is_dropped_not_retried(bots, clock: ManualClock) -> None:
    first = bots()
    first.ctx.timers.register("gone_feature", lambda ctx, **kw: None)
    first.ctx.timers.at("x", clock.now(), "gone_feature")
    second = bots()  # a later version without that feature
    assert second.ctx.timers.run_due() == 1
    assert second.ctx.timers.pending() == []


def test_separate_job_database(tmp_path, clock: ManualClock) -> None:
    """FIREBREAK_SCHEDULER_DATABASE_URL keeps jobs and their ledger in another database."""
    jobs_url = f"sqlite:///{tmp_path}/jobs.db"
    bot = build(Settings(database_url=f"sqlite:///{tmp_path}/app.db", scheduler_database_url=jobs_url,
                         slack_api_url="http://127.0.0.1:9/"), clock)
    try:
        bot.ctx.db.create_all()
        t = bot.ctx.timers
        fired: list = []
        t.register("rec", recorder(fired))
        t.at("inc-1:x", clock.now(), "rec", v=1)
        assert t.run_due() == 1 and fired == [{"v": 1}]
        from sqlalchemy import create_engine, text

        engine = create_engine(jobs_url)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT key, outcome FROM scheduler_run")).all() == [("inc-1:x", "ok")]
        engine.dispose()
    finally:
        bot.close()


def test_module_level_fire_runs_a_stored_job_in_this_process(bots, clock: ManualClock) -> None:
    """What a job restored by a stock APScheduler calls: a module-level function, JSON kwargs only."""
    from apscheduler.util import ref_to_obj

    from bot.scheduler.durable import JOB_FUNC

    bot = bots()
    seen: list = []
    bot.ctx.timers.register("rec", lambda ctx, **kw: seen.append((ctx is bot.ctx, kw)))
    bot.ctx.timers.at("k", clock.now(), "rec", a=1)
    [job] = bot.ctx.timers.store.get_all_jobs()
    assert job.func is ref_to_obj(JOB_FUNC) and job.coalesce is True and job.misfire_grace_time is None
    job.func(*job.args, **job.kwargs)
    assert seen == [(True, {"a": 1})]


def test_start_runs_due_timers_in_the_background_and_close_stops(bots) -> None:
    from bot.core.clock import SystemClock

    bot = bots()
    bot.ctx.clock = SystemClock()
    t = bot.ctx.timers
    done = threading.Event()
    t.register("rec", lambda ctx, **kw: done.set())
    t.at("k", bot.ctx.clock.now(), "rec")
    t.start(interval=0.05)
    assert done.wait(10)
    t.close()
    assert not t.running


def test_cli_lists_pending_timers(tmp_path, monkeypatch, clock: ManualClock) -> None:
    from typer.testing import CliRunner

    from bot.cli.main import cli

    url = f"sqlite:///{tmp_path}/cli.db"
    bot = make_bot(url, clock)
    bot.ctx.timers.at("inc-4:status-reminder", clock.now(), "status_reminder", incident_id=4)
    bot.close()
    monkeypatch.setenv("DATABASE_URL", url)
    result = CliRunner().invoke(cli, ["scheduler", "list", "inc-4:"])
    assert result.exit_code == 0, result.output
    assert "2026-01-05T09:00:00+00:00  inc-4:status-reminder  status_reminder" in result.output
    assert "1 pending timer(s)" in result.output


def test_a_timer_is_stored_as_apscheduler_stores_the_job(bots, clock: ManualClock) -> None:
    """The job state written without building a Job is the one APScheduler's own Job would give."""
    import pickle

    bot = bots()
    t = bot.ctx.timers
    when = clock.now()
    built = t._job("inc-1:k", when, "rec", {"a": 1}).__getstate__()
    fast = t._job_state("inc-1:k", when, "rec", {"a": 1})
    assert {k: v for k, v in fast.items() if k != "trigger"} == {k: v for k, v in built.items() if k != "trigger"}
    assert pickle.dumps(fast["trigger"]) == pickle.dumps(built["trigger"])
    assert sorted(fast) == sorted(built)
