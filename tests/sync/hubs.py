"""A real hub for the sync tests: the API served by uvicorn on a real socket (in a thread, or
as a `fieldapp-hub serve` process), with a school, a staff pair and visits the DSL planned and
authorised; and phones with encrypted stores of their own."""

from __future__ import annotations

import itertools
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import Engine

from fieldapp.crypto.sealing import HubKeyPair
from fieldapp.domain import commands as c
from fieldapp.domain.events import Author, Event
from fieldapp.domain.journeys import PAIR, Journey, go_ahead_assessment
from fieldapp.domain.policy import Pack, load_pack
from fieldapp.domain.rules import decide, stamp
from fieldapp.domain.simulate import SimulatedVisit
from fieldapp.domain.state import VisitState, fold
from fieldapp.hub.api import create_api
from fieldapp.hub.cli import add_demo_school
from fieldapp.hub.directory import Directory
from fieldapp.hub.events_store import EventStore
from fieldapp.store.repository import EncryptedRepository
from fieldapp.store.visits import record, walk_journey
from fieldapp.sync.client import SyncClient, enrol, enrolment_of, pack_of
from fieldapp.sync.protocol import Push
from fieldapp.sync.slip import slip_code

UPLANDS = load_pack("uplands-junior")
DSL = Author("dsl-webster", "hub-console")
# A school morning, whatever the time the tests run: the pair's phones record at this time.
MORNING = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0) + timedelta(days=1)


# Ports the tests serve on: below the kernel's ephemeral range (32768-60999 here), where no
# outgoing connection can take one between choosing it and binding it, and a block of its own
# for each xdist worker, so that two workers never choose the same one.
_PORTS = itertools.count()


def free_port(count: int = 1) -> int:
    """A port that is free now, with the `count - 1` ports after it free too."""
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    base = 20000 + 2000 * (worker % 6)
    while True:
        port = base + next(_PORTS) % (2000 - count)
        if all(_free(port + n) for n in range(count)):
            return port


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@dataclass
class Hub:
    url: str
    engine: Engine
    keys: HubKeyPair
    directory: Directory
    store: EventStore
    server: uvicorn.Server | None = None
    visits: list[str] = field(default_factory=list)
    thread: threading.Thread | None = None

    def slip(self, staff_id: str) -> str:
        code = self.directory.enrol_code("uplands", staff_id, datetime.now(UTC))
        return slip_code(code, self.keys.public_bytes())

    def plan(self, visit_id: str, at: datetime = MORNING, pack: Pack = UPLANDS) -> None:
        """A visit the DSL planned, assessed and authorised at the console."""
        visit = SimulatedVisit(pack, datetime.now(UTC), visit_id=visit_id, author=DSL,
                               seed=len(self.visits) + 1)
        for command in (c.Plan("UPN-1", "Sam Sentinel", "1 Sentinel Street", "Attendance", at,
                               PAIR, safe_phrase="red folder"), go_ahead_assessment(pack),
                        c.Authorise("safeguarding_lead", "Mrs Webster-Smith",
                                    "safeguarding_lead")):
            assert visit.do(command).accepted
        self.store.ingest("uplands", DSL.device_id, Push(events=tuple(visit.events)))
        self.visits.append(visit_id)

    def cancel(self, visit_id: str) -> None:
        """The DSL cancels the visit at the console."""
        state = fold(self.store.visit_events("uplands", visit_id))
        now = datetime.now(UTC)
        decision = decide(state, c.Cancel("the family moved away"), UPLANDS, now, by=DSL)
        assert decision.accepted
        events = stamp(state, decision, visit_id, DSL, now, lambda: os.urandom(10))
        self.store.ingest("uplands", DSL.device_id, Push(events=events))

    def events(self, visit_id: str | None = None) -> list[Event]:
        ids = [visit_id] if visit_id else self.store.visit_ids("uplands")
        return [e for v in ids for e in self.store.visit_events("uplands", v)]

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True

    def stopped(self) -> int:
        """Stop it, and answer its port once it is free again."""
        self.stop()
        assert self.thread is not None
        self.thread.join(timeout=10)
        return int(self.url.rsplit(":", 1)[1])


