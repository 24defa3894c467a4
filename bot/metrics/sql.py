"""Two portable SQL building blocks the metrics need, compiled per dialect (SQLite and PostgreSQL).

- `seconds_between(end, start)`: an interval in seconds as a float.
- `week_start(ts)`: the Monday (UTC) of the week holding `ts`, as text `YYYY-MM-DD`.
"""

from __future__ import annotations

from sqlalchemy import Float, String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


class seconds_between(FunctionElement):  # noqa: N801 - reads like the SQL function it stands for
    type = Float()
    inherit_cache = True
    name = "seconds_between"


class week_start(FunctionElement):  # noqa: N801
    type = String()
    inherit_cache = True
    name = "week_start"


def _args(element, compiler, **kw) -> list[str]:
    return [compiler.process(arg, **kw) for arg in element.clauses]


@compiles(seconds_between)
def _seconds_default(element, compiler, **kw) -> str:
    end, start = _args(element, compiler, **kw)
    return f"EXTRACT(EPOCH FROM ({end} - {start}))"


@compiles(seconds_between, "sqlite")
def _seconds_sqlite(element, compiler, **kw) -> str:
    # SQLite stores UTC as text; julianday() parses it, with sub-millisecond precision at today's dates.
    end, start = _args(element, compiler, **kw)
    return f"((julianday({end}) - julianday({start})) * 86400.0)"


@compiles(week_start)
def _week_default(element, compiler, **kw) -> str:
    (ts,) = _args(element, compiler, **kw)
    return f"to_char(date_trunc('week', {ts} AT TIME ZONE 'UTC'), 'YYYY-MM-DD')"


@compiles(week_start, "sqlite")
def _week_sqlite(element, compiler, **kw) -> str:
    (ts,) = _args(element, compiler, **kw)
    # back six days, then forward to the next Monday: the Monday on or before ts.
    return f"date({ts}, '-6 days', 'weekday 1')"
