"""`firebreak console`: the real bot with no Slack account.

Each line you type goes through the same Bolt app and handlers as Slack's requests do (signed, dispatched
in-process) against a local Slack stand-in, and what the bot would post is printed readably.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

from bot.config.settings import Settings
from bot.fakes.slack_api import Call
from bot.slack.harness import Harness, block_text
from bot.store.migrate import upgrade

DEMO_LEVERS = Path(__file__).parent.parent / "tabletop" / "exercise-levers.yml"
PEOPLE = {"alice": "U0ALICE", "bob": "U0BOB", "carol": "U0CAROL", "dave": "U0DAVE", "erin": "U0ERIN"}
_MENTION_IN = re.compile(r"(?<![<\w])@([a-z][a-z0-9._-]*)", re.IGNORECASE)
_USER_OUT = re.compile(r"<@([UW][A-Z0-9]+)(?:\|([^>]*))?>")
_CHANNEL_OUT = re.compile(r"<#([CGD][A-Z0-9]+)(?:\|([^>]*))?>")
_GROUP_OUT = re.compile(r"<!subteam\^([A-Z0-9]+)(?:\|([^>]*))?>")

HELP = """Type /incident commands as you would in Slack, e.g.
  /incident open Jailbreak prompt spreading on social media --exposure public --ongoing
  /incident ic @bob          /incident sev 1 screenshots are trending     /incident status
  /incident contained flag off    /incident resolve rolled back the prompt   /incident help
