"""What an enrolled phone (or whoever holds its token) sends can never break a reader: each
case found by trying the hub as an attacker, on SQLite and PostgreSQL. Every such push is
refused event by event with its reason, and afterwards the board, a pull, the DSL's list and
the visit all still answer 200."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert

from fieldapp.crypto.sealing import SealedRecord, seal
from fieldapp.domain.events import Author, Event, EventType, new_event_id
from fieldapp.hub.events_store import events
from fieldapp.sync.records import visit_record
from tests.hub.world import NOW, School, World
from tests.samples import STAFF, sample

E = EventType


def ann(school: School) -> Author:
    return Author(school.staff("ann"), school.device["device_id"])


def wire(school: School, n: int, kind: EventType, payload: Any, visit: str = "",
         author: Author | None = None) -> dict[str, Any]:
    at = NOW + timedelta(minutes=n)
    return Event(new_event_id(at, n.to_bytes(10, "big")), visit or school.out, kind, at,
                 author or ann(school), payload).to_dict()


def push(world: World, school: School, *items: Any, raw: str = "",
         urgent: bool = False) -> Any:
    client = TestClient(world.client.app, raise_server_exceptions=False)
    return client.post("/api/v1/push", headers={
        **school.phone(), "Content-Type": "application/json",
        **({"Priority": "u=0"} if urgent else {})},
        content=raw or json.dumps({"protocol": 1, "events": list(items)}))


def readers_all_answer(world: World, school: School) -> dict[str, Any]:
    """The board, a pull, the DSL's list and the visit out: each must answer 200."""
    client = TestClient(world.client.app, raise_server_exceptions=False)
    answers = {
        "board": client.get("/api/v1/console/board", headers=school.auth("reception")),
        "pull": client.get("/api/v1/pull", headers=school.phone()),
        "visits": client.get("/api/v1/console/visits", headers=school.auth("dsl")),
        "visit": client.get(f"/api/v1/console/visits/{school.out}",
                            headers=school.auth("dsl")),
    }
    assert {name: a.status_code for name, a in answers.items()} == dict.fromkeys(answers, 200)
    return {name: a.json() for name, a in answers.items()}


SIGNED_OUT = sample(E.SIGNED_OUT)
BAD_PAYLOADS = [
    (E.SIGNED_OUT, {}), (E.SIGNED_OUT, {**SIGNED_OUT, "expected_return": "soon"}),
    (E.SIGNED_OUT, {**SIGNED_OUT, "expected_return": "2026-11-23T12:00:00"}),
    (E.SIGNED_OUT, {**SIGNED_OUT, "vehicles": 5}),
    (E.CHECKED_IN, {"note": json.loads("[" * 260 + "]" * 260)}),
    (E.OUTCOME_RECORDED, {**sample(E.OUTCOME_RECORDED), "summary": None}),
]


@pytest.mark.parametrize(("kind", "payload"), BAD_PAYLOADS,
                         ids=["empty", "soon", "no-offset", "vehicles-5", "deep", "null"])
def test_an_event_whose_payload_is_not_its_types_is_refused_and_every_reader_still_answers(
        world: World, uplands: School, kind: EventType, payload: Any) -> None:
    before = readers_all_answer(world, uplands)
    bad = wire(uplands, 1, kind, payload)
    answer = push(world, uplands, bad)
    assert answer.status_code == 200 and answer.json()["stored"] == []
    [refused] = answer.json()["rejected"]
    assert refused["ref"] == bad["id"] and refused["reason"].startswith("event.payload")
    assert readers_all_answer(world, uplands)["board"]["rows"] == before["board"]["rows"]


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_numbers_json_cannot_carry_back_are_refused(world: World, uplands: School,
                                                    number: str) -> None:
    bad = wire(uplands, 2, E.CHECKED_IN, {"note": "PLACEHOLDER"})
    raw = json.dumps({"protocol": 1, "events": [bad]}).replace('"PLACEHOLDER"', number)
    answer = push(world, uplands, raw=raw)
    assert answer.status_code == 200 and answer.json()["stored"] == []
    assert "note: expected text" in answer.json()["rejected"][0]["reason"]
    readers_all_answer(world, uplands)


def test_a_phone_cannot_sign_a_visit_off(world: World, uplands: School) -> None:
    forged = wire(uplands, 3, E.AUTHORISED, sample(E.AUTHORISED), visit=uplands.waiting)
    answer = push(world, uplands, forged).json()
    assert answer["stored"] == []
    assert "recorded at the school's console" in answer["rejected"][0]["reason"]


