"""`firebreak serve` as a process: it refuses to start without real secrets or when a dependency fails, with
one line naming what to set; it reports ready only after Slack confirmed the bot token; it serves Socket
Mode through the stand-in and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.fakes.slack_api import FakeSlack
from bot.fakes.socket_mode import FakeSocketMode
from bot.slack.harness import APP_ID, TEAM

REPO = Path(__file__).resolve().parent.parent
APP_TOKEN = "xapp-1-A0FIREBRK-1-serve"
SECRET = "a-real-signing-secret-for-tests"
_SCRUB = ("SLACK_", "DATABASE_URL", "FIREBREAK_", "PORT", "LAUNCHDARKLY_")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env_for(tmp_path: Path, **values: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUB)}
    env.update({"DATABASE_URL": f"sqlite:///{tmp_path}/serve.db", "PYTHONUNBUFFERED": "1",
                "FIREBREAK_STARTUP_TIMEOUT": "5"})
    for key, value in values.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run_serve(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def assert_one_line_failure(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    """Exit non-zero; the last line says why, naming what to set; no traceback."""
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out
    lines = [line for line in proc.stderr.splitlines() if "will not start" in line]
    assert len(lines) == 1, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def slack() -> Iterator[tuple[FakeSlack, FakeSocketMode]]:
    fake = FakeSlack().start()
    fake.add_channel("general", channel_id="C0GENERAL")
    fake.add_channel("ai-incidents", channel_id="C0ANNOUNCE")
    sm = FakeSocketMode(fake, app_token=APP_TOKEN).start()
    yield fake, sm
    sm.stop()
    fake.stop()


def slack_env(tmp_path: Path, fake: FakeSlack, sm: FakeSocketMode, **values: str | None) -> dict[str, str]:
    base: dict[str, str | None] = {"SLACK_API_URL": sm.api_url, "SLACK_BOT_TOKEN": fake.token,
                                   "SLACK_SIGNING_SECRET": SECRET, "FIREBREAK_ANNOUNCE_CHANNEL": "C0ANNOUNCE"}
    return env_for(tmp_path, **(base | values))


# ----- secrets ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("values, variable, why", [
    ({"SLACK_SIGNING_SECRET": SECRET}, "SLACK_BOT_TOKEN", "is not set"),
    ({"SLACK_BOT_TOKEN": "xoxb-real-1", "SLACK_SIGNING_SECRET": ""}, "SLACK_SIGNING_SECRET", "is empty"),
    ({"SLACK_BOT_TOKEN": "xoxb-local-console", "SLACK_SIGNING_SECRET": SECRET}, "SLACK_BOT_TOKEN", "built-in"),
    ({"SLACK_BOT_TOKEN": "xoxb-real-1", "SLACK_SIGNING_SECRET": "local-console-signing-secret"},
     "SLACK_SIGNING_SECRET", "built-in"),
])
def test_serve_refuses_to_start_without_real_secrets(tmp_path: Path, values: dict[str, str], variable: str,
                                                      why: str) -> None:
    proc = run_serve(env_for(tmp_path, **values))
    line = assert_one_line_failure(proc, variable, why)
    assert not any(v and v in line for v in values.values() if v not in ("", "xoxb-local-console"))  # no secret
    assert not (tmp_path / "serve.db").exists()  # nothing done before the check


# ----- dependencies ----------------------------------------------------------------------------------
def test_serve_with_an_unreachable_database_says_so_in_one_line(tmp_path: Path, slack) -> None:
    fake, sm = slack
    port = free_port()  # nothing listens there: connections are refused
    url = f"postgresql://firebreak:hunter2@127.0.0.1:{port}/firebreak"
    proc = run_serve(slack_env(tmp_path, fake, sm, DATABASE_URL=url))
    assert_one_line_failure(proc, "cannot use the database", "DATABASE_URL", f"127.0.0.1:{port}/firebreak")
    assert "hunter2" not in proc.stderr
    assert not fake.calls  # Slack is not asked anything before the database works


def test_serve_with_a_wrong_bot_token_names_it(tmp_path: Path, slack) -> None:
    fake, sm = slack
    proc = run_serve(slack_env(tmp_path, fake, sm, SLACK_BOT_TOKEN="xoxb-revoked-token"))
    assert_one_line_failure(proc, "SLACK_BOT_TOKEN", "invalid_auth")
    assert "xoxb-revoked-token" not in proc.stderr


def test_serve_with_a_wrong_app_token_names_it(tmp_path: Path, slack) -> None:
    fake, sm = slack
    proc = run_serve(slack_env(tmp_path, fake, sm, SLACK_APP_TOKEN="xapp-1-A0FIREBRK-1-wrong"))
    assert_one_line_failure(proc, "SLACK_APP_TOKEN", "invalid_auth", "connections:write")
    assert "xapp-1-A0FIREBRK-1-wrong" not in proc.stderr
    assert not sm.ready_links()


def test_serve_with_slack_unreachable_gives_up_with_one_line(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/api/"
    proc = run_serve(env_for(tmp_path, SLACK_API_URL=url, SLACK_BOT_TOKEN="xoxb-real-1",
                             SLACK_SIGNING_SECRET=SECRET, FIREBREAK_STARTUP_TIMEOUT="2"), "--http",
                     "--port", str(free_port()))
    assert_one_line_failure(proc, "cannot reach Slack", "SLACK_API_URL")


def test_debug_shows_the_traceback(tmp_path: Path, slack) -> None:
    fake, sm = slack
    proc = run_serve(slack_env(tmp_path, fake, sm, SLACK_BOT_TOKEN="xoxb-revoked-token"), "--debug")
    assert proc.returncode != 0 and "Traceback" in proc.stderr and "StartupError" in proc.stderr


# ----- running ---------------------------------------------------------------------------------------
def poll_until_ready(url: str, proc: subprocess.Popen, timeout: float = 30) -> list[httpx.Response]:
    seen: list[httpx.Response] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "serve exited before it was ready"
        try:
            resp = httpx.get(url, timeout=1)
            seen.append(resp)
            if resp.status_code == 200:
                return seen
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise TimeoutError("serve was not ready in time")


def stop(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(20)


def test_socket_mode_serve_is_ready_only_after_auth_test_then_serves_and_stops(tmp_path: Path, slack) -> None:
    fake, sm = slack
    fake.fail_next("auth.test", "internal_error", status=500, times=2, delay=0.5)  # Slack is having a moment
    port = free_port()
    env = slack_env(tmp_path, fake, sm, SLACK_APP_TOKEN=APP_TOKEN, FIREBREAK_HEALTH_PORT=str(port))
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1"], cwd=REPO, env=env,
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        seen = poll_until_ready(f"http://127.0.0.1:{port}/healthz", proc)
        not_ready = [r.json() for r in seen if r.status_code == 503]
        assert not_ready and all(not body["ok"] for body in not_ready)
        assert any("auth.test" in body["checks"]["slack"] for body in not_ready)
        assert seen[-1].json() == {"ok": True, "checks": {"slack": "ok", "socket_mode": "ok"}}
        assert len(fake.calls_to("auth.test")) == 3  # two failures, retried, then confirmed
        link = sm.newest()
        body = {"team_id": TEAM, "api_app_id": APP_ID, "channel_id": "C0GENERAL", "user_id": "U0ALICE",
                "command": "/incident", "trigger_id": "1.2", "response_url": fake.response_url("k1"),
                "text": "open Served over a socket --category jailbreak --exposure public --ongoing"}
        eid = sm.deliver("slash_commands", body, link=link)
        assert sm.wait_ack(eid).link == link.id
        foreign = sm.deliver("slash_commands", body | {"team_id": "T0ELSEWHERE", "response_url":
                                                       fake.response_url("k2")}, link=link)
        assert sm.wait_ack(foreign).payload["text"].startswith("firebreak is not installed")
        sm.wait_for(lambda: any("Opened *INC-1*" in t for t in fake.response_texts()), timeout=10)
        assert len(fake.calls_to("conversations.create")) == 1  # the foreign copy opened nothing
        sm.drop(link)  # and it comes back on its own
        new = sm.wait_ready(exclude=link, timeout=10)
        assert new.hello_at - link.closed_at < 2.0
        assert stop(proc) == 0
        assert not sm.open_links() and new.ended_by == "client_close"  # said goodbye with a close frame
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    assert "xoxb-test-token" not in (tmp_path / "serve.log").read_text()


def test_http_serve_is_ready_only_after_auth_test(tmp_path: Path, slack) -> None:
    fake, sm = slack
    fake.fail_next("auth.test", "internal_error", status=500, times=2, delay=0.5)
    port = free_port()
    env = slack_env(tmp_path, fake, sm)
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--http", "--host", "127.0.0.1", "--port",
                             str(port)], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    try:
        seen = poll_until_ready(f"http://127.0.0.1:{port}/healthz", proc)
        assert any(r.status_code == 503 and "auth.test" in r.json()["checks"]["slack"] for r in seen)
        assert httpx.get(f"http://127.0.0.1:{port}/livez").status_code == 200
        assert stop(proc) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()



def test_a_stop_during_start_up_is_a_clean_stop(tmp_path: Path, slack) -> None:
    """A supervisor may stop the bot while it is still starting (here: Slack slow to confirm the token): the
    process exits 0 through its own shutdown, never killed by the default SIGTERM action."""
    fake, sm = slack
    fake.fail_next("auth.test", error=None, delay=3.0)  # answers, slowly
    port = free_port()
    env = slack_env(tmp_path, fake, sm)
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--http", "--host", "127.0.0.1", "--port",
                             str(port)], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # listening, not ready: start-up is under way
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 503:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        assert stop(proc) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
