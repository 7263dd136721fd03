"""What `check`, `backup` and `restore` say about a database or backup that is not whole, on
SQLite and PostgreSQL: each damage is named as a problem (or refused with a clear error), and
nothing is left half made. The happy paths are in test_backup.py."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, func, inspect, select, update

from fieldapp.crypto.sealing import HubKeyPair
from fieldapp.hub import backup as backups
from fieldapp.hub import migrate
from fieldapp.hub.backup import BackupError, backup, check, libpq, restore
from fieldapp.hub.cli import main
from fieldapp.hub.events_store import events
from fieldapp.hub.records import sealed_records
from tests.hub.test_backup import url_of
from tests.hub.test_migrations import made_by_an_old_hub
from tests.hub.world import NOW, World
from tests.postgres import fresh_database


def test_a_database_of_another_schema_is_named_as_such(
        world: World, engine: Engine, tmp_path: Path) -> None:
    with engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = '0001'")
    assert check(url_of(engine), [world.keys]).problems == [
        f"schema at revision 0001, this hub's is {migrate.HEAD}: `fieldapp-hub migrate` it, "
        "then check again"]
    with engine.begin() as connection:  # some of a hub's tables, and no revision
        connection.exec_driver_sql("DROP TABLE alembic_version")
    (problem,) = check(url_of(engine), [world.keys]).problems
    assert problem.startswith("the database has some of the hub's tables but no schema "
                              "revision") and problem.endswith("it will not guess how to "
                                                               "migrate it")
    old = f"sqlite:///{tmp_path / 'old.db'}"
    made_by_an_old_hub(create_engine(old))
    assert check(old, []).problems == [
        f"schema from before migrations, this hub's is {migrate.HEAD}: `fieldapp-hub migrate` "
        "it, then check again"]


def test_a_database_missing_a_table_cannot_be_read_and_is_not_backed_up(
        world: World, engine: Engine, tmp_path: Path) -> None:
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE audit_log")
    (problem,) = check(url_of(engine), [world.keys]).problems
    assert problem.startswith("the database could not be read: ") and "audit_log" in problem
    with pytest.raises(BackupError, match="the backup did not verify, and was not kept: "):
        backup(url_of(engine), tmp_path / "backups", NOW)
    assert list((tmp_path / "backups").iterdir()) == []  # no partial file left


def test_unreadable_events_and_damaged_sealed_records_are_counted_across_pages(
        world: World, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backups, "BATCH", 1)  # every page boundary crossed
    with engine.begin() as connection:
        first = connection.execute(select(func.min(events.c.seq))).scalar_one()
        connection.execute(update(events).where(events.c.seq == first).values(
            body='{"not": "an event"}'))
        record = connection.execute(select(func.min(sealed_records.c.seq))).scalar_one()
        envelope = bytearray(connection.execute(select(sealed_records.c.envelope).where(
            sealed_records.c.seq == record)).scalar_one())
        envelope[-5] ^= 0xFF
        connection.execute(update(sealed_records).where(sealed_records.c.seq == record)
                           .values(envelope=bytes(envelope)))
    report = check(url_of(engine), [world.keys])
    assert report.problems == [
        "1 stored events cannot be read as their type (the console lists them on the visits "
        "that need attention)",
        "1 sealed records do not open with their key: damaged"]
    assert "sealed records: 1 of 2 opened and read" in report.lines


def test_a_backup_needs_a_database_file_that_is_one(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="an in-memory database has nothing to back up"):
        backup("sqlite://", tmp_path / "backups", NOW)
    with pytest.raises(BackupError, match=r"no hub database at .*nothing\.db"):
        backup(f"sqlite:///{tmp_path / 'nothing.db'}", tmp_path / "backups", NOW)
    garbage = tmp_path / "hub.db"
    garbage.write_bytes(b"this was never a database " * 400)
    with pytest.raises(BackupError, match="could not be copied: file is not a database"):
        backup(f"sqlite:///{garbage}", tmp_path / "backups", NOW)
    assert list((tmp_path / "backups").iterdir()) == []
    report = check(f"sqlite:///{garbage}", [])
    assert report.problems == ["SQLite's integrity check: file is not a database"]
    with sqlite3.connect(tmp_path / "other.db") as other:  # a database, but not a hub's
        other.execute("CREATE TABLE notes (words TEXT)")
    assert check(f"sqlite:///{tmp_path / 'other.db'}", []).problems == [
        "the database holds no hub: it is empty"]


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_a_postgresql_backup_needs_its_tools_and_takes_a_password_off_the_command_line(
        world: World, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with_password = engine.url.set(password="not-on-the-command-line")
    assert "not-on-the-command-line" not in libpq(with_password)
    made, report = backup(with_password.render_as_string(hide_password=False),
                          tmp_path / "backups", NOW)  # trust auth takes any password
    assert made.suffix == ".dump" and not report.problems
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))
    with pytest.raises(BackupError, match="pg_dump is not installed: apt-get install "
                                          "postgresql-client"):
        backup(url_of(engine), tmp_path / "later", NOW)
    with pytest.raises(BackupError, match="_nowhere could not be reached: .*does not exist "
                                          r"\(make a new, empty database with createdb"):
        restore(made, url_of(engine) + "_nowhere", [world.keys])
    with fresh_database("hub_restored") as empty, pytest.raises(
            BackupError, match="pg_restore is not installed"):
        restore(made, empty, [world.keys])


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_a_postgresql_dump_without_the_hubs_tables_is_not_kept(
        world: World, engine: Engine, tmp_path: Path) -> None:
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE audit_log")
    with pytest.raises(BackupError, match="did not verify, and was not kept: the dump lacks "
                                          "the hub's tables: has alembic_version, devices"):
        backup(url_of(engine), tmp_path / "backups", NOW)
    assert list((tmp_path / "backups").iterdir()) == []


def test_the_backup_command_says_where_and_what_it_refused(
        world: World, engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--db", url_of(engine), "backup", str(tmp_path / "backups")]) == 0
    said = capsys.readouterr().out
    assert "backup written and verified: " in said and "readable by its owner only" in said
    (written,) = (tmp_path / "backups").iterdir()
    assert main(["--db", url_of(engine), "backup", str(written)]) == 1
    assert "exists already: back up to a new name" in capsys.readouterr().err


def test_a_restore_that_does_not_check_is_undone(
        world: World, engine: Engine, tmp_path: Path) -> None:
    made, _ = backup(url_of(engine), tmp_path / "backups", NOW)
    stranger = HubKeyPair.generate()  # the key given is not the one the records need
    if engine.dialect.name == "sqlite":
        target = tmp_path / "restored" / "hub.db"
        target.parent.mkdir()
        with pytest.raises(BackupError, match=r"did not check: .*need hub key.*nothing was "
                                              "restored"):
            restore(made, f"sqlite:///{target}", [stranger])
        assert list(target.parent.iterdir()) == []
        return
    with fresh_database("hub_restored") as empty:
        with pytest.raises(BackupError, match=r"did not check: .*need hub key"):
            restore(made, empty, [stranger])
        emptied = create_engine(empty)
        assert migrate.is_empty(emptied) and inspect(emptied).get_table_names() == []
        emptied.dispose()
        assert not restore(made, empty, [world.keys]).problems  # and it can be done again