def set_up_school(engine: Engine) -> Directory:
    """The demo's school: `fieldapp-hub demo`'s staff, without its visits."""
    directory = Directory(engine)
    add_demo_school(directory)
    return directory


def serve_in_thread(engine: Engine, keys: HubKeyPair, port: int | None = None,
                    retired: tuple[HubKeyPair, ...] = ()) -> Hub:
    """The hub on `engine`, on `port` (a free one by default), with the keys a rotation
    retired."""
    from fieldapp.console.app import mount_console

    port = port or free_port()
    app = create_api(engine, keys, password_cost=4, retired_keys=retired)
    mount_console(app)  # the console at /console, as `fieldapp-hub serve` has it
    server = uvicorn.Server(uvicorn.Config(app,
                                           host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, name="hub", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    wait_for(url)
    directory = Directory(engine)
    if not directory.schools():
        set_up_school(engine)
    return Hub(url, engine, keys, directory, EventStore(engine), server, thread=thread)


def wait_for(url: str, seconds: float = 20) -> None:
    """Until a hub answers its health check at `url` (a hub's JSON, not whatever else might
    answer 200 there)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            answer = httpx.get(f"{url}/api/v1/health", timeout=1)
            if answer.status_code == 200 and answer.json().get("protocol") == 1:
                return
        except (httpx.TransportError, ValueError):
            pass
        time.sleep(0.05)
    raise AssertionError(f"no hub answered at {url}")


class Phone:
    """A phone: its encrypted store in `directory`, enrolled for a member of staff; its clock
    `offset` from the machine's (a school morning by default)."""

    def __init__(self, directory: Path, key: bytes | None = None,
                 transport: httpx.BaseTransport | None = None,
                 clock: datetime = MORNING) -> None:
        self.directory = directory
        self.key = key or os.urandom(32)
        self.repository = EncryptedRepository(directory, self.key)
        self.now = clock
        self.wiped = False
        self.client = SyncClient(self.repository, transport, clock=lambda: self.now,
                                 on_wipe=self._wipe)

    def _wipe(self) -> None:
        self.wiped = True

    def enrol(self, hub: Hub, staff_id: str, transport: httpx.BaseTransport | None = None) -> Phone:
        enrol(self.repository, hub.url, hub.slip(staff_id), f"{staff_id}'s phone", transport)
        return self

    @property
    def author(self) -> Author:
        enrolment = enrolment_of(self.repository)
        assert enrolment is not None
        return Author(enrolment.staff_id, enrolment.device_id)

    @property
    def pack(self) -> Pack:
        pack = pack_of(self.repository)
        assert pack is not None
        return pack

    def do(self, visit_id: str, command: c.Command, minutes: float = 1) -> Any:
        self.now += timedelta(minutes=minutes)
        return record(self.repository, visit_id, command, self.pack, self.author, self.now)

    def walk(self, visit_id: str, journey: Journey) -> None:
        """Record `journey` from sign-out on, at this phone's clock, as the app would."""
        walk_journey(self.repository, visit_id, journey, self.pack, self.author,
                     lambda: self.now)

    def state(self, visit_id: str) -> VisitState:
        return fold(self.repository.events(visit_id))

    def reopen(self) -> None:
        self.repository.close()
        self.repository = EncryptedRepository(self.directory, self.key)
        self.client.repository = self.repository


def split(journey: Journey) -> tuple[Journey, Journey]:
    """A journey up to arriving at the address, and the rest of it."""
    def arrived(step: Any) -> bool:
        return isinstance(step[2], c.Arrive)

    def first(visit: Any) -> Iterator[Any]:
        for step in journey(visit):
            yield step
            if arrived(step):
                return

    def rest(visit: Any) -> Iterator[Any]:
        steps = journey(visit)
        for step in steps:
            if arrived(step):
                break
        yield from steps

    return first, rest
