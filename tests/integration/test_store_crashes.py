"""Fault injection: a process recording taps is killed with SIGKILL at random moments, over
and over. After every kill the store opens and holds every event it had acknowledged."""

from __future__ import annotations

import multiprocessing
import random
import signal
import struct
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fieldapp.domain.events import Author, Event, EventType, new_event_id
from fieldapp.store.repository import EncryptedRepository

KEY = bytes(range(32))
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
KILLS = 100


def tap(n: int) -> Event:
    at = T0 + timedelta(milliseconds=n)
    return Event(id=new_event_id(at, n.to_bytes(10, "big")), visit_id=f"visit-{n % 3}",
                 type=EventType.CHECKLIST_ANSWERED, at=at, author=Author("s", "d"),
                 payload={"item": "feel_safe", "answer": "yes", "child": "Zebedee"})


def record_until_killed(directory: Path, start: int, acknowledged: Path) -> None:
    """The child: open the store (repairing it), then append taps forever, reporting each
    one only once append() returned."""
    acknowledged.with_suffix(".started").touch()
    store = EncryptedRepository(directory, KEY, compact_every=7)
    with acknowledged.open("ab", buffering=0) as report:
        n = start
        while True:
            store.append([tap(n)])
            report.write(struct.pack(">I", n))
            n += 1


def test_kill_9_at_any_instant_loses_no_acknowledged_event(tmp_path: Path) -> None:
    # A fork server starts each child from a clean, single-threaded process, whatever threads
    # the test process has running.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["fieldapp.store.repository", __name__])
    directory = tmp_path / "store"
    rng = random.Random(20261123)
    acknowledged: set[int] = set()
    next_n = 0
    for kill in range(KILLS):
        report = tmp_path / f"acknowledged-{kill}"
        report.touch()
        child = context.Process(target=record_until_killed, args=(directory, next_n, report))
        child.start()
        # Most kills land while the child is recording; some while it opens (and repairs)
        # the store.
        while_opening = rng.random() < 0.2
        ready = report.with_suffix(".started") if while_opening else report
        deadline = time.monotonic() + 10
        while (not ready.exists() or (ready.stat().st_size == 0 and not while_opening)) \
                and child.is_alive():
            assert time.monotonic() < deadline, "the recording child never started"
            time.sleep(0.001)
        time.sleep(rng.uniform(0.0, 0.005 if while_opening else 0.04))
        child.kill()
        child.join()
        assert child.exitcode == -signal.SIGKILL, f"the child died on its own: {child.exitcode}"
        reported = report.read_bytes()
        acknowledged.update(n for (n,) in struct.iter_unpack(">I", reported[: len(reported)
                                                                          // 4 * 4]))
        store = EncryptedRepository(directory, KEY, compact_every=7)
        stored = {e.id for visit in store.visit_ids() for e in store.events(visit)}
        store.close()
        missing = {n for n in acknowledged if tap(n).id not in stored}
        assert not missing, f"acknowledged taps lost after a kill: {sorted(missing)[:5]}"
        next_n = max(acknowledged, default=-1) + 2  # a tap in flight may or may not be stored
    assert len(acknowledged) > KILLS  # the kills really landed among many writes
