"""Block Kit for evidence: case notices, the case list, probe result tables, reveals, the summary line.

What others can read shows a preview of each case (`bot.evidence.preview`): redacted, and in the categories
where the case is the harm (jailbreaks, harmful content, injections, leaks) only its opening words. The whole
case is shown only by a Reveal, privately, to an incident member the policy allowed. Every value is escaped on
the way out (`md`), so a prompt reading `<!channel>` stays text. Probe tables show verdicts and reasons, never
a reply.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from bot.app.effects import Failed
from bot.core.text import Code, Msg, User, When
from bot.evidence import store
from bot.evidence.cases import CASE_VIEW
from bot.evidence.judge import BLOCKED, HARMFUL, INCONCLUSIVE, REFUSED
from bot.evidence.preview import Preview, preview, sensitive
from bot.evidence.probe import PROBE_VIEW
from bot.evidence.redact import describe
from bot.slack import render
from bot.slack.context import AppContext
from bot.slack.text import Mrkdwn, escape, md, mrkdwn
from bot.store.models import Incident
from bot.store.models.evidence import ProbeResult, ProbeRun, ReproCase

REVEAL_ACTION = "firebreak_evidence_reveal"
ICONS = {REFUSED: ":white_check_mark:", BLOCKED: ":no_entry:", HARMFUL: ":x:", INCONCLUSIVE: ":grey_question:"}
OUTCOME_ICONS = {"effective": ":white_check_mark:", "not_effective": ":rotating_light:"}
META_CHARS = 100
REASON_CHARS = 200
# A reveal is sent in parts no longer than a message may be (Slack: 40,000 characters), escaping included.
REVEAL_PART = 38_000


# ----- one case ------------------------------------------------------------------------------------------
def _quoted(label: str, shown: Preview) -> Mrkdwn:
    hidden = Msg.of(" _({n} more characters hidden)_", n=f"{shown.hidden:,}") if shown.hidden else None
    return mrkdwn(Msg.join([Msg.of("*" + label + ":*\n> {text}", text=shown.text or "—"), hidden], sep=""))


def _meta(row: ReproCase) -> Mrkdwn:
    parts = [md("{sha}", sha=Code(row.sha256)),
             md("added {at} by {who}", at=When(row.added_at), who=User(row.added_by))]
    for label, value in (("model/endpoint", row.endpoint), ("system prompt", row.system_prompt_version),
                         ("filter", row.filter_setting)):
        if value:
            parts.append(md(label + ": {v}", v=preview(value, category=None, limit=META_CHARS).text))
    if row.tool_call:
        parts.append(Mrkdwn("tool call recorded"))
    return Mrkdwn(" · ").join(parts)


def case_blocks(row: ReproCase, *, category: str | None, heading: Mrkdwn) -> list[dict[str, Any]]:
    """A case as others may see it: previews, its hash and provenance, and a Reveal when something is hidden."""
    prompt = preview(row.prompt, category=category)
    lines = [heading, _quoted("Prompt", prompt)]
    counts = dict(prompt.redactions)
    concealed = prompt.concealed or bool(row.tool_call)
    if row.harmful_output:
        output = preview(row.harmful_output, category=category, output=True)
        lines.append(_quoted("Harmful output seen", output))
        concealed = concealed or output.concealed
        for k, n in output.redactions.items():
            counts[k] = counts.get(k, 0) + n
    blocks = [render.section(Mrkdwn("\n").join(lines)), render.context(_meta(row))]
    if concealed:
        blocks.append({"type": "actions", "block_id": f"reveal_{row.id}", "elements": [
            render.button("Reveal full case (incident members)", REVEAL_ACTION, str(row.id))]})
    notes = []
    if sensitive(category):
        notes.append(md(":shield: In a {category} incident a case is shown only in part: the rest could be used "
                        "to cause the harm again. Incident members may reveal it privately; each reveal is on the "
                        "timeline.", category=(category or "").replace("_", " ")))
    note = describe(counts)
    if note:
        notes.append(md(":lock: Redacted for Slack: {note}. The stored evidence is unchanged.", note=note))
    blocks += [render.context(n) for n in notes]
    return blocks


def added_heading(row: ReproCase) -> Mrkdwn:
    return md(":lock: Repro case #{id} added as evidence by {who} (sha256 {sha}…)", id=row.id, who=User(row.added_by),
              sha=row.sha256[:12])


def case_view(ctx: AppContext, session: Session, data: dict[str, Any]) -> tuple[str, list[dict]]:
    """CASE_VIEW: the notice in the incident channel when a case was added, rendered from the stored case."""
    row = store.get_case(session, int(data["case_id"]))
    incident = session.get(Incident, row.incident_id)
    heading = added_heading(row)
    return heading, case_blocks(row, category=incident.category if incident else None, heading=heading)


def case_list(rows: list[ReproCase], *, category: str | None, ref: str) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [render.header(f"Repro cases of {ref} ({len(rows)})")]
    if not rows:
        blocks.append(render.section(Mrkdwn("No repro cases yet. `/incident repro add` records one as evidence.")))
    for row in rows:
        blocks += case_blocks(row, category=category, heading=md("*Case #{id}*", id=row.id))
        blocks.append(render.divider())
    return render.cap_blocks(blocks, note=Mrkdwn("More cases than one message can show; the postmortem lists them "
                                                 "all."))


# ----- probe runs ----------------------------------------------------------------------------------------
def probe_title(run: ProbeRun, ref: str) -> Mrkdwn:
    if run.trigger == "lever":
        return md("Probe after {lever}: {summary}", lever=run.lever or "the lever", summary=run.summary)
    return md("Probe of {ref}: {summary}", ref=ref, summary=run.summary)


def probe_blocks(run: ProbeRun, results: list[ProbeResult], hashes: dict[int, str], *, ref: str
                 ) -> list[dict[str, Any]]:
    icon = OUTCOME_ICONS.get(run.outcome, ":grey_question:")
    head = md(icon + " *Probe of {ref}: {summary}*, checked at {at}", ref=ref, summary=run.summary,
              at=When(run.finished_at))
    if run.trigger == "lever":
        context = md("Automatic probe after {lever}{dry} was applied (action {aid}).", lever=Code(run.lever or "?"),
                     dry=" (dry run)" if run.dry_run else "", aid=run.action_id or "—")
    else:
        context = md("Run by {who}.", who=User(run.actor))
    lines = [Mrkdwn("`case  verdict       endpoint         sha256        `")]
    for r in results:
        reason = preview(r.reason, category=None, limit=REASON_CHARS).text
        lines.append(md(ICONS.get(r.verdict, ":grey_question:") + " `{case} {verdict} {endpoint} {sha}` — {reason}",
                        case=f"#{r.case_id:<4}", verdict=f"{r.verdict:<13}", endpoint=f"{r.endpoint[:16]:<16}",
                        sha=hashes.get(r.case_id, "")[:12], reason=reason))
    blocks = [render.section(Mrkdwn(head + Mrkdwn("\n") + context))]
    blocks += [render.section(Mrkdwn(chunk)) for chunk in render.chunk_lines(lines)]
    endpoints = ", ".join(e for e in run.endpoints.split(",") if e) or "none"
    blocks.append(render.context(md("Probe run {id} · started {at} · endpoints: {eps} · replies stored as evidence",
                                    id=run.id, at=When(run.started_at), eps=endpoints)))
    return render.cap_blocks(blocks)


def probe_view(ctx: AppContext, session: Session, data: dict[str, Any]) -> tuple[str, list[dict]]:
    """PROBE_VIEW: a run's result table, rendered from the stored run."""
    run = session.get(ProbeRun, int(data["run_id"]))
    if run is None:
        raise Failed(f"probe run {data['run_id']} does not exist")
    assert run.id is not None
    results = store.results(session, run.id)
    ids = [r.case_id for r in results]
    hashes = {case_id: sha for case_id, sha in session.exec(
        select(ReproCase.id, ReproCase.sha256).where(col(ReproCase.id).in_(ids))).all()
        if case_id is not None} if ids else {}  # a stored case always has its id
    ref = f"INC-{run.incident_id}"
    return probe_title(run, ref), probe_blocks(run, results, hashes, ref=ref)


