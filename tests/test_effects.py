"""The effects ledger: recorded with the fact, done once, in order per lane, retried, resumed after a crash."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlmodel import select

from bot.app.effects import EffectRunner, Failed, Job, Retry
from bot.app.services import Services, base_services
from bot.config.settings import Settings
from bot.core import effects
from bot.store.models.effects import DONE, FAILED, PENDING, RUNNING, Effect


@pytest.fixture
def services(db_url: str, clock) -> Iterator[Services]:
    svc = base_services(Settings(database_url=db_url), clock)
    svc.db.create_all()
    svc.effects.backoff = (0.01, 0.02)
    yield svc
    svc.close()


def record(svc: Services, kind: str, lane: str, *, key: str | None = None, incident_id: int | None = None,
           after: int | None = None, **payload) -> int:
    with svc.db.session() as s:
        return effects.record(s, kind=kind, lane=lane, payload=payload, key=key, incident_id=incident_id,
                              after=after, created_at=svc.clock.now())


def settle(svc: Services, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while svc.effects.outstanding() and time.monotonic() < end:
        svc.effects.kick()
        svc.lanes.wait_idle(1)
        time.sleep(0.01)
    assert svc.effects.outstanding() == 0
    svc.lanes.wait_idle(5)  # what follows a mark on the lane (a failure's report) has finished too


def states(svc: Services) -> dict[str, str]:
    with svc.db.session() as s:
        return {e.key: e.state for e in s.exec(select(Effect))}


def test_the_same_key_is_recorded_once(services: Services) -> None:
    done: list[str] = []
    services.effects.register("note", lambda job: done.append(job.payload["n"]) or {})
    first = record(services, "note", "a", key="inc-1:reminder:09:30", n=1)
    again = record(services, "note", "a", key="inc-1:reminder:09:30", n=2)
    settle(services)
    assert first == again and done == [1]


def test_nothing_is_done_when_the_transaction_rolls_back(services: Services) -> None:
    done: list[int] = []
    services.effects.register("note", lambda job: done.append(1) or {})
    with pytest.raises(RuntimeError), services.db.session() as s:
        effects.record(s, kind="note", lane="a", payload={}, created_at=services.clock.now())
        raise RuntimeError("the fact was refused")
    services.effects.kick()
    services.lanes.wait_idle(5)
    assert done == [] and states(services) == {}


def test_one_lane_runs_in_order_and_lanes_run_side_by_side(services: Services) -> None:
    log: list[tuple[str, int, str]] = []
    gate = threading.Event()

    def slow(job: Job) -> dict:
        log.append((job.lane, job.payload["n"], "start"))
        if job.lane == "slow":
            gate.wait(5)
        log.append((job.lane, job.payload["n"], "end"))
        return {}

    services.effects.register("step", slow)
    for n in range(3):
        record(services, "step", "slow", n=n)
    for n in range(3):
        record(services, "step", "fast", n=n)
    deadline = time.monotonic() + 5
    while [e for e in log if e[0] == "fast" and e[2] == "end"] != [("fast", n, "end") for n in range(3)]:
        assert time.monotonic() < deadline, log
        time.sleep(0.01)
    gate.set()  # the slow lane waited; the fast lane was not held up by it
    settle(services)
    slow_order = [(n, what) for lane, n, what in log if lane == "slow"]
    assert slow_order == [(0, "start"), (0, "end"), (1, "start"), (1, "end"), (2, "start"), (2, "end")]


def test_transient_failures_are_retried_until_done(services: Services) -> None:
    attempts: list[int] = []

    def flaky(job: Job) -> dict:
        attempts.append(job.attempts)
        if job.attempts < 3:
            raise Retry("chat.postMessage: ratelimited", after=0.01)
        return {"ts": "1.1"}

    services.effects.register("post", flaky)
    record(services, "post", "a", key="k")
    settle(services)
    assert attempts == [1, 2, 3] and states(services) == {"k": DONE}


def test_a_permanent_failure_is_reported_once_and_the_lane_goes_on(services: Services) -> None:
    failures: list[str] = []
    services.effects.on_failed.append(lambda job, error: failures.append(f"{job.key}: {error}"))
    services.effects.register("bad", lambda job: (_ for _ in ()).throw(Failed("chat.postMessage: msg_too_long")))
    services.effects.register("good", lambda job: {})
    record(services, "bad", "a", key="first")
    record(services, "good", "a", key="second")
    settle(services)
    assert states(services) == {"first": FAILED, "second": DONE}
    assert failures == ["first: chat.postMessage: msg_too_long"]


def test_retries_stop_at_the_deadline(services: Services) -> None:
    failures: list[str] = []
    services.effects.on_failed.append(lambda job, error: failures.append(error))
    services.effects.register("post", lambda job: (_ for _ in ()).throw(Retry("chat.postMessage: internal_error")))
    with services.db.session() as s:
        effects.record(s, kind="post", lane="a", payload={}, key="k", created_at=services.clock.now(),
                       budget=timedelta(seconds=0.05))
    settle(services)
    assert states(services) == {"k": FAILED} and "gave up after" in failures[0]


def test_an_effect_waits_for_the_one_it_comes_after(services: Services) -> None:
    order: list[str] = []
    gate = threading.Event()

    def run(job: Job) -> dict:
        if job.key == "post":
            gate.wait(5)
        order.append(job.key)
        return {}

    services.effects.register("x", run)
    first = record(services, "x", "channel", key="post")
    record(services, "x", "pins", key="pin", after=first)
    time.sleep(0.2)
    assert order == []
    gate.set()
    settle(services)
    assert order == ["post", "pin"]


def test_other_effects_of_an_incident_wait_for_its_channel(services: Services) -> None:
    order: list[str] = []
    gate = threading.Event()

    def run(job: Job) -> dict:
        if job.kind == effects.PROVISION:
            gate.wait(5)
        order.append(job.kind)
        return {}

    for kind in (effects.PROVISION, "announce", "invite"):
        services.effects.register(kind, run)
    record(services, effects.PROVISION, "provision:1", incident_id=1)
    record(services, "announce", "announce", incident_id=1)
    record(services, "invite", "invite:1", incident_id=1)
    time.sleep(0.2)
    assert order == []
    gate.set()
    settle(services)
    assert order[0] == effects.PROVISION and sorted(order[1:]) == ["announce", "invite"]


def test_an_effect_interrupted_by_a_crash_is_resumed_once_and_knows_it(services: Services) -> None:
    seen: list[tuple[int, bool]] = []
    services.effects.register("post", lambda job: seen.append((job.attempts, job.resumed)) or {})
    effect_id = record(services, "post", "a", key="k")
    services.lanes.wait_idle(5)
    settle(services)
    # A process died after claiming the next one: it is left running.
    with services.db.session() as s:
        s.add(Effect(key="crashed", lane="b", kind="post", payload={}, state=RUNNING, attempts=1,
                     created_at=services.clock.now(), owner="dead-process"))
    assert services.effects.recover() == 1  # SQLite: one process, so whatever was running died with it
    settle(services)
    assert seen == [(1, False), (2, True)] and effect_id
    assert states(services) == {"k": DONE, "crashed": DONE}


def test_only_expired_leases_are_recovered_when_several_processes_share_the_database(services: Services) -> None:
    runner = EffectRunner(services, single_process=False)
    with services.db.session() as s:
        s.add(Effect(key="live", lane="b", kind="post", payload={}, state=RUNNING, attempts=1,
                     created_at=services.clock.now(), owner="other",
                     lease_until=effects.now() + timedelta(minutes=1)))
        s.add(Effect(key="dead", lane="c", kind="post", payload={}, state=RUNNING, attempts=1,
                     created_at=services.clock.now(), owner="gone",
                     lease_until=effects.now() - timedelta(seconds=1)))
    assert runner.recover() == 1
    assert states(services)["live"] == RUNNING and states(services)["dead"] in (PENDING, RUNNING, DONE, FAILED)
    runner.close()


def test_two_runners_never_run_one_effect_twice_nor_one_lane_twice_at_once(services: Services) -> None:
    """Two processes share the database: each claims several effects per drain, in one statement. Every effect
    still runs once, and a lane's effects one at a time in their order."""
    other = EffectRunner(services, single_process=False)
    lock = threading.Lock()
    ran: list[tuple[str, int]] = []
    running: dict[str, int] = {}
    overlaps: list[str] = []

    def step(job: Job) -> dict:
        with lock:
            running[job.lane] = running.get(job.lane, 0) + 1
            if running[job.lane] > 1:
                overlaps.append(job.lane)
            ran.append((job.lane, job.payload["n"]))
        time.sleep(0.002)
        with lock:
            running[job.lane] -= 1
        return {}

    services.effects.register("step", step)
    other.register("step", step)
    lanes = [f"lane-{i}" for i in range(4)]
    with services.db.session() as s:  # one transaction: the first drains find every lane ready at once
        for n in range(8):
            for lane in lanes:
                effects.record(s, kind="step", lane=lane, payload={"n": n}, created_at=services.clock.now())
    kickers = [threading.Thread(target=lambda r=r: [r.kick() or time.sleep(0.001) for _ in range(50)])
               for r in (services.effects, other) for _ in range(2)]
    for t in kickers:
        t.start()
    for t in kickers:
        t.join()
    end = time.monotonic() + 20
    while services.effects.outstanding() and time.monotonic() < end:
        services.effects.kick()
        other.kick()
        services.lanes.wait_idle(1)
        time.sleep(0.01)
    other.close()
    assert services.effects.outstanding() == 0
    assert sorted(ran) == sorted((lane, n) for lane in lanes for n in range(8))  # each once
    assert not overlaps
    for lane in lanes:
        assert [n for ln, n in ran if ln == lane] == list(range(8))