Console commands:
  :user NAME|UID    act as someone else (people: alice, bob, carol, dave, erin)
  :channel NAME     move to a channel (#general, or an incident channel)
  :channels         list channels          :summary   show the pinned summary here
  :pin TEXT         post TEXT as a message here and react to it with :pushpin:
  :help             this help              :quit      leave (Ctrl-D works too)"""


class Console:
    def __init__(self, harness: Harness, *, user: str, out: TextIO) -> None:
        self.h = harness
        self.user = PEOPLE.get(user.lower(), user)
        self.channel = harness.general
        self.out = out
        self.seen = len(harness.fake.calls)
        for name, uid in PEOPLE.items():
            harness.fake.add_user(uid, name)

    # ----- rendering ----------------------------------------------------------------------------------
    def name_of(self, uid: str) -> str:
        user = self.h.fake.users.get(uid)
        return "@" + (user["name"] if user else uid)

    def plain(self, text: str) -> str:
        text = _USER_OUT.sub(lambda m: "@" + (m.group(2) or self.name_of(m.group(1))[1:]), text)
        text = _CHANNEL_OUT.sub(lambda m: "#" + (m.group(2) or self.channel_name(m.group(1))), text)
        text = _GROUP_OUT.sub(lambda m: "@" + (m.group(2) or m.group(1)), text)
        return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")

    def channel_name(self, cid: str | None) -> str:
        ch = self.h.fake.channels.get(cid or "")
        return ch["name"] if ch else str(cid)

    def blocks(self, blocks: Iterable[dict[str, Any]], indent: str = "    ") -> list[str]:
        lines: list[str] = []
        for b in blocks:
            kind = b.get("type")
            if kind == "divider":
                lines.append(indent + "─" * 40)
            elif kind == "header":
                lines.append(indent + "▌ " + self.plain(b["text"]["text"]))
            elif kind == "actions":
                labels = [f"[{e.get('text', {}).get('text', '?')}]" for e in b.get("elements", [])]
                lines.append(indent + " ".join(labels))
            else:
                text = self.plain(block_text(b))
                accessory = b.get("accessory")
                if accessory and accessory.get("type") == "button":
                    text += f"  [{accessory['text']['text']}]"
                lines.extend(indent + line for line in text.splitlines())
        return lines

    def say(self, line: str = "") -> None:
        self.out.write(line + "\n")
        self.out.flush()

    def show_call(self, call: Call) -> None:
        p = call.params
        if call.method in ("response_url", "chat.postEphemeral"):
            self.say("  (only you can see this)")
            body = self.blocks(p.get("blocks") or []) if p.get("blocks") else []
            if not body:
                body = ["    " + line for line in self.plain(p.get("text", "")).splitlines()]
            for line in body:
                self.say(line)
        elif call.method == "chat.postMessage":
            where = self.channel_name(p.get("channel")) if not str(p.get("channel", "")).startswith("U") \
                else f"DM to {self.name_of(p['channel'])}"
            self.say(f"  #{where} · firebreak:")
            body = self.blocks(p["blocks"]) if p.get("blocks") else \
                ["    " + line for line in self.plain(p.get("text", "")).splitlines()]
            for line in body:
                self.say(line)
        elif call.method == "chat.update":
            self.say(f"  #{self.channel_name(p.get('channel'))} · pinned summary updated (:summary shows it)")
        elif call.method == "conversations.create":
            self.say(f"  + channel #{p.get('name')} created")
        elif call.method == "conversations.invite":
            names = ", ".join(self.name_of(u) for u in str(p.get("users", "")).split(",") if u)
            self.say(f"  + {names} added to #{self.channel_name(p.get('channel'))}")
        elif call.method == "conversations.setTopic":
            self.say(f"  #{self.channel_name(p.get('channel'))} topic: {self.plain(p.get('topic', ''))}")
        elif call.method == "files.completeUploadExternal":
            for f in p.get("files") or []:
                self.say(f"  #{self.channel_name(p.get('channel_id'))} · file uploaded: {f.get('title') or f.get('id')}")

    def flush(self) -> list[Call]:
        with self.h.fake.lock:
            calls = list(self.h.fake.calls[self.seen:])
            self.seen = len(self.h.fake.calls)
        for call in calls:
            self.show_call(call)
        return calls

    # ----- input --------------------------------------------------------------------------------------
    def to_slack(self, text: str) -> str:
        """Turn @name into the escaped mention Slack sends (`<@U0BOB|bob>`)."""

        def repl(m: re.Match[str]) -> str:
            name = m.group(1).lower()
            uid = PEOPLE.get(name) or next((u for u, d in self.h.fake.users.items() if d.get("name") == name), None)
            if uid is None:
                uid = "U0" + re.sub(r"[^A-Z0-9]", "", name.upper())[:9]
                self.h.fake.add_user(uid, name)
            return f"<@{uid}|{name}>"

        return _MENTION_IN.sub(repl, text)

    def fill_modal(self, view: dict[str, Any], ask) -> dict[str, Any]:
        self.say(f"  ┌ form: {view.get('title', {}).get('text', '')} (Enter skips optional fields)")
        answers: dict[str, Any] = {}
        for block in view.get("blocks", []):
            if block.get("type") != "input":
                continue
            label = block["label"]["text"]
            el = block["element"]
            optional = block.get("optional", False)
            if el["type"] == "static_select":
                options = el["options"]
                initial = (el.get("initial_option") or {}).get("value")
                for i, o in enumerate(options, 1):
                    self.say(f"  │   {i}. {o['text']['text']}")
                raw = ask(f"  │ {label} [number{', default ' + initial if initial else ''}]: ").strip()
                if raw.isdigit() and 1 <= int(raw) <= len(options):
                    answers[block["block_id"]] = options[int(raw) - 1]["value"]
                elif initial:
                    answers[block["block_id"]] = initial
            elif el["type"] == "checkboxes":
                raw = ask(f"  │ {label}: {el['options'][0]['text']['text']}? [y/N]: ").strip().lower()
                answers[block["block_id"]] = [el["options"][0]["value"]] if raw.startswith("y") else []
            elif el["type"] == "datetimepicker":
                continue  # defaults to now; the form in Slack has a picker
            else:
                initial = el.get("initial_value") or ""
                raw = ask(f"  │ {label}{' (optional)' if optional else ''}{' [' + initial[:40] + ']' if initial else ''}: ")
                answers[block["block_id"]] = raw.strip() or initial or None
        self.say("  └ submitted")
        return answers

    def handle(self, line: str, ask) -> bool:
        """Handle one line; False to quit."""
        line = line.strip()
        if not line:
            return True
        if line in (":quit", ":q", "exit", "quit"):
            return False
        if line == ":help":
            self.say(HELP)
        elif line.startswith(":user"):
            who = line.split(maxsplit=1)[1] if len(line.split()) > 1 else ""
            self.user = PEOPLE.get(who.lower().lstrip("@"), who) or self.user
            self.say(f"  you are now {self.name_of(self.user)}")
        elif line.startswith(":channel"):
            name = line.split(maxsplit=1)[1].lstrip("#") if len(line.split()) > 1 else ""
            ch = self.h.fake.channel_by_name(name) or self.h.fake.channels.get(name)
            if ch:
                self.channel = ch["id"]
                self.say(f"  you are in #{ch['name']}")
            else:
                self.say(f"  no channel #{name}; :channels lists them")
        elif line == ":channels":
            for ch in self.h.fake.channels.values():
                if not ch.get("is_im"):
                    self.say(f"  #{ch['name']}{'  (private)' if ch['is_private'] else ''}")
        elif line == ":summary":
            pinned = self.h.fake.pinned(self.channel)
            if not pinned:
                self.say("  nothing is pinned here; move to an incident channel with :channel")
            for m in pinned:
                for out in self.blocks(m.blocks):
                    self.say(out)
        elif line.startswith(":pin "):
            ts = self.h.fake.post_user_message(self.channel, self.user, line[5:])
            self.seen = len(self.h.fake.calls)
            self.h.react(self.channel, ts, user=self.user)
            self.say("  reacted with :pushpin: (incident channels add it to the timeline)")
        elif line.startswith("/incident"):
            text = self.to_slack(line[len("/incident"):].strip())
            reply = self.h.command(text, user=self.user, channel=self.channel)
            calls = self.flush()
            for call in calls:
                if call.method == "views.open":
                    answers = self.fill_modal(call.params["view"], ask)
                    self.h.submit_view(self.h.last_view(), answers, user=self.user)
                    calls += self.flush()
            created = [c for c in calls if c.method == "conversations.create"]
            if created:
                ch = self.h.fake.channel_by_name(created[-1].params["name"])
                if ch:
                    self.channel = ch["id"]
                    self.say(f"  (you are now in #{ch['name']})")
            if reply.ack.status != 200:
                self.say(f"  request refused: HTTP {reply.ack.status}")
        else:
            self.say("  type /incident ... or :help")
        return True

    def prompt(self) -> str:
        return f"{self.name_of(self.user)} in #{self.channel_name(self.channel)}> "


def run_console(settings: Settings, *, user: str = "U0ALICE", stdin: TextIO | None = None,
                stdout: TextIO | None = None) -> None:
    stdin = stdin or sys.stdin
    out = stdout or sys.stdout
    demo_levers = settings.levers_file is None
    if demo_levers:  # let a newcomer pull levers: the exercise set, and nothing ever leaves the machine
        settings = settings.model_copy(update={"levers_file": DEMO_LEVERS, "levers_dry_run": True})
    harness = Harness(settings, create_tables=False)
    upgrade(harness.bot.ctx.db.engine)
    console = Console(harness, user=user, out=out)
    timers = harness.bot.ctx.timers
    if timers is not None:
        timers.start()
    interactive = stdin.isatty()

    def ask(prompt: str) -> str:
        if interactive:
            return input(prompt)
        out.write(prompt)
        line = stdin.readline()
        if line == "":  # end of input (a blank line reads as "\n")
            out.write("\n")
            raise EOFError
        out.write(line if line.endswith("\n") else line + "\n")
        return line.rstrip("\n")

    db = harness.settings.database_url
    console.say(f"firebreak console — the real bot against a local Slack stand-in. Database: {db}")
    if demo_levers:
        console.say("Levers: the demo set (bot/tabletop/exercise-levers.yml), always dry-run; "
                    "set FIREBREAK_LEVERS_FILE for your own.")
    console.say("Type :help for help, /incident help for the commands.")
    try:
        while True:
            console.flush()
            try:
                if not console.handle(ask(console.prompt()), ask):
                    break
            except EOFError:
                break
    finally:
        console.flush()
        harness.close()

