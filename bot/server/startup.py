"""What `firebreak serve` checks before it answers Slack, each failure one line saying what to set.

* Secrets: SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET must be set, non-empty, and not the console's built-in
  values (which are in the source: a deployment that forgot one would accept forged requests). A
  SLACK_APP_TOKEN, when given, must look like an app-level token.
* The database: migrated at start; a refused connection is named with its host, never its password.
* The Slack installation: `auth.test` with the real bot token (retried with backoff while Slack is
  unreachable, for up to FIREBREAK_STARTUP_TIMEOUT), then the app id (from `auth.test`, else `bots.info`).
  The result is what the installation guard (bot/slack/guard.py) compares every request with.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from bot.config.org import InstallationConfig
from bot.config.settings import Settings
from bot.server.backoff import Backoff
from bot.slack.guard import Installation

# auth.test / bots.info errors that mean the bot token itself is wrong: retrying will not help.
TOKEN_ERRORS = {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired",
                "not_allowed_token_type", "missing_scope"}


class StartupError(Exception):
    """`serve` cannot start; the message is one line saying what failed and what to set."""


@dataclass(frozen=True)
class SlackIdentity:
    """What auth.test told us, plus the app id."""

    team_id: str | None
    enterprise_id: str | None
    is_enterprise_install: bool
    app_id: str
    bot_id: str | None
    bot_user_id: str | None
    url: str | None


# ----- secrets -------------------------------------------------------------------------------------
def check_secrets(settings: Settings) -> None:
    """Refuse the console's local credentials and missing ones; raise StartupError naming the variable."""
    defaults = Settings.model_fields
    for field, variable, what in (
        ("slack_bot_token", "SLACK_BOT_TOKEN", "the bot token (xoxb-…) from the app's OAuth & Permissions page"),
        ("slack_signing_secret", "SLACK_SIGNING_SECRET",
         "the signing secret from the app's Basic Information page"),
    ):
        value = getattr(settings, field).get_secret_value()
        builtin = defaults[field].default.get_secret_value()
        if field not in settings.model_fields_set:
            raise StartupError(f"{variable} is not set; set it to {what}")
        if not value.strip():
            raise StartupError(f"{variable} is empty; set it to {what}")
        if value == builtin:
            raise StartupError(f"{variable} is the console's built-in value, which is public; set it to {what}")
    if settings.slack_app_token is not None:
        token = settings.slack_app_token.get_secret_value().strip()
        if not token.startswith("xapp-"):
            raise StartupError("SLACK_APP_TOKEN is not an app-level token (xapp-…); create one with the "
                               "connections:write scope on the app's Basic Information page, or unset it to "
                               "serve over HTTP")


# ----- the database --------------------------------------------------------------------------------
def describe_database(url: str) -> str:
    """`postgresql at db.internal:5432/firebreak` or `sqlite file ./firebreak.db`: no user, no password."""
    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - an unparsable URL is described as such, never echoed
        return "the database (DATABASE_URL is not a valid database URL)"
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return f"sqlite file {parsed.database or ':memory:'}"
    where = f"{parsed.host or 'localhost'}" + (f":{parsed.port}" if parsed.port else "")
    return f"{backend} at {where}/{parsed.database or ''}"


def migrate(engine: Engine, url: str) -> None:
    """Apply migrations; a database that cannot be reached becomes one StartupError line."""
    from bot.store.migrate import upgrade

    try:
        upgrade(engine)
    except SQLAlchemyError as err:
        reason = str(getattr(err, "orig", None) or err).strip().splitlines()[0][:200]
        raise StartupError(f"cannot use the database ({describe_database(url)}): {reason}; check DATABASE_URL "
                           "and that the database accepts connections") from err


# ----- the Slack installation ----------------------------------------------------------------------
def learn_identity(client: WebClient, *, timeout: float, config_app_id: str | None = None,
                   backoff: Backoff | None = None,
                   on_retry: Callable[[str], None] | None = None) -> SlackIdentity:
    """auth.test (and bots.info for the app id), retried while Slack is unreachable for up to `timeout` s."""
    backoff = backoff or Backoff(0.5, 5.0)
    deadline = time.monotonic() + timeout
    failures = 0
    while True:
        try:
            auth = client.auth_test()
            break
        except SlackApiError as err:
            code = str(err.response.get("error") or f"HTTP {err.response.status_code}")
            if code in TOKEN_ERRORS:
                raise StartupError(f"SLACK_BOT_TOKEN was refused by Slack (auth.test: {code}); set it to the bot "
                                   "token (xoxb-…) from the app's OAuth & Permissions page") from None
            problem = f"auth.test failed ({code})"
        except Exception as exc:  # noqa: BLE001 - unreachable, timed out, TLS: all "cannot reach Slack"
            problem = f"cannot reach Slack ({type(exc).__name__})"
        failures += 1
        if on_retry is not None:
            on_retry(problem)
        wait = backoff.delay(failures)
        if time.monotonic() + wait > deadline:
            raise StartupError(f"{problem} at {where(client.base_url)} for {timeout:g} s; check the network, "
                               "SLACK_API_URL, or FIREBREAK_STARTUP_TIMEOUT")
        time.sleep(wait)
    bot_id = auth.get("bot_id")
    if not bot_id:
        raise StartupError("SLACK_BOT_TOKEN is not a bot token (auth.test reports no bot); set it to the bot "
                           "token (xoxb-…) from the app's OAuth & Permissions page")
    app_id = auth.get("app_id") or _app_id_from_bot(client, str(bot_id), config_app_id)
    if config_app_id and app_id != config_app_id:
        raise StartupError(f"installation.app_id in FIREBREAK_CONFIG is {config_app_id}, but SLACK_BOT_TOKEN "
                           f"belongs to app {app_id}; correct one of them")
    return SlackIdentity(team_id=auth.get("team_id") or None, enterprise_id=auth.get("enterprise_id") or None,
                         is_enterprise_install=bool(auth.get("is_enterprise_install")), app_id=str(app_id),
                         bot_id=str(bot_id), bot_user_id=auth.get("user_id"), url=auth.get("url"))


def _app_id_from_bot(client: WebClient, bot_id: str, config_app_id: str | None) -> str:
    try:
        resp = client.bots_info(bot=bot_id)
        app_id = (resp.get("bot") or {}).get("app_id")
        if app_id:
            return str(app_id)
        problem = "bots.info returned no app_id"
    except SlackApiError as err:
        problem = f"bots.info failed ({err.response.get('error') or err.response.status_code})"
    except Exception as exc:  # noqa: BLE001
        problem = f"bots.info failed ({type(exc).__name__})"
    if config_app_id:
        return config_app_id
    raise StartupError(f"cannot learn this app's id: {problem}; add the users:read scope to the app, or set "
                       "installation.app_id in FIREBREAK_CONFIG")


def where(url: str) -> str:
    """A URL's scheme, host and port only: enough to name it in a message, nothing that could be a secret."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{parts.scheme}://{parts.hostname or '?'}" + (f":{port}" if port else "")


def installation_for(identity: SlackIdentity, config: InstallationConfig) -> Installation:
    """The guard's view: the team auth.test reported (or the org, for an org-wide install) plus config's."""
    teams = set(config.team_ids)
    if identity.team_id:
        teams.add(identity.team_id)
    enterprises = set(config.enterprise_ids)
    if identity.is_enterprise_install and identity.enterprise_id:
        enterprises.add(identity.enterprise_id)
    return Installation(team_ids=frozenset(teams), enterprise_ids=frozenset(enterprises), app_id=identity.app_id)
