"""LaunchDarkly levers: `launchdarkly_kill` turns a flag off in one environment; `launchdarkly_variation`
serves one variation of a multivariate flag to everyone (the fallthrough), remembering what it replaced.

Changes go through the REST API's semantic patch (PATCH /api/v2/flags/{project}/{flag}); verification
goes through the server-side SDK (`sdk.SdkVerifier`), which sees what the product sees.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from bot.containment.base import Applied, LeverKind, Pull, Verified
from bot.containment.retry import LeverError
from bot.containment.spec import Lever

SEMANTIC_PATCH = "application/json; domain-model=launchdarkly.semanticpatch"


class LaunchDarklyApi:
    """The two REST calls the levers need, with bounded retries. Never logs or returns the token."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime

    @property
    def origin(self) -> str:
        return self.runtime.settings.launchdarkly_api_url.rstrip("/")

    def _token(self) -> str:
        token = self.runtime.settings.launchdarkly_api_token
        if token is None or not token.get_secret_value():
            raise LeverError("LAUNCHDARKLY_API_TOKEN is not set, so firebreak cannot change flags", attempts=0)
        return token.get_secret_value()

    def flag_url(self, project: str, flag: str) -> str:
        return f"{self.origin}/api/v2/flags/{quote(project, safe='')}/{quote(flag, safe='')}"

    def get_flag(self, project: str, flag: str, environment: str) -> tuple[dict[str, Any], int]:
        token = self._token()
        http: httpx.Client = self.runtime.http
        response, attempts = self.runtime.retry.run(
            f"LaunchDarkly GET flag {flag}",
            lambda: http.get(self.flag_url(project, flag), params={"env": environment},
                             headers={"Authorization": token}),
            lambda r: r.status_code == 200)
        return response.json(), attempts

    def patch(self, project: str, flag: str, environment: str, instructions: list[dict[str, Any]],
              comment: str) -> tuple[dict[str, Any], int]:
        token = self._token()
        http: httpx.Client = self.runtime.http
        body = {"environmentKey": environment, "comment": comment, "instructions": instructions}
        response, attempts = self.runtime.retry.run(
            f"LaunchDarkly PATCH flag {flag} ({environment})",
            lambda: http.patch(self.flag_url(project, flag), json=body,
                               headers={"Authorization": token, "Content-Type": SEMANTIC_PATCH}),
            lambda r: r.status_code == 200)
        return response.json(), attempts


def env_state(flag: dict[str, Any], environment: str) -> dict[str, Any]:
    state = (flag.get("environments") or {}).get(environment)
    if state is None:
        raise LeverError(f"LaunchDarkly flag `{flag.get('key')}` has no environment `{environment}`", attempts=1)
    return state


def comment_for(pull: Pull, lever: Lever, verb: str) -> str:
    reason = f": {pull.reason}" if pull.reason else ""
    return (f"firebreak {pull.incident.get('ref')}: {verb} by Slack user {pull.actor} "
            f"(lever {lever.name}){reason}")[:1000]


class _FlagLever(LeverKind):
    @property
    def api(self) -> LaunchDarklyApi:
        return LaunchDarklyApi(self.runtime)

    def link(self, lever: Lever) -> str:
        t = lever.flag
        return (f"{self.api.origin}/projects/{quote(t.project, safe='')}/flags/{quote(t.flag, safe='')}"
                f"/targeting?env={quote(t.environment, safe='')}")

    def _sdk_check(self, lever: Lever, applied: Applied, check) -> Verified:
        t = lever.flag
        sdk = self.runtime.sdk
        if not sdk.available(t.environment):
            from bot.config.settings import sdk_key_variable

            return Verified(at=None, detail="not verified through the SDK",
                            skipped=f"no SDK key for `{t.environment}` ({sdk_key_variable(t.environment)} is not set)")
        detail = sdk.wait_for(t.environment, t.flag, t.context, check,
                              self.runtime.settings.lever_verify_timeout_seconds)
        if detail is None:
            seen = sdk.last_seen(t.environment, t.flag, t.context)
            raise LeverError(f"applied, but the SDK did not observe the change within "
                             f"{self.runtime.settings.lever_verify_timeout_seconds:g}s (last seen: {seen})")
        return Verified(at=self.runtime.clock.now(),
                        detail=f"the SDK sees `{t.flag}` = {detail.value!r} in {t.environment} "
                               f"for context `{t.context.key}`")


