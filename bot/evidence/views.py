"""Block Kit for evidence: case notices, the case list, probe result tables, reveals. Everything shown
here from a case or a reply goes through `redact` except the reveal, which only incident members get."""

from __future__ import annotations

from typing import Any

from bot.evidence.judge import BLOCKED, HARMFUL, INCONCLUSIVE, REFUSED
from bot.evidence.probe import ProbeOutcome
from bot.evidence.redact import describe, redact
from bot.slack import render
from bot.store.models.evidence import ReproCase

REVEAL_ACTION = "firebreak_evidence_reveal"
ICONS = {REFUSED: ":white_check_mark:", BLOCKED: ":no_entry:", HARMFUL: ":x:", INCONCLUSIVE: ":grey_question:"}
PREVIEW_CHARS = 300


def preview(text: str, limit: int = PREVIEW_CHARS) -> tuple[str, dict[str, int]]:
    shown, counts = redact(text)
    shown = " ".join(shown.split())
    return (shown if len(shown) <= limit else shown[: limit - 1] + "…"), counts


def _quote(text: str) -> str:
    return "\n".join("> " + line for line in text.splitlines() or [""])


def case_blocks(row: ReproCase, *, heading: str) -> list[dict[str, Any]]:
    prompt, c1 = preview(row.prompt)
    lines = [heading, f"*Prompt:*\n{_quote(prompt)}"]
    counts = dict(c1)
    if row.harmful_output:
        output, c2 = preview(row.harmful_output)
        lines.append(f"*Harmful output seen:*\n{_quote(output)}")
        for k, n in c2.items():
            counts[k] = counts.get(k, 0) + n
    meta = [f"`{row.sha256}`", f"added {render.when(row.added_at)} by {render.user(row.added_by)}"]
    if row.endpoint:
        meta.append(f"model/endpoint: {preview(row.endpoint, 100)[0]}")
    if row.system_prompt_version:
        meta.append(f"system prompt: {preview(row.system_prompt_version, 100)[0]}")
    if row.filter_setting:
        meta.append(f"filter: {preview(row.filter_setting, 100)[0]}")
    if row.tool_call:
        meta.append("tool call recorded")
    blocks = [render.section("\n".join(lines)), render.context(" · ".join(meta))]
    note = describe(counts)
    clipped = any(len(" ".join(t.split())) > PREVIEW_CHARS for t in (row.prompt, row.harmful_output)) \
        or bool(row.tool_call)
    if note or clipped:
        blocks.append({"type": "actions", "block_id": f"reveal_{row.id}", "elements": [
            render.button("Reveal full case (incident members)", REVEAL_ACTION, str(row.id))]})
    if note:
        blocks.append(render.context(f":lock: Redacted for Slack: {note}. The stored evidence is unchanged."))
    return blocks


def case_added_text(row: ReproCase) -> str:
    return f":lock: Repro case #{row.id} added as evidence by {render.user(row.added_by)} (sha256 {row.sha256[:12]}…)"


def case_list(rows: list[ReproCase], ref: str) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [render.header(f"Repro cases of {ref} ({len(rows)})")]
    if not rows:
        blocks.append(render.section("No repro cases yet. `/incident repro add` records one as evidence."))
    for row in rows:
        blocks += case_blocks(row, heading=f"*Case #{row.id}*")
        blocks.append(render.divider())
    return render.cap_blocks(blocks, note="More cases than one message can show; the postmortem lists them all.")


def probe_blocks(outcome: ProbeOutcome, *, ref: str, context_line: str = "") -> list[dict[str, Any]]:
    icon = {"effective": ":white_check_mark:", "not_effective": ":rotating_light:"}.get(outcome.outcome,
                                                                                       ":grey_question:")
    head = f"{icon} *Probe of {ref}: {outcome.summary}*, checked at {render.when(outcome.at)}"
    if context_line:
        head += f"\n{context_line}"
    lines = ["`case  verdict       endpoint         sha256        `"]
    for r in outcome.results:
        reason = preview(r.reason, 200)[0]
        lines.append(f"{ICONS[r.verdict]} `#{r.case_id:<4} {r.verdict:<13} {r.endpoint[:16]:<16} {r.sha256[:12]}` "
                     f"— {reason}")
    blocks = [render.section(head)]
    blocks += [render.section(chunk) for chunk in render.chunk_lines(lines)]
    blocks.append(render.context(f"Probe run {outcome.run_id} · started {render.when(outcome.started_at)} · "
                                 f"endpoints: {', '.join(outcome.endpoints) or 'none'} · replies stored as evidence"))
    return render.cap_blocks(blocks)


def reveal_text(row: ReproCase) -> str:
    parts = [f"*Case #{row.id}* (unredacted, visible only to you) `{row.sha256}`", f"*Prompt:*\n```{row.prompt}```"]
    if row.harmful_output:
        parts.append(f"*Harmful output seen:*\n```{row.harmful_output}```")
    if row.tool_call:
        parts.append(f"*Tool call:*\n```{row.tool_call}```")
    return "\n".join(parts)
