"""Two responders clicking Done on the same step at the same moment: one wins, one event, the other is told.
Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

from sqlmodel import select

from bot.core import timeline
from bot.core.errors import Conflict
from bot.runbooks import service
from bot.slack.harness import Harness, seen
from bot.store.models.runbook import RunbookStep
from tests.runbook_support import checklist_message, choose_value, open_incident, option


def test_two_done_clicks_at_once_one_wins(db_harness: Harness) -> None:
    h = db_harness
    channel = open_incident(h, "Agent emailed customer data to an outside address --category agent_tool_misuse --sev 1")
    for user in ("U0BOB", "U0CAROL"):
        h.join(user, channel)
    msg = checklist_message(h, channel)
    value = option(msg, "disable-tools", "done")
    start = len(h.fake.responses)
    # Both requests are acked and handled concurrently on the work lane.
    choose_value(h, value, channel=channel, message=msg, user="U0BOB", wait=False)
    choose_value(h, value, channel=channel, message=msg, user="U0CAROL", wait=False)
    h.wait()
    with h.ctx.db.session() as session:
        done = timeline.events(session, 1, kinds=["step_done"])
        row = session.exec(select(RunbookStep).where(RunbookStep.step_id == "disable-tools")).one()
    assert len(done) == 1
    winner = done[0].actor
    assert row.state == "done" and row.finished_by == winner
    answers = [seen(r.get("text", "")) for r in h.fake.responses[start:]]
    assert len(answers) == 1 and f"already done by <@{winner}>" in answers[0]  # the other one is told


def test_concurrent_finish_in_the_domain_exactly_one_commits(db_harness: Harness) -> None:
    """Many threads race on each of several steps, released together by a barrier."""
    h = db_harness
    h.command("open Model leaks other users' addresses --category data_leakage --sev 1")
    steps = ["rotate-secrets", "output-filter", "quarantine-source", "purge-copies"]
    threads_per_step = 4
    barrier = threading.Barrier(len(steps) * threads_per_step)
    outcomes: dict[str, list[str]] = {s: [] for s in steps}
    lock = threading.Lock()

    def race(step: str, user: str) -> None:
        barrier.wait(timeout=10)
        try:
            with h.ctx.db.session() as session:
                service.finish(session, h.ctx.clock, 1, step, actor=user)
            result = f"won:{user}"
        except Conflict as err:
            result = f"lost:{err.message}"
        with lock:
            outcomes[step].append(result)

    threads = [threading.Thread(target=race, args=(step, f"U0USER{i}")) for step in steps
               for i in range(threads_per_step)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    with h.ctx.db.session() as session:
        events = timeline.events(session, 1, kinds=["step_done"])
    for step in steps:
        won = [o for o in outcomes[step] if o.startswith("won:")]
        lost = [o for o in outcomes[step] if o.startswith("lost:")]
        assert len(won) == 1 and len(lost) == threads_per_step - 1, outcomes[step]
        winner = won[0].removeprefix("won:")
        assert all(f"already done by @{winner}" in o for o in lost)
        assert [e.actor for e in events if e.data["step"] == step] == [winner]
