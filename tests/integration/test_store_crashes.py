"""Fault injection: a process recording taps is killed with SIGKILL at random moments, over
and over. After every kill the store opens and holds every event it had acknowledged."""

from __future__ import annotations

import os
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


def record_until_killed(directory: Path, start: int, acknowledged: int) -> None:
    """The child: append taps forever, reporting each one only once append() returned."""
    try:
        store = EncryptedRepository(directory, KEY, compact_every=7)
        n = start
        while True:
            store.append([tap(n)])
            os.write(acknowledged, struct.pack(">I", n))
            n += 1
    finally:
        os._exit(1)  # only reached if the store itself failed


def test_kill_9_at_any_instant_loses_no_acknowledged_event(tmp_path: Path) -> None:
    directory = tmp_path / "store"
    rng = random.Random(20261123)
    acknowledged: set[int] = set()
    next_n = 0
    for _ in range(KILLS):
        read_end, write_end = os.pipe()
        child = os.fork()
        if child == 0:  # pragma: no cover - runs in the child
            os.close(read_end)
            record_until_killed(directory, next_n, write_end)
        os.close(write_end)
        time.sleep(rng.uniform(0.0, 0.04))
        os.kill(child, signal.SIGKILL)
        _, status = os.waitpid(child, 0)
        assert os.WIFSIGNALED(status), "the recording child died on its own"
        reported = b""
        while chunk := os.read(read_end, 65536):
            reported += chunk
        os.close(read_end)
        acknowledged.update(n for (n,) in struct.iter_unpack(">I", reported[: len(reported)
                                                                          // 4 * 4]))
        store = EncryptedRepository(directory, KEY, compact_every=7)
        stored = {e.id for visit in store.visit_ids() for e in store.events(visit)}
        store.close()
        missing = {n for n in acknowledged if tap(n).id not in stored}
        assert not missing, f"acknowledged taps lost after a kill: {sorted(missing)[:5]}"
        next_n = max(acknowledged, default=-1) + 2  # a tap in flight may or may not be stored
    print(f"{len(acknowledged)} taps acknowledged across {KILLS} kills")
    assert len(acknowledged) > KILLS  # the kills really landed among many writes
