"""The phone's service and screens against a real hub (embedded SQLite, served in a thread)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from fieldapp.app.service import PhoneService
from fieldapp.crypto.keystore import MemoryKeystore
from fieldapp.crypto.sealing import HubKeyPair
from fieldapp.crypto.vault import ScryptParams
from fieldapp.hub.events_store import connect
from tests.sync.hubs import MORNING, Hub, serve_in_thread

PIN, DURESS = "28491375", "71930564"
FAST = ScryptParams(n=2**10, r=8, p=1)


class Clock:
    """The phone's clock: a school morning, moved on by the test."""

    def __init__(self, now: datetime = MORNING) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, minutes: float) -> None:
        self.now += timedelta(minutes=minutes)


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    engine = connect(f"sqlite:///{tmp_path / f'hub-{uuid.uuid4().hex[:8]}.db'}")
    served = serve_in_thread(engine, HubKeyPair.generate())
    yield served
    served.stop()
    engine.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def new_phone(tmp_path: Path, clock: Clock, name: str = "ann") -> PhoneService:
    return PhoneService(tmp_path / name, MemoryKeystore(), clock, kdf=FAST)


@pytest.fixture
def ann(tmp_path: Path, hub: Hub, clock: Clock) -> PhoneService:
    """Ann's phone, set up and enrolled, with one visit authorised for her and Ben."""
    phone = new_phone(tmp_path, clock)
    phone.create(PIN, DURESS)
    phone.enrol(hub.url, hub.slip("staff-ann"), "Ann's phone")
    hub.plan("visit-1")
    phone.sync()
    return phone
