"""A day's sync from one phone: seconds and bytes over loopback and over weak 2G, and the time
from a safe-phrase tap to the alert being durable at the hub.

A phone's day: 20 visits walked through journey 1 (planned, let in, outcome, back at school)
with check-in calls, about 400 events, then one sync: every event pushed, the visits pulled,
20 records sealed and sent. It runs against a real hub (uvicorn, SQLite) on loopback, through
a counting relay, and through a relay that behaves like weak 2G: 40 kbit/s each way, 500 ms
round trip, a 1 s stall on 2% of chunks. The baseline, measured in the same run over the same
links, is the naive sync: one uncompressed request per event.

    .venv/bin/python bench/sync_bench.py            # about two minutes
    .venv/bin/python bench/sync_bench.py --quick    # fewer visits, for a smoke test

Targets (the sync issue): loopback <= 1 s; weak 2G <= 10 s; safe-phrase tap to durable at
the hub over weak 2G <= 3 s at p95 of 20.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import random
import socket
import statistics
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parents[1]))

from fieldapp.crypto.sealing import HubKeyPair
from fieldapp.domain import commands as c
from fieldapp.domain.journeys import let_in
from fieldapp.hub.events_store import connect
from fieldapp.sync.client import ENROLMENT
from tests.sync.hubs import MORNING, Hub, Phone, serve_in_thread, split

CHUNK = 512
KBIT = 40  # each way
ROUND_TRIP = 0.5
STALL, STALL_SHARE = 1.0, 0.02


class Relay:
    """A TCP relay counting bytes; `weak`: shaped like weak 2G (rate, latency, stalls)."""

    def __init__(self, port: int, weak: bool, seed: int = 1) -> None:
        self.upstream = ("127.0.0.1", port)
        self.weak = weak
        self.rng = random.Random(seed)
        self.up = self.down = 0
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.upstream)
            for source, sink, up in ((client, upstream, True), (upstream, client, False)):
                threading.Thread(target=self._pipe, args=(source, sink, up), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, up: bool) -> None:
        """Read as fast as the sender sends; deliver each chunk half a round trip after it
        was sent, no faster than the link's rate, now and then after a stall."""
        rate = KBIT * 1000 / 8  # bytes a second
        pending: queue.Queue[tuple[float, bytes] | None] = queue.Queue()

        def deliver() -> None:
            free_at = 0.0  # when the link has finished the last chunk
            try:
                while (item := pending.get()) is not None:
                    sent_at, chunk = item
                    start = max(sent_at + (ROUND_TRIP / 2 if self.weak else 0), free_at)
                    free_at = start + (len(chunk) / rate if self.weak else 0)
                    if self.weak and self.rng.random() < STALL_SHARE:
                        free_at += STALL
                    time.sleep(max(0.0, free_at - time.monotonic()))
                    sink.sendall(chunk)
            except OSError:
                pass
            finally:
                _close(sink)

        threading.Thread(target=deliver, daemon=True).start()
        try:
            while chunk := source.recv(CHUNK):
                if up:
                    self.up += len(chunk)
                else:
                    self.down += len(chunk)
                pending.put((time.monotonic(), chunk))
        except OSError:
            pass
        pending.put(None)

    def close(self) -> None:
        self.server.close()


def _close(end: socket.socket) -> None:
    with contextlib.suppress(OSError):
        end.shutdown(socket.SHUT_RDWR)


def a_day(hub: Hub, directory: Path, visits: int) -> Phone:
    phone = Phone(directory).enrol(hub, "staff-ann")
    for n in range(visits):
        hub.plan(f"{directory.name}-{n}", MORNING + timedelta(minutes=20 * n))
    phone.client.sync()
    for n in range(visits):
        visit_id = f"{directory.name}-{n}"
        phone.now = MORNING + timedelta(minutes=20 * n - 10)
        phone.walk(visit_id, _with_calls(let_in))
    return phone


def _with_calls(journey: Any) -> Any:
    def walked(visit: Any) -> Any:
        for step in journey(visit):
            yield step
            if isinstance(step[2], (c.SignOut, c.Arrive, c.DoorAnswered, c.Enter,
                                    c.RecordOutcome, c.Leave)):
                yield ("Phoned the office", 0, c.CheckIn("all well"))
    return walked


