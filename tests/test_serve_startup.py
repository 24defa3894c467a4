"""The pieces of `serve`'s start-up, in-process: secrets, the backoff, the installation and the guard's rule,
the org config key, and what is said about a database or a URL (never a password)."""

from __future__ import annotations

import random

import pytest
from pydantic import SecretStr
from slack_sdk import WebClient

from bot.config.org import InstallationConfig, load_config
from bot.config.settings import Settings
from bot.core.errors import ConfigError
from bot.fakes.slack_api import FakeSlack
from bot.server.backoff import RETRY_AFTER_MAX, Backoff
from bot.server.startup import (
    SlackIdentity,
    StartupError,
    check_secrets,
    describe_database,
    installation_for,
    learn_identity,
    where,
)
from bot.slack.guard import Installation

HERE = Installation(team_ids=frozenset({"T0HOME"}), enterprise_ids=frozenset({"E0ORG"}), app_id="A0APP")


def test_console_defaults_pass_for_the_console_but_not_for_serve() -> None:
    with pytest.raises(StartupError, match="SLACK_BOT_TOKEN is not set"):
        check_secrets(Settings())
    explicit_defaults = Settings(slack_bot_token=SecretStr("xoxb-local-console"),
                                 slack_signing_secret=SecretStr("a-secret"))
    with pytest.raises(StartupError, match="SLACK_BOT_TOKEN is the console's built-in value"):
        check_secrets(explicit_defaults)
    with pytest.raises(StartupError, match="SLACK_SIGNING_SECRET is not set"):
        check_secrets(Settings(slack_bot_token=SecretStr("xoxb-1")))
    with pytest.raises(StartupError, match="SLACK_APP_TOKEN is not an app-level token"):
        check_secrets(Settings(slack_bot_token=SecretStr("xoxb-1"), slack_signing_secret=SecretStr("a-secret"),
                               slack_app_token=SecretStr("xoxb-2")))
    check_secrets(Settings(slack_bot_token=SecretStr("xoxb-1"), slack_signing_secret=SecretStr("a-secret"),
                           slack_app_token=SecretStr("xapp-1-A0APP-1-x")))


def test_backoff_doubles_to_a_cap_with_jitter_within_each_step() -> None:
    backoff = Backoff(0.5, 30.0, rng=random.Random(7))
    assert [backoff.ceiling(n) for n in range(0, 9)] == [0, 0.5, 1, 2, 4, 8, 16, 30, 30]
    for n in range(1, 12):
        delays = {backoff.delay(n) for _ in range(50)}
        assert all(backoff.ceiling(n) / 2 <= d <= backoff.ceiling(n) for d in delays)
        assert len(delays) > 1  # jittered, so a fleet does not retry in step
    assert backoff.delay(1, at_least=12.0) == 12.0  # a Retry-After is honoured
    assert backoff.delay(1, at_least=10_000) == RETRY_AFTER_MAX  # but not without bound
    assert backoff.delay(10 ** 6) <= 30.0


@pytest.mark.parametrize("ids, socket_mode, refused", [
    ({"team_id": "T0HOME", "enterprise_id": None, "app_id": "A0APP"}, False, None),
    ({"team_id": "T0OTHER", "enterprise_id": "E0ORG", "app_id": "A0APP"}, False, None),  # same org
    ({"team_id": "T0OTHER", "enterprise_id": None, "app_id": "A0APP"}, False, "team_id T0OTHER"),
    ({"team_id": "T0HOME", "enterprise_id": None, "app_id": "A0ELSE"}, False, "api_app_id A0ELSE"),
    ({"team_id": "T0HOME", "enterprise_id": None, "app_id": None}, False, "no api_app_id"),
    ({"team_id": "T0HOME", "enterprise_id": None, "app_id": None}, True, None),  # the socket is the app's
    ({"team_id": None, "enterprise_id": None, "app_id": "A0APP"}, False, "no team_id"),
    ({"team_id": None, "enterprise_id": None, "app_id": "A0APP"}, True, None),
    ({"team_id": "T0OTHER", "enterprise_id": None, "app_id": None}, True, "team_id T0OTHER"),
])
def test_which_requests_the_installation_accepts(ids: dict, socket_mode: bool, refused: str | None) -> None:
    assert HERE.refusal(**ids, socket_mode=socket_mode) == refused


