"""The phone's service and screens against a real hub (embedded SQLite, served in a thread)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fieldapp.app.service import PhoneService
from fieldapp.crypto.keystore import MemoryKeystore
from fieldapp.crypto.sealing import HubKeyPair
from fieldapp.crypto.vault import ScryptParams
from fieldapp.domain import commands as c
from fieldapp.domain.facts import required_steps
from fieldapp.domain.journeys import go_ahead_assessment
from fieldapp.domain.simulate import SimulatedVisit
from fieldapp.domain.state import Staff
from fieldapp.hub.events_store import connect
from fieldapp.sync.protocol import Push
from fieldapp.sync.slip import slip_code
from tests.app.browser import chromium
from tests.sync.hubs import DSL, MORNING, Hub, serve_in_thread

PIN, DURESS = "28491375", "71930564"
# Sign-out at Uplands, as staff fill it in.
SIGN_OUT = {"expected_return": "11:40", "vehicles": "AB12 CDE", "checks.roles_clarified": True,
            "checks.mobile_phone": True, "checks.money": True}
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
    return PhoneService(tmp_path / name, MemoryKeystore(), clock, kdf=FAST, kdf_floor=FAST)


def ready(tmp_path: Path, hub: Hub, clock: Clock, slip: str) -> PhoneService:
    """A phone set up with its PINs and enrolled with `slip`, synced once."""
    phone = new_phone(tmp_path, clock)
    phone.create(PIN, DURESS)
    phone.enrol(hub.url, slip, "phone")
    phone.sync()
    return phone


@pytest.fixture
def ann(tmp_path: Path, hub: Hub, clock: Clock) -> Iterator[PhoneService]:
    """Ann's phone, set up and enrolled, with one visit authorised for her and Ben."""
    hub.plan("visit-1")
    phone = ready(tmp_path, hub, clock, hub.slip("staff-ann"))
    yield phone
    phone.lock()  # and its background sync stops


@pytest.fixture
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless (tests/app/browser.py)."""
    with chromium() as running:
        yield running


def plan_for(hub: Hub, school_id: str, visit_id: str, staff: tuple[Staff, ...],
             at: datetime = MORNING) -> None:
    """A visit the school planned, assessed and signed off at the console, for any school's
    pack: every sign-off its policy asks for."""
    pack = hub.directory.pack(school_id).pack
    visit = SimulatedVisit(pack, datetime.now(UTC), visit_id=visit_id, author=DSL, seed=7)
    assert visit.do(c.Plan("UPN-9", "Jo Sentinel", "9 Sentinel Road", "Welfare", at, staff,
                           safe_phrase="" if pack.safe_phrase.phrase else "green pen")).accepted
    assert visit.do(go_ahead_assessment(pack)).accepted
    for step in required_steps(visit.state, pack):
        assert visit.do(c.Authorise(step.id, "A. Senior", step.roles[0])).accepted
    hub.store.ingest(school_id, DSL.device_id, Push(events=tuple(visit.events)))


def pair_at(school_id: str) -> tuple[Staff, ...]:
    return (Staff(f"{school_id}-amy", "Amy Shah", safeguarding_trained=True, knows_family=True,
                  mobile="07700 900301"),
            Staff(f"{school_id}-bo", "Bo Reid", mobile="07700 900302"))


HOLY_CROSS_PAIR = pair_at("holy-cross")


def another_school(hub: Hub, school_id: str, name: str) -> str:
    """Another school on the hub, with its own pack (holy-cross, hart-hill, kings), and a
    staff pair. Returns Amy's slip."""
    pack_id = {"holy-cross": "holy-cross-primary", "hart-hill": "hart-hill-nursery",
               "kings": "kings-academy-gomer"}[school_id]
    hub.directory.add_school(school_id, name, pack_id)
    for member in pair_at(school_id):
        hub.directory.add_staff(school_id, member.staff_id, member.name, "staff",
                                member.safeguarding_trained, member.mobile)
    code = hub.directory.enrol_code(school_id, f"{school_id}-amy", datetime.now(UTC))
    return slip_code(code, hub.keys.public_bytes())


def holy_cross(hub: Hub) -> str:
    """Holy Cross: no reception number in its policy, so the school sets one at the hub."""
    return another_school(hub, "holy-cross", "Holy Cross Primary")
