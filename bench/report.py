"""Print the results as tables; the JSON file carries the same figures."""

from __future__ import annotations

from typing import Any

from bench.scenarios import SCENARIOS


def _ms(stats: dict[str, Any] | None) -> str:
    if not stats or not stats.get("n"):
        return "-"
    return f"{stats['p50']:.1f} / {stats['p90']:.1f} / {stats['p99']:.1f} / {stats['max']:.1f}"


def latency_table(db: str, results: dict[str, Any]) -> list[str]:
    lines = [f"\n== {db} ==",
             f"{'scenario':<22}{'n':>6}  {'ack p50/p90/p99/max ms':<34}{'completion p50/p90/p99/max ms':<36}notes"]
    for name, res in results.items():
        if name in ("process", "burst", "containment_overhead", "far_slack", "lock", "lane", "alerts") or \
                not isinstance(res, dict):
            continue
        if "skipped" in res:
            lines.append(f"{name:<22}{'':>6}  skipped: {res['skipped']}")
            continue
        if "failed" in res:
            lines.append(f"{name:<22}{'':>6}  FAILED: {res['failed']}")
            continue
        ack = res.get("ack")
        notes = []
        if res.get("errors"):
            notes.append(f"{res['errors']} errors")
        if "open_incidents" in res:
            notes.append(f"{res['open_incidents']} open")
        if res.get("cpu_ms") is not None:
            notes.append(f"CPU {res['cpu_ms']} ms/request")
        lines.append(f"{name:<22}{(ack or {}).get('n', 0):>6}  {_ms(ack):<34}{_ms(res.get('completion')):<36}"
                     + ", ".join(notes))
    lines += overhead_lines(results.get("containment_overhead") or {})
    lines += far_lines(results.get("far_slack") or {})
    lines += contention_lines(results)
    p = results.get("process") or {}
    if "startup_s" in p:
        lines.append(f"process: start-up to ready {p['startup_s']:.2f} s; idle RSS {p['idle'].get('rss_mb')} MB; "
                     f"idle CPU {p.get('idle_cpu_ms_per_s')} ms/s")
    lines += alerts_lines(results.get("alerts") or {})
    b = results.get("burst") or {}
    if "ack" in b:
        lines.append(
            f"burst: {b['responders']} x {b['commands_each']} over {b['incidents']} incidents: "
            f"ack {_ms(b['ack'])} ms; answer {_ms(b['reply'])} ms; acks > 3 s: {b['acks_over_3s']}; "
            f"{b['ack_throughput_per_s']} acks/s, {b['handled_per_s']} handled/s; http errors {b['http_errors']}, "
            f"unanswered {b['unanswered']}, failed answers {b['failed_answers']}; "
            f"RSS after {b['after'].get('rss_mb')} MB (peak {b['after'].get('peak_rss_mb')} MB); "
            f"bot CPU {b['bot_cpu_s']} s ({b['bot_cpu_ms_per_command']} ms/command), "
            f"bench+fake Slack CPU {b['fake_slack_cpu_s']} s")
    elif "skipped" in b or "failed" in b:
        lines.append(f"burst: {b.get('skipped') or 'FAILED: ' + str(b.get('failed'))}")
    return lines


def alerts_lines(a: dict[str, Any]) -> list[str]:
    """Alert intake: the answer at a steady rate, and what a storm of one group becomes."""
    if "skipped" in a or "failed" in a:
        return [f"alerts: {a.get('skipped') or 'FAILED: ' + str(a.get('failed'))}"]
    steady, storm = a.get("steady") or {}, a.get("storm") or {}
    if not steady:
        return []
    return [f"alerts: answer at {steady.get('rate_per_s')}/s {_ms(steady.get('answer'))} ms "
            f"(statuses {steady.get('statuses')}); a {storm.get('alerts')}-alert storm of one group: "
            f"{storm.get('incidents')} incident(s), {storm.get('slack_writes')} Slack writes, worked off in "
            f"{storm.get('worked_off_s')} s"]


