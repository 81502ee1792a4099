"""SQL expressions that each database spells its own way (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import String

__all__ = ["hour_start"]


class hour_start(FunctionElement[str]):
    """The hour a stored (naive UTC) time falls in, as a value to group or partition by."""

    type = String()
    inherit_cache = True
    name = "hour_start"


@compiles(hour_start, "postgresql")
def _hour_postgresql(element: hour_start, compiler: Any, **kw: Any) -> str:
    return f"date_trunc('hour', {compiler.process(element.clauses, **kw)})"


@compiles(hour_start)
def _hour_sqlite(element: hour_start, compiler: Any, **kw: Any) -> str:
    return f"strftime('%Y-%m-%d %H', {compiler.process(element.clauses, **kw)})"
