"""`/incident postmortem [--regulator]`: render the draft, upload it to the incident channel as a file
(files_upload_v2) and post a short summary with the key intervals."""

from __future__ import annotations

from typing import Any

from slack_bolt import App

from bot.app.effects import Failed, Job
from bot.core import effects, facts, incidents, timeline
from bot.core.durations import format_duration
from bot.core.errors import UsageError
from bot.core.facts import IncidentFacts, Interval
from bot.core.policy import Action
from bot.postmortem import render_draft, render_regulator_summary
from bot.slack.commands import Invocation
from bot.slack.commands.args import parse_flags
from bot.slack.context import AppContext
from bot.slack.ops import post_in_incident, safe_call

USAGE = "/incident postmortem [--regulator]"


def intervals_line(f: IncidentFacts) -> str:
    def fmt(v: Interval) -> str:
        return format_duration(v.active) if v.done else "open"

    return (f"MTTD {fmt(f.mttd)} · MTTA {fmt(f.mtta)} · MTTC {fmt(f.mttc)} "
            f"(target {format_duration(f.target.duration)}) · MTTR {fmt(f.mttr)}")


def publish(ctx: AppContext, number: int, *, actor: str, regulator: bool = False,
            fallback_channel: str | None = None, effect: int | None = None) -> str | None:
    """Render the draft (or regulator summary), upload it to the incident channel, record it on the
    timeline and post the key intervals. Returns the file name, or None when the upload failed (recorded)."""
    if regulator:
        markdown = render_regulator_summary(ctx, number)
    else:
        markdown = render_draft(ctx, number)  # people by display name, asked outside any transaction
    with ctx.db.session() as session:
        incident = incidents.get(session, number)
        ref, channel = incident.ref, incident.channel_id or fallback_channel
        still_open = incident.is_open
        line = intervals_line(facts.load(session, incident, ctx.rules, ctx.clock.now()))
        tag = "[EXERCISE] " if incident.is_exercise else ""
    kind = "regulator summary" if regulator else "postmortem draft"
    filename = f"{ref}-{'regulator-summary' if regulator else 'postmortem'}.md"
    resp = safe_call(ctx, number, f"files.upload ({kind})", ctx.client.files_upload_v2, channel=channel,
                     content=markdown, filename=filename, title=f"{tag}{ref} {kind}",
                     initial_comment=f"{tag}{kind.capitalize()} for {ref}")
    if resp is None:
        return None
    file_id = (resp.get("files") or [{}])[0].get("id") if hasattr(resp, "get") else None
    with ctx.db.session() as session:
        timeline.record(session, ctx.clock, number, "postmortem_drafted", f"{kind.capitalize()} generated",
                        actor=actor, data={"file_id": file_id, "regulator": regulator,
                                           **({"effect": effect} if effect is not None else {})})
    note = " _The incident is still open: the draft is marked as such._" if still_open else ""
    post_in_incident(ctx, number, f":page_facing_up: {kind.capitalize()} for {ref} uploaded above "
                                  f"(requested by <@{actor}>). {line}.{note}")
    return filename


def postmortem(inv: Invocation) -> None:
    parsed = parse_flags(inv.args, values=set(), switches={"regulator"}, usage=USAGE)
    if parsed.words:
        raise UsageError(f"Unexpected `{' '.join(parsed.words)}`.", usage=USAGE)
    number = inv.require_incident()
    regulator = bool(parsed.flags.get("regulator"))
    kind = "regulator summary" if regulator else "postmortem draft"
    filename = publish(inv.ctx, number, actor=inv.user_id, regulator=regulator, fallback_channel=inv.channel_id)
    ref = f"INC-{number}"
    if filename is None:
        name = f"{ref}-{'regulator-summary' if regulator else 'postmortem'}.md"
        inv.reply(f":warning: Uploading the {kind} to Slack failed (recorded on the timeline). "
                  f"`firebreak postmortem {ref} -o {name}` writes it from the command line.")
        return
    inv.reply(f"Uploaded the {kind} for {ref} as `{filename}`.")


def upload_effect(ctx: AppContext, job: Job) -> dict[str, Any]:
    """The recorded upload of a draft (a tabletop's end asks for one): done once, even when resumed after a crash
    between the upload and its mark (the upload's timeline fact names the effect)."""
    assert job.incident_id is not None
    if job.resumed:
        with ctx.db.session() as session:
            done = [e for e in timeline.events(session, job.incident_id, kinds=["postmortem_drafted"])
                    if (e.data or {}).get("effect") == job.id]
        if done:
            return {"file_id": (done[0].data or {}).get("file_id"), "resumed": True}
    filename = publish(ctx, job.incident_id, actor=str(job.payload.get("actor") or ""),
                       regulator=job.payload.get("what") == "regulator", effect=job.id)
    if filename is None:
        raise Failed("files.upload failed (recorded on the timeline)", quiet=True)
    return {"filename": filename}


def register(app: App, ctx: AppContext) -> None:
    ctx.effects.register(effects.UPLOAD, lambda job: upload_effect(ctx, job))
    ctx.commands.add("postmortem", postmortem, usage=USAGE, allow_resolved=True,
                     summary="upload a postmortem draft (or a regulator summary) built from the timeline",
                     action=Action.VIEW)