def test_a_mark_still_waiting_when_the_drain_fails_is_written_by_a_later_one(services: Services) -> None:
    done: list[int] = []
    services.effects.register("note", lambda job: done.append(job.id) or {})
    runner = services.effects
    real = runner._scan_and_claim
    failures = []

    def failing_once(moment, marks):
        if marks and not failures:
            failures.append(marks)
            raise RuntimeError("the database hiccuped")
        return real(moment, marks)

    runner._scan_and_claim = failing_once  # type: ignore[method-assign]
    first = record(services, "note", "a")
    second = record(services, "note", "a")
    settle(services)
    assert failures and done == [first, second]  # the failed drain's marks came back and were written
    assert states(services) and set(states(services).values()) == {DONE}


def test_a_claim_made_on_a_stale_read_claims_nothing(services: Services) -> None:
    """Runner B read an effect as pending; before its claim, runner A ran it and marked it done. B's claim is
    conditional: it claims nothing, and the effect is not done twice."""
    if services.db.dialect == "sqlite":
        pytest.skip("SQLite: one process, whose transactions take turns; the race needs two at once")
    a, b = services.effects, EffectRunner(services, single_process=False)
    ran: list[tuple[str, int]] = []
    a.register("note", lambda job: ran.append(("a", job.id)) or {})
    b.register("note", lambda job: ran.append(("b", job.id)) or {})
    a._stop.set()  # A is paused while the effect is recorded and B reads it
    effect_id = record(services, "note", "a")
    real_claim = b._claim

    def claim_after_a(conn, ids, lanes):  # B has read it as pending; A runs it and marks it done meanwhile
        a._stop.clear()
        a.kick()
        assert a.wait([effect_id], 10) == {effect_id: DONE}
        return real_claim(conn, ids, lanes)

    b._claim = claim_after_a  # type: ignore[method-assign]
    try:
        assert b.drain() == 0
    finally:
        b.close()
    services.lanes.wait_idle(5)
    assert ran == [("a", effect_id)]


