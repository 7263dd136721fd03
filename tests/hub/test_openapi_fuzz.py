"""The hub keeps the promises of its own `/openapi.json`, on SQLite and PostgreSQL: schemathesis
sends well-formed and malformed requests to every operation, in-process (ASGI), as a real
enrolled phone, and checks each answer: never a 5xx; its status, content type and body are
the documented ones; malformed data is refused with a 4xx; and a refusal changes no row.

Requests carry the credentials of the longest matching path prefix in `Hub.credentials`;
another kind of client (the console) is one more entry there.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis import Case, GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    ignored_auth,
    missing_required_header,
    negative_data_rejection,
    not_a_server_error,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)
from schemathesis.schemas import BaseSchema
from sqlalchemy import Engine, func, select

from fieldapp.crypto.sealing import HubKeyPair
from fieldapp.domain.events import Author, Event, EventType, new_event_id
from fieldapp.hub.accounts import Accounts
from fieldapp.hub.api import create_api
from fieldapp.hub.directory import Directory
from fieldapp.hub.events_store import connect, metadata
from tests.samples import STAFF, sample

PUSH = "/api/v1/push"
PUSHES = (PUSH, "/api/v1/sealed")  # each bad event or record is rejected on its own


def malformed_data_is_refused(ctx: Any, response: Any, case: Case) -> bool | None:
    """A request the schema does not allow gets a 4xx; but a push refuses its bad events one by
    one (the protocol: one bad record never blocks the queue): 200, each listed as rejected."""
    if case.path in PUSHES and response.status_code == 200 and response.json()["rejected"]:
        return None
    return negative_data_rejection(ctx, response, case)


ENVELOPES = "/api/v1/sealed/envelopes"


def valid_data_is_taken(ctx: Any, response: Any, case: Case) -> bool | None:
    """What the schema allows is taken; but a binary body's schema cannot say "sealed records
    back to back", nor a push's "base64 of exactly 4,156 bytes" for an unlock token (a
    pattern that exact makes schemathesis take minutes to start): what is not is refused,
    400 `bad_push`, saying which."""
    if response.status_code == 400 and response.json()["error"] == "bad_push" and (
            case.path == ENVELOPES
            or (case.path == PUSH and response.json()["message"].startswith("unlocks["))):
        return None
    return positive_data_acceptance(ctx, response, case)


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, malformed_data_is_refused, valid_data_is_taken,
          ignored_auth, missing_required_header, unsupported_method]
MAX_EXAMPLES = 15


class Hub:
    """A hub with one school, a member of staff and an enrolled phone."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.app = create_api(engine, HubKeyPair.generate(), password_cost=4)
        self.directory = Directory(engine)
        self.directory.add_school("uplands", "Uplands Junior School", "uplands-junior")
        self.directory.add_staff("uplands", "staff-ann", "Ann Patel", "staff", True)
        code = self.directory.enrol_code("uplands", "staff-ann", datetime.now(UTC))
        enrolled = TestClient(self.app).post("/api/v1/enrol", json={"code": code})
        assert enrolled.status_code == 200, enrolled.text
        self.phone: dict[str, Any] = enrolled.json()
        # What each request carries, by path prefix (the longest match wins): the phone's
        # token for the sync API; on the console, the DSL's session, the admin's for the
        # admin's routes, and for signing out a session of its own.
        sessions = {user: self.session(user, role) for user, role in (
            ("dsl-webster", "dsl"), ("it-admin", "admin"), ("office-jones", "reception"))}
        self.credentials: dict[str, dict[str, str]] = {
            "/api/v1/": {"Authorization": f"Bearer {self.phone['token']}"},
            "/api/v1/console/": sessions["dsl-webster"],
            "/api/v1/console/devices": sessions["it-admin"],
            "/api/v1/console/enrol-codes": sessions["it-admin"],
            "/api/v1/console/sign-out": sessions["office-jones"],
        }
        self._enrolments = itertools.count()
        self._visits = itertools.count(1)

    def session(self, staff_id: str, role: str) -> dict[str, str]:
        self.directory.add_staff("uplands", staff_id, staff_id.title(), role)
        Accounts(self.engine, 4).set_password("uplands", staff_id, "a long test password")
        signed_in = TestClient(self.app).post("/api/v1/console/sign-in", json={
            "school_id": "uplands", "staff_id": staff_id, "password": "a long test password"})
        return {"Authorization": f"Bearer {signed_in.json()['token']}"}

    def headers_for(self, case: Case) -> dict[str, str]:
        """The credentials for the case's path; none when the case is about a missing or bad
        token (a negated security parameter)."""
        prefixes = sorted((p for p in self.credentials if case.path.startswith(p)), key=len)
        if not prefixes or case.operation.schema.is_security_param_negated(case):
            return {}
        return dict(self.credentials[prefixes[-1]])

    def reach_deeper(self, case: Case) -> None:
        """Random data rarely gets past the front door: every other well-formed enrolment gets
        a real code; a well-formed push starts with a plan that puts this phone's member of
        staff on a new visit, and its events are made theirs, on that visit, so what is good
        in them is stored (and read by whoever comes next). The phone itself is never
        revoked: the requests after it would all be refused."""
        if case.path.endswith("/revoke") and case.path_parameters and \
                case.path_parameters.get("device_id") == self.phone["device_id"]:
            case.path_parameters["device_id"] = "dev-someone-else"
        if case.meta is None or case.meta.generation.mode is not GenerationMode.POSITIVE:
            return
        body = case.body
        if case.path == "/api/v1/enrol" and next(self._enrolments) % 2 == 0:
            body["code"] = self.directory.enrol_code("uplands", "staff-ann", datetime.now(UTC))
        elif case.path == PUSH:
            number = next(self._visits)
            visit = f"fuzzed-visit-{number}"
            author = {"staff_id": "staff-ann", "device_id": self.phone["device_id"]}
            plan = Event(new_event_id(datetime.now(UTC), number.to_bytes(10, "big")), visit,
                         EventType.PLANNED, datetime.now(UTC), Author(**author),
                         sample(EventType.PLANNED, staff=STAFF[:1]))
            for event in body["events"]:
                event["author"], event["visit_id"] = dict(author), visit
            body["events"][:1] = [plan.to_dict()]

    def rows(self) -> dict[str, int]:
        """How many rows each table holds, in one query."""
        tables = metadata.sorted_tables
        query = select(*(select(func.count()).select_from(t).scalar_subquery() for t in tables))
        with self.engine.connect() as connection:
            counts = connection.execute(query).one()
        return {table.name: count for table, count in zip(tables, counts, strict=True)}