def test_installation_joins_what_slack_said_with_the_config() -> None:
    workspace = SlackIdentity(team_id="T0HOME", enterprise_id="E0ORG", is_enterprise_install=False, app_id="A0APP",
                              bot_id="B1", bot_user_id="U1", url=None)
    plain = installation_for(workspace, InstallationConfig())
    assert plain.team_ids == {"T0HOME"} and plain.enterprise_ids == set()  # a workspace install: not the org
    grid = installation_for(workspace, InstallationConfig(team_ids=["T0SISTER"]))
    assert grid.team_ids == {"T0HOME", "T0SISTER"}
    org_wide = installation_for(SlackIdentity(team_id=None, enterprise_id="E0ORG", is_enterprise_install=True,
                                              app_id="A0APP", bot_id="B1", bot_user_id="U1", url=None),
                                InstallationConfig())
    assert org_wide.enterprise_ids == {"E0ORG"} and org_wide.team_ids == set()


def test_the_installation_key_is_validated_naming_file_and_key(write_yaml) -> None:
    ok = load_config(write_yaml("ok.yml", {"installation": {"team_ids": ["T0SISTER"], "enterprise_ids": ["E0ORG"],
                                                            "app_id": "A0APP"}}))
    assert ok.installation.team_ids == ["T0SISTER"]
    with pytest.raises(ConfigError) as err:
        load_config(write_yaml("bad.yml", {"installation": {"team_ids": ["general"]}}))
    assert "bad.yml: installation.team_ids" in str(err.value) and "team id (T…)" in str(err.value)
    with pytest.raises(ConfigError, match="installation.app_id"):
        load_config(write_yaml("bad2.yml", {"installation": {"app_id": "not-an-app"}}))
    with pytest.raises(ConfigError, match="installation.tenant"):
        load_config(write_yaml("bad3.yml", {"installation": {"tenant": "x"}}))


def test_learning_the_identity_from_slack() -> None:
    fake = FakeSlack().start()
    try:
        client = WebClient(token=fake.token, base_url=fake.url)
        identity = learn_identity(client, timeout=5)
        assert (identity.team_id, identity.app_id, identity.bot_id) == ("T0FIREBRK", "A0FIREBRK", "BFIREBREAK")
        assert [c.method for c in fake.calls] == ["auth.test", "bots.info"]
        with pytest.raises(StartupError, match="installation.app_id in FIREBREAK_CONFIG is A0OTHER"):
            learn_identity(client, timeout=5, config_app_id="A0OTHER")
        fake.fail_next("bots.info", "missing_scope")
        with pytest.raises(StartupError, match="users:read scope"):
            learn_identity(client, timeout=5)
        fake.fail_next("bots.info", "missing_scope")
        assert learn_identity(client, timeout=5, config_app_id="A0FIREBRK").app_id == "A0FIREBRK"
        with pytest.raises(StartupError, match="SLACK_BOT_TOKEN was refused by Slack"):
            learn_identity(WebClient(token="xoxb-wrong", base_url=fake.url), timeout=5)
    finally:
        fake.stop()


def test_what_is_said_about_a_database_or_a_url_carries_no_credentials() -> None:
    assert describe_database("postgresql+psycopg://app:s3cret@db.internal:5433/firebreak") == \
        "postgresql at db.internal:5433/firebreak"
    assert describe_database("sqlite:///var/lib/firebreak.db") == "sqlite file var/lib/firebreak.db"
    assert "s3cret" not in describe_database("postgresql://app:s3cret@db/x")
    assert where("https://user:s3cret@slack.example:8443/api/?token=t") == "https://slack.example:8443"
