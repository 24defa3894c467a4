"""The bot under test as a child process (`python -m bot serve --http`), and the database it runs on."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("FIREBREAK_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
# Anything that could point the child at a real Slack, LaunchDarkly or database is dropped from its environment.
_SCRUB = ("SLACK_", "DATABASE_URL", "FIREBREAK_", "PORT", "LAUNCHDARKLY_")


@contextlib.contextmanager
def database(kind: str, workdir: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file in workdir, or a new PostgreSQL schema dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{workdir}/bench.db"
        return
    if kind != "postgresql":
        raise ValueError(f"unknown database {kind!r} (sqlite or postgresql)")
    import psycopg

    plain = PG_URL.replace("+psycopg", "")
    schema = "bench_" + uuid.uuid4().hex[:12]
    with psycopg.connect(plain, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(plain, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BotProcess:
    """Start the bot, time it to ready, read its memory, stop it. Its log goes to a file, not a pipe."""

    def __init__(self, *, database_url: str, slack_api_url: str, bot_token: str, signing_secret: str,
                 announce_channel: str, workdir: Path, extra_env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.events_url = self.url + "/slack/events"
        self.log_path = workdir / "bot.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUB)}
        env.update({"SLACK_API_URL": slack_api_url, "SLACK_BOT_TOKEN": bot_token,
                    "SLACK_SIGNING_SECRET": signing_secret, "DATABASE_URL": database_url,
                    "FIREBREAK_ANNOUNCE_CHANNEL": announce_channel, "PYTHONUNBUFFERED": "1"})
        env.update(extra_env or {})
        self._env = env
        self.proc: subprocess.Popen | None = None
        self.startup_s: float | None = None

    def start(self, *, timeout: float = 30.0) -> float:
        """Spawn and poll GET /healthz until 200; returns seconds from spawn to ready."""
        log = self.log_path.open("ab")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve", "--http", "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=REPO, env=self._env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        deadline = t0 + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the bot exited with {self.proc.returncode} before it was ready; "
                                   f"log: {self.log_path}\n{self.log_tail()}")
            if self._healthy():
                self.startup_s = time.perf_counter() - t0
                return self.startup_s
            time.sleep(0.01)
        self.stop()
        raise RuntimeError(f"the bot was not ready within {timeout:.0f} s; log: {self.log_path}")

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=1) as resp:
                return resp.status == 200
        except OSError:
            return False

    def memory_mb(self) -> dict[str, float]:
        """Resident set size now and at its peak (VmRSS, VmHWM), in MB."""
        assert self.proc is not None
        out: dict[str, float] = {}
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                out["rss_mb" if name == "VmRSS" else "peak_rss_mb"] = round(int(value.split()[0]) / 1024, 1)
        return out

    def cpu_seconds(self) -> float:
        """User + system CPU time the bot has used so far."""
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    @contextlib.contextmanager
    def profiled(self, out: Path | None, *, idle: bool = False) -> Iterator[None]:
        """Sample the bot with py-spy for the duration of the block; no-op if `out` is None.

        Only the thread holding the GIL is sampled (`--gil`), so the collapsed stacks written to `out`
        show where the bot's Python CPU time goes, not where its threads wait.
        """
        if out is None or self.proc is None:
            yield
            return
        spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        cmd = [spy, "record", "-p", str(self.proc.pid), "-o", str(out), "--format", "raw", "-r", "200", "--gil"]
        if idle:
            cmd.append("--idle")
        prof = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)  # let it attach
        try:
            yield
        finally:
            prof.send_signal(signal.SIGINT)
            try:
                prof.wait(timeout=30)
            except subprocess.TimeoutExpired:
                prof.kill()

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


@contextlib.contextmanager
def workdir(keep: bool = False) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="firebreak-bench-"))
    try:
        yield path
    finally:
        if not keep:
            shutil.rmtree(path, ignore_errors=True)
