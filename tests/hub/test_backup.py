"""Backups, checks and restores on SQLite and PostgreSQL: a backup is written 0600 and verified,
finishes while a hub takes pushes, and restores into a new database that serves and opens its
sealed records, under a new database id; a bad backup or target is refused, leaving nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine

from fieldapp.crypto.sealing import HubKeyPair
from fieldapp.hub import migrate
from fieldapp.hub.api import create_api
from fieldapp.hub.backup import BackupError, Report, backup, check, restore
from fieldapp.hub.cli import main
from fieldapp.hub.directory import Directory
from fieldapp.hub.events_store import connect, open_hub
from tests.hub.world import COST, NOW, School, World
from tests.postgres import fresh_database


def url_of(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


@pytest.fixture
def restored_url(engine: Engine, tmp_path: Path) -> Iterator[str]:
    """Where a restore goes: a new SQLite file, or a new, empty PostgreSQL database."""
    if engine.dialect.name == "sqlite":
        yield f"sqlite:///{tmp_path / 'restored' / 'hub.db'}"
        return
    with fresh_database("hub_restored") as url:
        yield url


def test_a_backup_restores_into_a_new_hub_that_serves_and_opens_its_records(
        world: World, uplands: School, tmp_path: Path, restored_url: str) -> None:
    written, made = backup(url_of(world.engine), tmp_path / "backups", NOW)
    assert oct((tmp_path / "backups").stat().st_mode & 0o777) == oct(0o700)  # made for it
    assert oct(written.stat().st_mode & 0o777) == oct(0o600)  # it holds children's names
    assert written.name.startswith("hub-2026-11-23T") and not made.problems
    assert [p.name for p in (tmp_path / "backups").iterdir()] == [written.name]  # nothing else
    if world.engine.dialect.name == "sqlite":
        (tmp_path / "restored").mkdir()
    proved = restore(written, restored_url, [world.keys])
    assert "sealed records: 2 of 2 opened and read" in proved.lines
    restored = open_hub(restored_url)
    before, after = Directory(world.engine).database_id(), Directory(restored).database_id()
    assert before != after and f"new database id {after}" in proved.lines[-1]
    served = TestClient(create_api(restored, world.keys, clock=lambda: NOW, password_cost=COST))
    opened = served.get(f"/api/v1/console/records/{uplands.record}", headers=uplands.auth("dsl"))
    assert opened.status_code == 200 and opened.json()["visit_id"] == uplands.out
    pulled = served.get("/api/v1/pull", headers=uplands.phone()).json()
    assert pulled["database_id"] == after  # a phone sees a database it has not met
    restored.dispose()


def test_check_proves_what_a_database_holds_and_says_what_it_cannot_open(
        world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = check(url_of(world.engine), [world.keys])
    assert not report.problems
    said = "\n".join(report.lines)
    assert f"schema: revision {migrate.HEAD}, this hub's" in said
    assert "holds: 2 schools, 10 staff, 2 phones, " in said
    assert "2 sealed records" in said and "sealed records: 2 of 2 opened and read" in said
    stranger = HubKeyPair.generate()  # the key was lost, or a rotation's old key not given
    report = check(url_of(world.engine), [stranger])
    assert report.problems == [f"2 sealed records need hub key {world.keys.fingerprint()}, "
                               "which was not given (--key, or --retired-key for a key "
                               "retired by a rotation)"]
    key = tmp_path / "hub.key"
    key.write_bytes(world.keys.private_bytes())
    assert main(["--db", url_of(world.engine), "--key", str(key), "check"]) == 0
    assert capsys.readouterr().out.endswith("check: ok\n")
    key.write_bytes(stranger.private_bytes())
    assert main(["--db", url_of(world.engine), "--key", str(key), "check"]) == 1
    assert "PROBLEM: 2 sealed records need hub key" in capsys.readouterr().out


def test_a_restore_refuses_a_target_in_use_and_a_damaged_backup_leaving_nothing(
        world: World, tmp_path: Path, restored_url: str) -> None:
    written, _ = backup(url_of(world.engine), tmp_path / "hub.bak", NOW)
    with pytest.raises(BackupError, match="exists already: back up to a new name"):
        backup(url_of(world.engine), written, NOW)
    with pytest.raises(BackupError, match="no backup at"):
        restore(tmp_path / "nothing.db", restored_url, [world.keys])
    with pytest.raises(BackupError, match=r"is not empty|exists: restore into a new file"):
        restore(written, url_of(world.engine), [world.keys])  # never over a live hub
    damaged = tmp_path / "damaged.bak"
    data = bytearray(written.read_bytes())
    data[len(data) // 2: len(data) // 2 + 64] = os.urandom(64)
    damaged.write_bytes(bytes(data))
    if world.engine.dialect.name == "sqlite":
        (tmp_path / "restored").mkdir()
    with pytest.raises(BackupError):
        restore(damaged, restored_url, [world.keys])
    if world.engine.dialect.name == "sqlite":
        assert list((tmp_path / "restored").iterdir()) == []  # no half-restored file
    else:
        check_empty = create_engine(restored_url)
        from fieldapp.hub.migrate import is_empty

        assert is_empty(check_empty)  # pg_restore's one transaction rolled back
        check_empty.dispose()


WRITER = """
import sys, time
from datetime import UTC, datetime, timedelta
from fieldapp.domain import commands as c
from fieldapp.domain.events import Author
from fieldapp.domain.journeys import PAIR
from fieldapp.domain.policy import load_pack
from fieldapp.domain.simulate import SimulatedVisit
from fieldapp.hub.events_store import EventStore, connect
from fieldapp.sync.protocol import Push

