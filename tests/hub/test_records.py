"""The hub's sealed-record store on SQLite and PostgreSQL: phones racing to push the same record
store it once, and a race the store loses is retried; the audit log pages back in order."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from fieldapp.crypto.sealing import HubKeyPair, SealedRecord, seal
from fieldapp.domain.events import Author, Event, EventType, new_event_id
from fieldapp.hub.audit import AuditLog
from fieldapp.hub.records import SealedStore, sealed_records
from fieldapp.sync.records import visit_record
from tests.hub.races import Race
from tests.samples import sample

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
KEYS = HubKeyPair.generate()
ON = ("visit-1",)  # the visits the sending phone's member of staff is on
ANN = Author("staff-ann", "phone-a")  # the phone that seals them


def record(record_id: str, school_id: str = "uplands") -> SealedRecord:
    event = Event(new_event_id(NOW, b"\x01" * 10), "visit-1", EventType.OUTCOME_RECORDED, NOW,
                  ANN, sample(EventType.OUTCOME_RECORDED))
    return SealedRecord.from_envelope(seal(KEYS.public_bytes(), school_id, record_id,
                                           visit_record("visit-1", [event])))


def test_phones_racing_with_the_same_record_store_it_once(engine: Engine) -> None:
    store, same = SealedStore(engine, KEYS), record("rec-1")
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda _: store.ingest("uplands", ANN, [same], [], NOW,
                                                         ON),
                                range(12)))
    assert sum(len(r.stored) for r in results) == 1
    assert all(r.acknowledged == ("rec-1",) for r in results)
    assert [r.record_id for r in store.for_visit("uplands", "visit-1")] == ["rec-1"]
    assert store.get("hart-hill", "rec-1") is None  # another school holds no such record
    held = store.get("uplands", "rec-1")
    assert held is not None and store.open("uplands", held).visit_id == "visit-1"


def test_a_lost_race_is_retried_then_reported(engine: Engine) -> None:
    """Another worker stores a record between this push's check and its insert: the push is
    tried again and finds it held. Met at every try, the database's error is reported."""
    store = SealedStore(engine, KEYS, begin=Race(engine, sealed_records, races=1))
    result = store.ingest("uplands", ANN, [record("rec-2")], [], NOW, ON)
    assert result.stored == () and result.already == ("rec-2",)

    store = SealedStore(engine, KEYS, begin=Race(engine, sealed_records, races=3))
    with pytest.raises(IntegrityError):
        store.ingest("uplands", ANN, [record(f"rec-{n}") for n in (3, 4, 5)], [], NOW, ON)
    assert {r.record_id for r in store.for_visit("uplands", "visit-1")} == {
        "rec-2", "rec-3", "rec-4", "rec-5"}


def test_the_audit_log_pages_back_newest_first_one_school_at_a_time(engine: Engine) -> None:
    log = AuditLog(engine)
    for n in range(5):
        log.record("uplands", NOW + timedelta(minutes=n), "dsl", "dsl", "read_visit", f"v{n}")
    log.record("hart-hill", NOW, "dsl-2", "dsl", "read_visit", "elsewhere")
    first = log.entries("uplands", limit=2)
    assert [e.subject for e in first] == ["v4", "v3"] and first[0].at == NOW + timedelta(
        minutes=4)
    assert [e.subject for e in log.entries("uplands", before=first[-1].seq)] == ["v2", "v1",
                                                                                  "v0"]


def test_record_ids_belong_to_their_school(engine: Engine) -> None:
    store = SealedStore(engine, KEYS)
    assert store.ingest("uplands", ANN, [record("rec-1")], [], NOW, ON).stored == ("rec-1",)
    elsewhere = store.ingest("hart-hill", ANN, [record("rec-1", "hart-hill")], [], NOW, ON)
    assert elsewhere.stored == ("rec-1",)  # not a conflict: another school's record


def test_records_the_hub_could_not_keep_or_may_not_take_are_rejected(engine: Engine) -> None:
    store = SealedStore(engine, KEYS)
    result = store.ingest("uplands", ANN, [record("r" * 65), record("rec-1")], [], NOW,
                          on_visits=("visit-2",))
    assert [r.reason for r in result.rejected] == [
        "a record id is 1 to 64 letters, digits, '-' and '_'",
        "a record of a visit this phone's member of staff is not on"]
    assert result.stored == ()


def test_a_record_sealed_to_a_retired_key_is_listed_as_unreadable(engine: Engine) -> None:
    from fastapi.testclient import TestClient

    from fieldapp.hub.api import create_api
    from tests.hub.world import World

    world = World(engine)
    school = world.schools["uplands"]
    rotated = TestClient(create_api(engine, HubKeyPair.generate(), clock=lambda: world.now,
                                    password_cost=4))
    visit = rotated.get(f"/api/v1/console/visits/{school.out}", headers=school.auth("dsl"))
    assert visit.status_code == 200
    [ref] = visit.json()["records"]
    assert "sealed to hub key" in ref["unreadable"]
    opened = rotated.get(f"/api/v1/console/records/{school.record}", headers=school.auth("dsl"))
    assert opened.status_code == 409 and opened.json()["error"] == "unreadable"
    assert "start it with that key as --retired-key" in opened.json()["message"]


def test_after_a_key_rotation_the_retired_key_still_opens_the_records_sealed_to_it(
        engine: Engine) -> None:
    from fastapi.testclient import TestClient

    from fieldapp.hub.api import create_api
    from tests.hub.world import World

    world = World(engine)
    school = world.schools["uplands"]
    new_key = HubKeyPair.generate()
    rotated = TestClient(create_api(engine, new_key, clock=lambda: world.now, password_cost=4,
                                    retired_keys=[world.keys]))
    visit = rotated.get(f"/api/v1/console/visits/{school.out}", headers=school.auth("dsl"))
    [ref] = visit.json()["records"]
    assert ref["unreadable"] is None
    opened = rotated.get(f"/api/v1/console/records/{school.record}", headers=school.auth("dsl"))
    assert opened.status_code == 200 and opened.json()["visit_id"] == school.out
    # A phone not enrolled again yet seals to the key it pinned: the hub holding that key as
    # retired takes the record; a hub not given it refuses it, and the phone keeps it.
    assert SealedStore(engine, new_key, [KEYS]).ingest(
        "uplands", ANN, [record("rec-9")], [], NOW, on_visits=("visit-1",)
    ).stored == ("rec-9",)
    assert SealedStore(engine, new_key).ingest(
        "uplands", ANN, [record("rec-10")], [], NOW, on_visits=("visit-1",)
    ).rejected[0].reason.startswith("sealed to hub key")
