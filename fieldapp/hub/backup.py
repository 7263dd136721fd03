"""Backups that finish under load, checks that prove them, restores the phones notice.

- `backup(url, dest)`: SQLite is copied with SQLite's online backup in one step, inside one
  read transaction: in WAL mode pushes go on meanwhile, and the copy is the database as it was
  when the step began. (The `sqlite3` shell's `.backup` copies 100 pages a step; a write by
  another process between two steps starts it again from the first page, so on a hub taking
  pushes every second it never finished.) PostgreSQL is dumped by `pg_dump` (custom format),
  which reads one snapshot and blocks no writer. Either way the backup is written 0600 under a
  temporary name, verified, and only then given its name.
- `check(url, keys)`: what a backup or a database holds, and whether it is whole: SQLite's
  integrity check, the schema revision, counts, every event read as its type, every sealed
  record opened with the key it was sealed to.
- `restore(source, url)`: a backup into a new database (a SQLite file that is not there, an
  empty PostgreSQL database), checked, with a new database id: a phone that meets the restored
  hub sees an id it has not met and starts again from the first event, pushing all it holds
  (fieldapp.sync.client), so nothing it sent since the backup is lost.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Final

from sqlalchemy import Engine, MetaData, create_engine, func, make_url, select, update
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from fieldapp.crypto.sealing import HubKeyPair, SealError, open_sealed
from fieldapp.crypto.storage import fsync_directory as fsync_path
from fieldapp.hub import migrate
from fieldapp.hub.audit import audit_log
from fieldapp.hub.directory import devices, hub_meta, schools, staff
from fieldapp.hub.events_store import EventStore, events
from fieldapp.hub.records import sealed_records
from fieldapp.sync.records import RecordError, read_visit_record

BATCH: Final = 500


class BackupError(RuntimeError):
    """A backup, check or restore that could not be done; the message says why and what to
    do, and nothing was left half made."""


@dataclass
class Report:
    """What `check` found: lines to print, and the problems among them (none: it is whole)."""

    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def say(self, line: str) -> None:
        self.lines.append(line)

    def problem(self, line: str) -> None:
        self.lines.append(f"PROBLEM: {line}")
        self.problems.append(line)


def backup(url: str, dest: Path, now: datetime) -> tuple[Path, Report]:
    """Back the hub's database up to `dest` (a file, or a folder, made 0700 if missing, to hold
    `hub-<when>.db` or `.dump`); verified before it gets its name. Answers where it is and its
    check (a SQLite backup is checked in full; a dump is listed by `pg_restore`)."""
    parsed = make_url(url)
    sqlite = parsed.get_backend_name() == "sqlite"
    if dest.is_dir() or str(dest).endswith(os.sep) or not dest.suffix:
        dest.mkdir(mode=0o700, parents=True, exist_ok=True)
        dest = dest / f"hub-{now:%Y-%m-%dT%H%M%S}.{'db' if sqlite else 'dump'}"
    if dest.exists():
        raise BackupError(f"{dest} exists already: back up to a new name")
    partial = dest.with_name(f".{dest.name}.partial")
    with _removed_unless_kept(partial):
        if sqlite:
            source = _sqlite_file(parsed)
            _sqlite_copy(source, partial)
            report = check(f"sqlite:///{partial}", keys=())
        else:
            report = _pg_dump(parsed, partial)
        if report.problems:
            raise BackupError(f"the backup did not verify, and was not kept: "
                              f"{'; '.join(report.problems)}")
        os.replace(partial, dest)
        fsync_path(dest.parent)
    return dest, report


def restore(source: Path, url: str, keys: Sequence[HubKeyPair]) -> Report:
    """Restore the backup at `source` into the database at `url`, which must be new (a SQLite
    file that is not there yet, or an empty PostgreSQL database); checked with `keys`, then
    given a new database id. Nothing is left behind if it fails."""
    if not source.is_file():
        raise BackupError(f"no backup at {source}")
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        target = Path(_sqlite_file(parsed, must_exist=False))
        if target.exists() and target.stat().st_size > 0:
            raise BackupError(f"{target} exists: restore into a new file (move the old one "
                              "aside first, keeping it until the restored hub is proven)")
        partial = target.with_name(f".{target.name}.partial")
        with _removed_unless_kept(partial):
            _sqlite_copy(str(source), partial)
            report = _restored(f"sqlite:///{partial}", keys)
            os.replace(partial, target)
            fsync_path(target.parent)
        return report
    engine = create_engine(url)
    try:
        try:
            empty = migrate.is_empty(engine)
        except DBAPIError as error:
            raise BackupError(f"{migrate.where(engine)} could not be reached: {error.orig} "
                              "(make a new, empty database with createdb first)") from None
        if not empty:
            raise BackupError(f"{migrate.where(engine)} is not empty: restore into a new, "
                              "empty database (createdb), then point the hub at it")
        from fieldapp.hub.running import stopped

        with stopped(engine, "restore"):
            _run(["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error",
                  "--single-transaction", f"--dbname={libpq(parsed)}", str(source)],
                 parsed, "pg_restore")
        try:
            return _restored(url, keys)
        except BackupError:
            _emptied(engine)  # it was empty before: all there is came from the backup
            raise
    finally:
        engine.dispose()


def _emptied(engine: Engine) -> None:
    """Every table in the database dropped, the migrations' own record included."""
    everything = MetaData()
    everything.reflect(engine)
    everything.drop_all(engine)


