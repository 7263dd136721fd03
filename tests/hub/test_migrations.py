"""The hub upgrades its database in place, on SQLite and on PostgreSQL: a new database gets the
schema the code defines; one made before migrations is adopted with its rows; one migrated by
newer hub software is refused untouched; workers starting together migrate it once.

Each test makes new, empty databases of its own.
"""

from __future__ import annotations

import importlib
import json
import multiprocessing
import pkgutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from threading import Barrier
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    insert,
    inspect,
)

import fieldapp.hub
from fieldapp.hub import migrate
from fieldapp.hub.cli import main
from fieldapp.hub.events_store import connect, metadata
from fieldapp.hub.migrate import BASELINE, MigrationRefused

HEAD = ScriptDirectory(str(migrate.MIGRATIONS)).get_current_head()

# The hub's tables as its code defined them before it had migrations (commit b4c4365): the
# databases old hubs made, made again here whatever the tables in code become.
BEFORE = MetaData()
Table("schools", BEFORE,
      Column("id", String(64), primary_key=True),
      Column("name", String(200), nullable=False),
      Column("pack_id", String(64), nullable=False))
Table("staff", BEFORE,
      Column("id", String(64), primary_key=True),
      Column("school_id", String(64), ForeignKey("schools.id"), nullable=False, index=True),
      Column("name", String(200), nullable=False),
      Column("role", String(20), nullable=False),
      Column("safeguarding_trained", Boolean, nullable=False, default=False))
Table("devices", BEFORE,
      Column("id", String(64), primary_key=True),
      Column("school_id", String(64), ForeignKey("schools.id"), nullable=False, index=True),
      Column("staff_id", String(64), ForeignKey("staff.id"), nullable=False),
      Column("name", String(100), nullable=False),
      Column("token_hash", String(64), nullable=False, unique=True),
      Column("enrolled_at", DateTime(timezone=True), nullable=False),
      Column("revoked_at", DateTime(timezone=True)))
Table("enrol_codes", BEFORE,
      Column("code_hash", String(64), primary_key=True),
      Column("school_id", String(64), ForeignKey("schools.id"), nullable=False),
      Column("staff_id", String(64), ForeignKey("staff.id"), nullable=False),
      Column("expires_at", DateTime(timezone=True), nullable=False),
      Column("used_at", DateTime(timezone=True)))
Table("events", BEFORE,
      Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
             autoincrement=True),
      Column("id", String(26), nullable=False, unique=True),
      Column("school_id", String(64), nullable=False),
      Column("visit_id", String(128), nullable=False),
      Column("type", String(40), nullable=False),
      Column("device_id", String(64), nullable=False),
      Column("body", Text, nullable=False),
      Index("events_school_visit", "school_id", "visit_id"),
      Index("events_school_seq", "school_id", "seq"))
Table("visit_staff", BEFORE,
      Column("school_id", String(64), primary_key=True),
      Column("visit_id", String(128), primary_key=True),
      Column("staff_id", String(64), primary_key=True))


class Databases:
    """New, empty databases of one kind for a test, and the engines opened on them: dropped
    and disposed of when the test ends."""

    def __init__(self, kind: str, tmp_path: Path, server: str) -> None:
        self.kind, self.tmp_path, self.server = kind, tmp_path, server
        self.urls: list[str] = []
        self.engines: list[Engine] = []

    def new(self) -> str:
        name = f"hub_migrations_{uuid.uuid4().hex[:12]}"
        if self.kind == "sqlite":
            url = f"sqlite:///{self.tmp_path / name}.db"
        else:
            self._admin(f'CREATE DATABASE "{name}"')
            url = f"{self.server.rsplit('/', 1)[0]}/{name}"
        self.urls.append(url)
        return url

    def connect(self, url: str) -> Engine:
        """The hub's engine, as a hub worker opens it (migrating the database)."""
        self.engines.append(connect(url))
        return self.engines[-1]

    def plain(self, url: str) -> Engine:
        """An engine that leaves the database as it is."""
        self.engines.append(create_engine(url))
        return self.engines[-1]

    def close(self) -> None:
        for engine in self.engines:
            engine.dispose()
        if self.kind == "postgresql":
            for url in self.urls:
                self._admin(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.server.replace("postgresql+psycopg://", "postgresql://"),
                             autocommit=True) as connection:
            connection.execute(sql.encode())


