"""The console's API on SQLite and PostgreSQL: signing in, the reception board, the DSL reading
and authorising visits with every read audit-logged, sealed records pushed by phones, kept
sealed and opened only for the DSL, and admins managing phones."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from fieldapp.crypto.sealing import HubKeyPair, SealedRecord, seal
from fieldapp.domain import commands as c
from fieldapp.domain.events import Author, Event, EventType, new_event_id
from fieldapp.domain.policy import PackError, load_pack
from fieldapp.domain.simulate import SimulatedVisit
from fieldapp.domain.state import Staff
from fieldapp.hub.accounts import LOCK_AFTER, REFUSED, SESSION_FOR, hash_password, password_matches
from fieldapp.hub.api import create_api
from fieldapp.hub.directory import DirectoryError
from fieldapp.hub.records import sealed_records
from fieldapp.sync.protocol import Push
from fieldapp.sync.records import visit_record
from fieldapp.sync.slip import key_check, read_slip
from tests.hub.world import COST, NOW, PASSWORD, School, World
from tests.samples import STAFF, sample


def sign_in(world: World, school: School, user: str, password: str = PASSWORD) -> Any:
    return world.client.post("/api/v1/console/sign-in", json={
        "school_id": school.id, "staff_id": school.staff(user), "password": password})


def outcome_event(school: School, visit_id: str, n: int, note: str = "") -> Event:
    at = NOW + timedelta(minutes=n)
    return Event(new_event_id(at, n.to_bytes(10, "big")), visit_id, EventType.CONCERN_RAISED,
                 at, Author(school.staff("ann"), school.device["device_id"]),
                 {"kind": "disclosure", "note": note})


# Signing in


def test_a_wrong_password_and_an_unknown_login_get_the_same_answer(world: World,
                                                                   uplands: School) -> None:
    wrong = sign_in(world, uplands, "dsl", "not the password at all")
    unknown = world.client.post("/api/v1/console/sign-in", json={
        "school_id": "hart-hill", "staff_id": uplands.staff("dsl"), "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["message"] == unknown.json()["message"] == REFUSED


def test_repeated_wrong_passwords_lock_the_login_for_a_while(world: World,
                                                             uplands: School) -> None:
    for _ in range(LOCK_AFTER):
        assert sign_in(world, uplands, "dsl", "guessing wrongly").status_code == 401
    locked = sign_in(world, uplands, "dsl")
    assert locked.status_code == 401 and locked.json()["message"] == REFUSED  # says no more
    world.now += timedelta(minutes=16)
    assert sign_in(world, uplands, "dsl").status_code == 200


def test_wrong_passwords_sent_all_at_once_still_lock_the_login(world: World,
                                                               uplands: School) -> None:
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: sign_in(world, uplands, "dsl", "guessing wrongly"),
                                range(20)))
    assert {a.status_code for a in answers} == {401}
    assert sign_in(world, uplands, "dsl").status_code == 401  # locked, though right


def test_a_session_ends_on_sign_out_and_after_a_school_day(world: World,
                                                           uplands: School) -> None:
    me = world.client.get("/api/v1/console/me", headers=uplands.auth("dsl"))
    assert me.json() == {"school_id": "uplands", "staff_id": "uplands-dsl", "name": "Dsl",
                         "role": "dsl"}
    assert world.client.post("/api/v1/console/sign-out",
                             headers=uplands.auth("dsl")).status_code == 200
    assert world.client.get("/api/v1/console/me",
                            headers=uplands.auth("dsl")).status_code == 401
    world.now += SESSION_FOR
    assert world.client.get("/api/v1/console/me",
                            headers=uplands.auth("reception")).status_code == 401
    assert world.client.get("/api/v1/console/me").status_code == 401


def test_a_new_password_ends_every_session_of_that_login(world: World, uplands: School) -> None:
    world.accounts.set_password("uplands", uplands.staff("dsl"), "a brand new passphrase")
    assert world.client.get("/api/v1/console/me", headers=uplands.auth("dsl")).status_code == 401
    assert sign_in(world, uplands, "dsl", "a brand new passphrase").status_code == 200


def test_passwords_must_be_long_and_for_staff_of_that_school(world: World) -> None:
    with pytest.raises(DirectoryError, match="12 to 200 characters"):
        world.accounts.set_password("uplands", "uplands-dsl", "short")
    with pytest.raises(DirectoryError, match="no such member of staff"):
        world.accounts.set_password("hart-hill", "uplands-dsl", PASSWORD)


def test_passwords_are_kept_only_as_salted_scrypt_hashes() -> None:
    first, second = hash_password(PASSWORD, COST), hash_password(PASSWORD, COST)
    assert first != second and PASSWORD not in first and first.startswith(f"scrypt${COST}$")
    assert password_matches(PASSWORD, first) and not password_matches("other", first)


# The reception board


def test_the_board_shows_who_is_out_and_turns_overdue_by_the_hubs_clock(
        world: World, uplands: School) -> None:
    board = world.client.get("/api/v1/console/board", headers=uplands.auth("reception")).json()
    [row] = board["rows"]
    assert row["visit_id"] == uplands.out and row["address"] == "0 Uplands Road"
    assert row["vehicles"] == ["AB12 CDE"] and row["overdue"] is None
    world.now += timedelta(hours=3)  # the phone has said nothing since
    row = world.client.get("/api/v1/console/board",
                           headers=uplands.auth("reception")).json()["rows"][0]
    assert row["overdue"]["what"] == "not_left" and row["overdue"]["escalation"]


def test_reception_acknowledges_an_alert_and_the_dsl_sees_who_and_when(
        world: World, uplands: School) -> None:
    reception = uplands.auth("reception")
    [row] = world.client.get("/api/v1/console/board", headers=reception).json()["rows"]
    assert [a["id"] for a in row["alerts"]] == list(uplands.alerts)
    assert [a["acknowledged"] for a in row["alerts"]] == [None, None]  # both still sound
    world.now += timedelta(minutes=2)
    answer = world.client.post(f"/api/v1/console/visits/{uplands.out}/alerts/"
                               f"{uplands.alerts[0]}/acknowledge", headers=reception)
    assert answer.status_code == 200, answer.text
    [row] = world.client.get("/api/v1/console/board", headers=reception).json()["rows"]
    assert row["alerts"][0]["acknowledged"] == {"by": "Reception", "role": "reception",
                                                "at": "2026-11-23T09:02:00Z"}
    assert row["alerts"][1]["acknowledged"] is None
    again = world.client.post(f"/api/v1/console/visits/{uplands.out}/alerts/"
                              f"{uplands.alerts[0]}/acknowledge", headers=uplands.auth("dsl"))
    assert again.status_code == 409 and "already by Reception" in again.json()["message"]
    visit = world.client.get(f"/api/v1/console/visits/{uplands.out}",
                             headers=uplands.auth("dsl")).json()
    assert visit["alerts"][0]["acknowledged"]["by"] == "Reception"
    audit = world.client.get("/api/v1/console/audit", headers=uplands.auth("admin")).json()
    assert ("uplands-reception", "acknowledge_alert", uplands.out) in {
        (e["staff_id"], e["action"], e["subject"]) for e in audit["entries"]}
    unknown = world.client.post(f"/api/v1/console/visits/{uplands.out}/alerts/nope/"
                                "acknowledge", headers=reception)
    assert unknown.status_code == 404


def test_a_phone_cannot_acknowledge_its_own_alert(world: World, uplands: School) -> None:
    at = NOW + timedelta(minutes=5)
    forged = Event(new_event_id(at, b"\x07" * 10), uplands.out, EventType.ALERT_ACKNOWLEDGED,
                   at, Author(uplands.staff("ann"), uplands.device["device_id"]),
                   {"alert": uplands.alerts[0], "by": "Ann", "role": "staff"})
    answer = world.client.post("/api/v1/push", headers=uplands.phone(),
                               json={"protocol": 1, "events": [forged.to_dict()]})
    assert "acknowledged at the school's console" in answer.text
    [row] = world.client.get("/api/v1/console/board",
                             headers=uplands.auth("reception")).json()["rows"]
    assert row["alerts"][0]["acknowledged"] is None


# Visits and case content, audit-logged


def test_the_dsl_reads_a_visit_and_the_read_is_audit_logged_without_its_content(
        world: World, uplands: School) -> None:
    answer = world.client.get(f"/api/v1/console/visits/{uplands.out}",
                              headers=uplands.auth("dsl"))
    assert answer.status_code == 200
    body = answer.json()
    assert body["visit"]["child_name"] == "Child 0 of uplands"
    assert body["visit"]["phase"] == "signed_out" and body["records"]
    audit = world.client.get("/api/v1/console/audit", headers=uplands.auth("admin")).json()
    latest = audit["entries"][0]
    assert (latest["staff_id"], latest["role"], latest["action"], latest["subject"]) == (
        "uplands-dsl", "dsl", "read_visit", uplands.out)
    assert "Child 0" not in str(audit)


class FullAuditLog:
    """An audit log on a full disk: it is asked to record each read, and cannot."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []

    def record(self, school_id: str, at: datetime, staff_id: str, role: str, action: str,
               subject: str) -> None:
        self.asked.append((action, subject))
        raise OSError("disk full")


