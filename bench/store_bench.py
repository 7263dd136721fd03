"""Tap-to-durable latency as history grows: this store against the alternatives, one run.

For 100, 1,000, 10,000 and 50,000 stored events, each backend records checklist taps one at a
time, each durable before the next; we print p50 and p99 per backend and size, the ratio to
SQLite (WAL, synchronous=FULL) measured in the same run, how our cost at 50,000 compares with
ours at 100, and the key vault's unlock time.

    .venv/bin/python bench/store_bench.py            # full run, a couple of minutes
    .venv/bin/python bench/store_bench.py --quick    # smaller, for a smoke test

Targets (the store issues): ours <= 1.0x SQLite at 100, 10,000 and 50,000 events,
50,000/100 <= 1.3, p99 <= 5 ms, also while a snapshot is written; unlock to a usable store
<= 1 s at 50,000 events, the PIN's scrypt included, after any stop (the worst is a stop in the
middle of a snapshot: two journals to replay).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tinydb import TinyDB
from tinydb.storages import JSONStorage

from fieldapp.crypto.keystore import MemoryKeystore
from fieldapp.crypto.vault import Vault
from fieldapp.domain.events import Author, Event, EventType, new_event_id
from fieldapp.store.repository import COMPACT_EVERY, EncryptedRepository
from fieldapp.store.session import open_store

KEY = bytes(range(32))
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
AUTHOR = Author("staff-ann", "phone-a")

Tap = Callable[[Event], None]


def tap_event(n: int) -> Event:
    at = T0 + timedelta(milliseconds=n)
    return Event(id=new_event_id(at, n.to_bytes(10, "big")), visit_id=f"visit-{n // 40}",
                 type=EventType.CHECKLIST_ANSWERED, at=at, author=AUTHOR,
                 payload={"item": "animals_out", "answer": "yes"})


def ours(directory: Path, stored: int) -> tuple[Tap, Callable[[], None]]:
    store = EncryptedRepository(directory / "ours", KEY, compact_every=500)
    for start in range(0, stored, 500):
        store.append([tap_event(n) for n in range(start, min(stored, start + 500))])
    store.compact()
    return (lambda event: store.append([event])), store.close


def tinydb_json(directory: Path, stored: int) -> tuple[Tap, Callable[[], None]]:
    db = TinyDB(directory / "tinydb.json", storage=JSONStorage)
    table = db.table("events")
    table.insert_multiple(tap_event(n).to_dict() for n in range(stored))
    return (lambda event: table.insert(event.to_dict())), db.close


def _sqlite_like(connection: Any, stored: int) -> tuple[Tap, Callable[[], None]]:
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute("CREATE TABLE events (id TEXT PRIMARY KEY, visit_id TEXT, doc TEXT)")
    connection.executemany("INSERT INTO events VALUES (?, ?, ?)",
                           ((e.id, e.visit_id, json.dumps(e.to_dict()))
                            for e in map(tap_event, range(stored))))
    connection.commit()

    def tap(event: Event) -> None:
        connection.execute("INSERT INTO events VALUES (?, ?, ?)",
                           (event.id, event.visit_id, json.dumps(event.to_dict())))
        connection.commit()

    return tap, connection.close


def sqlite_wal(directory: Path, stored: int) -> tuple[Tap, Callable[[], None]]:
    return _sqlite_like(sqlite3.connect(directory / "sqlite.db"), stored)


def sqlcipher_wal(directory: Path, stored: int) -> tuple[Tap, Callable[[], None]]:
    import sqlcipher3  # type: ignore[import-not-found]  # the bench extra

    connection = sqlcipher3.connect(str(directory / "sqlcipher.db"))
    connection.execute(f"PRAGMA key = \"x'{KEY.hex()}'\"")
    return _sqlite_like(connection, stored)


BACKENDS = {"this store": ours, "SQLite WAL FULL": sqlite_wal, "SQLCipher WAL": sqlcipher_wal,
            "TinyDB JSONStorage": tinydb_json}


def measure(backend: Callable[[Path, int], tuple[Tap, Callable[[], None]]], stored: int,
            taps: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as folder:
        tap, close = backend(Path(folder), stored)
        samples = []
        for n in range(stored, stored + taps):
            event = tap_event(n)
            started = time.perf_counter()
            tap(event)
            samples.append((time.perf_counter() - started) * 1000)
        close()
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def during_snapshot(stored: int) -> tuple[float, float, float]:
    """(snapshot seconds, p50, p99 of taps recorded while the snapshot is written)."""
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as folder:
        store = EncryptedRepository(Path(folder) / "ours", KEY, compact_every=10**9)
        for start in range(0, stored, 500):
            store.append([tap_event(n) for n in range(start, min(stored, start + 500))])
        samples = []
        n = stored
        started = time.perf_counter()
        store.start_compaction()
        while store.compacting:
            tap_started = time.perf_counter()
            store.append([tap_event(n)])
            samples.append((time.perf_counter() - tap_started) * 1000)
            n += 1
        seconds = time.perf_counter() - started
        store.close()
    samples.sort()
    return seconds, statistics.median(samples), samples[int(len(samples) * 0.99)]


PIN = "28491375"


def unlock_seconds(stored: int) -> dict[str, float]:
    """Seconds from the PIN to a usable store of `stored` events, with the vault's default
    (OWASP-level) scrypt: after a clean close, and after the app was killed while writing a
    snapshot, with its journal full (the most an unlock ever replays: the snapshot before,
    a journal of one tap per record, and the taps after it)."""
    figures = {}
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as folder:
        keystore = MemoryKeystore()
        Vault.create(Path(folder), PIN, "71930564", keystore, datetime.now(UTC))
        opened = open_store(Vault.open(Path(folder), keystore), PIN, datetime.now(UTC), AUTHOR)
        store = opened.repository
        batch = max(0, stored - max(COMPACT_EVERY, stored // 4))
        for start in range(0, batch, 500):
            store.append([tap_event(n) for n in range(start, min(batch, start + 500))])
        store.compact()
        store._storage.write_json = _killed  # type: ignore[method-assign]
        n = batch
        while not store._closed_journals:  # one tap at a time, as on the doorstep, until
            store.append([tap_event(n)])   # the journal is full and its snapshot begun
            n += 1
        for extra in range(n, n + 20):
            store.append([tap_event(extra)])
        held = store.count()
        figures["killed while writing a snapshot"] = _unlock(Path(folder), keystore, held)
        _unlock(Path(folder), keystore, held)  # the snapshot is written this time
        figures["after a clean close"] = _unlock(Path(folder), keystore, held)
    return figures


def _killed(*_: object) -> None:
    raise SystemExit("killed")


def _unlock(folder: Path, keystore: MemoryKeystore, expected: int) -> float:
    started = time.perf_counter()
    opened = open_store(Vault.open(folder, keystore), PIN, datetime.now(UTC), AUTHOR)
    seconds = time.perf_counter() - started
    assert opened.repository.count() == expected, "nothing acknowledged is lost"
    opened.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer taps")
    args = parser.parse_args()
    sizes = [100, 1_000] if args.quick else [100, 1_000, 10_000, 50_000]
    results: dict[tuple[str, int], tuple[float, float]] = {}
    print(f"{'backend':<20} {'stored':>7} {'p50 ms':>8} {'p99 ms':>8} {'x SQLite p50':>13}")
    for stored in sizes:
        for name, backend in BACKENDS.items():
            if name == "TinyDB JSONStorage":  # a whole-file rewrite per tap: few samples
                taps = max(5, min(200, 200_000 // stored))
            else:
                taps = 200 if args.quick else 1000
            try:
                results[(name, stored)] = measure(backend, stored, taps)
            except ImportError:
                print(f"{name:<20} {stored:>7}  not installed (pip install -e '.[bench]')")
        baseline = results[("SQLite WAL FULL", stored)][0]
        for name in BACKENDS:
            if (name, stored) in results:
                p50, p99 = results[(name, stored)]
                print(f"{name:<20} {stored:>7} {p50:>8.2f} {p99:>8.2f} {p50 / baseline:>13.2f}")
    first, last = sizes[0], sizes[-1]
    growth = results[("this store", last)][0] / results[("this store", first)][0]
    worst_p99 = max(results[("this store", s)][1] for s in sizes)
    print(f"\nthis store, p50 at {last:,} / p50 at {first:,}: {growth:.2f} (target <= 1.3)")
    print(f"this store, worst p99: {worst_p99:.2f} ms (target <= 5 ms)")
    seconds, p50, p99 = during_snapshot(last)
    print(f"this store, background snapshot of {last:,} events: {seconds * 1000:.0f} ms, "
          f"once every {max(COMPACT_EVERY, last // 4):,} taps; taps meanwhile "
          f"p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    for stop, seconds in unlock_seconds(last).items():
        print(f"unlock to a usable store of {last:,} events, {stop}: {seconds:.3f} s "
              "(target <= 1 s)")


if __name__ == "__main__":
    main()
