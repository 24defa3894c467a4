"""Helpers for the runbook tests: open an incident, read its checklist as a reader sees it, and click its step
menus the way Slack sends an overflow choice (signed block_actions through the harness)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlmodel import select

from bot.core import timeline
from bot.fakes.slack_state import Message
from bot.slack.harness import Harness, Reply, block_text, seen
from bot.slack.views.checklist import MENU_ACTION
from bot.store.models.runbook import RunbookStep

PROMPT_INJECTION = "Injected instructions in a retrieved wiki page --category prompt_injection --sev 1"
LABELS = {"done": "Done", "skip": "Skip…", "assign": "Assign…", "lever": "Pull lever…"}


def open_incident(h: Harness, text: str = PROMPT_INJECTION, user: str = "U0ALICE", number: int = 1) -> str:
    reply = h.command(f"open {text}", user=user)
    assert f"Opened *INC-{number}*" in reply.text, reply.text
    return h.incident_channel(number)


def checklist_message(h: Harness, channel: str, number: int = 1) -> Message:
    found = [m for m in h.fake.history(channel) if m.text.split("] ")[-1].startswith(f"INC-{number} runbook:")]
    assert len(found) == 1, [m.text for m in h.fake.history(channel)]
    return found[0]


def message_text(message: Message) -> str:
    """The message as a reader in UTC sees it (date tokens as their fallback, entities as characters)."""
    return "\n".join(seen(block_text(b)) for b in message.blocks)


def step_block(message: Message, step: str) -> dict[str, Any] | None:
    return next((b for b in message.blocks if b.get("block_id") == f"step:{step}"), None)


def step_blocks(message: Message) -> list[dict[str, Any]]:
    return [b for b in message.blocks if str(b.get("block_id", "")).startswith("step:")]


def option(message: Message, step: str, verb: str) -> str:
    """The value of one choice in a step's menu, as the bot rendered it."""
    block = step_block(message, step)
    assert block is not None, f"no menu for {step}"
    [value] = [o["value"] for o in block["accessory"]["options"] if o["value"].startswith(f"{verb}:")]
    return value


def choose_value(h: Harness, value: Any, *, channel: str, message: Message | None = None, user: str = "U0ALICE",
                 label: str = "Done", wait: bool = True) -> Reply:
    """An overflow choice as Slack sends it: any value (a crafted one too)."""
    payload = {
        "type": "block_actions", "user": {"id": user, "name": user.lower()}, "channel": {"id": channel},
        "container": {"type": "message", "message_ts": message.ts if message else None, "channel_id": channel},
        "message": {"ts": message.ts if message else None, "text": message.text if message else "",
                    "blocks": message.blocks if message else []},
        "actions": [{"type": "overflow", "action_id": MENU_ACTION, "block_id": "step:x",
                     "selected_option": {"text": {"type": "plain_text", "text": label}, "value": value},
                     "action_ts": str(time.time())}],
    }
    return h.interaction(payload, wait=wait)


def choose(h: Harness, channel: str, step: str, verb: str, *, user: str = "U0ALICE", number: int = 1,
           wait: bool = True) -> Reply:
    """Pick `verb` (done, skip, assign, lever) in a step's menu on the current checklist message."""
    message = checklist_message(h, channel, number)
    return choose_value(h, option(message, step, verb), channel=channel, message=message, user=user,
                        label=LABELS[verb], wait=wait)


def events(h: Harness, *kinds: str, number: int = 1):
    with h.ctx.db.session() as session:
        return timeline.events(session, number, kinds=list(kinds))


def step_row(h: Harness, step: str, number: int = 1) -> RunbookStep:
    with h.ctx.db.session() as session:
        return session.exec(select(RunbookStep).where(RunbookStep.incident_id == number,
                                                      RunbookStep.step_id == step)).one()


def told(h: Harness, user: str) -> list[str]:
    """What the bot told `user` privately (ephemerals), as read."""
    return [seen(e["text"]) for e in h.fake.ephemerals if e.get("user") == user]


def violations(h: Harness) -> list[str]:
    """Slack refusals the bot caused, apart from the known invite of a reporter already in the channel
    (bot/slack/commands/roles.py, tests/test_fake_slack_reveals.py) that is not the runbook's."""
    return [str(v) for v in h.fake.violations if v.method != "conversations.invite"]


@contextmanager
def runner_held(h: Harness) -> Iterator[None]:
    """Record without performing: the effects runner takes nothing until the block ends (what a process that
    stopped after its commits leaves behind). Inside, drive the domain directly: the harness's requests wait for
    their effects."""
    h.wait()
    runner = h.ctx.effects
    runner._stop.set()  # noqa: SLF001 - a test holding the runner still
    try:
        yield
    finally:
        runner._stop.clear()  # noqa: SLF001
        runner.kick()
        h.wait()
