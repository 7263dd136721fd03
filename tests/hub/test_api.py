"""The sync API end to end, in-process, on SQLite and PostgreSQL: enrol with a one-time code,
push, pull, revoke; bad requests get a clear 4xx and change nothing."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from fieldapp.crypto.sealing import HubKeyPair, key_fingerprint
from fieldapp.domain.events import Author, Event, EventType, new_event_id
from fieldapp.domain.journeys import PAIR
from fieldapp.domain.policy import parse_pack
from fieldapp.hub.api import MAX_BODY, create_api
from fieldapp.hub.directory import Directory
from fieldapp.hub.events_store import EventStore
from tests.samples import sample

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


class Hub:
    def __init__(self, engine: Engine) -> None:
        self.keys = HubKeyPair.generate()
        self.now = NOW
        self.client = TestClient(create_api(engine, self.keys, clock=lambda: self.now))
        self.directory = Directory(engine)
        self.store = EventStore(engine)
        for school, pack in (("uplands", "uplands-junior"), ("hart-hill", "hart-hill-nursery")):
            self.directory.add_school(school, school.title(), pack)
        self.directory.add_staff("uplands", "staff-ann", "Ann Patel", "staff", True)
        self.directory.add_staff("uplands", "staff-ben", "Ben Okafor", "staff")
        self.directory.add_staff("uplands", "staff-cat", "Cat Dyer", "staff")
        self.directory.add_staff("hart-hill", "staff-dee", "Dee Shah", "staff")

    def enrol(self, school: str, staff: str) -> dict[str, Any]:
        code = self.directory.enrol_code(school, staff, self.now)
        answer = self.client.post("/api/v1/enrol", json={"code": code, "device_name": "Pixel"})
        assert answer.status_code == 200, answer.text
        return dict(answer.json())


@pytest.fixture
def hub(engine: Engine) -> Hub:
    return Hub(engine)


def auth(device: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {device['token']}"}


def event(n: int, device: dict[str, Any], kind: EventType = EventType.ARRIVED,
          visit: str = "visit-1", **payload: Any) -> dict[str, Any]:
    at = NOW + timedelta(seconds=n)
    return Event(id=new_event_id(at, n.to_bytes(10, "big")), visit_id=visit, type=kind, at=at,
                 author=Author(device["staff_id"], device["device_id"]),
                 payload=sample(kind, **payload)).to_dict()


def planned(n: int, device: dict[str, Any], visit: str = "visit-1") -> dict[str, Any]:
    return event(n, device, EventType.PLANNED, visit,
                 staff=[m.to_dict() | {"staff_id": s} for m, s in
                        zip(PAIR, ("staff-ann", "staff-ben"), strict=True)])


def test_health(hub: Hub) -> None:
    assert hub.client.get("/api/v1/health").json() == {"status": "ok", "protocol": 1,
                                                        "database": "ok"}


def test_enrolment_gives_the_token_the_pack_and_the_sealing_key(hub: Hub) -> None:
    phone = hub.enrol("uplands", "staff-ann")
    assert phone["school_id"] == "uplands" and phone["pack_id"] == "uplands-junior"
    assert parse_pack(phone["pack"]).school == "Uplands Junior School"
    key = base64.b64decode(phone["hub_public_key"])
    assert key == hub.keys.public_bytes()
    assert phone["hub_key_fingerprint"] == key_fingerprint(key)


def test_an_enrolment_code_works_once_and_expires(hub: Hub) -> None:
    code = hub.directory.enrol_code("uplands", "staff-ann", hub.now)
    assert hub.client.post("/api/v1/enrol", json={"code": code.lower()}).status_code == 200
    again = hub.client.post("/api/v1/enrol", json={"code": code})
    assert again.status_code == 403 and again.json()["error"] == "enrolment_refused"
    late = hub.directory.enrol_code("uplands", "staff-ann", hub.now)
    hub.now += timedelta(minutes=16)
    assert hub.client.post("/api/v1/enrol", json={"code": late}).status_code == 403


def test_an_enrolment_whose_answer_was_lost_can_be_asked_again(hub: Hub) -> None:
    """The same code with the same request id gets the same device and a new token; the lost
    token stops working; any other second use is refused."""
    code = hub.directory.enrol_code("uplands", "staff-ann", hub.now)
    ask = {"code": code, "request_id": "r" * 32}
    lost = hub.client.post("/api/v1/enrol", json=ask).json()
    hub.now += timedelta(minutes=10)
    again = hub.client.post("/api/v1/enrol", json=ask).json()
    assert again["device_id"] == lost["device_id"] and again["token"] != lost["token"]
    assert hub.client.get("/api/v1/pull", headers=auth(lost)).status_code == 401
    assert hub.client.get("/api/v1/pull", headers=auth(again)).status_code == 200
    for other in ({"code": code}, {"code": code, "request_id": "s" * 32}):
        assert hub.client.post("/api/v1/enrol", json=other).status_code == 403
    hub.now += timedelta(minutes=6)  # past the code's lifetime from its first use
    assert hub.client.post("/api/v1/enrol", json=ask).status_code == 403
    late = hub.directory.enrol_code("uplands", "staff-ben", hub.now)
    ask = {"code": late, "request_id": "t" * 32}
    device = hub.client.post("/api/v1/enrol", json=ask).json()
    hub.directory.revoke("uplands", device["device_id"], hub.now)
    assert hub.client.post("/api/v1/enrol", json=ask).status_code == 403  # revoked: no retry
    short = hub.client.post("/api/v1/enrol", json={"code": late, "request_id": "short"})
    assert short.status_code == 422


def test_phones_get_the_schools_contacts_and_the_hubs_database_name(hub: Hub) -> None:
    from fieldapp.hub.directory import Contacts, DirectoryError

    phone = hub.enrol("hart-hill", "staff-dee")
    pulled = hub.client.get("/api/v1/pull", headers=auth(phone)).json()
    assert pulled["contacts"] == {"reception_phone": "", "school_phone": "", "dsl_mobile": "",
                                  "office_hours": ""}  # the pack has none: the school sets them
    hub.directory.set_contacts("hart-hill", Contacts("01902 111222", "01902 111000",
                                                     "07700 900123", "08:00-16:00"), hub.now)
    hub.directory.set_contacts("hart-hill", Contacts("01902 111223", "01902 111000",
                                                     "07700 900123", "08:00-16:00"), hub.now)
    pulled = hub.client.get("/api/v1/pull", headers=auth(phone)).json()
    assert pulled["contacts"]["reception_phone"] == "01902 111223"
    assert pulled["database_id"] == hub.directory.database_id() and len(pulled["database_id"]) == 32
    with pytest.raises(DirectoryError, match="reception number"):
        hub.directory.set_contacts("hart-hill", Contacts("0\n1", "", "", ""), hub.now)
    ann = hub.enrol("uplands", "staff-ann")
    shipped = hub.client.get("/api/v1/pull", headers=auth(ann)).json()["contacts"]
    assert shipped["reception_phone"] == "01902 558870"  # Uplands' pack has its number


def test_a_first_pull_brings_the_live_visits_not_the_whole_history(hub: Hub) -> None:
    phone = hub.enrol("uplands", "staff-ann")
    partner = hub.enrol("uplands", "staff-ben")
    pushed = [planned(1, partner, "over"), event(2, partner, EventType.RETURNED, "over"),
              planned(3, partner, "dropped"), event(4, partner, EventType.CANCELLED, "dropped"),
              planned(5, partner, "called-off"), event(6, partner, EventType.SIGNED_OUT,
                                                        "called-off"),
              event(7, partner, EventType.CANCELLED, "called-off"), planned(8, partner, "live")]
    assert hub.client.post("/api/v1/push", json={"protocol": 1, "events": pushed},
                           headers=auth(partner)).status_code == 200
    first = hub.client.get("/api/v1/pull", headers=auth(phone)).json()
    assert {e["visit_id"] for e in first["events"]} == {"called-off", "live"}
    baseline = first["baseline"]
    hub.client.post("/api/v1/push", json={"protocol": 1, "events": [
        event(9, partner, EventType.RETURNED, "live")]}, headers=auth(partner))
    later = hub.client.get("/api/v1/pull", headers=auth(phone), params={
        "cursor": first["cursor"], "baseline": baseline}).json()
    assert [e["type"] for e in later["events"]] == ["returned"]  # the end of a visit it has
    everything = hub.client.get("/api/v1/pull", headers=auth(phone), params={"baseline": 0})
    assert len(everything.json()["events"]) == 9


def test_pushes_are_idempotent_and_conflicts_are_409(hub: Hub) -> None:
    phone = hub.enrol("uplands", "staff-ann")
    batch = {"protocol": 1, "events": [planned(1, phone), event(2, phone)]}
    first = hub.client.post("/api/v1/push", json=batch, headers=auth(phone))
    assert first.status_code == 200 and len(first.json()["stored"]) == 2
    again = hub.client.post("/api/v1/push", json=batch, headers=auth(phone))
    assert again.status_code == 200 and again.json()["stored"] == []
    assert sorted(again.json()["already"]) == sorted(first.json()["stored"])
    forged = event(2, phone, EventType.LEFT)
    clash = hub.client.post("/api/v1/push", json={"protocol": 1, "events": [forged]},
                            headers=auth(phone))
    assert clash.status_code == 409 and clash.json()["conflicts"] == [forged["id"]]
    assert hub.store.count("uplands") == 2


def test_the_pair_pulls_their_visit_and_nobody_else_does(hub: Hub) -> None:
    ann, ben = hub.enrol("uplands", "staff-ann"), hub.enrol("uplands", "staff-ben")
    cat, dee = hub.enrol("uplands", "staff-cat"), hub.enrol("hart-hill", "staff-dee")
    hub.client.post("/api/v1/push", headers=auth(ann),
                    json={"protocol": 1, "events": [planned(1, ann), event(2, ann)]})
    pulled = hub.client.get("/api/v1/pull", params={"cursor": 0}, headers=auth(ben)).json()
    assert [e["type"] for e in pulled["events"]] == ["planned", "arrived"]
    empty = hub.client.get("/api/v1/pull", params={"cursor": pulled["cursor"]},
                           headers=auth(ben)).json()
    assert empty["events"] == [] and empty["cursor"] == pulled["cursor"]
    for outsider in (cat, dee):
        assert hub.client.get("/api/v1/pull", headers=auth(outsider)).json()["events"] == []


def test_a_revoked_device_is_refused_and_told_to_wipe(hub: Hub) -> None:
    phone = hub.enrol("uplands", "staff-ann")
    hub.directory.revoke("uplands", phone["device_id"], hub.now)
    for answer in (hub.client.get("/api/v1/pull", headers=auth(phone)),
                   hub.client.post("/api/v1/push", headers=auth(phone),
                                   json={"protocol": 1, "events": [event(1, phone)]})):
        assert answer.status_code == 401
        assert answer.json()["error"] == "revoked" and answer.json()["wipe"] is True
    assert hub.store.count() == 0


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"},
                                     {"Authorization": "Basic abc"}])
def test_requests_without_a_valid_token_are_401(hub: Hub, headers: dict[str, str]) -> None:
    answer = hub.client.get("/api/v1/pull", headers=headers)
    assert answer.status_code == 401 and answer.json()["wipe"] is False


@pytest.mark.parametrize(("body", "status"), [
    ("not json", 422), ([1, 2], 422), ({"protocol": 9, "events": []}, 400),
    ({"protocol": 1, "events": "x"}, 400),
])
def test_malformed_pushes_get_a_4xx_and_change_nothing(hub: Hub, body: Any, status: int) -> None:
    phone = hub.enrol("uplands", "staff-ann")
    kwargs = {"content": body} if isinstance(body, str) else {"json": body}
    answer = hub.client.post("/api/v1/push", headers={**auth(phone),
                                                      "Content-Type": "application/json"},
                             **kwargs)
    assert answer.status_code == status
    assert hub.store.count() == 0


JSON = {"Content-Type": "application/json"}
TOO_LARGE = {"error": "too_large", "message": "at most 1 MiB per request"}


def test_an_oversized_request_is_413_and_stores_nothing(hub: Hub) -> None:
    phone = hub.enrol("uplands", "staff-ann")
    push = json.dumps({"protocol": 1, "events": [planned(1, phone)]}).encode()
    answer = hub.client.post("/api/v1/push", headers=auth(phone) | JSON,
                             content=push + b" " * MAX_BODY)  # padded, and still JSON
    assert (answer.status_code, answer.json()) == (413, TOO_LARGE)
    assert answer.headers["content-type"] == "application/json"
    assert hub.store.count() == 0
    within = hub.client.post("/api/v1/push", headers=auth(phone) | JSON, content=push)
    assert within.status_code == 200 and hub.store.count() == 1  # the same push, unpadded


def test_the_openapi_document_describes_the_versioned_api(hub: Hub) -> None:
    paths = hub.client.get("/openapi.json").json()["paths"]
    assert {"/api/v1/health", "/api/v1/enrol", "/api/v1/push", "/api/v1/pull"} <= set(paths)


def test_a_request_that_does_not_match_the_schema_is_422_in_the_error_shape(hub: Hub) -> None:
    answer = hub.client.post("/api/v1/enrol", json={"code": "X" * 41, "device_name": 7})
    assert answer.status_code == 422
    body = answer.json()
    assert body["error"] == "invalid_request" and "body.code" in body["message"]
    assert {tuple(issue["loc"]) for issue in body["detail"]} == {("body", "code"),
                                                                ("body", "device_name")}
    assert all(set(issue) == {"loc", "msg", "type"} for issue in body["detail"])  # no echo


def test_a_refused_token_is_told_to_use_a_bearer_token(hub: Hub) -> None:
    answer = hub.client.get("/api/v1/pull")
    assert answer.status_code == 401 and answer.headers["WWW-Authenticate"] == "Bearer"
    assert answer.json() == {"error": "unauthenticated", "wipe": False,
                             "message": "send the device token as a Bearer token"}


@pytest.mark.parametrize(("method", "path", "status", "error"), [
    ("GET", "/api/v1/nowhere", 404, "not_found"),
    ("DELETE", "/api/v1/push", 405, "method_not_allowed"),
])
def test_the_frameworks_own_refusals_have_the_error_shape(hub: Hub, method: str, path: str,
                                                         status: int, error: str) -> None:
    answer = hub.client.request(method, path)
    assert answer.status_code == status and answer.json()["error"] == error
    if status == 405:
        assert answer.headers["Allow"] == "POST"


def test_a_body_that_is_not_utf8_is_400_and_changes_nothing(hub: Hub) -> None:
    answer = hub.client.post("/api/v1/enrol", content=b'{"code": "\xff"}',
                             headers={"Content-Type": "application/json"})
    assert answer.status_code == 400 and answer.json()["error"] == "bad_request"


def test_any_text_a_phone_sent_can_be_answered_and_pulled_back(hub: Hub) -> None:
    """A lone UTF-16 surrogate cannot be encoded as UTF-8: answers escape non-ASCII text, and
    text with a lone surrogate is refused, as no reader could show it."""
    phone = hub.enrol("uplands", "staff-ann")
    odd = planned(1, phone)
    odd["payload"]["address"] = "1 Caf\u00e9 Street, \u5317\u4eac"
    lone = event(2, phone, EventType.CHECKED_IN, note="\ud800 nearly there")
    pushed = hub.client.post("/api/v1/push", headers=auth(phone) | JSON, content=json.dumps(
        {"protocol": 1, "events": [odd, lone, {"id": "\udc00"}]}))
    assert pushed.status_code == 200 and pushed.json()["stored"] == [odd["id"]]
    assert [r["ref"] for r in pushed.json()["rejected"]] == [lone["id"], "\udc00"]
    assert "control characters" in pushed.json()["rejected"][0]["reason"]
    partner = hub.enrol("uplands", "staff-ben")  # a phone is not sent back its own pushes
    pulled = hub.client.get("/api/v1/pull", headers=auth(partner))
    assert pulled.status_code == 200 and pulled.content.isascii()
    assert pulled.json()["events"][0]["payload"]["address"] == "1 Caf\u00e9 Street, \u5317\u4eac"


@pytest.mark.parametrize("change", [
    {"visit_id": "v" * 129}, {"visit_id": "visit\x00"}, {"visit_id": "\ud800"},
    {"at": "0001-01-01T00:00:00+01:00"},
], ids=["visit-too-long", "visit-nul", "visit-surrogate", "at-out-of-range"])
def test_an_event_the_hub_cannot_keep_is_rejected_on_its_own(hub: Hub,
                                                             change: dict[str, Any]) -> None:
    phone = hub.enrol("uplands", "staff-ann")
    bad = event(1, phone) | change
    answer = TestClient(hub.client.app, raise_server_exceptions=False).post(
        "/api/v1/push", headers=auth(phone) | JSON, content=json.dumps(
            {"protocol": 1, "events": [bad, planned(2, phone)]}))
    assert answer.status_code == 200, answer.text
    assert [r["ref"] for r in answer.json()["rejected"]] == [bad["id"]]
    assert hub.store.count() == 1


def test_the_openapi_document_describes_bodies_errors_and_the_device_token(hub: Hub) -> None:
    document = hub.client.get("/openapi.json").json()
    push = document["paths"]["/api/v1/push"]["post"]
    assert set(push["responses"]) == {"200", "400", "401", "409", "413", "422", "503"}
    assert push["responses"]["409"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/PushAnswer"}
    events = push["requestBody"]["content"]["application/json"]["schema"]["properties"]["events"]
    assert events["items"] == {"$ref": "#/components/schemas/EventWire"}
    assert push["security"] == [{"DeviceToken": []}]
    assert document["components"]["securitySchemes"]["DeviceToken"]["scheme"] == "bearer"


def test_an_oversized_body_sent_in_chunks_is_413_too(hub: Hub) -> None:
    phone = hub.enrol("uplands", "staff-ann")

    def chunks() -> Iterator[bytes]:
        yield json.dumps({"protocol": 1, "events": [planned(1, phone)]}).encode()
        yield from (b" " * 65536 for _ in range(17))  # 1 MiB and more of JSON's spaces

    answer = hub.client.post("/api/v1/push", headers=auth(phone) | JSON, content=chunks())
    assert (answer.status_code, answer.json()) == (413, TOO_LARGE)
    assert hub.store.count() == 0


def test_a_phone_enrolling_again_keeps_its_device_id_only_if_nobody_has_it(hub: Hub) -> None:
    ann = hub.enrol("uplands", "staff-ann")
    code = hub.directory.enrol_code("uplands", "staff-ben", hub.now)
    taken = hub.client.post("/api/v1/enrol", json={
        "code": code, "previous_device_id": ann["device_id"]}).json()
    assert taken["device_id"] != ann["device_id"]  # ann's: not ben's to take
    code = hub.directory.enrol_code("uplands", "staff-ben", hub.now)
    lost = "dev-" + "0" * 16
    kept = hub.client.post("/api/v1/enrol", json={"code": code,
                                                  "previous_device_id": lost}).json()
    assert kept["device_id"] == lost
    bad = hub.client.post("/api/v1/enrol", json={"code": "x", "previous_device_id": "d'x"})
    assert bad.status_code == 422
