"""SQLite's write-ahead log, copied into the database off the push path.

By default SQLite checkpoints inline: the commit that takes the log past 1,000 pages copies
it into the database file and syncs that file before it returns. On this machine that made
one push of 100 events in about a hundred take 10-15 ms instead of 1-2 ms: it was the hub's
p99 (measured: a commit's p99 was 14 ms with inline checkpoints and 2.4 ms without, while a
plain fdatasync's p99 is 0.7 ms).

So the serving hub opens SQLite with `wal_autocheckpoint=0` (`connect(url,
background_checkpoints=True)`) and runs a `Checkpointer` beside it. Every `every` seconds:

1. a PASSIVE checkpoint copies what the log holds. It takes no write lock, so pushes go on
   committing while it works;
2. then, only if pushes committed meanwhile, holding the push path's writer lock, a second
   PASSIVE checkpoint copies the few pages they added. The log is then wholly in the
   database, so the next commit starts it again from its beginning (without this the log
   would grow for as long as pushes keep coming, since it never catches up with them).

A commit waits only for the second, short step, and only under steady load: a lone push (an
alert) never meets it. Durability is unchanged: a commit is durable
once it is in the log (synchronous=FULL), checkpointed or not.
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType

from sqlalchemy import Engine

from fieldapp.hub.driver_sql import driver_connection
from fieldapp.hub.events_store import sqlite_writer

log = logging.getLogger(__name__)


class Checkpointer:
    """`with Checkpointer(engine):` checkpoints the engine's SQLite log from a thread of its
    own while the block runs, and once more at its end. Does nothing on PostgreSQL."""

    def __init__(self, engine: Engine, every: float = 0.1) -> None:
        self.engine = engine
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoints",
                                        daemon=True)

    def __enter__(self) -> Checkpointer:
        if self.engine.dialect.name == "sqlite":
            self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._thread.is_alive():
            self._stop.set()
            self._thread.join()
            self.checkpoint()

    def checkpoint(self) -> tuple[int, int]:
        """Copy the log into the database; answer (pages in the log, pages copied)."""
        with driver_connection(self.engine) as connection:
            cursor = connection.cursor()
            _busy, pages, copied = cursor.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            if copied < pages:  # catch up with what was committed meanwhile
                with sqlite_writer(self.engine):
                    _busy, pages, copied = cursor.execute(
                        "PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            return pages, copied

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.checkpoint()
            except Exception as error:  # keep checkpointing: SQLite may be busy, disk full...
                log.warning("SQLite checkpoint failed, will retry: %s", error)
