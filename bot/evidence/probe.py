"""Replay every repro case against the configured model endpoint(s), bounded, and record the results.

Bounds: at most `probe.concurrency` calls at once, each with the endpoint's timeout (cut to what is left of
the budget), and `probe.total_budget_seconds` for the whole run; cases not judged in time are inconclusive.
Safety: a case is only sent to an endpoint configured for the incident's category; in an exercise or a dry
run only `exercise_safe` endpoints are called unless the scenario opted in (`allow_real_endpoints`).
No database session is held while endpoints are called.

Where it runs: on the PROBES work lane (`submit`), never on a listener or the lane that answers commands, so a
slow model endpoint fills only its own lane. The budget starts when the probe is asked for, so time spent
waiting for the lane counts against it. What a run found is recorded in one transaction with the messages it
calls for (the result table for the incident channel, a summary refresh); the runner posts them after commit.
Text that came from the endpoint (error messages, replies) passes the secrets redaction before it is kept.
"""

from __future__ import annotations

import hashlib
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.app.lanes import PROBES
from bot.core import effects, incidents, secrets, timeline
from bot.core.clock import Clock
from bot.evidence import client, store
from bot.evidence.judge import BLOCKED, HARMFUL, INCONCLUSIVE, REFUSED, Verdict, judge
from bot.evidence.settings import EvidenceConfig, ModelEndpoint
from bot.store.models.evidence import ProbeResult, ProbeRun

if TYPE_CHECKING:
    from bot.app.services import Services

OPT_IN_KIND = "probe_real_endpoints_allowed"
# The result table posted in the incident channel after a run; data: {"run_id": …}.
PROBE_VIEW = "evidence_probe"
EXCERPT_CHARS = 2000
EFFECTIVE, NOT_EFFECTIVE, OUTCOME_INCONCLUSIVE = "effective", "not_effective", "inconclusive"


@dataclass
class CaseResult:
    case_id: int
    sha256: str
    endpoint: str
    verdict: str
    reason: str
    http_status: int | None = None
    latency_ms: int | None = None
    reply_text: str = ""
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class ProbeOutcome:
    run_id: int
    incident_id: int
    started_at: datetime
    at: datetime  # when the probe finished: the verification time when it passes
    endpoints: list[str]
    results: list[CaseResult]
    outcome: str
    summary: str

    @property
    def effective(self) -> bool:
        return self.outcome == EFFECTIVE

    def counts(self) -> dict[str, int]:
        out = {REFUSED: 0, BLOCKED: 0, HARMFUL: 0, INCONCLUSIVE: 0}
        for r in self.results:
            out[r.verdict] += 1
        return out


@dataclass
class _Job:
    case_id: int
    sha256: str
    prompt: str
    marker: str
    checks: list[str]
    endpoint_name: str
    endpoint: ModelEndpoint | None
    skip: str | None  # why the case is not sent anywhere


def allow_real_endpoints(session: Any, clock: Clock, incident_id: int, *, actor: str, scenario: str) -> None:
    """A tabletop scenario opts its exercise in to probing real endpoints (recorded on the timeline)."""
    timeline.record(session, clock, incident_id, OPT_IN_KIND,
                    f"Scenario `{scenario}` allows probes against real model endpoints", actor=actor,
                    data={"scenario": scenario})


def _plan(cfg: EvidenceConfig, incident: Any, cases: list[Any], *, only: str | None, restricted: bool,
          opted_in: bool) -> list[_Job]:
    jobs = []
    mode = "an exercise" if incident.is_exercise else "a dry run"
    for case in cases:
        if only:
            name = only
        elif case.endpoint in cfg.endpoints:
            name = case.endpoint
        else:
            name = cfg.default() or ""
        endpoint = cfg.endpoints.get(name)
        checks = list(case.checks) if case.checks else list(cfg.judge_for(incident.category).checks)
        skip = None
        if endpoint is None:
            skip = "no model endpoint is configured (evidence.endpoints)" if not name else \
                f"endpoint `{name}` is not configured; evidence not sent"
        elif endpoint.categories and incident.category not in endpoint.categories:
            skip = f"endpoint `{name}` is not configured for {incident.category} evidence; not sent"
        elif restricted and not endpoint.exercise_safe and not opted_in:
            skip = f"endpoint `{name}` is a real endpoint and this is {mode}; not called"
        jobs.append(_Job(case.id, case.sha256, case.prompt, case.marker, checks, name, endpoint, skip))
    return jobs


