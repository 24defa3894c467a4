"""`firebreak console`: the real bot with no Slack account.

Each line you type goes through the same Bolt app and handlers as Slack's requests do (signed, dispatched
in-process) against a local Slack stand-in, and what the bot would post is printed readably.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from bot.cli.common import shown_url
from bot.config.settings import Settings
from bot.core.errors import FirebreakError
from bot.core.text import plain_mrkdwn
from bot.fakes.slack_api import Call
from bot.slack.harness import Harness, block_text
from bot.store.migrate import upgrade

if TYPE_CHECKING:
    from bot.fakes.launchdarkly import FakeLaunchDarkly

DEMO_LEVERS = Path(__file__).parent.parent / "tabletop" / "exercise-levers.yml"
SANDBOX = "tabletop-sandbox"
SANDBOX_ID = "C0SANDBOX"
PEOPLE = {"alice": "U0ALICE", "bob": "U0BOB", "carol": "U0CAROL", "dave": "U0DAVE", "erin": "U0ERIN"}
_MENTION_IN = re.compile(r"(?<![<\w])@([a-z][a-z0-9._-]*)", re.IGNORECASE)
MAX_TRIES = 5  # invalid answers to one form field before the form is abandoned

HELP = """Type /incident commands as you would in Slack, e.g.
  /incident open Jailbreak prompt spreading on social media --exposure public --ongoing
  /incident ic @bob          /incident sev 1 screenshots are trending     /incident status
  /incident contain kill-switch   /incident resolve rolled back the prompt   /incident help
  /incident tabletop start jailbreak-viral   (in #tabletop-sandbox: a live exercise, injects on a timer)
Console commands:
  :user NAME|UID    act as someone else (people: alice, bob, carol, dave, erin)
  :channel NAME     move to a channel (#general, #tabletop-sandbox, or an incident channel)
  :channels         list channels          :summary   show the pinned summary here
  :pin TEXT         post TEXT as a message here and react to it with :pushpin:
  :alert FILE [SRC] deliver a detector's alert (JSON, e.g. examples/alerts/*.json) as source SRC (the
                    first configured source by default); needs FIREBREAK_ALERTS_FILE (docs/alerts.md)
  :help             this help              :quit      leave (Ctrl-D works too)"""


class FormAbandoned(Exception):
    """Too many invalid answers to one field: the form is closed without submitting."""


class Console:
    def __init__(self, harness: Harness, *, user: str, out: TextIO, ld: FakeLaunchDarkly | None = None) -> None:
        self.h = harness
        self.user = PEOPLE.get(user.lower(), user)
        self.channel = harness.general
        self.out = out
        self.ld = ld
        self.ld_seen = 0
        self.seen = len(harness.fake.calls)
        for name, uid in PEOPLE.items():
            harness.fake.add_user(uid, name)

    # ----- rendering ----------------------------------------------------------------------------------
    def name_of(self, uid: str) -> str:
        user = self.h.fake.users.get(uid)
        return "@" + (user["name"] if user else uid)

    def plain(self, text: str) -> str:
        """Slack mrkdwn as the terminal shows it: the one plain-text renderer, people and channels by name."""
        return plain_mrkdwn(text, self.name_of, lambda c: "#" + self.channel_name(c.id, c.name))

    def channel_name(self, cid: str | None, fallback: str | None = None) -> str:
        ch = self.h.fake.channels.get(cid or "")
        return ch["name"] if ch else str(fallback or cid)

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
            self.say(f"  #{self.channel_name(p.get('channel'))} · {self.updated(p)}")
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

    def updated(self, p: dict[str, Any]) -> str:
        """What an edited message is, in words: the pinned summary, a runbook checklist, or which message."""
        channel, ts = str(p.get("channel") or ""), str(p.get("ts") or "")
        first = next((ln for ln in self.plain(str(p.get("text") or "")).splitlines() if ln.strip()), "")
        first = first.removeprefix("[EXERCISE] ")
        pinned = any(m.ts == ts for m in self.h.fake.pinned(channel))
        if " runbook:" in first or first.lower().startswith("runbook"):
            return f"checklist updated: {first}"
        if pinned:
            return "pinned summary updated (:summary shows it)"
        return f"message updated: {first}" if first else "message updated"

    def alert(self, args: list[str]) -> None:
        """Deliver a sample alert through the same parsing, routing and storage as `POST /alerts/<source>`
        (without the signature: the console is firebreak itself), then show what the bot did with it."""
        svc = self.h.ctx.alerts
        sources = list(svc.alert_rules.sources) if svc is not None else []
        if svc is None or not sources:
            self.say("  no alert sources are configured: set FIREBREAK_ALERTS_FILE (docs/alerts.md; a sample is "
                     "examples/alerts/alerts.yml), or post to a running server with `firebreak alerts send`")
            return
        if not args:
            self.say(f"  usage: :alert FILE [SOURCE]   (sources: {', '.join(sources)})")
            return
        try:
            payload = json.loads(Path(args[0]).read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            self.say(f"  cannot read {args[0]}: {err}")
            return
        source = args[1] if len(args) > 1 else sources[0]
        try:
            stored = svc.inject(source, payload, exercise=False)
        except FirebreakError as err:
            self.say(f"  refused: {err.message}")
            return
        self.h.wait()
        self.say(f"  {stored} alert(s) accepted from {source}")
        self.flush()

    def flush(self) -> list[Call]:
        with self.h.fake.lock:
            calls = list(self.h.fake.calls[self.seen:])
            self.seen = len(self.h.fake.calls)
        for call in calls:
            self.show_call(call)
        self.show_launchdarkly()
        return calls

    def show_launchdarkly(self) -> None:
        """The demo LaunchDarkly stand-in's side: each REST call the bot made, and each change the SDK saw."""
        if self.ld is None:
            return
        with self.ld.lock:
            requests = list(self.ld.requests[self.ld_seen:])
            self.ld_seen = len(self.ld.requests)
        for r in requests:
            if r.kind not in ("patch", "get"):
                continue
            what = ""
            if r.method == "PATCH" and isinstance(r.body, dict):
                kinds = [str(i.get("kind")) for i in r.body.get("instructions") or [] if isinstance(i, dict)]
                what = f" ({', '.join(kinds)})" if kinds else ""
            self.say(f"  ⇄ LaunchDarkly stand-in: {r.method} {r.path.split('?', 1)[0]} → {r.status}{what}")

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

    def fill_modal(self, view: dict[str, Any], ask: Callable[[str], str]) -> dict[str, Any]:
        self.say(f"  ┌ form: {view.get('title', {}).get('text', '')} (Enter skips optional fields)")
        answers: dict[str, Any] = {}
        for block in view.get("blocks", []):
            if block.get("type") == "input":
                answers[block["block_id"]] = self.answer(block, ask)
        self.say("  └ submitted")
        return answers

    def answer(self, block: dict[str, Any], ask: Callable[[str], str], reason: str | None = None) -> Any:
        """Ask for one field until the answer is valid, saying why each invalid one was refused."""
        for _ in range(MAX_TRIES):
            if reason:
                self.say(f"  │ ✗ {reason}")
            try:
                return self.parse(block, ask)
            except ValueError as err:
                reason = str(err)
        self.say(f"  └ {MAX_TRIES} invalid answers to “{block['label']['text']}”: the form was not submitted")
        raise FormAbandoned

    def parse(self, block: dict[str, Any], ask: Callable[[str], str]) -> Any:
        """One field's answer as the form sends it; ValueError (the reason) when it is not valid."""
        label, el = block["label"]["text"], block["element"]
        optional = block.get("optional", False)
        kind = el["type"]
        if kind == "static_select":
            options = el["options"]
            initial = (el.get("initial_option") or {}).get("value")
            for i, o in enumerate(options, 1):
                self.say(f"  │   {i}. {o['text']['text']}")
            hint = f"number{', default ' + initial if initial else ''}{', Enter skips' if optional else ''}"
            raw = ask(f"  │ {label} [{hint}]: ").strip()
            if not raw:
                if initial or optional:
                    return initial
                raise ValueError(f"“{label}” is required: type a number from 1 to {len(options)}.")
            if raw.isdigit() and 1 <= int(raw) <= len(options):
                return options[int(raw) - 1]["value"]
            by_text = [o for o in options if raw.lower() in (o["value"].lower(), o["text"]["text"].lower())]
            if by_text:
                return by_text[0]["value"]
            raise ValueError(f"`{raw[:40]}` is not one of the choices: type a number from 1 to {len(options)}.")
        if kind == "checkboxes":
            raw = ask(f"  │ {label}: {el['options'][0]['text']['text']}? [y/N]: ").strip().lower()
            if raw in ("", "n", "no"):
                return []
            if raw in ("y", "yes"):
                return [el["options"][0]["value"]]
            raise ValueError(f"`{raw[:40]}` is not an answer to a yes/no question: type y or n.")
        if kind == "datetimepicker":
            initial = el.get("initial_date_time")
            raw = ask(f"  │ {label} [UTC time such as 09:40, 45m ago or 2026-01-05 09:40; Enter for "
                      f"{'the default' if initial else 'now'}]: ").strip()
            if not raw:
                return initial
            from bot.core.errors import UsageError
            from bot.core.when import parse_when

            try:
                what = re.sub(r"\s*\(.*\)$", "", label).lower()
                return int(parse_when(raw, self.h.ctx.clock.now(), what).timestamp())
            except UsageError as err:
                raise ValueError(err.message) from None
        if kind == "users_select":
            raw = ask(f"  │ {label} [@name{', Enter skips' if optional else ''}]: ").strip().lstrip("@").lower()
            if not raw and optional:
                return None
            uid = PEOPLE.get(raw) or next((u for u, d in self.h.fake.users.items() if d.get("name") == raw), None)
            if uid is None:
                raise ValueError(f"nobody called @{raw[:40]} here; people: {', '.join(PEOPLE)}.")
            return uid
        initial = el.get("initial_value") or ""
        raw = ask(f"  │ {label}{' (optional)' if optional else ''}{' [' + initial[:40] + ']' if initial else ''}: ")
        value = raw.strip() or initial or None
        if value is None and not optional:
            raise ValueError(f"“{label}” is required.")
        limit = el.get("max_length")
        if value is not None and limit and len(value) > int(limit):
            raise ValueError(f"“{label}” is {len(value):,} characters; the limit is {int(limit):,}.")
        return value

    def submit(self, answers: dict[str, Any], ask: Callable[[str], str]) -> list[Call]:
        """Submit the open form; when the bot refuses fields, say why and ask for those again."""
        calls: list[Call] = []
        view = self.h.last_view()
        for _ in range(MAX_TRIES):
            reply = self.h.submit_view(view, answers, user=self.user)
            errors = form_errors(reply.ack.body)
            if not errors:
                return calls + self.flush()
            blocks = {b["block_id"]: b for b in view.get("blocks", []) if b.get("type") == "input"}
            self.say("  ┌ the form came back:")
            for block_id, reason in errors.items():
                block = blocks.get(block_id)
                if block is None:
                    self.say(f"  │ ✗ {reason}")
                    continue
                answers[block_id] = self.answer(block, ask, reason=reason)
            self.say("  └ submitted again")
        self.say("  the form was refused too many times; it was not submitted")
        return calls

    def handle(self, line: str, ask) -> bool:
        """Handle one line; False to quit."""
        line = line.strip()
        if not line:
            return True
        if line in (":quit", ":q", "exit", "quit"):
            return False
        if line == ":help":
            self.say(HELP)
        elif line.split()[0] == ":user":
            who = line.split(maxsplit=1)[1] if len(line.split()) > 1 else ""
            self.user = PEOPLE.get(who.lower().lstrip("@"), who) or self.user
            self.say(f"  you are now {self.name_of(self.user)}")
        elif line.split()[0] == ":channels":
            for ch in self.h.fake.channels.values():
                if not ch.get("is_im"):
                    here = "  (you are here)" if ch["id"] == self.channel else ""
                    self.say(f"  #{ch['name']}{'  (private)' if ch['is_private'] else ''}{here}")
        elif line.split()[0] == ":channel":
            name = line.split(maxsplit=1)[1].strip().lstrip("#") if len(line.split()) > 1 else ""
            chosen = (self.h.fake.channel_by_name(name) or self.h.fake.channels.get(name)) if name else None
            if chosen:
                self.channel = chosen["id"]
                self.say(f"  you are in #{chosen['name']}")
            elif not name:
                self.say("  which channel? :channel NAME (:channels lists them)")
            else:
                self.say(f"  no channel #{name}; :channels lists them")
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
        elif line.split()[0] == ":alert":
            self.alert(line.split()[1:])
        elif line.startswith("/incident"):
            text = self.to_slack(line[len("/incident"):].strip())
            reply = self.h.command(text, user=self.user, channel=self.channel)
            calls = self.flush()
            for call in list(calls):
                if call.method == "views.open":
                    try:
                        answers = self.fill_modal(call.params["view"], ask)
                    except FormAbandoned:
                        continue
                    calls += self.submit(answers, ask)
            created = [c for c in calls if c.method == "conversations.create"]
            if created:
                made = self.h.fake.channel_by_name(created[-1].params["name"])
                if made:
                    self.channel = made["id"]
                    self.say(f"  (you are now in #{made['name']})")
            if reply.ack.status != 200:
                self.say(f"  request refused: HTTP {reply.ack.status}")
        elif line.startswith(":"):
            self.say(f"  unknown console command {line.split()[0]}; :help lists them")
        else:
            self.say("  type /incident ... or :help")
        return True

    def prompt(self) -> str:
        return f"{self.name_of(self.user)} in #{self.channel_name(self.channel)}> "


def form_errors(body: Any) -> dict[str, str]:
    """The fields a form submission was refused on (`response_action: errors`), by block id."""
    try:
        data = json.loads(body) if isinstance(body, str) and body.strip().startswith("{") else body
    except ValueError:
        return {}
    if isinstance(data, dict) and data.get("response_action") == "errors" and isinstance(data.get("errors"), dict):
        return {str(k): str(v) for k, v in data["errors"].items()}
    return {}


def demo_launchdarkly(levers_file: Path) -> FakeLaunchDarkly:
    """The packaged LaunchDarkly stand-in on 127.0.0.1, holding every flag the demo levers name (each on,
    serving its first variation), so a pull is a real PATCH and is verified through the real SDK."""
    from bot.containment.spec import FlagTarget, load_levers
    from bot.fakes.launchdarkly import FakeLaunchDarkly

    registry = load_levers(levers_file)
    flags: dict[tuple[str, str], dict[str, Any]] = {}
    for lever in registry.all():
        t = lever.target
        if not isinstance(t, FlagTarget):
            continue
        flag = flags.setdefault((t.project, t.flag), {"envs": set(), "variations": []})
        flag["envs"].add(t.environment)
        if t.variation is not None and str(t.variation) not in flag["variations"]:
            flag["variations"].append(str(t.variation))
    environments = sorted({e for f in flags.values() for e in f["envs"]}) or ["production"]
    fake = FakeLaunchDarkly(sdk_keys={env: f"sdk-demo-{env}-key-0123456789" for env in environments},
                            project=next(iter(flags))[0] if flags else "default").start()
    for (project, key), f in sorted(flags.items()):
        if f["variations"]:
            names = ["current", *f["variations"]]
            fake.add_flag(key, variations=names, names=names, environments=tuple(sorted(f["envs"])),
                          fallthrough=0, off_variation=0, project=project)
        else:
            fake.add_flag(key, environments=tuple(sorted(f["envs"])), project=project)
    return fake


def demo_settings(settings: Settings, fake: FakeLaunchDarkly, levers_file: Path) -> Settings:
    from pydantic import SecretStr

    with fake.lock:
        keys = {env: SecretStr(key) for key, (_, env) in fake.sdk_keys.items()}
    return settings.model_copy(update={
        "levers_file": levers_file, "levers_dry_run": False, "launchdarkly_api_url": fake.url,
        "launchdarkly_api_token": SecretStr(fake.api_token), "launchdarkly_base_uri": fake.url,
        "launchdarkly_stream_uri": fake.url, "launchdarkly_events_uri": fake.url, "launchdarkly_sdk_keys": keys,
        "lever_verify_timeout_seconds": min(settings.lever_verify_timeout_seconds, 10.0)})


def run_console(settings: Settings, *, user: str = "U0ALICE", stdin: TextIO | None = None,
                stdout: TextIO | None = None, demo: bool = True) -> None:
    """The console. `demo` (the default) plays levers against the packaged LaunchDarkly stand-in unless
    FIREBREAK_LEVERS_FILE names your own; without it the demo levers are dry runs."""
    stdin = stdin or sys.stdin
    out = stdout or sys.stdout
    ld = None
    own_levers = settings.levers_file is not None
    if not own_levers and demo:
        ld = demo_launchdarkly(DEMO_LEVERS)
        settings = demo_settings(settings, ld, DEMO_LEVERS)
    elif not own_levers:  # levers still work, but nothing is sent anywhere
        settings = settings.model_copy(update={"levers_file": DEMO_LEVERS, "levers_dry_run": True})
    # The stand-in answers for any token; Bolt's note that the token setting is unused is noise for a newcomer.
    logging.getLogger("slack_bolt.App").addFilter(lambda r: "installation_store" not in r.getMessage())
    try:
        harness = Harness(settings, create_tables=False)
    except BaseException:
        if ld is not None:
            ld.stop()
        raise
    upgrade(harness.bot.ctx.db.engine)
    ctx = harness.ctx
    harness.fake.add_channel(SANDBOX, channel_id=SANDBOX_ID)
    ctx.config = ctx.config.model_copy(update={"sandbox_channels": [*ctx.config.sandbox_channels, SANDBOX_ID]})
    console = Console(harness, user=user, out=out, ld=ld)
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

    db = shown_url(harness.settings.database_url)
    console.say(f"firebreak console — the real bot against a local Slack stand-in. Database: {db}")
    if ld is not None:
        console.say(f"Levers: the demo set (bot/tabletop/exercise-levers.yml) against a local LaunchDarkly "
                    f"stand-in ({ld.url}): /incident contain sends a real PATCH and verifies it through the SDK. "
                    "--no-demo makes every pull a dry run; FIREBREAK_LEVERS_FILE uses your own levers.")
    elif not own_levers:
        console.say("Levers: the demo set (bot/tabletop/exercise-levers.yml), always dry-run; "
                    "set FIREBREAK_LEVERS_FILE for your own.")
    console.say(f"Exercises: /incident tabletop start <scenario> in #{SANDBOX} (`firebreak tabletop list`).")
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
        if ld is not None:
            ld.stop()
