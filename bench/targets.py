"""The issue's targets, each read from one run's results. A target whose scenario was skipped reads n/a."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

AT_REST = ("open", "ic", "sev", "status", "list", "contained", "resolve", "contain_dry_run",
           "contain_launchdarkly", "runbook_click")
QUICK_COMMANDS = ("ic", "sev", "status", "contained", "resolve")  # issue 15: <= 2 round trips each


@dataclass(frozen=True)
class Target:
    name: str
    limit: float
    unit: str
    measure: Callable[[dict[str, Any]], float | None]  # results of one database -> the measured value
    how: str
    at_most: bool = False  # met when measured <= limit (counts), else when measured < limit


def _get(results: dict[str, Any], scenario: str, *path: str) -> float | None:
    node: Any = results.get(scenario)
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node if isinstance(node, (int, float)) else None


def _worst_rest_ack_p99(results: dict[str, Any]) -> float | None:
    values = [v for name in AT_REST if (v := _get(results, name, "ack", "p99")) is not None]
    return max(values) if values else None


def _mb(results: dict[str, Any]) -> float | None:
    return _get(results, "process", "idle", "rss_mb")


def _far(command: str) -> Callable[[dict[str, Any]], float | None]:
    return lambda results: _get(results, "far_slack", "commands", command, "round_trips")


def _worst_quick(results: dict[str, Any]) -> float | None:
    values = [v for name in QUICK_COMMANDS if (v := _far(name)(results)) is not None]
    return max(values) if values else None


TARGETS = [
    Target("ack p99 at rest", 50, "ms", _worst_rest_ack_p99, "worst ack p99 over the at-rest commands"),
    Target("burst: acks over 3 s", 0, "", lambda r: _get(r, "burst", "acks_over_3s"), "must be zero"),
    Target("burst ack p99", 300, "ms", lambda r: _get(r, "burst", "ack", "p99"), "request sent -> HTTP 200"),
    Target("/incident open to completion p50", 50, "ms", lambda r: _get(r, "open", "completion", "p50"),
           "request sent -> last Slack call"),
    Target("contain -> LaunchDarkly PATCH p50 overhead", 20, "ms",
           lambda r: _get(r, "containment_overhead", "to_patch", "p50"), "containment (issue 4)"),
    Target("metrics over 100k incidents", 1000, "ms", lambda r: _get(r, "metrics_100k", "completion", "p50"),
           "/incident metrics --since all, sent -> last Slack call, p50"),
    Target("postmortem, 5,000 events", 500, "ms", lambda r: _get(r, "postmortem_5000", "completion", "p50"),
           "/incident postmortem incl. upload, sent -> last Slack call, p50"),
    Target("list of 1,000 open p99", 200, "ms", lambda r: _get(r, "list_1000", "completion", "p99"),
           "request sent -> answer posted, p99"),
    Target("start-up to ready", 3, "s", lambda r: _get(r, "process", "startup_s"), "spawn -> /healthz 200"),
    Target("idle RSS", 150, "MB", _mb, "VmRSS 1 s after ready"),
    Target("far Slack: /incident open round trips", 4, "", _far("open"),
           "median round trips to the last answer, Slack 150 ms away (issue 15)", at_most=True),
    Target("far Slack: ic/sev/status/contained/resolve round trips", 2, "", _worst_quick,
           "worst median over the five commands (issue 15)", at_most=True),
    Target("lock: other users' ack max", 100, "ms", lambda r: _get(r, "lock", "ack", "max"),
           "20 acks while a 4 s user-group lookup is in flight; failed acks count (issue 15)"),
    Target("lane: other users' ack max", 100, "ms", lambda r: _get(r, "lane", "ack", "max"),
           "20 acks while 10 modal-confirmed pulls retry LaunchDarkly's 503s; failed acks count (issue 15)"),
    Target("CPU per /incident open", 35, "ms", lambda r: _get(r, "open", "cpu_ms"),
           "bot CPU (user + system) per declaration, mean (issue 15)", at_most=True),
]


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for t in TARGETS:
        value = t.measure(results)
        met = value is not None and (value <= t.limit if t.at_most or t.limit == 0 else value < t.limit)
        verdict = "n/a" if value is None else ("met" if met else "MISSED")
        out.append({"target": t.name, "limit": t.limit, "unit": t.unit, "measured": value, "verdict": verdict,
                    "how": t.how, "at_most": t.at_most})
    return out
