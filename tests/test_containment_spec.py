"""The lever file: validation messages name the file and key; the bot refuses to start; the CLI checks it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from bot.cli.main import cli
from bot.config.settings import Settings, sdk_key_variable
from bot.containment.spec import LEVER_NAME, load_levers
from bot.core.errors import ConfigError
from bot.slack.harness import Harness

KILL = {"name": "kill-x", "type": "launchdarkly_kill",
        "target": {"project": "default", "flag": "x", "environment": "production"}}


@pytest.mark.parametrize("lever,message", [
    ({**KILL, "type": "launchdarkly_nuke"}, "levers.0.type: Input should be 'launchdarkly_kill'"),
    ({**KILL, "target": {"project": "default", "flag": "x"}}, "target.environment: Field required"),
    ({**KILL, "type": "launchdarkly_variation"}, "target.variation is required for launchdarkly_variation"),
    ({**KILL, "name": "Kill X"}, "levers.0.name: Value error, a lever name is lowercase"),
    ({**KILL, "on_resolve": "sometimes"}, "levers.0.on_resolve: Input should be 'revert', 'ask' or 'leave'"),
    ({**KILL, "allowed": ["wizards"]}, "levers[0] (kill-x): allowed: `wizards` is not a role"),
    ({**KILL, "categories": ["vibes"]}, "levers[0] (kill-x): categories: unknown category `vibes`"),
    ({"name": "hook", "type": "webhook", "target": {"url": "http://x/{{ incident.ref"}}, "template error"),
    ({"name": "hook", "type": "webhook", "on_resolve": "revert", "target": {"url": "http://x/"}},
     "on_resolve is `revert` but target.revert (the undo request) is missing"),
    ({"name": "hook", "type": "webhook", "target": {"url": "http://x/", "expect": [999]}},
     "expect lists HTTP status codes"),
    ({**KILL, "surprise": 1}, "levers.0.surprise: Extra inputs are not permitted"),
])
def test_invalid_levers_are_named(write_yaml, lever, message) -> None:
    path = write_yaml("levers.yml", {"levers": [lever]})
    with pytest.raises(ConfigError) as err:
        load_levers(path, categories={"jailbreak", "other"})
    assert str(path) in str(err.value) and message in str(err.value)


def test_duplicates_and_bad_yaml(write_yaml) -> None:
    with pytest.raises(ConfigError, match="`kill-x` is declared twice"):
        load_levers(write_yaml("a.yml", {"levers": [KILL, KILL]}))
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_levers(write_yaml("b.yml", "levers: [\n"))
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_levers(write_yaml("c.yml", "- 1\n"))


def test_the_bot_refuses_to_start_on_an_invalid_file(write_yaml, sqlite_url) -> None:
    path = write_yaml("levers.yml", {"levers": [{**KILL, "type": "nope"}]})
    with pytest.raises(ConfigError, match="levers.0.type"):
        Harness(Settings(database_url=sqlite_url, levers_file=path))


def test_the_shipped_example_is_valid() -> None:
    registry = load_levers(__import__("pathlib").Path(__file__).parents[1] / "levers.example.yml")
    assert registry.names() == ["kill-browsing", "strict-moderation", "revoke-code-exec", "rollback-system-prompt"]


def test_cli_check(write_yaml, monkeypatch) -> None:
    runner = CliRunner()
    good = write_yaml("good.yml", {"levers": [KILL]})
    monkeypatch.delenv("LAUNCHDARKLY_SDK_KEY_PRODUCTION", raising=False)
    result = runner.invoke(cli, ["levers", "check", str(good)])
    assert result.exit_code == 0
    assert "ok:" in result.output and "kill-x: launchdarkly_kill" in result.output
    assert "LAUNCHDARKLY_SDK_KEY_PRODUCTION" in result.output
    bad = write_yaml("bad.yml", {"levers": [{**KILL, "on_resolve": "x"}]})
    result = runner.invoke(cli, ["levers", "check", str(bad)])
    assert result.exit_code == 2 and "on_resolve" in result.output


def test_sdk_key_variable_and_lookup(monkeypatch) -> None:
    assert sdk_key_variable("eu-west.prod") == "LAUNCHDARKLY_SDK_KEY_EU_WEST_PROD"
    monkeypatch.setenv("LAUNCHDARKLY_SDK_KEY_PRODUCTION", "sdk-from-env")
    assert Settings().launchdarkly_sdk_key("production").get_secret_value() == "sdk-from-env"
    assert Settings().launchdarkly_sdk_key("staging") is None


@given(st.text(max_size=70))
def test_lever_names_are_safe_tokens(name: str) -> None:
    if LEVER_NAME.match(name):
        assert name == name.strip().lower() and " " not in name and len(name) <= 63
