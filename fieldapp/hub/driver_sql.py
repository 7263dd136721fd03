"""Statements for the push path, built by SQLAlchemy once and run on the database driver.

A push is the hub's hottest path, and there SQLAlchemy Core's execution cost more than the
statements themselves (measured on this machine: a device-token lookup took 0.28 ms through
`Connection.execute` and 0.01 ms on the driver's cursor; looking up which of a push's 100
event ids are stored, 0.41 ms and 0.06 ms). So the push path builds its statements from the
same table definitions, compiles them once for the engine's dialect, and runs them on a
connection from the engine's pool. Everything else goes through Core as usual.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import ARRAY, ClauseElement, Column, Engine, String, any_, bindparam, func, select
from sqlalchemy.engine import Dialect
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement


class DriverStatement:
    """A statement compiled once for `dialect`, run with the driver's own parameter style."""

    def __init__(self, statement: ClauseElement, dialect: Dialect,
                 column_keys: Sequence[str] | None = None, many: bool = False) -> None:
        compiled = statement.compile(dialect=dialect, for_executemany=many,
                                     column_keys=list(column_keys) if column_keys else None)
        assert isinstance(compiled, SQLCompiler)
        self.sql = str(compiled)
        self._order = compiled.positiontup  # None where the driver takes named parameters
        self._keys = tuple(column_keys or ())
        # Rows given in `column_keys` order go to the driver as they are when it takes that order.
        self._as_given = self._order is not None and tuple(self._order) == self._keys
        self._fixed = {key: value for key, value in compiled.params.items()
                       if value is not None}  # the values written into the statement

    def params(self, values: Mapping[str, Any]) -> Any:
        """The parameters to run it with, in the driver's style (a tuple or a mapping)."""
        given = {**self._fixed, **values} if self._fixed else values
        return tuple(given[key] for key in self._order) if self._order else given

    def rows(self, rows: Iterable[tuple[Any, ...]]) -> list[Any]:
        """Rows for executemany, given as tuples in the order of `column_keys`."""
        if self._as_given:
            return list(rows)
        return [self.params(dict(zip(self._keys, row, strict=True))) for row in rows]


def in_list(column: Column[str], name: str,
            dialect: Dialect) -> tuple[ColumnElement[bool], Callable[[list[str]], Any]]:
    """`column IN <list>` with the whole list as one parameter (so the statement is the same
    for any length), and how to pass the list: as an array on PostgreSQL, as a JSON array
    (read by `json_each`) on SQLite. Both use the column's index."""
    if dialect.name == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(String))), list
    listed = select(func.json_each(bindparam(name)).table_valued("value").c.value)
    return column.in_(listed.scalar_subquery()), json.dumps


@contextmanager
def driver_connection(engine: Engine) -> Iterator[PoolProxiedConnection]:
    """A connection from the engine's pool, as the driver's own; back to the pool after, with
    anything not committed rolled back."""
    connection = engine.raw_connection()
    try:
        yield connection
    finally:
        connection.close()
