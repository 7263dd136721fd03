"""Processes killed for real: the hub SIGKILLed while it stores a push, and a phone SIGKILLed
mid-sync. Afterwards the hub holds each event the phones recorded exactly once."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from fieldapp.crypto.keystore import NoKeystore
from fieldapp.crypto.vault import Vault
from fieldapp.domain import commands as c
from fieldapp.domain.events import Author
from fieldapp.domain.journeys import let_in
from fieldapp.domain.state import fold
from fieldapp.hub.events_store import EventStore, connect
from fieldapp.store.session import open_store
from fieldapp.sync.client import ENROLMENT, SyncError, enrol
from tests.sync.faults import Fault, Proxy
from tests.sync.hubs import Phone, free_port, split, wait_for
from tests.sync.test_phone_processes import DURESS, PIN, morning_of, phone

SETTING_OUT, THE_REST = split(let_in)


class HubProcess:
    def __init__(self, directory: Path) -> None:
        self.args = ["--db", f"sqlite:///{directory / 'hub.db'}", "--key",
                     str(directory / "hub.key")]
        demo = self.cli("demo")
        self.slips = [line.split(":")[1].strip() for line in demo.splitlines()
                      if line.startswith(("  Ann", "  Ben"))]
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def cli(self, *command: str) -> str:
        return subprocess.run([sys.executable, "-m", "fieldapp.hub.cli", *self.args, *command],
                              capture_output=True, text=True, timeout=120, check=True).stdout

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "fieldapp.hub.cli", *self.args, "serve", "--port",
             str(self.port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(self.url)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=20)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=20)

    def events(self) -> list[Any]:
        store = EventStore(connect(self.args[1]))
        return [e for v in store.visit_ids("uplands") for e in store.visit_events("uplands", v)]


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubProcess]:
    running = HubProcess(tmp_path)
    yield running
    running.stop()


@pytest.mark.parametrize("seed", range(8))
def test_the_hub_killed_while_it_stores_a_push_loses_nothing_acknowledged(
        hub: HubProcess, tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    killed: list[bool] = []

    def kill_once() -> Fault:
        if not killed:
            killed.append(True)
            return Fault("kill", rng.uniform(0, 0.02))
        return Fault("pass")

    proxy = Proxy(hub.port, lambda: Fault("pass"), killer=hub.kill)
    ann = Phone(tmp_path / "ann")
    enrol(ann.repository, hub.url, hub.slips[0])
    ann.repository.set(ENROLMENT, {**ann.repository.get(ENROLMENT), "hub_url": proxy.url})
    ann.client.sync()
    visit_id = sorted(ann.repository.visit_ids())[0]
    ann.now = datetime.fromisoformat(fold(ann.repository.events(visit_id)).plan[
        "scheduled_at"]).astimezone(UTC)
    ann.walk(visit_id, SETTING_OUT)
    for _ in range(rng.randint(1, 30)):
        ann.do(visit_id, c.CheckIn("on the way"), minutes=0.1)
    recorded = {e.id for e in ann.repository.events(visit_id) if e.author == ann.author}
    proxy.plan = kill_once
    with pytest.raises(SyncError):
        ann.client.sync()  # the hub dies under it
    hub.start()
    ann.client.sync()
    held = [e.id for e in hub.events()]
    assert len(held) == len(set(held)) and recorded <= set(held)
    assert ann.client.status().settled
    proxy.close()


@pytest.mark.parametrize("seed", range(6))
def test_a_phone_killed_mid_sync_loses_nothing(hub: HubProcess, tmp_path: Path,
                                               seed: int) -> None:
    rng = random.Random(seed)
    data = tmp_path / "ann"
    phone(data, "enrol", hub.url, hub.slips[0], "--kdf-cost", "10")
    phone(data, "sync")
    offset = morning_of(phone(data, "status"))
    phone(data, "walk", "--journey", "let-in", offset=offset)
    recorded = recorded_on(data)
    syncing = subprocess.Popen(
        [sys.executable, "-m", "fieldapp.sync.phone", "--data", str(data), "--clock-offset",
         str(offset), "sync"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "FIELDAPP_PIN": PIN, "FIELDAPP_DURESS_PIN": DURESS})
    time.sleep(rng.uniform(0.2, 1.2))  # an unlock takes a moment; then pushes and pulls
    syncing.send_signal(signal.SIGKILL)
    syncing.wait(timeout=20)
    phone(data, "sync", offset=offset)  # settles...
    again = phone(data, "sync", offset=offset)  # ...and a second sync has nothing to send
    assert (again["pushed"], again["sealed"], again["records_sent"]) == (0, 0, 0)
    held = [e.id for e in hub.events()]
    assert len(held) == len(set(held)) and recorded <= set(held)
    assert phone(data, "status", offset=offset)["waiting"] == 0


def recorded_on(data: Path) -> set[str]:
    """The events the phone in `data` recorded itself (read while it is not running)."""
    vault = Vault.open(data / "vault", NoKeystore())
    store = open_store(vault, PIN, datetime.now(UTC), Author("x", "x"))
    try:
        repository = store.repository
        device = repository.get(ENROLMENT)["device_id"]
        return {e.id for v in repository.visit_ids() for e in repository.events(v)
                if e.author.device_id == device}
    finally:
        store.close()