@pytest.fixture(params=["sqlite", "postgresql"])
def databases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Databases]:
    # The session's PostgreSQL database says the server is there (or skips, or fails in CI).
    server = request.getfixturevalue("postgres_url") if request.param == "postgresql" else ""
    made = Databases(request.param, tmp_path, server)
    yield made
    made.close()


def hub_metadata() -> MetaData:
    """Every table the hub's code defines: each of its modules imported, so that a table in a
    new module is counted too."""
    for module in pkgutil.iter_modules(fieldapp.hub.__path__, "fieldapp.hub."):
        if not module.ispkg:
            importlib.import_module(module.name)
    return metadata


def snapshot(engine: Engine) -> dict[str, str]:
    """Each table's columns, keys, indexes and rows, comparable: to tell that nothing changed."""
    inspector = inspect(engine)
    columns, key = inspector.get_multi_columns(), inspector.get_multi_pk_constraint()
    foreign, unique = inspector.get_multi_foreign_keys(), inspector.get_multi_unique_constraints()
    indexes = inspector.get_multi_indexes()
    with engine.connect() as connection:
        return {name: comparable({
            "columns": columns[None, name],  # in their order
            "primary key": key[None, name],
            "foreign keys": sorted(foreign[None, name], key=comparable),
            "unique": sorted(unique[None, name], key=comparable),
            "indexes": sorted(indexes[None, name], key=comparable),
            "rows": sorted(map(repr, connection.exec_driver_sql(f'SELECT * FROM "{name}"'))),
        }) for name in inspector.get_table_names()}


def comparable(described: Any) -> str:
    return json.dumps(described, sort_keys=True, default=repr)


def made_by_an_old_hub(engine: Engine) -> None:
    """The database an old hub made, with a school and an event in it."""
    BEFORE.create_all(engine)
    with engine.begin() as connection:
        connection.execute(insert(BEFORE.tables["schools"]).values(
            id="uplands", name="Uplands Junior School", pack_id="uplands-junior"))
        connection.execute(insert(BEFORE.tables["events"]).values(
            id="01JD0000000000000000000000", school_id="uplands", visit_id="visit-1",
            type="planned", device_id="phone-a", body="{}"))


def test_a_new_database_gets_exactly_the_tables_the_code_defines(databases: Databases) -> None:
    url = databases.new()
    assert migrate.current(databases.plain(url)) is None
    engine = databases.connect(url)
    assert migrate.current(engine) == HEAD
    with engine.connect() as connection:
        drift = compare_metadata(MigrationContext.configure(connection), hub_metadata())
    assert drift == [], ("the tables in code and the migrations differ: add a revision in "
                         f"fieldapp/hub/migrations/versions/ for {drift}")


def test_revision_0001_is_what_create_all_made_before_migrations(
    databases: Databases,
) -> None:
    made_before = databases.plain(databases.new())
    BEFORE.create_all(made_before)
    migrated = databases.plain(databases.new())
    migrate.upgrade(migrated)
    migrate.downgrade(migrated, BASELINE)
    assert migrate.current(migrated) == BASELINE
    assert snapshot(made_before) == {name: table for name, table in snapshot(migrated).items()
                                     if name != "alembic_version"}


def test_a_database_made_before_migrations_is_adopted_with_its_rows(
    databases: Databases,
) -> None:
    url = databases.new()
    made_by_an_old_hub(databases.plain(url))
    before = snapshot(databases.plain(url))
    engine = databases.connect(url)
    assert migrate.current(engine) == HEAD
    after = snapshot(engine)
    # 0003 gives staff a mobile number, 0004 enrolment codes their claim (both empty here)
    grown = {"staff", "enrol_codes"}
    assert {name: after[name] for name in before if name not in grown} == {
        name: table for name, table in before.items() if name not in grown}
    assert '"name": "mobile"' in after["staff"]
    assert '"name": "claim_hash"' in after["enrol_codes"]