def via(phone: Phone, url: str) -> None:
    phone.repository.set(ENROLMENT, {**phone.repository.get(ENROLMENT), "hub_url": url})


def timed_sync(phone: Phone, relay: Relay) -> tuple[float, int, int]:
    via(phone, relay.url)
    relay.up = relay.down = 0
    started = time.perf_counter()
    report = phone.client.sync()
    elapsed = time.perf_counter() - started
    assert report.sealed == report.records_sent and phone.client.status().settled
    return elapsed, relay.up, relay.down


def naive(events: list[dict[str, Any]], url: str, token: str) -> float:
    """The baseline: one uncompressed request per event."""
    started = time.perf_counter()
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"},
                      timeout=60) as client:
        for event in events:
            client.post("/api/v1/push", content=json.dumps({"protocol": 1, "events": [event]}),
                        headers={"Content-Type": "application/json"})
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    quick = parser.parse_args().quick
    visits, alerts = (4, 5) if quick else (20, 20)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        hub = serve_in_thread(connect(f"sqlite:///{root / 'hub.db'}"), HubKeyPair.generate())
        port = int(hub.url.rsplit(":", 1)[1])
        print(f"a day: {visits} visits")
        figures = {}
        for name, weak in (("loopback", False), ("weak 2G", True)):
            phone = a_day(hub, root / name, visits)
            events = [e.to_dict() for e in phone.repository.unsynced()]
            raw = len(json.dumps(events))
            relay = Relay(port, weak)
            seconds, up, down = timed_sync(phone, relay)
            baseline_phone = a_day(hub, root / f"{name}-naive", visits)
            naive_events = [e.to_dict() for e in baseline_phone.repository.unsynced()]
            token = baseline_phone.repository.get(ENROLMENT)["token"]
            # Over weak 2G the naive sync would take minutes: time its first 30 requests and
            # scale to the day (each request costs the same there: a round trip and a body).
            sample = naive_events[:5 if quick else 30] if weak else naive_events
            baseline = naive(sample, relay.url, token) * len(naive_events) / len(sample)
            relay.close()
            figures[name] = seconds
            scaled = f", scaled from {len(sample)}" if len(sample) < len(naive_events) else ""
            ratio = f"{seconds / baseline:.2f}x the naive sync ({baseline:.1f} s{scaled})"
            print(f"{name:9} {len(events)} events ({raw / 1024:.0f} KiB as JSON): "
                  f"{seconds:.2f} s, {up / 1024:.1f} KiB up, {down / 1024:.1f} KiB down; "
                  f"{ratio}")
        phone = a_day(hub, root / "alerts", 1)
        relay = Relay(port, weak=True, seed=7)
        via(phone, relay.url)
        phone.client.sync()
        taps = []
        hub.plan("alert-visit", MORNING + timedelta(hours=3))
        phone.client.sync()
        phone.now = MORNING + timedelta(hours=3) - timedelta(minutes=10)
        phone.walk("alert-visit", split(let_in)[0])  # out at the door
        phone.client.sync()
        for _ in range(alerts):
            for _ in range(10):  # a backlog waiting behind the alert
                phone.do("alert-visit", c.CheckIn("still here"), minutes=0.01)
            phone.do("alert-visit", c.UseSafePhrase(), minutes=0.01)
            alert_id = phone.repository.unsynced()[-1].id
            started = time.perf_counter()
            thread = threading.Thread(target=phone.client.sync)
            thread.start()
            while not any(e.id == alert_id for e in hub.events("alert-visit")):
                time.sleep(0.005)
            taps.append(time.perf_counter() - started)
            thread.join()
        relay.close()
        p95 = sorted(taps)[int(len(taps) * 0.95) - 1]
        print(f"safe-phrase tap to durable at the hub over weak 2G: median "
              f"{statistics.median(taps):.2f} s, p95 {p95:.2f} s (of {len(taps)})")
        verdicts = [("loopback <= 1 s", figures["loopback"] <= 1),
                    ("weak 2G <= 10 s", figures["weak 2G"] <= 10),
                    ("alert p95 <= 3 s", p95 <= 3)]
        print("targets: " + "; ".join(f"{what}: {'met' if ok else 'MISSED'}"
                                      for what, ok in verdicts))
        hub.stop()
        os._exit(0)  # the relay's threads are daemons on sockets still open


if __name__ == "__main__":
    main()
