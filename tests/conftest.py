"""Shared fixtures: a manual clock, databases (SQLite file, PostgreSQL schema per test), harnesses.

Database tests take `db_url` and run twice: on SQLite and on PostgreSQL at 127.0.0.1:5432 (database
`test`, trust auth). PostgreSQL tests are skipped, with the reason printed, only when no server answers.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.config.settings import Settings
from bot.core.clock import ManualClock
from bot.slack.harness import Harness

PG_URL = os.environ.get("FIREBREAK_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
_pg_state: dict[str, Any] = {}


def pg_unavailable() -> str | None:
    """None when PostgreSQL answers, else the reason."""
    if "reason" not in _pg_state:
        import psycopg

        try:
            with psycopg.connect(PG_URL.replace("+psycopg", ""), connect_timeout=3):
                pass
            _pg_state["reason"] = None
        except Exception as exc:  # noqa: BLE001
            _pg_state["reason"] = f"PostgreSQL at {PG_URL} does not answer: {exc}"
    return _pg_state["reason"]


def pg_schema_url() -> Iterator[str]:
    """A fresh schema on the test database, dropped afterwards."""
    import psycopg

    schema = "t_" + uuid.uuid4().hex[:12]
    plain = PG_URL.replace("+psycopg", "")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/firebreak.db"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/firebreak.db"
        return
    reason = pg_unavailable()
    if reason:
        pytest.skip(reason)
    yield from pg_schema_url()


@pytest.fixture
def write_yaml(tmp_path: Path) -> Callable[[str, Any], Path]:
    def write(name: str, data: Any) -> Path:
        path = tmp_path / name
        path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
        return path

    return write


@pytest.fixture
def make_harness(sqlite_url: str, clock: ManualClock) -> Iterator[Callable[..., Harness]]:
    """Build harnesses: `make_harness(database_url=..., config_file=..., **settings)`."""
    made: list[Harness] = []

    def make(**overrides: Any) -> Harness:
        overrides.setdefault("database_url", sqlite_url)
        h = Harness(Settings(**overrides), clock=overrides.pop("clock", None) or clock)
        made.append(h)
        return h

    yield make
    for h in made:
        h.close()


@pytest.fixture
def harness(make_harness: Callable[..., Harness]) -> Harness:
    """The bot on SQLite against a fresh fake Slack."""
    return make_harness()


@pytest.fixture
def db_harness(make_harness: Callable[..., Harness], db_url: str) -> Harness:
    """The bot on each database (SQLite and PostgreSQL)."""
    return make_harness(database_url=db_url)


@pytest.fixture
def fake_ld():
    """A fake LaunchDarkly (REST + SDK streaming) on 127.0.0.1."""
    from tests.containment_support import start_fake_ld

    fake = start_fake_ld()
    yield fake
    fake.stop()


@pytest.fixture
def make_ld(make_harness, write_yaml, fake_ld):
    """Harnesses with levers pointed at the fake LaunchDarkly: `make_ld(levers=None, **settings)`."""
    from tests.containment_support import LEVERS, fast_retries, ld_settings

    def make(levers=None, **extra):
        h = make_harness(**ld_settings(fake_ld, write_yaml("levers.yml", levers or LEVERS), **extra))
        fast_retries(h)
        return h

    return make
