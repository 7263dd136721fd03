"""Who may use a hub's database at once: `serve` processes, or one command that changes the
database under them (`migrate`, `restore`), never both.

- SQLite takes exactly one `serve`: a second on the same file is refused (two used to take
  pushes side by side). The lock is an exclusive `flock` on `<database>.lock`, held by the
  serving process until it exits, whatever way it exits (the kernel lets go of it).
- PostgreSQL takes many `serve` processes, on one host or several: each holds a shared
  advisory lock on a connection of its own for as long as it runs.
- `migrate` and `restore` take the lock exclusively, and are refused while anything serves.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from sqlalchemy import Engine, text

from fieldapp.hub.migrate import MigrationRefused, where

# A PostgreSQL advisory lock number nothing else in the hub takes ("fieldhub").
SERVING_KEY: Final = 0x6669656C64687562


class HubBusy(MigrationRefused):
    """Another process holds the database: nothing was changed."""


@contextmanager
def serving(engine: Engine) -> Iterator[None]:
    """Held by `serve` while it runs: refused (HubBusy) if another serves this SQLite file, or
    if `migrate` or `restore` holds the database."""
    with _lock(engine, "serve", exclusive=engine.dialect.name == "sqlite"):
        yield


@contextmanager
def stopped(engine: Engine, command: str) -> Iterator[None]:
    """Held by `command` (`migrate`, `restore`) while it changes the database: refused
    (HubBusy) while any `serve` runs on it."""
    with _lock(engine, command, exclusive=True):
        yield


def _refusal(engine: Engine, command: str, holder: str) -> HubBusy:
    held = f" (`fieldapp-hub {holder}`)" if holder else ""
    if command == "serve" and not holder.endswith("serve"):
        return HubBusy(f"{where(engine)} is being migrated or restored{held}: start the hub "
                       "once that has finished")
    if command == "serve":
        return HubBusy(f"another hub is serving {where(engine)}{held}: SQLite takes one hub "
                       "process (a trust that needs several runs PostgreSQL)")
    return HubBusy(f"a hub is serving {where(engine)}{held}: stop every `fieldapp-hub serve` "
                   "first (e.g. `systemctl stop fieldapp-hub`), then run this again; nothing "
                   "was changed")


@contextmanager
def _lock(engine: Engine, command: str, exclusive: bool) -> Iterator[None]:
    if engine.dialect.name == "sqlite":
        database = engine.url.database
        if not database or database == ":memory:":
            yield
            return
        fd = os.open(f"{database}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
                raise _refusal(engine, command, holder) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"process {os.getpid()}: {command}\n".encode(), 0)
            try:
                yield
            finally:
                os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # lets go of the lock
        return
    shared = "" if exclusive else "_shared"
    with engine.connect() as connection:
        taken = connection.execute(text(f"SELECT pg_try_advisory_lock{shared}(:key)"),
                                   {"key": SERVING_KEY}).scalar_one()
        connection.commit()
        if not taken:
            raise _refusal(engine, command, "" if command == "serve" else "serve")
        try:
            yield
        finally:
            connection.execute(text(f"SELECT pg_advisory_unlock{shared}(:key)"),
                               {"key": SERVING_KEY})
            connection.commit()