def _restored(url: str, keys: Sequence[HubKeyPair]) -> Report:
    report = check(url, keys)
    if report.problems:
        raise BackupError(f"the restored database did not check: {'; '.join(report.problems)}"
                          "; nothing was restored")
    engine = create_engine(url)
    try:
        renamed = secrets.token_hex(16)
        with engine.begin() as connection:
            connection.execute(update(hub_meta).where(hub_meta.c.key == "database_id")
                               .values(value=renamed))
    finally:
        engine.dispose()
    report.say(f"new database id {renamed}: each phone notices at its next sync, pulls from "
               "the start and pushes again everything it holds")
    return report


def check(url: str, keys: Sequence[HubKeyPair]) -> Report:
    """What the database at `url` holds and whether it is whole; changes nothing."""
    report = Report()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        _sqlite_file(parsed)
        try:
            with _sqlite(parsed) as connection:
                verdict = [row[0] for row in connection.execute("PRAGMA integrity_check")]
        except sqlite3.DatabaseError as error:
            verdict = [str(error)]
        if verdict == ["ok"]:
            report.say("integrity: ok (SQLite's integrity check)")
        else:
            report.problem(f"SQLite's integrity check: {'; '.join(verdict[:5])}")
            return report
    engine = create_engine(url)
    try:
        _check(engine, keys, report)
    except DBAPIError as error:
        report.problem(f"the database could not be read: {error.orig}")
    except migrate.MigrationRefused as refused:
        report.problem(str(refused).removesuffix("; nothing was changed"))
    finally:
        engine.dispose()
    return report


def _check(engine: Engine, keys: Sequence[HubKeyPair], report: Report) -> None:
    if migrate.is_empty(engine):
        report.problem("the database holds no hub: it is empty")
        return
    revision = migrate.current(engine)
    if revision != migrate.HEAD:
        at = "from before migrations" if revision is None else f"at revision {revision}"
        report.problem(f"schema {at}, this hub's is {migrate.HEAD}: `fieldapp-hub migrate` "
                       "it, then check again")
        return
    report.say(f"schema: revision {revision}, this hub's")
    with engine.connect() as connection:
        database_id = connection.execute(select(hub_meta.c.value).where(
            hub_meta.c.key == "database_id")).scalar_one()
        counted = {name: connection.execute(select(func.count()).select_from(table)).scalar_one()
                   for name, table in (("schools", schools), ("staff", staff),
                                       ("phones", devices), ("events", events),
                                       ("sealed records", sealed_records),
                                       ("audit entries", audit_log))}
        school_ids = list(connection.execute(select(schools.c.id).order_by(schools.c.id))
                          .scalars())
    report.say(f"database id: {database_id}")
    report.say("holds: " + ", ".join(f"{count:,} {name}" for name, count in counted.items()))
    store = EventStore(engine)
    unreadable = 0
    for school_id in school_ids:
        cursor = 0
        while True:
            page = store.since(school_id, cursor, BATCH)
            unreadable += len(page.unreadable)
            if not page.full:
                break
            cursor = page.cursor
    if unreadable:
        report.problem(f"{unreadable:,} stored events cannot be read as their type (the "
                       "console lists them on the visits that need attention)")
    else:
        report.say(f"events: all {counted['events']:,} read as their type")
    _open_records(engine, keys, counted["sealed records"], report)


