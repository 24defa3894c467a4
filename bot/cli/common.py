"""What every `firebreak` subcommand shares: failing with a clear line, reading the settings, opening the
incident database for reading, and printing stored text safely in a terminal.

Kept free of feature imports (the database layer is imported inside the functions that open it) so that
importing a subcommand module, which `firebreak --help` does for all of them, stays cheap.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer

if TYPE_CHECKING:
    from sqlmodel import Session

    from bot.config.settings import Settings
    from bot.store.db import Database

LIST_HINT = "`firebreak incidents` lists them"


def fail(message: str, *, code: int = 2) -> NoReturn:
    """Print `message` on standard error and exit with `code` (2: the input or the set-up is wrong)."""
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def settings() -> Settings:
    """The settings from the environment; an invalid value is a one-line error, not a traceback."""
    from pydantic import ValidationError

    from bot.config.settings import Settings

    try:
        return Settings()
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors())
        fail(f"The environment is invalid: {problems}")


def shown_url(url: str) -> str:
    """A database URL fit to print: the password, if any, is masked."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown without anything after the scheme
        return url.split("://", 1)[0] + "://…"


def terminal_text(text: str | None, limit: int = 0) -> str:
    """Stored text (titles, names) as one safe terminal line: control characters, which could move the
    cursor or recolour the screen, become spaces; longer than `limit` is cut on a word with an ellipsis."""
    flat = "".join(" " if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") else ch for ch in text or "")
    flat = " ".join(flat.split())
    if limit and len(flat) > limit:
        cut = flat[: limit - 1]
        if " " in cut[limit // 2:]:
            cut = cut.rsplit(" ", 1)[0]
        flat = cut.rstrip(" ,;:.-") + "…"
    return flat


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (None for other databases and for in-memory SQLite)."""
    from sqlalchemy.engine import make_url

    from bot.store.db import normalize_url

    parsed = make_url(normalize_url(url))
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


class NoIncidents(Exception):
    """The database holds no firebreak tables yet (never migrated, or a SQLite file not created)."""


@contextmanager
def incident_database(url: str) -> Iterator[Database]:
    """Open the database to read incidents. Raises NoIncidents when it has never been set up; fails with
    one line when it cannot be reached, or when a read fails (asking for `firebreak db upgrade` when an
    older firebreak migrated it). A SQLite file that does not exist is not created: reading leaves
    nothing behind."""
    from sqlalchemy import inspect
    from sqlalchemy.exc import SQLAlchemyError

    from bot.store.db import Database

    shown = shown_url(url)
    path = sqlite_file(url)
    if path is not None and not path.is_file():
        raise NoIncidents
    try:
        db = Database(url)
    except (SQLAlchemyError, ValueError, ImportError) as err:
        fail(f"Cannot use DATABASE_URL {shown}: {_first_line(err)}")
    try:
        try:
            with db.engine.connect() as conn:
                has_tables = inspect(conn).has_table("incident")
        except SQLAlchemyError as err:
            fail(f"Cannot read the database at {shown}: {_first_line(err)}")
        if not has_tables:
            raise NoIncidents
        try:
            yield db
        except SQLAlchemyError as err:
            require_current(db, shown)  # an older schema is the likely cause; say how to fix it
            fail(f"Cannot read the database at {shown}: {_first_line(err)}")
    finally:
        db.dispose()


def require_current(db: Database, shown: str) -> None:
    """Fail, asking for `firebreak db upgrade`, when an older firebreak migrated this database. Checked
    when a read fails (or before a command would write), not on every read: alembic is slow to import."""
    from alembic.script import ScriptDirectory

    from bot.store.migrate import alembic_config, current

    revision = current(db.engine)
    if revision is None:  # tables made without migrations (tests, `create_all`): nothing to compare
        return
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if revision != head:
        fail(f"The database at {shown} is at migration {revision}; this firebreak needs {head}. "
             "Run `firebreak db upgrade` first.")


@contextmanager
def incident_session(incident: str) -> Iterator[tuple[int, Session]]:
    """`INC-42` (as typed) and a read session in which it exists; one line and exit 2 otherwise (a bad
    reference, no such incident, a database never set up)."""
    from bot.core.errors import FirebreakError
    from bot.core.incidents import parse_ref
    from bot.store.models import Incident

    try:
        number = parse_ref(incident)
    except FirebreakError as err:
        fail(err.message)
    url = settings().database_url
    try:
        with incident_database(url) as db, db.session() as session:
            if session.get(Incident, number) is None:
                fail(f"INC-{number} does not exist; {LIST_HINT}.")
            yield number, session
    except NoIncidents:
        fail(f"INC-{number} does not exist. {no_incidents_line(url)}")


def no_incidents_line(url: str) -> str:
    return (f"No incidents yet: the database at {shown_url(url)} has not been set up "
            "(`firebreak serve`, `firebreak console` and `firebreak db upgrade` set it up).")


def _first_line(err: BaseException) -> str:
    orig = getattr(err, "orig", None)  # SQLAlchemy wraps the driver's error; its own text adds the SQL
    text = str(orig if orig is not None else err).strip()
    return text.splitlines()[0] if text else type(err).__name__
