"""Another worker's push, landing between a store's check of what it holds and its insert.

Each stands between a store and its database, as the store's `connect` or `begin`: just before
the store inserts into `table`, another connection of its own stores the first row the store
is about to insert and commits, as a second worker pushing the same records can. The store's
insert then fails on the database's own unique constraint. `races`: how many inserts are met
this way."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, Table


class DriverRace:
    """For a store on driver connections (EventStore's `connect`)."""

    def __init__(self, table: str, races: int) -> None:
        self.table, self.left = table.upper(), races

    @contextmanager
    def __call__(self, engine: Engine) -> Iterator[Any]:
        connection = engine.raw_connection()
        try:
            yield _Connection(connection, engine, self)
        finally:
            connection.close()

    def meets(self, sql: str) -> bool:
        if self.left and sql.lstrip().upper().startswith(f"INSERT INTO {self.table} "):
            self.left -= 1
            return True
        return False


class _Connection:
    def __init__(self, connection: Any, engine: Engine, race: DriverRace) -> None:
        self._connection, self._engine, self._race = connection, engine, race

    def cursor(self) -> _Cursor:
        return _Cursor(self._connection.cursor(), self._engine, self._race)

    def commit(self) -> None:
        self._connection.commit()


class _Cursor:
    def __init__(self, cursor: Any, engine: Engine, race: DriverRace) -> None:
        self._cursor, self._engine, self._race = cursor, engine, race

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)

    def executemany(self, sql: str, rows: list[Any]) -> Any:
        if self._race.meets(sql):
            other = self._engine.raw_connection()
            try:
                other.cursor().executemany(sql, rows[:1])
                other.commit()
            finally:
                other.close()
        return self._cursor.executemany(sql, rows)


class Race:
    """For a store on SQLAlchemy transactions (SealedStore's `begin`)."""

    def __init__(self, engine: Engine, table: Table, races: int) -> None:
        self.engine, self.table, self.left = engine, table, races

    @contextmanager
    def __call__(self) -> Iterator[Any]:
        with self.engine.begin() as connection:
            yield _Transaction(connection, self)


class _Transaction:
    def __init__(self, connection: Connection, race: Race) -> None:
        self._connection, self._race = connection, race

    def execute(self, statement: Any, rows: Any = None) -> Any:
        race = self._race
        if race.left and getattr(statement, "table", None) is race.table and rows:
            race.left -= 1
            with race.engine.begin() as other:
                other.execute(statement, rows[:1])
        return self._connection.execute(statement, rows)
