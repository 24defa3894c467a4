"""The fake LaunchDarkly next to the fake Slack, the lever file the bench's bot loads, and the bot's
environment that points its REST client and its SDK at the fake (127.0.0.1 only).

The measured lever has `confirm: false`: the bench measures one request from `/incident contain` to the lever
verified, the path the issue's "contain request -> LaunchDarkly PATCH" names. With `confirm: true` the
command only opens a modal and the pull happens on a second request (view_submission) whose timing is the
responder's, so the pull itself is measured the same either way; the modal path adds one views.open.
A second lever on the same flag keeps `confirm: true` for the lane scenario, which pulls through the modal.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from pathlib import Path
from typing import Any

PROJECT, ENVIRONMENT = "default", "production"
KILL_LEVER, KILL_FLAG = "bench-kill", "bench-agent-browsing"
CONFIRM_LEVER = "bench-kill-confirm"  # the same flag behind the confirmation modal (the lane scenario)


def lever_file(workdir: Path) -> Path:
    levers = {"levers": [
        {"name": KILL_LEVER, "description": "Benchmark: turn off the agent's browsing tool",
         "type": "launchdarkly_kill", "confirm": False, "on_resolve": "leave",
         "target": {"project": PROJECT, "flag": KILL_FLAG, "environment": ENVIRONMENT}},
        {"name": CONFIRM_LEVER, "description": "Benchmark: the same kill, confirmed in the modal",
         "type": "launchdarkly_kill", "confirm": True, "on_resolve": "leave",
         "target": {"project": PROJECT, "flag": KILL_FLAG, "environment": ENVIRONMENT}},
    ]}
    path = workdir / "levers.yml"
    path.write_text(json.dumps(levers, indent=2) + "\n")  # JSON is YAML
    return path


def start(workdir: Path) -> tuple[Any, dict[str, str]] | None:
    """Start the fake LaunchDarkly with the bench flag; (fake, bot environment), or None without the fake."""
    try:
        from bot.fakes.launchdarkly import FakeLaunchDarkly
    except ImportError:
        return None
    sdk_key = "sdk-bench-" + secrets.token_hex(8)
    fake = FakeLaunchDarkly(api_token="api-bench-" + secrets.token_hex(8), sdk_keys={ENVIRONMENT: sdk_key},
                            project=PROJECT).start()
    fake.add_flag(KILL_FLAG, environments=(ENVIRONMENT,))
    env = {"FIREBREAK_LEVERS_FILE": str(lever_file(workdir)), "LAUNCHDARKLY_API_URL": fake.url,
           "LAUNCHDARKLY_API_TOKEN": fake.api_token, "LAUNCHDARKLY_BASE_URI": fake.url,
           "LAUNCHDARKLY_STREAM_URI": fake.url, "LAUNCHDARKLY_EVENTS_URI": fake.url,
           "FIREBREAK_LAUNCHDARKLY_SDK_KEYS": json.dumps({ENVIRONMENT: sdk_key})}
    return fake, env


def turn_flag_back_on(fake: Any) -> int:
    """Fresh lever state for the next pull: the flag on again, pushed to the SDK streams. Its new version."""
    status, out = fake.apply(PROJECT, KILL_FLAG, {"environmentKey": ENVIRONMENT,
                                                  "instructions": [{"kind": "turnFlagOn"}]})
    if status != 200:
        raise RuntimeError(f"the fake LaunchDarkly refused to turn {KILL_FLAG} back on: {out}")
    return int(out["environments"][ENVIRONMENT]["version"])


def streams(fake: Any) -> int:
    return fake.stream_count(ENVIRONMENT, PROJECT)


class SdkWatcher:
    """A launchdarkly-server-sdk client in the bench process, streaming from the fake, that notes when it
    sees the bench flag change value: an SDK's observation independent of the bot's verification polling."""

    def __init__(self, fake: Any) -> None:
        from ldclient import Config, Context, LDClient

        self.changes: list[tuple[Any, float]] = []  # (new value, time.time() when the SDK reported it)
        self._lock = threading.Lock()
        config = Config(sdk_key=fake.sdk_key(ENVIRONMENT), base_uri=fake.url, stream_uri=fake.url,
                        events_uri=fake.url, stream=True, send_events=False, diagnostic_opt_out=True)
        self.client = LDClient(config=config, start_wait=5)
        if not self.client.is_initialized():
            self.client.close()
            raise RuntimeError("the bench's own LaunchDarkly SDK client did not initialise against the fake")
        self.client.flag_tracker.add_flag_value_change_listener(KILL_FLAG, Context.create("bench-observer"),
                                                                self._changed)

    def _changed(self, change: Any) -> None:
        at = time.time()
        with self._lock:
            self.changes.append((change.new_value, at))

    def first_after(self, value: Any, since: float) -> float | None:
        with self._lock:
            return min((at for v, at in self.changes if v == value and at >= since), default=None)

    def close(self) -> None:
        self.client.close()