def test_a_refresh_joined_by_a_change_is_claimed_only_after_that_change_commits(services: Services) -> None:
    """A change joins the summary refresh already waiting instead of recording another; the runner must not claim
    that refresh (and read the incident) before the change commits, or the change would never be shown. The join
    is a conditional write: it holds the row until the change commits; a claim made first makes it record anew."""
    if services.db.dialect == "sqlite":
        pytest.skip("SQLite: one process, whose transactions take turns; the race needs two at once")
    from sqlalchemy import text, update

    services.effects._stop.set()  # this test plays the runner
    with services.db.session() as session:
        waiting = effects.summary(session, 7, created_at=services.clock.now())
    with services.db.session() as change:
        assert effects.summary(change, 7, created_at=services.clock.now()) == waiting  # joined
        with services.db.engine.connect() as runner:  # a claim now would wait for the change to commit
            with pytest.raises(Exception, match="could not obtain lock"):
                runner.execute(text("SELECT id FROM effect WHERE id = :id FOR UPDATE NOWAIT"), {"id": waiting})
    with services.db.session() as session:  # the runner claims it first: the next change records a new one
        session.execute(update(Effect).where(Effect.id == waiting).values(state=RUNNING))  # type: ignore[arg-type]
    with services.db.session() as session:
        assert effects.summary(session, 7, created_at=services.clock.now()) != waiting


def _ledger_reads(svc: Services) -> list[str]:
    from sqlalchemy import event

    reads: list[str] = []
    event.listen(svc.db.engine, "before_cursor_execute",  # the waiter's read of the states
                 lambda _c, _cur, sql, *_a: reads.append(sql) if sql.startswith("SELECT effect.id, effect.state") else None)
    return reads


def test_a_waiter_learns_what_finished_here_without_reading_the_ledger(services: Services) -> None:
    release = threading.Event()
    services.effects.register("note", lambda job: release.wait(5) and {"said": job.payload["text"]})
    first = record(services, "note", "a", text="one")
    second = record(services, "note", "b", text="two")
    reads = _ledger_reads(services)
    threading.Timer(0.02, release.set).start()
    assert services.effects.wait([first, second], 5) == {first: DONE, second: DONE}
    assert reads == []  # both marks were committed here: the waiter was told
    assert services.effects.outcome(first) == (DONE, {"said": "one"}, None)
    # A failure repaired is no longer its last word: the waiter waits for the new attempt.
    services.effects.register("flaky", lambda job: (_ for _ in ()).throw(Failed("refused")))
    broken = record(services, "flaky", "c", incident_id=9)
    assert services.effects.wait([broken], 5) == {broken: FAILED}
    services.effects.register("flaky", lambda job: {"fixed": True})
    assert services.effects.retry_failed(9) == 1
    assert services.effects.wait([broken], 5) == {broken: DONE}


def test_a_waiter_sees_what_another_process_finished(services: Services) -> None:
    """The marks of another process's runner reach this one's waiter through the ledger (read after each poll)."""
    if services.db.dialect == "sqlite":
        pytest.skip("SQLite: one process, whose transactions take turns; the race needs two at once")
    other = EffectRunner(services, single_process=False)
    other.register("note", lambda job: {})
    services.effects._stop.set()  # this process's runner does nothing: the other one runs the effect
    effect_id = record(services, "note", "a")
    reads = _ledger_reads(services)
    try:
        threading.Timer(0.05, other.kick).start()
        assert services.effects.wait([effect_id], 5) == {effect_id: DONE}
    finally:
        other.close()
    assert reads  # learned by reading