class KillLever(_FlagLever):
    def plan(self, lever: Lever) -> str:
        t = lever.flag
        return f"turn OFF LaunchDarkly flag `{t.flag}` in environment `{t.environment}` (project `{t.project}`)"

    def revert_plan(self, lever: Lever, previous: dict[str, Any]) -> str:
        t = lever.flag
        if previous and not previous.get("on", True):
            return f"leave `{t.flag}` off in `{t.environment}` (it was already off before the lever)"
        return f"turn LaunchDarkly flag `{t.flag}` back ON in environment `{t.environment}`"

    def fallback(self, lever: Lever) -> str:
        t = lever.flag
        return (f"turn off flag `{t.flag}` in environment `{t.environment}` (project `{t.project}`) by hand: "
                f"{self.link(lever)}")

    def _apply(self, lever: Lever, pull: Pull) -> Applied:
        t = lever.flag
        before, _ = self.api.get_flag(t.project, t.flag, t.environment)
        was_on = bool(env_state(before, t.environment).get("on"))
        after, attempts = self.api.patch(t.project, t.flag, t.environment, [{"kind": "turnFlagOff"}],
                                     comment_for(pull, lever, "kill switch"))
        state = env_state(after, t.environment)
        if state.get("on"):
            raise LeverError(f"LaunchDarkly accepted the change but `{t.flag}` is still on in {t.environment}",
                             attempts=attempts)
        note = "" if was_on else " (it was already off)"
        return Applied(attempts=attempts, previous={"on": was_on},
                       detail=f"`{t.flag}` is OFF in {t.environment} (version {state.get('version', '?')}){note}")

    def _verify(self, lever: Lever, pull: Pull, applied: Applied) -> Verified:
        return self._sdk_check(lever, applied, lambda d: (d.reason or {}).get("kind") == "OFF")

    def _revert(self, lever: Lever, pull: Pull, previous: dict[str, Any]) -> Applied:
        t = lever.flag
        if previous and not previous.get("on", True):
            return Applied(attempts=0, detail=f"`{t.flag}` left off in {t.environment}: it was off before the lever")
        after, attempts = self.api.patch(t.project, t.flag, t.environment, [{"kind": "turnFlagOn"}],
                                         comment_for(pull, lever, "kill switch reverted"))
        state = env_state(after, t.environment)
        return Applied(attempts=attempts,
                       detail=f"`{t.flag}` is back ON in {t.environment} (version {state.get('version', '?')})")


def find_variation(flag: dict[str, Any], wanted: Any) -> tuple[int, dict[str, Any]]:
    variations = flag.get("variations") or []
    for i, v in enumerate(variations):
        if v.get("name") is not None and str(v.get("name")) == str(wanted):
            return i, v
    for i, v in enumerate(variations):
        if v.get("value") == wanted or str(v.get("value")) == str(wanted):
            return i, v
    names = ", ".join(str(v.get("name") or v.get("value")) for v in variations)
    raise LeverError(f"flag `{flag.get('key')}` has no variation `{wanted}` (it has: {names})", attempts=1)