@pytest.fixture
def hub(engine: Engine) -> Hub:
    return Hub(engine)


def rows_a_refusal_changed(hub: Hub, before: dict[str, int], answer: Any,
                           case: Case) -> dict[str, tuple[int, int]]:
    """Tables whose row count a 4xx answer changed: (before, after)."""
    after = hub.rows()
    if case.path == PUSH and answer.status_code == 409:
        # A conflict refuses only the conflicting events: the batch's others are stored, exactly
        # those the answer lists (with who is on their visits).
        before = before | {"events": before["events"] + len(answer.json()["stored"]),
                           "visit_staff": after["visit_staff"]}
    return {table: (before.get(table, 0), count) for table, count in after.items()
            if count != before.get(table, 0)}


def _document() -> BaseSchema:
    """The operations to test: the OpenAPI document does not depend on the database, so it is
    read once from a throwaway hub; each test sends its requests to its own hub (`app=`).
    (`schemathesis.pytest.from_fixture` would read it per test, but schemathesis 4.32 fails
    there under pytest 9.2, whose test items have no `_nodeid`.)"""
    loaded = schemathesis.openapi.from_asgi(
        "/openapi.json", create_api(connect("sqlite://"), HubKeyPair.generate(), password_cost=4))
    loaded.config.generation.update(modes=list(GenerationMode), max_examples=MAX_EXAMPLES,
                                    deterministic=True)
    return loaded


schema = _document()


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_the_hub_keeps_the_promises_of_its_openapi_document(case: Case, hub: Hub) -> None:
    """One hub per operation and database; its rows accumulate across the examples."""
    hub.reach_deeper(case)
    headers = hub.headers_for(case)
    before = hub.rows()
    answer = case.call_and_validate(app=hub.app, headers=headers, checks=CHECKS)
    if 400 <= answer.status_code < 500:
        assert rows_a_refusal_changed(hub, before, answer, case) == {}, case.as_curl_command()


def test_phones_and_the_console_in_turn_keep_the_promises_too(hub: Hub) -> None:
    """Stateful: schemathesis follows the document's links (enrol -> push -> pull -> board ->
    visit, and the DSL's list), so that what a phone pushed is then read by every reader; each
    answer is checked as above, with the same credentials, on SQLite and PostgreSQL."""
    document = schemathesis.openapi.from_asgi("/openapi.json", hub.app)
    document.config.generation.update(modes=list(GenerationMode), deterministic=True)
    machine = document.as_state_machine()

    class PhonesAndConsole(machine):  # type: ignore[misc,valid-type]
        def before_call(self, case: Case) -> None:
            hub.reach_deeper(case)

        def get_call_kwargs(self, case: Case) -> dict[str, Any]:
            return {"headers": hub.headers_for(case)}

        def validate_response(self, response: Any, case: Case,
                              additional_checks: Any = None, **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS, **kwargs)

    PhonesAndConsole.run(settings=settings(
        max_examples=MAX_EXAMPLES, stateful_step_count=6, deadline=None, derandomize=True,
        database=None, suppress_health_check=list(HealthCheck)))
