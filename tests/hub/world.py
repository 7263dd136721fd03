"""A hub with two schools, each with a console user of every role, phones, visits out and
waiting for sign-off, and a sealed record: what the console and matrix tests look through."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from fieldapp.crypto.sealing import HubKeyPair, SealedRecord, seal
from fieldapp.domain import commands as c
from fieldapp.domain.events import Author
from fieldapp.domain.facts import required_steps
from fieldapp.domain.journeys import go_ahead_assessment
from fieldapp.domain.policy import load_pack
from fieldapp.domain.simulate import SimulatedVisit
from fieldapp.domain.state import Staff
from fieldapp.hub.accounts import Accounts
from fieldapp.hub.api import create_api
from fieldapp.hub.directory import Directory
from fieldapp.hub.events_store import EventStore
from fieldapp.sync.protocol import Push
from fieldapp.sync.records import visit_record

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
PASSWORD = "correct horse battery staple"
COST = 4  # scrypt log2(N) for test passwords: the real cost is OWASP's 2^17
SCHOOLS = {"uplands": "uplands-junior", "hart-hill": "hart-hill-nursery"}
PACK_ROLES = {"uplands": "safeguarding_lead", "hart-hill": "dsl"}  # the DSL's, in each pack
# Console users: a login name per role; "ann" is on both visits, "cat" on none.
USERS = {"reception": "reception", "dsl": "dsl", "ann": "staff", "cat": "staff",
         "admin": "admin"}


@dataclass
class School:
    id: str
    tokens: dict[str, str] = field(default_factory=dict)  # user -> console session token
    device: dict[str, Any] = field(default_factory=dict)  # ann's phone, as enrolled
    out: str = ""  # a visit signed out: on the board
    waiting: str = ""  # a visit planned and risk assessed, waiting for sign-off
    record: str = ""  # a sealed record of the visit out
    alerts: tuple[str, ...] = ()  # the visit out raised two: the safe phrase, then 999

    def staff(self, user: str) -> str:
        return f"{self.id}-{user}"

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def phone(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.device['token']}"}


class World:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.keys = HubKeyPair.generate()
        self.now = NOW
        self.client = TestClient(create_api(engine, self.keys, clock=lambda: self.now,
                                            password_cost=COST))
        self.directory, self.store = Directory(engine), EventStore(engine)
        self.accounts = Accounts(engine, COST)
        self.schools = {school_id: self._school(school_id, pack_id, seed=10 * n)
                        for n, (school_id, pack_id) in enumerate(SCHOOLS.items())}

    def _school(self, school_id: str, pack_id: str, seed: int) -> School:
        school = School(school_id)
        self.directory.add_school(school_id, school_id.title(), pack_id)
        for user, role in USERS.items():
            self.directory.add_staff(school_id, school.staff(user), user.title(), role, True)
            self.accounts.set_password(school_id, school.staff(user), PASSWORD)
            answer = self.client.post("/api/v1/console/sign-in", json={
                "school_id": school_id, "staff_id": school.staff(user), "password": PASSWORD})
            assert answer.status_code == 200, answer.text
            school.tokens[user] = answer.json()["token"]
        self.directory.set_pack_roles(school_id, school.staff("dsl"), [PACK_ROLES[school_id]])
        code = self.directory.enrol_code(school_id, school.staff("ann"), self.now)
        school.device = self.client.post("/api/v1/enrol", json={"code": code}).json()
        pack = load_pack(pack_id)
        pair = (Staff(school.staff("ann"), "Ann", True, True), Staff(school.staff("dsl"), "Dee",
                                                                     True, True))
        school.out, school.waiting = f"{school_id}-visit-out", f"{school_id}-visit-waiting"
        for number, visit_id in enumerate((school.out, school.waiting)):
            visit = SimulatedVisit(pack, self.now - timedelta(hours=1), visit_id=visit_id,
                                   author=Author(school.staff("dsl"), "hub-console"),
                                   seed=seed + number + 1)
            _accepted(visit.do(c.Plan(f"UPN-{school_id}-{number}", f"Child {number} of "
                                      f"{school_id}", f"{number} {school_id.title()} Road",
                                      "Attendance", self.now, pair, safe_phrase="red folder")))
            _accepted(visit.do(go_ahead_assessment(pack)))
            if visit_id == school.out:
                for step in required_steps(visit.state, pack):
                    _accepted(visit.do(c.Authorise(step.id, "Dee", step.roles[0])))
                _accepted(visit.do(c.SignOut(
                    self.now + timedelta(hours=1), vehicles=("AB12 CDE",),
                    told=tuple(who.split("|")[0] for who in pack.sign_out.tell),
                    safe_phrase_reminded=True, emergency_number="0121 496 0000",
                    mobile="07700 900001",
                    checks=tuple(check.id for check in pack.sign_out.checks))))
                _accepted(visit.do(c.UseSafePhrase()))
                _accepted(visit.do(c.EmergencyCall()))
                school.alerts = tuple(e.id for e in visit.events[-2:])
            self.store.ingest(school_id, "hub-console", Push(events=tuple(visit.events)))
            if visit_id == school.out:
                school.record = f"{school_id}-record-1"
                self.push_sealed(school, school.record, visit_record(visit_id, visit.events))
        return school

    def push_sealed(self, school: School, record_id: str, plaintext: bytes) -> Any:
        envelope = seal(self.keys.public_bytes(), school.id, record_id, plaintext)
        return self.client.post("/api/v1/sealed", headers=school.phone(), json={
            "protocol": 1, "records": [SealedRecord.from_envelope(envelope).to_json()]})


def _accepted(decision: Any) -> None:
    assert decision.accepted, decision.findings