class VariationLever(_FlagLever):
    def plan(self, lever: Lever) -> str:
        t = lever.flag
        return (f"serve variation `{t.variation}` of LaunchDarkly flag `{t.flag}` to everyone (fallthrough) in "
                f"environment `{t.environment}` (project `{t.project}`)")

    def revert_plan(self, lever: Lever, previous: dict[str, Any]) -> str:
        t = lever.flag
        return f"restore the previous default rule of `{t.flag}` in `{t.environment}` ({_describe(previous)})"

    def fallback(self, lever: Lever) -> str:
        t = lever.flag
        return (f"set the default rule of flag `{t.flag}` to `{t.variation}` in environment `{t.environment}` "
                f"(project `{t.project}`) by hand: {self.link(lever)}")

    def _apply(self, lever: Lever, pull: Pull) -> Applied:
        t = lever.flag
        before, _ = self.api.get_flag(t.project, t.flag, t.environment)
        _, variation = find_variation(before, t.variation)
        state = env_state(before, t.environment)
        previous = {"on": bool(state.get("on")), "fallthrough": state.get("fallthrough") or {},
                    "variations": [{"_id": v.get("_id"), "value": v.get("value")} for v in before["variations"]]}
        instructions: list[dict[str, Any]] = [{"kind": "updateFallthroughVariationOrRollout",
                                               "variationId": variation["_id"]}]
        if not previous["on"]:
            instructions.append({"kind": "turnFlagOn"})
        after, attempts = self.api.patch(t.project, t.flag, t.environment, instructions,
                                         comment_for(pull, lever, f"serve `{t.variation}` to everyone"))
        new_state = env_state(after, t.environment)
        return Applied(attempts=attempts, previous=previous, expected={"value": variation.get("value")},
                       detail=f"`{t.flag}` serves `{t.variation}` to everyone in {t.environment} "
                              f"(version {new_state.get('version', '?')}; was {_describe(previous)})")

    def _verify(self, lever: Lever, pull: Pull, applied: Applied) -> Verified:
        expected = applied.expected.get("value")
        return self._sdk_check(lever, applied, lambda d: d.value == expected)

    def _revert(self, lever: Lever, pull: Pull, previous: dict[str, Any]) -> Applied:
        t = lever.flag
        fallthrough = previous.get("fallthrough") or {}
        ids = [v.get("_id") for v in previous.get("variations") or []]
        instruction: dict[str, Any] = {"kind": "updateFallthroughVariationOrRollout"}
        if "variation" in fallthrough and fallthrough["variation"] is not None:
            instruction["variationId"] = ids[fallthrough["variation"]]
        elif fallthrough.get("rollout"):
            rollout = fallthrough["rollout"]
            instruction["rolloutWeights"] = {ids[v["variation"]]: v["weight"] for v in rollout.get("variations", [])}
            instruction["rolloutBucketBy"] = rollout.get("bucketBy") or "key"
            instruction["rolloutContextKind"] = rollout.get("contextKind") or "user"
        else:
            raise LeverError("the previous default rule was not recorded, so it cannot be restored", attempts=0)
        instructions = [instruction]
        if not previous.get("on", True):
            instructions.append({"kind": "turnFlagOff"})
        after, attempts = self.api.patch(t.project, t.flag, t.environment, instructions,
                                         comment_for(pull, lever, "restore the previous default rule"))
        state = env_state(after, t.environment)
        return Applied(attempts=attempts, detail=f"`{t.flag}` default rule restored in {t.environment} "
                                                 f"({_describe(previous)}; version {state.get('version', '?')})")


def _describe(previous: dict[str, Any]) -> str:
    fallthrough = previous.get("fallthrough") or {}
    values = [v.get("value") for v in previous.get("variations") or []]
    if fallthrough.get("variation") is not None and fallthrough["variation"] < len(values):
        return f"serving {values[fallthrough['variation']]!r}"
    if fallthrough.get("rollout"):
        parts = [f"{values[v['variation']]!r} {v['weight'] / 1000:g}%" for v in fallthrough["rollout"]["variations"]
                 if v["variation"] < len(values)]
        return "a rollout: " + ", ".join(parts)
    return "unknown"
