"""The sealed visit record's plaintext (what a phone seals, what the hub reads), and the parsing
of a push of sealed records: a bad document is rejected on its own, a bad push as a whole."""

from __future__ import annotations

import gzip
import json
import zlib
from datetime import UTC, datetime

import pytest

from fieldapp.crypto.sealing import HubKeyPair, SealedRecord, seal
from fieldapp.domain.events import Author, Event, EventType, new_event_id
from fieldapp.domain.journeys import let_in
from fieldapp.domain.policy import load_pack
from fieldapp.domain.simulate import SimulatedVisit
from fieldapp.sync.protocol import ProtocolError
from fieldapp.sync.records import (
    RecordError,
    dictionary,
    parse_sealed_push,
    read_visit_record,
    visit_record,
)

AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def event(n: int, visit_id: str = "visit-1") -> Event:
    return Event(new_event_id(AT, n.to_bytes(10, "big")), visit_id, EventType.OUTCOME_RECORDED,
                 AT, Author("staff-ann", "phone-a"), {"child_seen": True})


def test_a_record_reads_back_as_the_visit_and_events_sealed() -> None:
    events = (event(1), event(2))
    record = read_visit_record(visit_record("visit-1", events))
    assert record.visit_id == "visit-1" and record.events == events


def test_a_record_holds_only_its_own_visits_events() -> None:
    with pytest.raises(RecordError, match="belong to visit visit-1"):
        visit_record("visit-1", [event(1, "visit-2")])


def document(**changes: object) -> bytes:
    base: dict[str, object] = {"format": "home-visits visit record", "version": 1,
                               "visit_id": "visit-1", "events": [event(1).to_dict()]}
    base.update(changes)
    return json.dumps(base).encode()


@pytest.mark.parametrize("plaintext, message", [
    (b"\xff\xfe", "not a JSON document"),
    (b"[1, 2]", "not a visit record"),
    (document(format="something else"), "not a visit record"),
    (document(version=2), "visit record version 2; this hub reads version 1"),
    (document(visit_id=7), "a visit_id and a list of events"),
    (document(events={}), "a visit_id and a list of events"),
    (document(events=[{"id": "x"}]), "an event in the record:"),
    (document(visit_id="visit-2"), "belongs to another visit than visit-2"),
    (document(visit_id="v" * 129, events=[]), "a visit id is 1 to 128 printable characters"),
])
def test_a_record_that_cannot_be_read_says_why(plaintext: bytes, message: str) -> None:
    with pytest.raises(RecordError, match=message):
        read_visit_record(plaintext)


def test_a_push_keeps_good_documents_and_sets_aside_bad_ones_by_reference() -> None:
    hub = HubKeyPair.generate()
    good = SealedRecord.from_envelope(seal(hub.public_bytes(), "uplands", "rec-1",
                                           visit_record("visit-1", [event(1)]))).to_json()
    long_id = {"format": "home-visits sealed record", "version": 1, "record_id": "r" * 65}
    parsed = parse_sealed_push({"protocol": 1, "records": [good, 5, long_id]})
    assert [r.record_id for r in parsed.records] == ["rec-1"]
    assert [r.ref for r in parsed.rejected] == ["records[1]", "records[2]"]


@pytest.mark.parametrize("body", [[], {"protocol": True, "records": []}])
def test_a_push_that_is_not_a_push_is_refused_whole(body: object) -> None:
    with pytest.raises(ProtocolError):
        parse_sealed_push(body)


def test_a_record_is_compressed_before_it_is_sealed_and_older_forms_still_read() -> None:
    """Against the records' dictionary, a record compresses well even alone; a gzip-compressed
    or plain one, as earlier phones sealed them, still reads."""
    visit = SimulatedVisit(load_pack("hart-hill-nursery"), AT, visit_id="visit-1")
    for _label, minutes, command in let_in(visit):
        visit.do(command, after_minutes=minutes)
    events = tuple(visit.events)
    packed = visit_record("visit-1", events)
    plain = json.dumps({"format": "home-visits visit record", "version": 1,
                        "visit_id": "visit-1", "events": [e.to_dict() for e in events]}).encode()
    assert packed[0] == 0x78 and packed[1] & 0x20  # zlib, with a preset dictionary
    assert len(packed) * 2.5 < len(gzip.compress(plain, 9))
    for form in (plain, gzip.compress(plain), packed):
        assert read_visit_record(form).events == events


def dictionary_packed(data: bytes) -> bytes:
    packer = zlib.compressobj(zdict=dictionary())
    return packer.compress(data) + packer.flush()


@pytest.mark.parametrize(("plaintext", "says"), [
    (gzip.compress(b" " * (16 * 2**20 + 1), mtime=0), "inflates past 16 MiB"),
    (dictionary_packed(b" " * (16 * 2**20 + 1)), "inflates past 16 MiB"),
    (b"\x1f\x8b" + b"\x00" * 20, "compression is damaged"),
    (b"\x78\xbb" + b"\x00" * 20, "compression is damaged"),
    (gzip.compress(b'{"format": 1}', mtime=0)[:-10], "cut short"),
    (dictionary_packed(b'{"format": 1}')[:-6], "cut short"),
])
def test_a_compressed_record_that_cannot_be_a_visit_is_refused(plaintext: bytes,
                                                               says: str) -> None:
    with pytest.raises(RecordError, match=says):
        read_visit_record(plaintext)