def _open_records(engine: Engine, keys: Sequence[HubKeyPair], total: int,
                  report: Report) -> None:
    """Every sealed record opened with the key it was sealed to, in memory."""
    if not keys:
        report.say(f"sealed records: {total:,}, not opened (no key given)")
        return
    held = {key.fingerprint(): key for key in keys}
    opened, missing, broken = 0, dict[str, int](), 0
    after = 0
    while True:
        with engine.connect() as connection:
            rows = connection.execute(
                select(sealed_records.c.seq, sealed_records.c.school_id,
                       sealed_records.c.record_id, sealed_records.c.hub_key,
                       sealed_records.c.envelope)
                .where(sealed_records.c.seq > after).order_by(sealed_records.c.seq)
                .limit(BATCH)).all()
        for row in rows:
            key = held.get(row.hub_key)
            if key is None:
                missing[row.hub_key] = missing.get(row.hub_key, 0) + 1
                continue
            try:
                read_visit_record(open_sealed(key, row.school_id, row.record_id,
                                              bytes(row.envelope)))
                opened += 1
            except (SealError, RecordError):
                broken += 1
        if len(rows) < BATCH:
            break
        after = rows[-1].seq
    report.say(f"sealed records: {opened:,} of {total:,} opened and read")
    for fingerprint, count in sorted(missing.items()):
        report.problem(f"{count:,} sealed records need hub key {fingerprint}, which was not "
                       "given (--key, or --retired-key for a key retired by a rotation)")
    if broken:
        report.problem(f"{broken:,} sealed records do not open with their key: damaged")


def _sqlite_file(parsed: URL, must_exist: bool = True) -> str:
    database = parsed.database
    if not database or database == ":memory:":
        raise BackupError("an in-memory database has nothing to back up or restore")
    if must_exist and (not os.path.exists(database) or os.path.getsize(database) == 0):
        raise BackupError(f"no hub database at {database}")
    return database


@contextmanager
def _sqlite(parsed: URL) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(_sqlite_file(parsed), timeout=30)
    try:
        yield connection
    finally:
        connection.close()


def _sqlite_copy(source: str, partial: Path) -> None:
    """SQLite's online backup of `source` into a new 0600 file, in one step (one read
    transaction), left as one self-contained file (rollback journal, not WAL) and on disk."""
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    reading = sqlite3.connect(source, timeout=30)
    writing = sqlite3.connect(partial)
    try:
        reading.backup(writing, pages=-1)
        writing.execute("PRAGMA journal_mode=DELETE")
    except sqlite3.DatabaseError as error:
        raise BackupError(f"{source} could not be copied: {error}") from None
    finally:
        writing.close()
        reading.close()
    fsync_path(partial)


def _pg_dump(parsed: URL, partial: Path) -> Report:
    """`pg_dump` in custom format into a new 0600 file, then listed by `pg_restore` to show
    it is a whole archive holding the hub's tables."""
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    _run(["pg_dump", "--format=custom", f"--file={partial}", f"--dbname={libpq(parsed)}"],
         parsed, "pg_dump")
    os.chmod(partial, 0o600)
    listed = _run(["pg_restore", "--list", str(partial)], parsed, "pg_restore")
    report = Report()
    tables = {name for name in ("schools", "staff", "devices", "events", "sealed_records",
                                "audit_log", "alembic_version")
              if f" TABLE DATA public {name} " in listed}
    if len(tables) < 7:
        report.problem(f"the dump lacks the hub's tables: has {', '.join(sorted(tables))}")
    else:
        report.say(f"dump: {partial.stat().st_size:,} bytes; pg_restore lists every hub table")
    return report


def libpq(parsed: URL) -> str:
    """The URL as libpq takes it, without the password (given in PGPASSWORD instead, so it is
    not on the command line for `ps` to show)."""
    # (URL.set takes None as "leave as it is": the NamedTuple's _replace drops it)
    return parsed._replace(drivername="postgresql", password=None).render_as_string(
        hide_password=False)


def _run(command: list[str], parsed: URL, tool: str) -> str:
    if shutil.which(tool) is None:
        raise BackupError(f"{tool} is not installed: apt-get install postgresql-client (the "
                          "same major version as the server, or newer)")
    env = dict(os.environ)
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise BackupError(f"{tool} failed: {done.stderr.strip()[:500]}")
    return done.stdout


@contextmanager
def _removed_unless_kept(partial: Path) -> Iterator[None]:
    """`partial` (and SQLite's files beside it) removed if what makes it fails."""
    try:
        yield
    finally:
        for leftover in (partial, Path(f"{partial}-journal"), Path(f"{partial}-wal"),
                         Path(f"{partial}-shm")):
            leftover.unlink(missing_ok=True)
