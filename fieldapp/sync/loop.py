"""When the phone syncs: one loop, one sync at a time.

A sync runs at once when the app is told something changed: connectivity came back, the app
was resumed, an alert was raised (`trigger`). While anything waits, it also runs on a timer;
while the hub cannot be reached, the timer backs off exponentially, capped, with jitter (a
school's phones coming back into signal together do not all call at once). Nothing waiting and
nothing failing: no timer at all, so an idle phone does not wake the radio.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import Final, Protocol

from fieldapp.sync.client import Revoked, Status, SyncError

EVERY: Final = 60.0  # seconds between syncs while something waits and the hub answers
FIRST_RETRY: Final = 5.0  # after a failure, then doubling...
MOST: Final = 15 * 60.0  # ...up to this


class Syncs(Protocol):
    def sync(self) -> object: ...
    def status(self) -> Status: ...


def backoff(failures: int, draw: Callable[[], float] = random.random,
            first: float = FIRST_RETRY, most: float = MOST) -> float:
    """Seconds to wait after `failures` failed syncs in a row: doubling from `first`, capped at
    `most`, and then jittered to between half and all of it."""
    ceiling: float = min(most, first * 2.0 ** max(0, failures - 1))
    return ceiling * (0.5 + draw() / 2)


class SyncLoop:
    def __init__(self, client: Syncs, draw: Callable[[], float] = random.random,
                 on_revoked: Callable[[], None] = lambda: None,
                 after: Callable[[], None] = lambda: None) -> None:
        self.client = client
        self.draw = draw
        self.on_revoked = on_revoked
        self.after = after  # after every sync it ran, whatever came of it: draw again
        self.failures = 0
        self.last_bug: Exception | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._one_at_a_time = threading.Lock()
        self._thread: threading.Thread | None = None

    def trigger(self) -> None:
        """Sync now: connectivity is back, the app resumed, or an alert was raised."""
        self._wake.set()

    def sync_once(self) -> bool:
        """One sync, unless one is running already (it will see the new work). True: it
        finished."""
        if not self._one_at_a_time.acquire(blocking=False):
            return False
        try:
            self.client.sync()
        except Revoked:
            self._stop.set()
            self.on_revoked()
            return False
        except SyncError:
            self.failures += 1
            return False
        except Exception as bug:  # a bug must not stop syncing for good: retried, and kept
            self.failures += 1
            self.last_bug = bug
            return False
        else:
            self.failures = 0
            return True
        finally:
            self._one_at_a_time.release()
            self.after()

    def next_wait(self) -> float | None:
        """Seconds until the timer syncs again; None: nothing waits, no timer."""
        if self.failures:
            return backoff(self.failures, self.draw)
        return None if self.client.status().settled else EVERY

    def run(self) -> None:
        """The loop (in its own thread: `start`). Stops when told to, or when revoked."""
        while not self._stop.is_set():
            self._wake.clear()
            self.sync_once()
            if self._stop.is_set():
                return
            self._wake.wait(self.next_wait())

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="sync", daemon=True)
        self._thread.start()

    def stop(self, wait: bool = True) -> None:
        """Stop the loop; `wait`: until a sync under way has finished."""
        self._stop.set()
        self._wake.set()
        if wait and self._thread is not None:
            self._thread.join(timeout=30)
