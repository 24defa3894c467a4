"""LaunchDarkly faults: 429, 5xx, 409, timeouts, refused and dropped connections; tokens never leak."""

from __future__ import annotations

import logging
import socket

import httpx
import pytest

from bot.containment.retry import LeverError, RetryPolicy, retry_after_seconds
from bot.core import timeline
from bot.slack.harness import Harness
from bot.store.models import ContainmentAction, Incident
from tests.containment_support import open_incident


def pull(h: Harness, channel: str, lever: str = "kill-browsing") -> None:
    h.command(f"contain {lever} leak", channel=channel)
    h.submit_view(h.last_view(), {})


def row(h: Harness) -> ContainmentAction:
    with h.ctx.db.session() as s:
        return s.query(ContainmentAction).one()


def contained_at(h: Harness):
    with h.ctx.db.session() as s:
        return s.get(Incident, 1).contained_at


@pytest.mark.parametrize("status,headers", [(429, {"Retry-After": "0"}), (503, {}), (409, {}),
                                            (429, {"X-Ratelimit-Reset": "1000"})])
def test_transient_answers_are_retried_and_one_change_lands(make_ld, fake_ld, status, headers) -> None:
    h = make_ld()
    channel = open_incident(h)
    fake_ld.fail_next("patch", status, headers=headers)
    pull(h, channel)
    assert fake_ld.count("patch") == 2
    assert len(fake_ld.patches) == 1
    r = row(h)
    assert r.outcome == "verified" and r.attempts == 2  # two PATCHes (the GET of the previous state is not counted)
    assert contained_at(h) is not None


def test_final_failure_reports_error_and_manual_fallback_and_does_not_contain(make_ld, fake_ld) -> None:
    h = make_ld()
    channel = open_incident(h)
    fake_ld.fail_next("patch", 503, times=100)
    pull(h, channel)
    r = row(h)
    assert r.outcome == "failed" and r.slot is None and r.attempts > 2
    assert "answered HTTP 503" in r.error
    assert contained_at(h) is None
    text = h.fake.texts(channel)[-1]
    assert "Lever *kill-browsing* FAILED" in text and "*not* contained" in text
    assert "Error: LaunchDarkly PATCH flag agent-browsing (production) answered HTTP 503" in text
    assert ("Manual fallback: turn off flag `agent-browsing` in environment `production` (project `default`) by "
            f"hand: {fake_ld.url}/projects/default/flags/agent-browsing/targeting?env=production") in text
    with h.ctx.db.session() as s:
        failed = timeline.events(s, 1, kinds=["lever_failed"])
        assert len(failed) == 1 and failed[0].data["error"] == r.error and failed[0].data["dry_run"] is False
        assert not timeline.events(s, 1, kinds=["contained", "lever_applied"])
    assert "Contained —" in h.summary(1) and "`kill-browsing` — failed" in h.summary(1)
    # once LaunchDarkly is back, the lever can be pulled again
    fake_ld.faults.clear()
    pull(h, channel)
    assert contained_at(h) is not None


def test_timeout_is_retried(make_ld, fake_ld) -> None:
    h = make_ld(lever_http_timeout_seconds=0.3)
    channel = open_incident(h)
    fake_ld.fail_next("patch", 200, delay=0.8)
    pull(h, channel)
    assert row(h).outcome == "verified" and fake_ld.count("patch") == 2


def test_dropped_connection_is_retried(make_ld, fake_ld) -> None:
    h = make_ld()
    channel = open_incident(h)
    fake_ld.fail_next("get", drop=True)
    pull(h, channel)
    assert row(h).outcome == "verified" and fake_ld.count("get") == 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connection_refused_fails_cleanly(make_ld) -> None:
    h = make_ld(launchdarkly_api_url=f"http://127.0.0.1:{free_port()}")
    channel = open_incident(h)
    pull(h, channel)
    r = row(h)
    assert r.outcome == "failed" and "could not connect" in r.error
    assert contained_at(h) is None
    assert "could not connect" in h.fake.texts(channel)[-1]


def test_bad_token_is_not_retried(make_ld, fake_ld) -> None:
    from pydantic import SecretStr

    h = make_ld(launchdarkly_api_token=SecretStr("api-wrong-token-987654321"))
    channel = open_incident(h)
    pull(h, channel)
    assert fake_ld.count("get") == 1 and fake_ld.count("patch") == 0
    assert "HTTP 401" in row(h).error


def test_tokens_never_reach_slack_timeline_or_logs(make_ld, fake_ld, caplog, capsys) -> None:
    caplog.set_level(logging.DEBUG)
    h = make_ld()
    channel = open_incident(h)
    fake_ld.fail_next("patch", 500, body={"message": f"echoing {fake_ld.api_token}"})
    fake_ld.fail_next("patch", 400, body={"message": f"bad request with {fake_ld.api_token}"})
    pull(h, channel)  # fails, with the token echoed in the error body
    assert "[redacted]" in row(h).error
    fake_ld.faults.clear()
    pull(h, channel)  # succeeds
    secrets = [fake_ld.api_token, fake_ld.sdk_key("production")]
    slack = repr([c.params for c in h.fake.calls])
    with h.ctx.db.session() as s:
        stored = repr([(e.text, e.data) for e in timeline.events(s, 1)])
        stored += repr([(a.error, a.detail, a.target, a.previous) for a in s.query(ContainmentAction).all()])
    out = capsys.readouterr()
    for secret in secrets:
        assert secret not in slack
        assert secret not in stored
        assert secret not in caplog.text
        assert secret not in out.out + out.err
    assert "HTTP 400" in slack


# ----- the retry policy itself -------------------------------------------------------------------------------
def test_retry_after_and_ratelimit_reset_are_parsed() -> None:
    assert retry_after_seconds(httpx.Response(429, headers={"Retry-After": "7"})) == 7
    now = 1_700_000_000.0
    resp = httpx.Response(429, headers={"X-Ratelimit-Reset": str(int((now + 3) * 1000))})
    assert retry_after_seconds(resp, now) == pytest.approx(3)
    assert retry_after_seconds(httpx.Response(429)) is None


def test_policy_waits_as_told_and_stops_inside_the_budget() -> None:
    slept: list[float] = []
    clock = [0.0]

    def sleep(d: float) -> None:
        slept.append(d)
        clock[0] += d

    policy = RetryPolicy(budget_seconds=10, base_delay=1, max_delay=4, sleep=sleep, monotonic=lambda: clock[0],
                         jitter=lambda: 1.0)
    answers = iter([httpx.Response(429, headers={"Retry-After": "2"}), httpx.Response(200)])
    resp, attempts = policy.run("x", lambda: next(answers), lambda r: r.status_code == 200)
    assert attempts == 2 and slept == [2.0]
    slept.clear()
    with pytest.raises(LeverError) as err:
        policy.run("LaunchDarkly PATCH", lambda: httpx.Response(502), lambda r: r.status_code == 200)
    assert sum(slept) <= 10
    assert "answered HTTP 502; gave up after" in err.value.message
    with pytest.raises(LeverError):  # a Retry-After beyond the budget is not waited for
        policy.run("x", lambda: httpx.Response(429, headers={"Retry-After": "3600"}), lambda r: False)
