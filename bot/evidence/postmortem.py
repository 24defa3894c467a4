"""The "evidence" postmortem provider and the pinned-summary section."""

from __future__ import annotations

from typing import Any

from bot.evidence import store
from bot.slack import render


def provide(_ctx: Any, session: Any, incident: Any) -> dict[str, list[dict[str, Any]]]:
    """{"cases": [{"id", "sha256", "added_at", "by", "summary", "hash_ok"}],
        "probe_runs": [{"id", "at", "started_at", "trigger", "lever", "action_id", "endpoints", "outcome",
                        "summary", "counts", "results": [{"case_id", "verdict", "reason"}]}]}"""
    cases = [{"id": row.id, "sha256": row.sha256, "added_at": row.added_at, "by": row.added_by,
              "summary": store.summary_line(row), "hash_ok": ok}
             for row, ok in store.verify(session, incident.id)]
    runs = []
    for run in store.runs(session, incident.id):
        runs.append({"id": run.id, "at": run.finished_at, "started_at": run.started_at, "trigger": run.trigger,
                     "lever": run.lever, "action_id": run.action_id, "dry_run": run.dry_run,
                     "endpoints": [e for e in run.endpoints.split(",") if e], "outcome": run.outcome,
                     "summary": run.summary,
                     "counts": {"refused": run.refused, "blocked": run.blocked, "harmful": run.harmful,
                                "inconclusive": run.inconclusive},
                     "results": [{"case_id": r.case_id, "verdict": r.verdict, "reason": r.reason}
                                 for r in store.results(session, run.id)]})
    return {"cases": cases, "probe_runs": runs}


def summary_section(_ctx: Any, session: Any, incident: Any) -> list[dict]:
    """Re-rendered on every change to the incident: a count, then only the last probe's two shown columns."""
    count = store.case_count(session, incident.id)
    if not count:
        return []
    last = store.last_run_line(session, incident.id)
    text = f"*Evidence:* {count} repro case{'s' if count != 1 else ''}"
    if last:
        finished_at, summary = last
        text += f" · last probe {render.when(finished_at)}: {summary}"
    else:
        text += " · not probed yet (`/incident probe`)"
    return [render.context(text)]
