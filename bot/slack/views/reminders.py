"""The status reminder in Slack: its message (with Post update and Snooze buttons), the buttons, and the
status-update modal.

The reminder job (`bot.scheduler.jobs.status_reminder`) records its post as a named view; the view is rendered
when the effects runner posts it, and its buttons carry one opaque token (`bot.slack.pending`) standing for the
incident, never the incident's number. A click is checked against the clicking user (POST_STATUS) for the
incident found on the server; the modal's private_metadata is a token of its own, good for one submission by
the person who opened it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from slack_bolt import App
from sqlmodel import Session

from bot.core import effects, hooks, incidents, limits
from bot.core.errors import UsageError
from bot.core.incidents import exercise_tag
from bot.core.policy import Action
from bot.core.text import Msg, User
from bot.scheduler.jobs import REMINDER_VIEW
from bot.slack import interactions, pending, render
from bot.slack.context import AppContext
from bot.slack.interactions import Click
from bot.slack.text import Mrkdwn, clip, clip_mrkdwn, mrkdwn, plain_field
from bot.store.models import Incident

POST_UPDATE = "scheduler_post_update"
SNOOZE = "scheduler_snooze"
REMINDER = "scheduler_reminder"          # the pending-action kind of a reminder's buttons
STATUS_MODAL = "scheduler_status_update"  # the modal's callback id and the kind of its token
STATUS_BLOCK = "status_text"
BUTTON_TTL = timedelta(days=3)  # a reminder's buttons work this long (a SEV3 reminder comes every 4 h)
MODAL_TTL = timedelta(hours=1)


def reminder_view(ctx: AppContext, session: Session, data: dict[str, Any]) -> tuple[str, list[dict]]:
    """The reminder as posted: its text, and the two buttons with a token stashed in this transaction."""
    n = int(data["incident"])
    incident = session.get(Incident, n)
    text = Mrkdwn(exercise_tag(incident) if incident is not None else "") + mrkdwn(Msg.from_json(data["msg"]))
    token = pending.stash(ctx, REMINDER, {}, incident_id=n, ttl=BUTTON_TTL, session=session)
    snooze = clip(f"Snooze {data.get('snooze') or ''}".strip(), 75)
    blocks = [render.section(clip_mrkdwn(text, render.MAX_SECTION_TEXT)),
              {"type": "actions", "block_id": f"reminder-{n}", "elements": [
                  render.button("Post update", POST_UPDATE, token, style="primary"),
                  render.button(plain_field(snooze), SNOOZE, token)]}]
    return text, blocks


def status_modal(ref: str, token: str) -> dict[str, Any]:
    return {
        "type": "modal", "callback_id": STATUS_MODAL, "private_metadata": token,
        "title": {"type": "plain_text", "text": "Status update"},
        "submit": {"type": "plain_text", "text": "Post"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [{"type": "input", "block_id": STATUS_BLOCK,
                    "label": {"type": "plain_text", "text": plain_field(f"What is the status of {ref}?")},
                    "element": {"type": "plain_text_input", "action_id": "value", "multiline": True,
                                "max_length": limits.STATUS}}],
    }


def _open_ref(ctx: AppContext, n: int) -> str:
    with ctx.db.session() as session:
        incident = incidents.get(session, n)
        incidents.require_open(incident)
        return incident.ref


def post_update(click: Click) -> None:
    """Open the status modal, bound to this incident and this person."""
    ctx, n = click.ctx, click.incident_id
    assert n is not None
    ref = _open_ref(ctx, n)
    if not click.trigger_id:
        raise UsageError("Slack did not send what is needed to open a form; use `/incident status <text>`.")
    token = pending.stash(ctx, STATUS_MODAL, {"channel": click.channel_id}, incident_id=n, user_id=click.user_id,
                          ttl=MODAL_TTL)
    click.client.views_open(trigger_id=click.trigger_id, view=status_modal(ref, token))


def snooze(click: Click) -> None:
    assert click.ctx.scheduler is not None and click.incident_id is not None
    click.ctx.scheduler.snooze(click.incident_id, actor=click.user_id)


def _status_value(values: dict[str, Any]) -> str:
    raw = ((values.get(STATUS_BLOCK) or {}).get("value") or {}).get("value")
    return raw if isinstance(raw, str) else ""


def validate(values: dict[str, Any]) -> dict[str, str] | None:
    try:
        limits.clean(_status_value(values), limits.STATUS, "status update", required="Write the update to post.")
    except UsageError as err:
        return {STATUS_BLOCK: err.message}
    return None


def submit(click: Click) -> None:
    """Post the update, once per form: the token is used up by the first submission that gets here."""
    ctx, n = click.ctx, click.incident_id
    assert n is not None and click.state is not None
    text = limits.clean(_status_value(click.value), limits.STATUS, "status update", required="Write the update to post.")
    with ctx.db.session() as session:
        incident = incidents.get(session, n, lock=True)
        incidents.post_status(session, ctx.clock, incident, text, actor=click.user_id)
        now = ctx.clock.now()
        effects.post(session, n, Msg.of(":mega: *Status update* on {ref} from {who}:\n{text}", ref=incident.ref,
                                        who=User(click.user_id), text=text), created_at=now)
        effects.summary(session, n, created_at=now)
    ctx.hooks.emit(hooks.STATUS_POSTED, ctx=ctx, incident_id=n, actor=click.user_id)


def register(app: App, ctx: AppContext) -> None:
    assert ctx.slack_effects is not None
    ctx.slack_effects.views[REMINDER_VIEW] = reminder_view
    buttons = interactions.by_token(REMINDER)
    interactions.button(app, ctx, POST_UPDATE, post_update, resolve=buttons, action=Action.POST_STATUS)
    interactions.button(app, ctx, SNOOZE, snooze, resolve=buttons, action=Action.POST_STATUS)
    interactions.modal(app, ctx, STATUS_MODAL, submit, kind=STATUS_MODAL, validate=validate,
                       action=Action.POST_STATUS)