@pytest.mark.parametrize("staff_id", ["uplands-dsl", "\x00" + "x" * 5000, "uplands-cat"])
def test_a_phone_sends_only_its_own_member_of_staffs_events(world: World, uplands: School,
                                                            staff_id: str) -> None:
    forged = wire(uplands, 4, E.CHECKED_IN, {"note": "all fine"},
                  author=Author(staff_id, uplands.device["device_id"]))
    answer = push(world, uplands, forged).json()
    assert answer["stored"] == [] and answer["rejected"][0]["ref"] == forged["id"]


def test_a_phone_sends_events_only_for_visits_its_member_of_staff_is_on(
        world: World, uplands: School) -> None:
    hart_hill = world.schools["hart-hill"]
    elsewhere = wire(uplands, 5, E.CHECKED_IN, {"note": "x"}, visit="someone-elses-visit")
    own_plan = wire(uplands, 6, E.PLANNED, sample(E.PLANNED, staff=[
        {**STAFF[0], "staff_id": uplands.staff("ann")}]), visit="ann-new-visit")
    not_on_it = wire(uplands, 7, E.PLANNED, sample(E.PLANNED), visit="ann-not-listed")
    other_school = wire(uplands, 8, E.CHECKED_IN, {"note": "x"}, visit=hart_hill.out)
    answer = push(world, uplands, elsewhere, own_plan, not_on_it, other_school).json()
    assert answer["stored"] == [own_plan["id"]]
    assert [r["ref"] for r in answer["rejected"]] == [elsewhere["id"], not_on_it["id"],
                                                       other_school["id"]]
    assert all("not on" in r["reason"] for r in answer["rejected"])


def test_a_duress_alert_from_a_phone_with_no_visit_out_reaches_the_board(
        world: World, uplands: School) -> None:
    own = f"device-{uplands.device['device_id']}"
    alert = wire(uplands, 9, E.DURESS_ALERT, {"silent": True}, visit=own)
    elsewhere = wire(uplands, 10, E.DURESS_ALERT, {"silent": True}, visit="device-dev-other")
    answer = push(world, uplands, alert, elsewhere, urgent=True).json()  # as alerts are sent
    assert answer["stored"] == [alert["id"]] and answer["rejected"][0]["ref"] == elsewhere["id"]
    rows = readers_all_answer(world, uplands)["board"]["rows"]
    assert rows[0]["visit_id"] == own and rows[0]["alerts"][0]["type"] == "duress_alert"
    assert rows[0]["staff"] == [{"name": "Ann", "mobile": ""}]


def sealed(world: World, school: School, record_id: str, *inside: Event) -> Any:
    envelope = seal(world.keys.public_bytes(), school.id, record_id,
                    visit_record(school.out, list(inside)))
    return world.client.post("/api/v1/sealed", headers=school.phone(), json={
        "protocol": 1, "records": [SealedRecord.from_envelope(envelope).to_json()]}).json()


def test_a_sealed_record_takes_the_phones_own_events_and_copies_of_what_the_hub_holds(
        world: World, uplands: School) -> None:
    held = world.store.visit_events("uplands", uplands.out)  # the console's and the plan
    own = Event.from_dict(wire(uplands, 11, E.CONCERN_RAISED, sample(E.CONCERN_RAISED)))
    answer = sealed(world, uplands, "rec-whole", *held, own)
    assert answer["stored"] == ["rec-whole"], answer
    readers_all_answer(world, uplands)


def test_a_sealed_record_cannot_smuggle_in_anyone_elses_events_or_change_the_hubs(
        world: World, uplands: School) -> None:
    held = world.store.visit_events("uplands", uplands.out)
    at = NOW + timedelta(minutes=12)
    dsl_concern = Event(new_event_id(at, b"\x0c" * 10), uplands.out, E.CONCERN_RAISED, at,
                        Author(uplands.staff("dsl"), "hub-console"), sample(E.CONCERN_RAISED))
    clash = Event(held[0].id, uplands.out, held[0].type, held[0].at, held[0].author,
                  {**held[0].payload, "address": "somewhere else"})
    authorised = Event.from_dict(wire(uplands, 13, E.AUTHORISED, sample(E.AUTHORISED)))
    unread = Event.from_dict(wire(uplands, 14, E.CHECKED_IN, {"note": "\x00"}))
    for number, (inside, words) in enumerate([
            (dsl_concern, "recorded on another device"),
            (clash, "differs from the one the hub holds"),
            (authorised, "recorded at the school's console"),
            (unread, "control characters")]):
        answer = sealed(world, uplands, f"rec-bad-{number}", *held[1:], inside)
        assert answer["stored"] == [], words
        assert words in answer["rejected"][0]["reason"]
    visit = readers_all_answer(world, uplands)["visit"]
    assert visit["concerns"] == [] and visit["visit"]["address"] == "0 Uplands Road"


