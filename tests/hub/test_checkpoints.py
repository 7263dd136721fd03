"""The serving hub copies SQLite's log into the database from a thread of its own, so no push
waits for a checkpoint, and the log starts again from its beginning instead of growing."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from fieldapp.hub.checkpoints import Checkpointer
from fieldapp.hub.events_store import EventStore, connect
from fieldapp.sync.protocol import parse_push
from tests.hub.test_ingest import PHONE, SENDER, body, event


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Engine]:
    """A SQLite engine as `fieldapp-hub serve` opens it."""
    engine = connect(f"sqlite:///{tmp_path / 'hub.db'}", background_checkpoints=True)
    yield engine
    engine.dispose()


def push_many(store: EventStore, first: int, count: int = 100) -> None:
    events = [event(n, visit=f"visit-{n // 25}") for n in range(first, first + count)]
    assert len(store.ingest("uplands", PHONE, parse_push(body(*events), SENDER)).stored) == count


def log_size(engine: Engine) -> int:
    """The log file's size: it grows while commits append to it, and stays as it is once the
    log starts again from its beginning."""
    return Path(f"{engine.url.database}-wal").stat().st_size


def eventually(check: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.01)


def test_commits_leave_checkpoints_to_the_checkpointer(served: Engine) -> None:
    store = EventStore(served)
    for batch in range(50):  # well past the 1,000 pages where SQLite would checkpoint inline
        push_many(store, batch * 100)
    assert log_size(served) > 1000 * 4096
    pages, copied = Checkpointer(served).checkpoint()
    assert pages == copied > 1000  # the whole log is now in the database file
    size = log_size(served)
    push_many(store, 10_000)
    assert log_size(served) == size  # and the next commit started the log again
    assert store.count("uplands") == 5100


def test_an_empty_log_is_left_alone(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    connect(url).dispose()  # the last connection to close folds the log in and removes it
    engine = connect(url, background_checkpoints=True)
    assert Checkpointer(engine).checkpoint() == (0, 0)
    engine.dispose()


def test_a_hub_opened_otherwise_keeps_sqlites_own_checkpoints(tmp_path: Path) -> None:
    engine = connect(f"sqlite:///{tmp_path / 'hub.db'}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one() == 1000
    engine.dispose()


def test_the_thread_checkpoints_while_the_hub_serves_and_once_more_at_the_end(
        served: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    store = EventStore(served)
    checkpointer = Checkpointer(served, every=0.01)
    real, done = checkpointer.checkpoint, []
    monkeypatch.setattr(checkpointer, "checkpoint", lambda: done.append(real()) or done[-1])
    with checkpointer:
        push_many(store, 0)
        eventually(lambda: any(pages > 0 and pages == copied for pages, copied in done))
        push_many(store, 1000)
    with served.connect() as connection:  # after the last one, everything is in the file
        _busy, pages, copied = connection.exec_driver_sql(
            "PRAGMA wal_checkpoint(PASSIVE)").one()
    assert pages == copied
    assert store.count("uplands") == 200


def test_a_failed_checkpoint_is_logged_and_tried_again(
        served: Engine, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    checkpointer = Checkpointer(served, every=0.01)
    real, calls = checkpointer.checkpoint, []

    def flaky() -> tuple[int, int]:
        calls.append(1)
        if len(calls) == 1:
            raise OSError("disk I/O error")
        return real()

    monkeypatch.setattr(checkpointer, "checkpoint", flaky)
    with caplog.at_level(logging.WARNING), checkpointer:
        eventually(lambda: len(calls) >= 3)
    assert "SQLite checkpoint failed, will retry: disk I/O error" in caplog.text


def test_on_postgresql_there_is_nothing_to_checkpoint(engine: Engine) -> None:
    with Checkpointer(engine) as checkpointer:
        started = checkpointer._thread.is_alive()
    assert started is (engine.dialect.name == "sqlite")


def test_pages_committed_during_a_checkpoint_are_caught_up_under_the_writer_lock(
        served: Engine) -> None:
    """A reader still on an older snapshot keeps the first pass from copying the newest
    pages, as commits made during the pass would: the second pass runs, under the lock."""
    import sqlite3

    store = EventStore(served)
    push_many(store, 0)
    reader = sqlite3.connect(str(served.url.database))
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM events").fetchone()  # holds its snapshot
    push_many(store, 100)
    pages, copied = Checkpointer(served).checkpoint()
    assert 0 < copied < pages
    reader.rollback()
    reader.close()
    pages, copied = Checkpointer(served).checkpoint()
    assert pages == copied