def _run_job(ctx: Services, job: _Job, category: str, deadline: float, moderation_ok: bool) -> CaseResult:
    cfg = ctx.config.evidence
    settings = cfg.judge_for(category)
    endpoint = job.endpoint
    assert endpoint is not None
    reply = client.Reply(error="total probe budget exhausted before the call")
    for attempt in range(2):
        remaining = deadline - time.monotonic()
        if remaining <= 0.05:
            reply = client.Reply(error="total probe budget exhausted before the call")
            break
        reply = client.chat(endpoint, job.prompt, timeout=min(endpoint.timeout_seconds, remaining))
        wait_s = reply.retry_after
        if (reply.status not in (429, 503) or wait_s is None or attempt != 0  # retried once, on 429/503
                or wait_s > cfg.probe.max_retry_wait_seconds or time.monotonic() + wait_s >= deadline - 0.5):
            break
        time.sleep(wait_s)

    def moderate(text: str) -> tuple[float | None, str | None]:
        mod = cfg.moderation
        if mod is None:
            return None, "no moderation endpoint is configured"
        if not moderation_ok:
            return None, "the moderation endpoint is a real endpoint and may not be called here"
        remaining = deadline - time.monotonic()
        if remaining <= 0.05:
            return None, "total probe budget exhausted before moderation"
        return client.moderate(mod, text, timeout=min(mod.timeout_seconds, remaining))

    verdict: Verdict = judge(settings, job.checks, reply, marker=job.marker, moderate=moderate)
    return CaseResult(job.case_id, job.sha256, job.endpoint_name, verdict.verdict,
                      _keepable(secrets.redact(verdict.reason)),
                      reply.status, reply.latency_ms, verdict.text, verdict.details)


def summarize(results: list[CaseResult]) -> tuple[str, str]:
    """The outcome and the sentence the channel reads, e.g. "3 of 3 reproductions are now refused"."""
    total = len(results)
    counts = {v: sum(1 for r in results if r.verdict == v) for v in (REFUSED, BLOCKED, HARMFUL, INCONCLUSIVE)}
    word = "reproduction" if total == 1 else "reproductions"
    if counts[HARMFUL]:
        n = counts[HARMFUL]
        return NOT_EFFECTIVE, f"{n} of {total} {word} still {'produces' if n == 1 else 'produce'} harmful output"
    if counts[INCONCLUSIVE] or not total:
        reasons = sorted({r.reason for r in results if r.verdict == INCONCLUSIVE})
        return OUTCOME_INCONCLUSIVE, (f"probe inconclusive: {counts[INCONCLUSIVE]} of {total} {word} could not be "
                                     f"judged ({'; '.join(reasons)[:300]})")
    how = "refused" if not counts[BLOCKED] else "blocked" if not counts[REFUSED] else "refused or blocked"
    return EFFECTIVE, f"{total} of {total} {word} {'is' if total == 1 else 'are'} now {how}"


def submit(ctx: Services, incident_id: int, *, trigger: str, actor: str, only: str | None = None,
           action: dict[str, Any] | None = None) -> Future[ProbeOutcome | None]:
    """Run a probe on the PROBES lane; its budget starts now."""
    deadline = time.monotonic() + ctx.config.evidence.probe.total_budget_seconds
    return ctx.lanes.run(PROBES, run_probe, ctx, incident_id, trigger=trigger, actor=actor, only=only,
                         action=action, deadline=deadline)