def test_no_case_content_is_sent_unless_its_read_was_logged(world: World, uplands: School,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    audit = FullAuditLog()
    console = world.client.app.state.console  # type: ignore[attr-defined]
    monkeypatch.setattr(console, "audit", audit)  # this hub's, and only its
    client = TestClient(world.client.app, raise_server_exceptions=False)
    for path in (f"/api/v1/console/visits/{uplands.out}", "/api/v1/console/visits",
                 f"/api/v1/console/records/{uplands.record}"):
        answer = client.get(path, headers=uplands.auth("dsl"))
        assert answer.status_code == 500 and answer.json()["error"] == "internal"
        assert "Child" not in answer.text
    assert audit.asked == [("read_visit", uplands.out), ("list_visits", "*"),
                           ("open_record", uplands.record)]


def test_staff_see_only_the_visits_they_are_on(world: World, uplands: School) -> None:
    def listed(user: str) -> list[str]:
        return [v["visit_id"] for v in world.client.get(
            "/api/v1/console/visits", headers=uplands.auth(user)).json()["visits"]]

    assert sorted(listed("ann")) == sorted(listed("dsl")) == sorted([uplands.out,
                                                                    uplands.waiting])
    assert listed("cat") == []
    own = world.client.get(f"/api/v1/console/visits/{uplands.out}", headers=uplands.auth("ann"))
    assert own.status_code == 200 and own.json()["records"] == []  # sealed: the DSL's to open


def test_the_dsl_authorises_a_visit_as_themselves(world: World, uplands: School) -> None:
    path = f"/api/v1/console/visits/{uplands.waiting}/authorise"
    not_held = world.client.post(path, headers=uplands.auth("dsl"),
                                 json={"step": "safeguarding_lead", "role": "safeguarding_team"})
    assert not_held.status_code == 403 and "safeguarding_team" in not_held.json()["message"]
    unassessed = SimulatedVisit(load_pack("uplands-junior"), NOW, visit_id="uplands-new",
                                author=Author(uplands.staff("dsl"), "hub-console"), seed=77)
    unassessed.do(c.Plan("UPN-9", "Child 9", "9 Road", "Attendance", NOW, (
        Staff(uplands.staff("ann"), "Ann", True, True), Staff("x", "X")), safe_phrase="red"))
    world.store.ingest("uplands", "hub-console", Push(events=tuple(unassessed.events)))
    refused = world.client.post("/api/v1/console/visits/uplands-new/authorise",
                                headers=uplands.auth("dsl"),
                                json={"step": "safeguarding_lead", "role": "safeguarding_lead"})
    assert refused.status_code == 422 and refused.json()["error"] == "refused"
    assert refused.json()["findings"][0]["policy"].startswith("Uplands Junior School")
    unknown = world.client.post(path, headers=uplands.auth("dsl"),
                                json={"step": "no_such_step", "role": "safeguarding_lead"})
    assert unknown.status_code == 400 and "safeguarding_lead" in unknown.json()["message"]
    done = world.client.post(path, headers=uplands.auth("dsl"),
                             json={"step": "safeguarding_lead", "role": "safeguarding_lead"})
    assert done.status_code == 200, done.text
    [event] = world.store.visit_events("uplands", uplands.waiting)[-1:]
    assert event.type is EventType.AUTHORISED and event.author == Author("uplands-dsl",
                                                                         "hub-console")
    assert event.payload["by"] == "Dsl"
    again = world.client.post(path, headers=uplands.auth("dsl"),
                              json={"step": "safeguarding_lead", "role": "safeguarding_lead"})
    assert again.status_code == 400 and "already signed off" in again.json()["message"]
    late = world.client.post(f"/api/v1/console/visits/{uplands.out}/authorise",
                             headers=uplands.auth("dsl"),
                             json={"step": "safeguarding_lead", "role": "safeguarding_lead"})
    assert late.status_code == 409 and late.json()["error"] == "wrong_phase"


# Sealed records


def test_a_sealed_record_is_kept_sealed_and_opened_only_for_the_dsl(world: World,
                                                                     uplands: School) -> None:
    concern = outcome_event(uplands, uplands.out, 50, note="Bruise on left arm")
    stored = world.push_sealed(uplands, "rec-2", visit_record(uplands.out, [concern]))
    assert stored.status_code == 200 and stored.json()["stored"] == ["rec-2"]
    with world.engine.connect() as connection:
        envelope = connection.execute(select(sealed_records.c.envelope).where(
            sealed_records.c.record_id == "rec-2")).scalar_one()
    assert b"Bruise" not in bytes(envelope)
    assert not any(e.id == concern.id for e in world.store.visit_events("uplands", uplands.out))
    opened = world.client.get("/api/v1/console/records/rec-2", headers=uplands.auth("dsl"))
    assert opened.json()["events"][0]["payload"]["note"] == "Bruise on left arm"
    visit = world.client.get(f"/api/v1/console/visits/{uplands.out}",
                             headers=uplands.auth("dsl")).json()
    assert {"kind": "disclosure", "note": "Bruise on left arm"} in visit["concerns"]
    actions = [e["action"] for e in world.client.get(
        "/api/v1/console/audit", headers=uplands.auth("dsl")).json()["entries"]]
    assert actions[:2] == ["read_visit", "open_record"]


def test_sealed_pushes_are_idempotent_and_a_changed_record_is_a_conflict(
        world: World, uplands: School) -> None:
    plaintext = visit_record(uplands.out, [outcome_event(uplands, uplands.out, 51)])
    envelope = seal(world.keys.public_bytes(), "uplands", "rec-3", plaintext)
    document = SealedRecord.from_envelope(envelope).to_json()
    push = {"protocol": 1, "records": [document, document]}
    first = world.client.post("/api/v1/sealed", headers=uplands.phone(), json=push)
    assert first.json()["stored"] == ["rec-3"] and first.json()["already"] == []
    again = world.client.post("/api/v1/sealed", headers=uplands.phone(), json=push)
    assert again.status_code == 200 and again.json()["already"] == ["rec-3"]
    other = seal(world.keys.public_bytes(), "uplands", "rec-3", plaintext)
    clash = world.client.post("/api/v1/sealed", headers=uplands.phone(), json={
        "protocol": 1, "records": [SealedRecord.from_envelope(other).to_json()]})
    assert clash.status_code == 409 and clash.json()["conflicts"] == ["rec-3"]
    twice = [SealedRecord.from_envelope(seal(world.keys.public_bytes(), "uplands", "rec-4",
                                             plaintext)).to_json() for _ in range(2)]
    split = world.client.post("/api/v1/sealed", headers=uplands.phone(),
                              json={"protocol": 1, "records": twice})
    assert split.status_code == 409 and split.json()["conflicts"] == ["rec-4"]
    assert world.client.get("/api/v1/console/records/rec-4",
                            headers=uplands.auth("dsl")).status_code == 404


def test_records_the_hub_could_not_read_later_are_rejected_each_with_its_reason(
        world: World, uplands: School) -> None:
    events = [outcome_event(uplands, uplands.out, 52)]
    good = visit_record(uplands.out, events)
    elsewhere = HubKeyPair.generate()
    tampered = bytearray(seal(world.keys.public_bytes(), "uplands", "rec-t", good))
    tampered[-1] ^= 1

    def doc(envelope: bytes) -> dict[str, Any]:
        return SealedRecord.from_envelope(envelope).to_json()

    records = [
        doc(seal(world.keys.public_bytes(), "hart-hill", "rec-h", good)),
        doc(seal(elsewhere.public_bytes(), "uplands", "rec-k", good)),
        doc(bytes(tampered)),
        doc(seal(world.keys.public_bytes(), "uplands", "rec-j", b"not json")),
        doc(seal(world.keys.public_bytes(), "uplands", "rec-v", b'{"format": "other"}')),
        {"format": "home-visits sealed record", "version": 1, "record_id": "rec-x"},
        "not a document",
    ]
    answer = world.client.post("/api/v1/sealed", headers=uplands.phone(),
                               json={"protocol": 1, "records": records})
    assert answer.status_code == 200 and answer.json()["stored"] == []
    reasons = {r["ref"]: r["reason"] for r in answer.json()["rejected"]}
    assert reasons["rec-h"] == "sealed for another school"
    assert "enrol the phone again" in reasons["rec-k"]
    assert "changed after sealing" in reasons["rec-t"]
    assert "not a JSON document" in reasons["rec-j"]
    assert "not a visit record" in reasons["rec-v"]
    assert "missing or non-text field" in reasons["rec-x"]
    assert "JSON object" in reasons["records[6]"]
    with world.engine.connect() as connection:
        held = connection.execute(select(sealed_records.c.record_id)).scalars().all()
    assert sorted(held) == ["hart-hill-record-1", "uplands-record-1"]


@pytest.mark.parametrize("body, message", [
    ({"protocol": 2, "records": []}, "unsupported protocol 2"),
    ({"protocol": 1, "records": {}}, "records: expected a list"),
    ({"protocol": 1, "records": [{}] * 51}, "at most 50"),
])
def test_a_malformed_sealed_push_is_refused_whole(world: World, uplands: School, body: Any,
                                                  message: str) -> None:
    answer = world.client.post("/api/v1/sealed", headers=uplands.phone(), json=body)
    assert answer.status_code == 400 and message in answer.json()["message"]


def test_a_sealed_push_that_is_not_an_object_is_refused(world: World, uplands: School) -> None:
    answer = world.client.post("/api/v1/sealed", headers=uplands.phone(), json=[])
    assert answer.status_code == 422


# Phones, for the admin


def test_the_admin_lists_phones_gives_codes_and_revokes_a_lost_phone(world: World,
                                                                     uplands: School) -> None:
    admin = uplands.auth("admin")
    [phone] = world.client.get("/api/v1/console/devices", headers=admin).json()["devices"]
    assert phone["device_id"] == uplands.device["device_id"] and phone["revoked_at"] is None
    slip = world.client.post("/api/v1/console/enrol-codes", headers=admin,
                             json={"staff_id": uplands.staff("cat")}).json()
    code, check = read_slip(slip["code"])
    assert slip["hub_key_fingerprint"] == world.keys.fingerprint()
    assert check == key_check(world.keys.public_bytes())  # what the phone verifies
    assert world.client.post("/api/v1/enrol", json={"code": code}).status_code == 200
    assert world.client.post(f"/api/v1/console/devices/{phone['device_id']}/revoke",
                             headers=admin).status_code == 200
    refused = world.client.get("/api/v1/pull", headers=uplands.phone())
    assert refused.status_code == 401 and refused.json()["wipe"] is True
    assert world.client.post("/api/v1/console/enrol-codes", headers=admin,
                             json={"staff_id": "nobody"}).status_code == 404
    audit = world.client.get("/api/v1/console/audit", headers=admin).json()["entries"]
    assert [(e["action"], e["subject"]) for e in audit[:2]] == [
        ("revoke_device", phone["device_id"]), ("enrol_code", uplands.staff("cat"))]


def test_the_hub_api_can_be_built_with_the_real_password_cost(engine: Engine) -> None:
    app = create_api(engine, HubKeyPair.generate())
    assert "/api/v1/console/sign-in" in app.openapi()["paths"]


# Policy packs reach the phones


def test_a_phone_gets_the_schools_pack_again_only_when_it_changes(world: World,
                                                                  uplands: School) -> None:
    held = uplands.device["pack_version"]
    same = world.client.get("/api/v1/pull", headers=uplands.phone(),
                            params={"pack_version": held}).json()
    assert same["pack"] is None and same["pack_version"] == held
    text = uplands.device["pack"].replace("January 2024", "January 2027", 1)
    world.directory.import_pack("uplands", text, world.now)
    changed = world.client.get("/api/v1/pull", headers=uplands.phone(),
                               params={"pack_version": held}).json()
    assert changed["pack"] == text and changed["pack_version"] != held
    code = world.directory.enrol_code("uplands", uplands.staff("cat"), world.now)
    assert world.client.post("/api/v1/enrol", json={"code": code}).json()["pack"] == text
    other = world.client.get("/api/v1/pull", headers=world.schools["hart-hill"].phone(),
                             params={"pack_version": held}).json()
    assert "Hart Hill" in other["pack"]


def test_a_broken_pack_is_refused_and_the_school_keeps_its_own(world: World) -> None:
    before = world.directory.pack("uplands")
    with pytest.raises(PackError):
        world.directory.import_pack("uplands", "format = 1\n", world.now)
    with pytest.raises(DirectoryError, match="no school"):
        world.directory.import_pack("nowhere", before.text, world.now)
    with pytest.raises(DirectoryError, match="no school 'nowhere'"):
        world.directory.pack("nowhere")
    assert world.directory.pack("uplands") == before


def test_a_phone_pulling_its_visits_is_audit_logged(world: World, uplands: School) -> None:
    assert world.client.get("/api/v1/pull", headers=uplands.phone()).json()["events"]
    latest = world.client.get("/api/v1/console/audit",
                              headers=uplands.auth("admin")).json()["entries"][0]
    assert (latest["staff_id"], latest["role"], latest["action"], latest["subject"]) == (
        uplands.staff("ann"), "device", "pull", uplands.device["device_id"])


def test_a_second_plan_for_a_visit_adds_nobody_to_it(world: World, uplands: School) -> None:
    code = world.directory.enrol_code("uplands", uplands.staff("cat"), world.now)
    cats = world.client.post("/api/v1/enrol", json={"code": code}).json()
    at = NOW + timedelta(hours=1)
    replan = Event(new_event_id(at, b"\x07" * 10), uplands.out, EventType.PLANNED, at,
                   Author(uplands.staff("cat"), cats["device_id"]),
                   sample(EventType.PLANNED,
                          staff=[{**STAFF[0], "staff_id": uplands.staff("cat")}]))
    pushed = world.client.post("/api/v1/push", headers={"Authorization": f"Bearer {cats['token']}"},
                               json={"protocol": 1, "events": [replan.to_dict()]})
    assert pushed.json()["stored"] == []
    assert "not on" in pushed.json()["rejected"][0]["reason"]
    assert world.client.get(f"/api/v1/console/visits/{uplands.out}",
                            headers=uplands.auth("cat")).status_code == 404
    pulled = world.client.get("/api/v1/pull", headers={"Authorization": f"Bearer {cats['token']}"})
    assert pulled.json()["events"] == []


def test_pack_roles_are_the_packs_and_for_staff_of_that_school(world: World) -> None:
    with pytest.raises(DirectoryError, match="headteacher: not a role in this school's pack"):
        world.directory.set_pack_roles("uplands", "uplands-dsl", ["headteacher"])
    with pytest.raises(DirectoryError, match="no such member of staff"):
        world.directory.set_pack_roles("hart-hill", "uplands-dsl", ["dsl"])
    world.directory.set_pack_roles("uplands", "uplands-dsl", [])
    assert world.directory.pack_roles("uplands-dsl") == frozenset()
