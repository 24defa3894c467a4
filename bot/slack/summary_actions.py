"""The pinned summary's buttons: I'll take IC, Update status, Change severity, Resolve.

Each does exactly what its command does, through the same domain functions and the same permission policy,
asked about the person who clicked (the button names an incident id; the incident is read on the server).
The modals carry a pending-action token, never the incident or anything typed.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import App

from bot.core import effects, hooks, incidents, limits
from bot.core.errors import UsageError
from bot.core.incidents import ROLES
from bot.core.policy import Action
from bot.core.severity import Inputs
from bot.core.text import Msg, User
from bot.slack import pending
from bot.slack.commands.close import record_resolved
from bot.slack.commands.severity import after_change, record_change
from bot.slack.commands.status import parse_next, record_status
from bot.slack.context import AppContext
from bot.slack.interactions import Click, button, modal
from bot.slack.ops import safe_call
from bot.slack.summary import CHANGE_SEVERITY, RESOLVE, TAKE_IC, UPDATE_STATUS
from bot.store.models import PendingAction

STATUS_VIEW, SEVERITY_VIEW, RESOLVE_VIEW = "summary_status_modal", "summary_severity_modal", "summary_resolve_modal"
NEXT_CHOICES = [("15m", "15 minutes"), ("30m", "30 minutes"), ("1h", "1 hour"), ("2h", "2 hours"), ("4h", "4 hours")]


def incident_of(ctx: AppContext, value: Any) -> tuple[PendingAction | None, int | None]:
    """A summary button names its incident by number; the number is only a key: the policy decides."""
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        raise pending.Stale() from None
    if not 0 < number <= incidents.MAX_ID:
        raise pending.Stale()
    return None, number


def _text_input(block_id: str, label: str, *, multiline: bool, max_length: int, optional: bool = False,
                initial: str | None = None) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "plain_text_input", "action_id": "value", "multiline": multiline,
                               "max_length": max_length}
    if initial:
        element["initial_value"] = initial
    return {"type": "input", "block_id": block_id, "optional": optional,
            "label": {"type": "plain_text", "text": label}, "element": element}


def _select(block_id: str, label: str, options: list[tuple[str, str]], *, initial: str | None = None,
            optional: bool = True) -> dict[str, Any]:
    def opt(value: str, text: str) -> dict[str, Any]:
        return {"text": {"type": "plain_text", "text": text[:75]}, "value": value}

    element: dict[str, Any] = {"type": "static_select", "action_id": "value", "options": [opt(v, t) for v, t in options]}
    if initial is not None and any(v == initial for v, _ in options):
        element["initial_option"] = next(opt(v, t) for v, t in options if v == initial)
    return {"type": "input", "block_id": block_id, "optional": optional,
            "label": {"type": "plain_text", "text": label}, "element": element}


def _modal(callback: str, title: str, submit: str, token: str, blocks: list[dict]) -> dict[str, Any]:
    return {"type": "modal", "callback_id": callback, "private_metadata": token,
            "title": {"type": "plain_text", "text": title[:24]}, "submit": {"type": "plain_text", "text": submit},
            "close": {"type": "plain_text", "text": "Cancel"}, "blocks": blocks}


def value(values: dict[str, Any], block: str) -> Any:
    el = (values.get(block) or {}).get("value") or {}
    if not isinstance(el, dict):
        return None
    if el.get("type") == "static_select":
        selected = el.get("selected_option")
        return selected.get("value") if isinstance(selected, dict) else None
    return el.get("value")


def _open(click: Click, view: dict[str, Any]) -> None:
    if click.trigger_id:
        safe_call(click.ctx, click.incident_id, "views.open", click.client.views_open, trigger_id=click.trigger_id,
                  view=view)


# ----- I'll take IC ---------------------------------------------------------------------------------------------
def take_ic(click: Click) -> None:
    ctx, number = click.ctx, click.incident_id
    assert number is not None
    with ctx.db.session() as session:
        incident = incidents.get(session, number, lock=True)
        incidents.require_open(incident)
        previous, acknowledged = incidents.assign_role(session, ctx.clock, incident, "ic", click.user_id,
                                                       actor=click.user_id)
        now = ctx.clock.now()
        effects.post(session, number, Msg.join([
            Msg.of(":bust_in_silhouette: {who} is now {role} of {ref}", who=User(click.user_id),
                   role=ROLES["ic"].lower(), ref=incident.ref),
            Msg.of(" — incident acknowledged.") if acknowledged else None], sep=""), created_at=now)
        effects.summary(session, number, created_at=now)
    ctx.hooks.emit(hooks.ROLE_ASSIGNED, ctx=ctx, incident_id=number, actor=click.user_id, role="ic",
                   user_id=click.user_id, acknowledged=acknowledged)
    click.reply(Msg.of("You are the incident commander of INC-{n}.", n=number))


# ----- Update status --------------------------------------------------------------------------------------------
def open_status(click: Click) -> None:
    token = pending.stash(click.ctx, STATUS_VIEW, {"channel": click.channel_id}, incident_id=click.incident_id,
                          user_id=click.user_id)
    _open(click, _modal(STATUS_VIEW, "Status update", "Post", token, [
        _text_input("text", f"What is the status of INC-{click.incident_id}?", multiline=True,
                    max_length=limits.STATUS),
        _select("next", "Next update in", NEXT_CHOICES, initial="30m")]))


def check_status(values: dict[str, Any]) -> dict[str, str] | None:
    text = str(value(values, "text") or "").strip()
    if not text:
        return {"text": "Write the update to post."}
    if len(text) > limits.STATUS:
        return {"text": f"Keep it under {limits.STATUS:,} characters."}
    return None


def submit_status(click: Click) -> None:
    text = str(value(click.value, "text") or "").strip()
    next_in = parse_next(value(click.value, "next"))
    click.reply(record_status(click.ctx, click.incident_id or 0, text, click.user_id, next_in))


# ----- Change severity ------------------------------------------------------------------------------------------
def open_severity(click: Click) -> None:
    ctx = click.ctx
    with ctx.db.session() as session:
        incident = incidents.get(session, click.incident_id or 0)
        current = {"severity": str(incident.severity), "reach": incident.reach, "exposure": incident.exposure,
                   "data": incident.data, "ongoing": None if incident.ongoing is None else
                   ("yes" if incident.ongoing else "no")}
    token = pending.stash(ctx, SEVERITY_VIEW, {"channel": click.channel_id}, incident_id=click.incident_id,
                          user_id=click.user_id)
    rules = ctx.rules
    _open(click, _modal(SEVERITY_VIEW, "Change severity", "Change", token, [
        _select("severity", "Severity", [(str(n), f"SEV{n}") for n in (1, 2, 3, 4)], initial=current["severity"],
                optional=False),
        _text_input("reason", "Why (goes on the timeline)", multiline=True, max_length=limits.REASON),
        _select("reach", "Reach", list(rules.scale("reach").items()), initial=current["reach"]),
        _select("exposure", "Exposure", list(rules.scale("exposure").items()), initial=current["exposure"]),
        _select("data", "Data involved", list(rules.scale("data").items()), initial=current["data"]),
        _select("ongoing", "Is the harm ongoing?", [("yes", "Yes, still happening"), ("no", "No, it stopped")],
                initial=current["ongoing"])]))


def check_severity(values: dict[str, Any]) -> dict[str, str] | None:
    if str(value(values, "severity") or "") not in {"1", "2", "3", "4"}:
        return {"severity": "Choose a severity."}
    reason = str(value(values, "reason") or "").strip()
    if not reason:
        return {"reason": "Say why: it goes on the timeline."}
    if len(reason) > limits.REASON:
        return {"reason": f"Keep it under {limits.REASON:,} characters."}
    return None


def severity_needed(click: Click) -> Action:
    ctx = click.ctx
    with ctx.db.session() as session:
        current = incidents.get(session, click.incident_id or 0).severity
    return Action.RAISE_SEVERITY if int(value(click.value, "severity") or current) <= current \
        else Action.LOWER_SEVERITY


def submit_severity(click: Click) -> None:
    ctx, number = click.ctx, click.incident_id or 0
    new = int(value(click.value, "severity"))
    reason = str(value(click.value, "reason") or "").strip()
    rules = ctx.rules
    with ctx.db.session() as session:
        incident = incidents.get(session, number, lock=True)
        incidents.require_open(incident)
        ongoing = value(click.value, "ongoing")
        inputs = Inputs(category=incident.category,
                        reach=rules.check_scale("reach", value(click.value, "reach")),
                        exposure=rules.check_scale("exposure", value(click.value, "exposure")),
                        data=rules.check_scale("data", value(click.value, "data")),
                        ongoing={"yes": True, "no": False}.get(ongoing) if ongoing else incident.ongoing,
                        regulated_domain=incident.regulated_domain)
        rubric = incidents.reassess(session, ctx.clock, rules, incident, inputs, actor=click.user_id)
        old = incident.severity
        now, ref = ctx.clock.now(), incident.ref
        note = None
        if new != old:
            incidents.change_severity(session, ctx.clock, incident, new, reason, actor=click.user_id)
            note = record_change(session, ctx, incident, old, new, reason, click.user_id)
        elif rubric is None:
            raise UsageError(f"{ref} is already SEV{new} and the impact is unchanged.")
        else:
            effects.post(session, number, Msg.of(":clipboard: {who} re-assessed the impact of {ref} (the rubric says "
                                                 "SEV{rubric}; it stays SEV{sev}): {reason}", who=User(click.user_id),
                                                 ref=ref, rubric=rubric.severity, sev=new, reason=reason),
                         created_at=now)
        effects.summary(session, number, created_at=now)
    if note is not None:
        after_change(ctx, number, old, new, click.user_id, note)
    click.reply(Msg.of("{ref} is SEV{new}.", ref=ref, new=new))


# ----- Resolve ----------------------------------------------------------------------------------------------------
def open_resolve(click: Click) -> None:
    token = pending.stash(click.ctx, RESOLVE_VIEW, {"channel": click.channel_id}, incident_id=click.incident_id,
                          user_id=click.user_id)
    _open(click, _modal(RESOLVE_VIEW, "Resolve incident", "Resolve", token, [
        _text_input("summary", "What resolved it?", multiline=True, max_length=limits.SUMMARY)]))


def check_resolve(values: dict[str, Any]) -> dict[str, str] | None:
    summary = str(value(values, "summary") or "").strip()
    if not summary:
        return {"summary": "A resolution summary is required."}
    if len(summary) > limits.SUMMARY:
        return {"summary": f"Keep it under {limits.SUMMARY:,} characters."}
    return None


def submit_resolve(click: Click) -> None:
    summary = str(value(click.value, "summary") or "").strip()
    click.reply(record_resolved(click.ctx, click.incident_id or 0, summary, click.user_id))


def register(app: App, ctx: AppContext) -> None:
    def take_needed(click: Click) -> Action:
        return Action.TAKE_IC if click.access is not None and click.access.ic is None else Action.ASSIGN_IC

    button(app, ctx, TAKE_IC, take_ic, resolve=incident_of, action=take_needed)
    button(app, ctx, UPDATE_STATUS, open_status, resolve=incident_of, action=Action.POST_STATUS)
    button(app, ctx, CHANGE_SEVERITY, open_severity, resolve=incident_of, action=Action.RAISE_SEVERITY)
    button(app, ctx, RESOLVE, open_resolve, resolve=incident_of, action=Action.RESOLVE)
    modal(app, ctx, STATUS_VIEW, submit_status, kind=STATUS_VIEW, validate=check_status, action=Action.POST_STATUS)
    modal(app, ctx, SEVERITY_VIEW, submit_severity, kind=SEVERITY_VIEW, validate=check_severity,
          action=severity_needed)
    modal(app, ctx, RESOLVE_VIEW, submit_resolve, kind=RESOLVE_VIEW, validate=check_resolve, action=Action.RESOLVE)