store = EventStore(connect(sys.argv[1]))
pack = load_pack("uplands-junior")
print("writing", flush=True)
number = 0
while True:  # about 20 commits a second, each a visit's plan, as pushes would come
    number += 1
    at = datetime(2026, 11, 23, 9, tzinfo=UTC)
    visit = SimulatedVisit(pack, at - timedelta(hours=1), visit_id=f"load-{number}",
                           author=Author("dsl-webster", "hub-console"), seed=number)
    assert visit.do(c.Plan("UPN-9", "Load Child", "9 Load Lane", "Attendance", at, PAIR,
                           safe_phrase="red folder")).accepted
    store.ingest("uplands", "hub-console", Push(events=tuple(visit.events)))
    time.sleep(0.05)
"""


@pytest.fixture
def busy_sqlite_hub(tmp_path: Path) -> Iterator[str]:
    """A SQLite hub of some 30 MB, another process writing to it about 20 times a second."""
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    from fieldapp.hub.cli import add_demo_school

    engine = connect(url)
    add_demo_school(Directory(engine))
    with engine.begin() as connection:  # bulk, so that a copy takes a while
        connection.exec_driver_sql("CREATE TABLE ballast (data BLOB)")
        connection.exec_driver_sql(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 7500) "
            "INSERT INTO ballast SELECT randomblob(4096) FROM n")
    engine.dispose()
    writer = subprocess.Popen([sys.executable, "-c", WRITER, url], stdout=subprocess.PIPE,
                              text=True)
    assert writer.stdout is not None and writer.stdout.readline() == "writing\n"
    yield url
    writer.kill()
    writer.wait()


def test_a_backup_taken_while_the_hub_takes_writes_finishes_and_checks(
        busy_sqlite_hub: str, tmp_path: Path) -> None:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "fieldapp.hub.cli", "--db", busy_sqlite_hub,
                           "backup", str(tmp_path / "backups")], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "backup written and verified" in done.stdout and time.monotonic() - started < 60
    (written,) = (tmp_path / "backups").iterdir()
    report = check(f"sqlite:///{written}", [])
    assert not report.problems and "integrity: ok (SQLite's integrity check)" in report.lines
    live = check(busy_sqlite_hub, [])  # the writes went on meanwhile, and after
    assert events_held(live) > events_held(report) > 0


def events_held(report: Report) -> int:
    (holds,) = [line for line in report.lines if line.startswith("holds: ")]
    return int(holds.split(" events")[0].rsplit(", ", 1)[1].replace(",", ""))