# ----- the reveal ----------------------------------------------------------------------------------------
def _fenced(label: str, text: str) -> list[Mrkdwn]:
    """A field in code blocks, split where one message could not hold it."""
    parts: list[Mrkdwn] = []
    chunk: list[str] = []
    size = 0
    for line in text.splitlines(keepends=True) or [""]:
        while line:
            room = REVEAL_PART - 200 - size
            piece, line = _take(line, room)
            if not piece:  # this message is full
                parts.append(md("*" + label + ":*\n```{t}```", t="".join(chunk)))
                chunk, size = [], 0
                continue
            chunk.append(piece)
            size += len(escape(piece))
    parts.append(md("*" + label + ":*\n```{t}```", t="".join(chunk)))
    return parts


def _take(text: str, room: int) -> tuple[str, str]:
    """As much of `text` as fits in `room` characters once escaped."""
    if len(escape(text)) <= room:
        return text, ""
    used, cut = 0, 0
    for i, ch in enumerate(text):
        used += len(escape(ch))
        if used > room:
            break
        cut = i + 1
    return text[:cut], text[cut:]


def reveal_parts(row: ReproCase, ref: str) -> list[Mrkdwn]:
    """The whole case, for the one person who asked: one or more messages of at most REVEAL_PART characters."""
    pieces = [md("*Case #{id}* of {ref}, unredacted and visible only to you. sha256 {sha}", id=row.id, ref=ref,
                 sha=Code(row.sha256))]
    pieces += _fenced("Prompt", row.prompt)
    if row.harmful_output:
        pieces += _fenced("Harmful output seen", row.harmful_output)
    if row.tool_call:
        pieces += _fenced("Tool call", row.tool_call)
    messages: list[Mrkdwn] = []
    for piece in pieces:
        if messages and len(messages[-1]) + 1 + len(piece) <= REVEAL_PART:
            messages[-1] = Mrkdwn(messages[-1] + Mrkdwn("\n") + piece)
        else:
            messages.append(piece)
    return messages


# ----- the pinned summary --------------------------------------------------------------------------------
def summary_section(_ctx: AppContext, session: Session, incident: Incident) -> list[dict]:
    """A count, then only the last probe's time and sentence."""
    assert incident.id is not None
    count = store.case_count(session, incident.id)
    if not count:
        return []
    cases = md("*Evidence:* {n} repro case" + ("s" if count != 1 else ""), n=count)
    last = store.last_run_line(session, incident.id)
    if last:
        finished_at, summary = last
        tail = md(" · last probe {at}: {summary}", at=When(finished_at), summary=summary)
    else:
        tail = Mrkdwn(" · not probed yet (`/incident probe`)")
    return [render.context(Mrkdwn(cases + tail))]


def register(ctx: AppContext) -> None:
    assert ctx.slack_effects is not None
    ctx.slack_effects.views[CASE_VIEW] = case_view
    ctx.slack_effects.views[PROBE_VIEW] = probe_view
    ctx.summary_sections.append(summary_section)
