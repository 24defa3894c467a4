"""A scheduling process for tests: `python -m tests.scheduler_worker <database_url> <out_file> [seconds]`.

It builds the real app (every feature's jobs registered), adds a `probe` job that appends
"<key> <pid>" to out_file, and runs the durable scheduler on the system clock until killed or until
`seconds` pass (a bound, so a stray worker never outlives the test run).
"""

from __future__ import annotations

import os
import sys
import threading

from bot.config.settings import Settings
from bot.slack.app import build


def probe_job(path: str):
    lock = threading.Lock()

    def probe(ctx, *, name: str) -> None:
        with lock, open(path, "a", encoding="utf-8") as fh:
            fh.write(f"{name} {os.getpid()}\n")
            fh.flush()
            os.fsync(fh.fileno())

    return probe


def main() -> None:
    url, out = sys.argv[1], sys.argv[2]
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 30.0
    bot = build(Settings(database_url=url, slack_api_url="http://127.0.0.1:9/"))
    timers = bot.ctx.timers
    timers.register("probe", probe_job(out))
    timers.start(interval=0.05)
    with open(out + ".ready", "a", encoding="utf-8") as fh:
        fh.write(f"{os.getpid()}\n")
    threading.Event().wait(seconds)
    bot.close()


if __name__ == "__main__":
    main()