OVERHEAD = (("to_patch", "contain request sent -> PATCH at LaunchDarkly"),
            ("to_requested_row", "  of which: sent -> lever_requested row written"),
            ("requested_row_to_patch", "  of which: row written -> PATCH (incl. the GET of the flag)"),
            ("patch_at_fake", "PATCH received -> answered by the fake"),
            ("answer_to_stream", "PATCH answered -> patch event written to the SDK stream"),
            ("answer_to_sdk_observed", "PATCH answered -> an SDK client saw the new value"),
            ("answer_to_verified", "PATCH answered -> bot's verified_at (its SDK evaluated OFF)"),
            ("applied_to_verified", "bot's applied_at -> verified_at"))


def overhead_lines(res: dict[str, Any]) -> list[str]:
    if "skipped" in res or "failed" in res:
        return [f"containment overhead: {res.get('skipped') or 'FAILED: ' + str(res.get('failed'))}"]
    if "to_patch" not in res:
        return []
    lines = [f"containment overhead over {res['pulls']} pulls ({res['errors']} unmatched), "
             "p50 / p90 / p99 / max ms:"]
    lines += [f"  {label:<62}{_ms(res.get(key))}" for key, label in OVERHEAD]
    calls = res.get("slack_calls_before_patch") or {}
    if calls.get("max") is not None:
        lines.append(f"  Slack Web API calls made between the request and the PATCH: {calls['min']}-{calls['max']} "
                     f"(first pull: {', '.join(calls.get('first_pull') or [])})")
    return lines


def far_lines(res: dict[str, Any]) -> list[str]:
    if "skipped" in res or "failed" in res:
        return [f"far Slack: {res.get('skipped') or 'FAILED: ' + str(res.get('failed'))}"]
    if "commands" not in res:
        return []
    lines = [f"far Slack ({res['latency_s'] * 1000:.0f} ms a call, {res['requests']} requests each): "
             "command, calls, round trips to the last answer (max), floor, target, last answer p50 ms, CPU ms"]
    for name, c in res["commands"].items():
        if "round_trips" not in c:
            lines.append(f"  {name:<15}{c.get('skipped') or 'errors: ' + '; '.join(c.get('first_errors') or [])}")
            continue
        target = "-" if c["target"] is None else f"<= {c['target']}"
        errors = f"  {c['errors']} errors: {'; '.join(c.get('first_errors') or [])}" if c["errors"] else ""
        lines.append(f"  {name:<15}{c['calls']:>6}{c['round_trips']:>6} ({c['round_trips_max']}){c['floor']:>6}"
                     f"{target:>7}{c['last_answer']['p50']:>10.0f}{c['cpu_ms']:>8.1f}{errors}")
    return lines


def contention_lines(results: dict[str, Any]) -> list[str]:
    lines = []
    for name, what in (("lock", "while a {lookup_s} s user-group lookup is in flight"),
                       ("lane", "while {pulls} lever pulls retry LaunchDarkly 503s for {window_s} s")):
        res = results.get(name) or {}
        if "skipped" in res or "failed" in res:
            lines.append(f"{name}: {res.get('skipped') or 'FAILED: ' + str(res.get('failed'))}")
        elif "ack" in res:
            lines.append(f"{name}: {res['others']} other users' acks {what.format(**res)}: {_ms(res['ack'])} ms "
                         f"(p50/p90/p99/max); over 100 ms: {res['acks_over_100ms']}, over 3 s: {res['acks_over_3s']}; "
                         f"failed (not HTTP 200): {res.get('failed_acks', 0)} {res.get('failed_statuses') or ''}")
    return lines


def _sign(row: dict[str, Any]) -> str:
    return "<=" if row.get("at_most") else ("<" if row["limit"] else "=")