def run_probe(ctx: Services, incident_id: int, *, trigger: str, actor: str, only: str | None = None,
              action: dict[str, Any] | None = None, deadline: float | None = None) -> ProbeOutcome | None:
    """Probe every repro case of the incident (on the caller's thread; `submit` puts it on its lane). None when
    it has no cases. `deadline` (monotonic): when the budget ends, by default the budget from now."""
    cfg = ctx.config.evidence
    action = action or {}
    dry_run = bool(action.get("dry_run"))
    with ctx.db.session() as session:
        incident = incidents.get(session, incident_id)
        cases = store.cases(session, incident_id)
        if not cases:
            return None
        restricted = incident.is_exercise or dry_run
        opted_in = bool(timeline.events(session, incident_id, kinds=[OPT_IN_KIND]))
        jobs = _plan(cfg, incident, cases[: cfg.probe.max_cases], only=only, restricted=restricted,
                     opted_in=opted_in)
        category = incident.category
        skipped_over_limit = cases[cfg.probe.max_cases:]
    moderation_ok = cfg.moderation is not None and (not restricted or cfg.moderation.exercise_safe or opted_in)
    started_at = ctx.clock.now()
    if deadline is None:
        deadline = time.monotonic() + cfg.probe.total_budget_seconds
    results: dict[int, CaseResult] = {}
    for job in jobs:
        if job.skip:
            results[job.case_id] = CaseResult(job.case_id, job.sha256, job.endpoint_name, INCONCLUSIVE, job.skip)
    for case in skipped_over_limit:
        assert case.id is not None
        results[case.id] = CaseResult(case.id, case.sha256, "", INCONCLUSIVE,
                                      f"over the per-probe limit (probe.max_cases: {cfg.probe.max_cases})")
    runnable = [j for j in jobs if not j.skip]
    if runnable:
        pool = ThreadPoolExecutor(max_workers=cfg.probe.concurrency, thread_name_prefix="firebreak-probe")
        futures = {pool.submit(_run_job, ctx, j, category, deadline, moderation_ok): j for j in runnable}
        done, _pending = wait(futures, timeout=max(0.0, deadline - time.monotonic()) + 1.0)
        for fut, job in futures.items():
            if fut in done and fut.exception() is None:
                results[job.case_id] = fut.result()
            elif fut in done:
                results[job.case_id] = CaseResult(job.case_id, job.sha256, job.endpoint_name, INCONCLUSIVE,
                                                  f"probe error ({type(fut.exception()).__name__})")
            else:
                results[job.case_id] = CaseResult(
                    job.case_id, job.sha256, job.endpoint_name, INCONCLUSIVE,
                    f"not judged within the total budget of {cfg.probe.total_budget_seconds:g}s")
        pool.shutdown(wait=False, cancel_futures=True)
    ordered = [results[k] for k in sorted(results)]
    outcome, summary = summarize(ordered)
    finished_at = ctx.clock.now()
    endpoints = sorted({r.endpoint for r in ordered if r.endpoint})
    return _record(ctx, incident_id, ordered, outcome, summary, started_at, finished_at, endpoints,
                   trigger=trigger, actor=actor, action=action, dry_run=dry_run)


def _keepable(data: Any) -> Any:
    """What an endpoint sent, storable on both databases (PostgreSQL keeps no NUL in text or JSON)."""
    if isinstance(data, str):
        return data.replace("\x00", "\ufffd")
    if isinstance(data, dict):
        return {str(k): _keepable(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_keepable(v) for v in data]
    return data


def _record(ctx: Services, incident_id: int, results: list[CaseResult], outcome: str, summary: str,
            started_at: datetime, finished_at: datetime, endpoints: list[str], *, trigger: str, actor: str,
            action: dict[str, Any], dry_run: bool) -> ProbeOutcome:
    counts = {v: sum(1 for r in results if r.verdict == v) for v in (REFUSED, BLOCKED, HARMFUL, INCONCLUSIVE)}
    with ctx.db.session() as session:
        run = ProbeRun(incident_id=incident_id, trigger=trigger, actor=actor,
                       action_id=str(action["action_id"])[:64] if action.get("action_id") else None,
                       lever=str(action["lever"])[:120] if action.get("lever") else None, dry_run=dry_run,
                       endpoints=",".join(endpoints)[:500], started_at=started_at, finished_at=finished_at,
                       total=len(results), outcome=outcome, summary=summary[:500], **counts)
        session.add(run)
        session.flush()
        assert run.id is not None
        for r in results:
            session.add(ProbeResult(
                run_id=run.id, case_id=r.case_id, endpoint=r.endpoint[:200], verdict=r.verdict,
                reason=r.reason[:500], http_status=r.http_status, latency_ms=r.latency_ms,
                reply_sha256=hashlib.sha256(r.reply_text.encode("utf-8", "surrogatepass")).hexdigest()
                if r.reply_text else None,
                reply_excerpt=_keepable(secrets.redact(r.reply_text[:EXCERPT_CHARS + 200])[:EXCERPT_CHARS]),
                details=_keepable(secrets.redact_data(r.details))))
        timeline.record(
            session, ctx.clock, incident_id, "probe_run", f"Probe ({', '.join(endpoints) or 'no endpoint'}): "
            f"{summary}", actor=actor,
            data={"run_id": run.id, "endpoint": ", ".join(endpoints), "endpoints": endpoints, "trigger": trigger,
                  "outcome": outcome, "summary": summary, "counts": counts, "total": len(results),
                  "results": [{"case_id": r.case_id, "sha256": r.sha256, "verdict": r.verdict,
                               "reason": r.reason} for r in results],
                  "action_id": action.get("action_id"), "lever": action.get("lever"), "dry_run": dry_run,
                  "started_at": started_at.isoformat(), "finished_at": finished_at.isoformat()})
        run_id = run.id
        now = ctx.clock.now()
        effects.post(session, incident_id, view=PROBE_VIEW, data={"run_id": run_id}, created_at=now,
                     key=f"inc-{incident_id}:probe-run:{run_id}")
        effects.summary(session, incident_id, created_at=now)
    return ProbeOutcome(run_id, incident_id, started_at, finished_at, endpoints, results, outcome, summary)
