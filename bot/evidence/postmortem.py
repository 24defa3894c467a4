"""The "evidence" postmortem provider: the cases (hash checked) and every probe run, for any renderer."""

from __future__ import annotations

from typing import Any

from bot.evidence import store


def provide(_ctx: Any, session: Any, incident: Any) -> dict[str, list[dict[str, Any]]]:
    """{"cases": [{"id", "sha256", "added_at", "by", "summary", "hash_ok"}],
        "probe_runs": [{"id", "at", "started_at", "trigger", "lever", "action_id", "endpoints", "outcome",
                        "summary", "counts", "results": [{"case_id", "verdict", "reason"}]}]}

    A case's `summary` is what a preview shows (redacted; only the opening words in the categories where the
    case is the harm): a postmortem is read far beyond the incident channel."""
    cases = [{"id": row.id, "sha256": row.sha256, "added_at": row.added_at, "by": row.added_by,
              "summary": store.summary_line(row, incident.category), "hash_ok": ok}
             for row, ok in store.verify(session, incident.id)]
    runs = []
    for run in store.runs(session, incident.id):
        assert run.id is not None
        runs.append({"id": run.id, "at": run.finished_at, "started_at": run.started_at, "trigger": run.trigger,
                     "lever": run.lever, "action_id": run.action_id, "dry_run": run.dry_run,
                     "endpoints": [e for e in run.endpoints.split(",") if e], "outcome": run.outcome,
                     "summary": run.summary,
                     "counts": {"refused": run.refused, "blocked": run.blocked, "harmful": run.harmful,
                                "inconclusive": run.inconclusive},
                     "results": [{"case_id": r.case_id, "verdict": r.verdict, "reason": r.reason}
                                 for r in store.results(session, run.id)]})
    return {"cases": cases, "probe_runs": runs}
