"""The hub's sealed-record store on SQLite and PostgreSQL: phones racing to push the same record
store it once, and a race the store loses is retried; the audit log pages back in order."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from fieldapp.crypto.sealing import HubKeyPair, SealedRecord, seal
from fieldapp.domain.events import Author, Event, EventType, new_event_id
from fieldapp.hub.audit import AuditLog
from fieldapp.hub.records import SealedStore
from fieldapp.sync.records import visit_record

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
KEYS = HubKeyPair.generate()


def record(record_id: str) -> SealedRecord:
    event = Event(new_event_id(NOW, b"\x01" * 10), "visit-1", EventType.OUTCOME_RECORDED, NOW,
                  Author("staff-ann", "phone-a"), {"child_seen": True})
    return SealedRecord.from_envelope(seal(KEYS.public_bytes(), "uplands", record_id,
                                           visit_record("visit-1", [event])))


def test_phones_racing_with_the_same_record_store_it_once(engine: Engine) -> None:
    store, same = SealedStore(engine, KEYS), record("rec-1")
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda _: store.ingest("uplands", "phone-a", [same], [], NOW),
                                range(12)))
    assert sum(len(r.stored) for r in results) == 1
    assert all(r.acknowledged == ("rec-1",) for r in results)
    assert [r.record_id for r in store.for_visit("uplands", "visit-1")] == ["rec-1"]
    with pytest.raises(KeyError):
        store.open("hart-hill", "rec-1")


def test_a_lost_race_is_retried_then_reported(engine: Engine,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    store = SealedStore(engine, KEYS)
    real, calls = store._store, {"n": 0}

    def racing(*args: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise IntegrityError("insert", {}, Exception("duplicate key"))
        return real(*args)

    monkeypatch.setattr(store, "_store", racing)
    assert store.ingest("uplands", "phone-a", [record("rec-2")], [], NOW).stored == ("rec-2",)

    def always(*args: Any) -> Any:
        raise IntegrityError("insert", {}, Exception("duplicate key"))

    monkeypatch.setattr(store, "_store", always)
    with pytest.raises(IntegrityError):
        store.ingest("uplands", "phone-a", [record("rec-3")], [], NOW)


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