def kept_from_before(world: World, school: School, body: dict[str, Any]) -> str:
    """A row stored before the hub checked payloads, for the visit out."""
    at = NOW + timedelta(minutes=20)
    event = Event(new_event_id(at, b"\x20" * 10), school.out, E.SIGNED_OUT, at, ann(school))
    with world.engine.begin() as connection:
        connection.execute(insert(events).values(
            id=event.id, school_id=school.id, visit_id=school.out, type="signed_out",
            device_id="dev-partner",  # the other phone's: ann's pulls it
            body=json.dumps({**event.to_dict(), **body})))
    return event.id


@pytest.mark.parametrize("body", [
    {"payload": {}}, {"payload": {"nested": json.loads("[" * 260 + "]" * 260)}},
    {"payload": {**SIGNED_OUT, "expected_return": None}}, {"at": "yesterday"},
], ids=["empty", "deep", "null-time", "bad-time"])
def test_a_row_kept_from_before_the_checks_leaves_every_reader_up(
        world: World, uplands: School, body: dict[str, Any]) -> None:
    bad = kept_from_before(world, uplands, body)
    seen = readers_all_answer(world, uplands)
    [row] = seen["board"]["rows"]
    assert row["visit_id"] == uplands.out and "cannot be read" in row["attention"]
    assert [w["ref"] for w in seen["pull"]["withheld"]] == [bad]
    assert seen["pull"]["cursor"] > 0 and all(e["id"] != bad for e in seen["pull"]["events"])
    again = world.client.get("/api/v1/pull", headers=uplands.phone(),
                             params={"cursor": seen["pull"]["cursor"]}).json()
    assert again["events"] == again["withheld"] == []  # the cursor moved past it
    [listed] = [v for v in seen["visits"]["visits"] if v["visit_id"] == uplands.out]
    assert listed["phase"] == seen["visit"]["visit"]["phase"] == "needs_attention"
    assert [bad, ] == [ref for ref, _why in seen["visit"]["set_aside"]][:1]
    refused = world.client.post(f"/api/v1/console/visits/{uplands.out}/authorise",
                                headers=uplands.auth("dsl"),
                                json={"step": "safeguarding_lead", "role": "safeguarding_lead"})
    assert refused.status_code == 409 and refused.json()["error"] == "needs_attention"


def test_a_bug_folding_one_visit_leaves_the_dsls_list_and_view_up(
        world: World, uplands: School, monkeypatch: pytest.MonkeyPatch) -> None:
    from fieldapp.hub import console

    real = console.fold

    def buggy(*histories: Any) -> Any:
        events = [e for history in histories for e in history]
        if any(e.visit_id == uplands.out for e in events):
            raise KeyError("expected_return")
        return real(*histories)

    monkeypatch.setattr(console, "fold", buggy)
    seen = readers_all_answer(world, uplands)
    phases = {v["visit_id"]: v["phase"] for v in seen["visits"]["visits"]}
    assert phases[uplands.out] == "needs_attention" and phases[uplands.waiting] == "planned"
    assert seen["visit"]["visit"]["phase"] == "needs_attention"
    assert ["*", "cannot be folded: KeyError"] in seen["visit"]["set_aside"]
    assert len(seen["visit"]["events"]) == len(world.store.visit_events("uplands", uplands.out))


def test_a_record_kept_from_before_the_checks_that_clashes_is_set_aside_in_the_view(
        world: World, uplands: School) -> None:
    from fieldapp.hub.records import sealed_records

    held = world.store.visit_events("uplands", uplands.out)
    clash = Event(held[0].id, uplands.out, held[0].type, held[0].at, held[0].author,
                  {**held[0].payload, "address": "somewhere else"})
    envelope = seal(world.keys.public_bytes(), "uplands", "rec-old",
                    visit_record(uplands.out, [clash]))
    with world.engine.begin() as connection:
        connection.execute(insert(sealed_records).values(
            record_id="rec-old", school_id="uplands", visit_id=uplands.out,
            hub_key=world.keys.fingerprint(), device_id=uplands.device["device_id"],
            received_at=NOW, envelope=envelope))
    visit = readers_all_answer(world, uplands)["visit"]
    assert ["rec-old", f"event {clash.id} differs from the one held"] in visit["set_aside"]
    assert visit["visit"]["address"] == "0 Uplands Road"  # the hub's own stands
