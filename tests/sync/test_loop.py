"""When the phone syncs: at once when told, on a timer while anything waits, backing off with
jitter while the hub cannot be reached, one sync at a time, and never while nothing waits."""

from __future__ import annotations

import threading
import time

import pytest

from fieldapp.sync.client import Offline, Revoked, Status
from fieldapp.sync.loop import EVERY, FIRST_RETRY, MOST, SyncLoop, backoff


class Client:
    def __init__(self) -> None:
        self.calls = 0
        self.fail: Exception | None = None
        self.waiting = 0
        self.gate = threading.Event()
        self.gate.set()

    def sync(self) -> None:
        self.calls += 1
        self.gate.wait(5)
        if self.fail is not None:
            raise self.fail

    def status(self) -> Status:
        return Status(True, None, self.waiting, (), (), (), None)


def test_backoff_doubles_to_a_cap_and_is_jittered() -> None:
    assert [backoff(n, lambda: 1.0) for n in (1, 2, 3)] == [FIRST_RETRY, 2 * FIRST_RETRY,
                                                           4 * FIRST_RETRY]
    assert backoff(50, lambda: 1.0) == MOST
    assert backoff(3, lambda: 0.0) == 2 * FIRST_RETRY  # half of it, at the least
    assert backoff(0, lambda: 1.0) == FIRST_RETRY


def test_no_timer_while_nothing_waits_and_a_minute_while_something_does() -> None:
    client = Client()
    loop = SyncLoop(client)
    assert loop.sync_once() and loop.next_wait() is None
    client.waiting = 3
    assert loop.next_wait() == EVERY


def test_failures_back_off_and_a_success_resets() -> None:
    client = Client()
    loop = SyncLoop(client, draw=lambda: 1.0)
    client.fail = Offline("no signal")
    assert not loop.sync_once() and not loop.sync_once()
    assert loop.failures == 2 and loop.next_wait() == 2 * FIRST_RETRY
    client.fail = None
    assert loop.sync_once() and loop.failures == 0


def test_one_sync_at_a_time() -> None:
    client = Client()
    client.gate.clear()
    loop = SyncLoop(client)
    first = threading.Thread(target=loop.sync_once)
    first.start()
    time.sleep(0.05)
    assert loop.sync_once() is False  # one is running: it will see the new work
    client.gate.set()
    first.join()
    assert client.calls == 1


def test_a_trigger_syncs_at_once_and_a_revoked_phone_stops() -> None:
    client = Client()
    revoked = threading.Event()
    loop = SyncLoop(client, on_revoked=revoked.set)
    loop.start()
    deadline = time.monotonic() + 5
    while client.calls < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    loop.trigger()  # an alert was raised: no waiting for a timer
    while client.calls < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert client.calls >= 2
    client.fail = Revoked("revoked")
    loop.trigger()
    assert revoked.wait(5)
    loop.stop()


@pytest.mark.parametrize("waiting", [0, 2])
def test_stopping_the_loop_ends_it(waiting: int) -> None:
    client = Client()
    client.waiting = waiting
    loop = SyncLoop(client)
    loop.start()
    loop.stop()
    assert loop._thread is not None and not loop._thread.is_alive()


def test_a_loop_never_started_stops_quietly() -> None:
    client = Client()
    loop = SyncLoop(client)
    loop.stop()  # nothing to wait for
    started = threading.Thread(target=loop.run, daemon=True)
    started.start()  # run after all: it is stopped, and syncs nothing
    started.join(timeout=5)
    assert not started.is_alive() and client.calls == 0


def test_a_bug_in_a_sync_is_kept_and_retried_not_the_end_of_syncing() -> None:
    client = Client()
    client.fail = KeyError("a bug")
    loop = SyncLoop(client, draw=lambda: 1.0)
    assert not loop.sync_once()
    assert isinstance(loop.last_bug, KeyError) and loop.next_wait() == FIRST_RETRY