@pytest.mark.parametrize("made", ["some tables", "other columns"])
def test_a_database_with_tables_unlike_the_hubs_is_refused_unchanged(
    databases: Databases, made: str
) -> None:
    url = databases.new()
    old = databases.plain(url)
    if made == "some tables":
        BEFORE.create_all(old, tables=[BEFORE.tables["schools"], BEFORE.tables["staff"]])
        wrong = "devices, enrol_codes, events, visit_staff"
    else:
        made_by_an_old_hub(old)
        with old.begin() as connection:
            connection.exec_driver_sql("ALTER TABLE events ADD COLUMN colour VARCHAR(10)")
        wrong = "events"
    before = snapshot(old)
    with pytest.raises(MigrationRefused, match=f"missing or different: {wrong}\\)"):
        connect(url)
    assert snapshot(old) == before


def test_a_database_migrated_by_newer_hub_software_is_refused_unchanged(
    databases: Databases, capsys: pytest.CaptureFixture[str]
) -> None:
    url = databases.new()
    made_by_an_old_hub(databases.plain(url))
    engine = databases.connect(url)
    with engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = '0999'")
    before = snapshot(engine)
    with pytest.raises(MigrationRefused, match=(
            f"revision 0999, newer than this hub knows \\(its newest is {HEAD}\\)")):
        connect(url)
    with pytest.raises(MigrationRefused, match="nothing was changed"):
        migrate.downgrade(engine, "base")
    assert main(["--db", url, "migrate"]) == 1
    assert "migrated by a newer version of the hub" in capsys.readouterr().err
    assert snapshot(engine) == before


def start_worker(url: str, together: Barrier) -> None:
    """A hub worker process starting: all of them open the database at the same moment."""
    together.wait(timeout=30)
    connect(url).dispose()


def test_workers_starting_together_on_a_new_database_all_start(databases: Databases) -> None:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["fieldapp.hub.events_store", __name__])
    url = databases.new()
    together = context.Barrier(4)
    workers = [context.Process(target=start_worker, args=(url, together)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert [worker.exitcode for worker in workers] == [0, 0, 0, 0]
    engine = databases.plain(url)
    assert migrate.current(engine) == HEAD
    assert set(BEFORE.tables) <= set(inspect(engine).get_table_names())


def test_downgrading_to_base_and_upgrading_again_gives_the_same_schema(
    databases: Databases,
) -> None:
    engine = databases.connect(databases.new())
    migrated = snapshot(engine)
    migrate.downgrade(engine, "base")
    assert migrate.current(engine) is None
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    assert migrate.upgrade(engine) == HEAD
    again = snapshot(engine)
    # A database made again is a new database: it gets a name of its own.
    assert again.pop("hub_meta") != migrated.pop("hub_meta")
    assert again == migrated


def test_the_migrate_command_upgrades_and_says_to_which_revision(
    databases: Databases, capsys: pytest.CaptureFixture[str]
) -> None:
    url = databases.new()
    assert main(["--db", url, "migrate"]) == 1  # an empty database is no hub to migrate
    assert "no hub" in capsys.readouterr().err  # SQLite: no file; PostgreSQL: empty
    migrate.upgrade(engine := create_engine(url))
    migrate.downgrade(engine, BASELINE)
    assert main(["--db", url, "migrate"]) == 0
    assert capsys.readouterr().out == f"database schema at revision {HEAD}\n"
    assert main(["--db", url, "migrate"]) == 0  # nothing left to do
    assert capsys.readouterr().out == f"database schema at revision {HEAD}\n"
    engine.dispose()


def test_the_hubs_quick_check_knows_the_newest_revision() -> None:
    assert migrate.HEAD == HEAD