def targets_table(targets: dict[str, list[dict[str, Any]]]) -> list[str]:
    dbs = list(targets)
    lines = ["\n== targets ==", f"{'target':<55}{'limit':>10}  " + "".join(f"{db:>22}" for db in dbs)]
    if not dbs:
        return lines
    for i, row in enumerate(targets[dbs[0]]):
        cells = []
        for db in dbs:
            t = targets[db][i]
            cells.append(f"{'n/a' if t['measured'] is None else t['measured']:>8} {t['unit']:<3}{t['verdict']:>10}")
        lines.append(f"{row['target'][:54]:<55}{_sign(row) + ' ' + str(row['limit']) + ' ' + row['unit']:>10}  "
                     + "".join(f"{c:>22}" for c in cells))
    return lines


def describe() -> list[str]:
    return [f"{s.name:<22}{s.title}" for s in SCENARIOS.values()]


def markdown(data: dict[str, Any]) -> str:
    """Targets and latencies as Markdown tables (for docs/performance.md)."""
    dbs = list(data["results"])
    out = ["| target | limit | " + " | ".join(dbs) + " |", "|---|---|" + "---|" * len(dbs)]
    if dbs:
        for i, row in enumerate(data["targets"][dbs[0]]):
            cells = []
            for db in dbs:
                t = data["targets"][db][i]
                cells.append("n/a (not measured)" if t["measured"] is None
                             else f"{t['measured']} {t['unit']} — {t['verdict']}".replace(" —", " —"))
            out.append(f"| {row['target']} | {_sign(row)} {row['limit']} {row['unit']} | " + " | ".join(cells) + " |")
    out += ["", "| scenario | db | n | ack p50 / p90 / p99 / max (ms) | completion p50 / p90 / p99 / max (ms) |",
            "|---|---|---|---|---|"]
    for name in SCENARIOS:
        for db in dbs:
            res = data["results"][db].get(name) or {}
            if "ack" in res and name != "burst":
                out.append(f"| {name} | {db} | {res['ack']['n']} | {_ms(res['ack'])} | {_ms(res.get('completion'))} |")
    for db in dbs:
        b = data["results"][db].get("burst") or {}
        if "ack" in b:
            out.append(f"| burst (answer = sent → reply) | {db} | {b['ack']['n']} | {_ms(b['ack'])} | "
                       f"{_ms(b['reply'])} |")
    rows = [(key, label.strip().removeprefix("of which: "), {db: (data["results"][db].get("containment_overhead") or {})
                                                             .get(key) for db in dbs}) for key, label in OVERHEAD]
    if any(v for _, _, per_db in rows for v in per_db.values()):
        out += ["", "| containment overhead | " + " | ".join(f"{db} p50 / p90 / p99 / max (ms)" for db in dbs) + " |",
                "|---|" + "---|" * len(dbs)]
        out += [f"| {label} (`{key}`) | " + " | ".join(_ms(per_db[db]) for db in dbs) + " |" for key, label, per_db in rows]
    out += far_markdown(data, dbs)
    return "\n".join(out) + "\n"


def far_markdown(data: dict[str, Any], dbs: list[str]) -> list[str]:
    """The far-Slack table: per command, per database, calls / round trips / last answer / CPU."""
    per_db = {db: (data["results"][db].get("far_slack") or {}).get("commands") or {} for db in dbs}
    names = [n for n in next((c for c in per_db.values() if c), {})]
    if not names:
        return []
    latency = next(data["results"][db]["far_slack"]["latency_s"] for db in dbs if per_db[db])
    out = ["", f"| command (Slack {latency * 1000:.0f} ms away) | floor | target | "
           + " | ".join(f"{db}: calls / round trips / last answer p50 / CPU" for db in dbs) + " |",
           "|---|---|---|" + "---|" * len(dbs)]
    for name in names:
        cells = []
        for db in dbs:
            c = per_db[db].get(name) or {}
            cells.append(f"{c['calls']:g} / {c['round_trips']:g} / {c['last_answer']['p50']:.0f} ms / "
                         f"{c['cpu_ms']} ms" if "round_trips" in c else c.get("skipped", "-"))
        first = next((per_db[db][name] for db in dbs if name in per_db[db]), {})
        target = "-" if first.get("target") is None else f"≤ {first['target']}"
        out.append(f"| {name} | {first.get('floor', '-')} | {target} | " + " | ".join(cells) + " |")
    return out
