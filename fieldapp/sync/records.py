"""Sealed visit records on the wire, version 1. Pure.

When a visit is finalised the phone seals its record (the visit's events, case content
included) to the hub's key and pushes the envelope; from then on only the hub can read it.
The plaintext inside an envelope is a visit record:

    {"format": "home-visits visit record", "version": 1, "visit_id": "...",
     "events": [<event>, ...]}

A push of sealed records is `{"protocol": 1, "records": [<sealed-record document>, ...]}`
(documents as `fieldapp.crypto.sealing.SealedRecord.to_json()` makes them); it is answered like
an event push: `stored`, `already`, `conflicts` (the same record id with another envelope: 409)
and `rejected` with reasons.
"""

from __future__ import annotations

import functools
import json
import re
import secrets
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final

from fieldapp.crypto.sealing import SealedRecord, SealError
from fieldapp.domain.events import MAX_VISIT_ID, Author, Event, EventError, is_printable_id
from fieldapp.sync.protocol import Rejected, batch, own_event

RECORD_FORMAT: Final = "home-visits visit record"
RECORD_VERSION: Final = 1
MAX_RECORDS: Final = 50
# A record id: what phone and hub both accept (it names a file on the phone). The phone makes
# them with `new_record_id`: 128 random bits, so nobody else's phone can take one first.
RECORD_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_PLAINTEXT: Final = 16 * 2**20  # a visit record, once inflated
_GZIP: Final = b"\x1f\x8b"
DICTIONARY: Final = "records-v1.zdict"


def new_record_id() -> str:
    return secrets.token_hex(16)


def is_record_id(text: str) -> bool:
    return RECORD_ID.fullmatch(text) is not None


class RecordError(ValueError):
    """A visit record that cannot be read as it is."""


@dataclass(frozen=True, slots=True)
class VisitRecord:
    visit_id: str
    events: tuple[Event, ...]


@functools.cache
def dictionary() -> bytes:
    """The preset dictionary records are compressed against (scripts/make-record-dictionary):
    a record alone is small and compresses poorly; against it, two to four times better."""
    return resources.files(__package__).joinpath(DICTIONARY).read_bytes()


def visit_record(visit_id: str, events: Sequence[Event]) -> bytes:
    """The plaintext a phone seals for a finalised visit: its JSON, zlib-compressed against
    the records' dictionary (sealed, it cannot be compressed any more)."""
    if any(event.visit_id != visit_id for event in events):
        raise RecordError(f"every event of the record must belong to visit {visit_id}")
    document = json.dumps({"format": RECORD_FORMAT, "version": RECORD_VERSION,
                           "visit_id": visit_id, "events": [e.to_dict() for e in events]},
                          sort_keys=True, separators=(",", ":")).encode()
    packer = zlib.compressobj(9, zlib.DEFLATED, 15, 9, zlib.Z_DEFAULT_STRATEGY,
                              zdict=dictionary())
    return packer.compress(document) + packer.flush()


def read_visit_record(plaintext: bytes) -> VisitRecord:
    """A visit record from the plaintext of its envelope: JSON compressed against the records'
    dictionary, or gzip-compressed, or plain (as the first phones sealed it)."""
    if plaintext[:1] == b"\x78" and len(plaintext) > 1 and plaintext[1] & 0x20:
        plaintext = _inflate(plaintext, zlib.decompressobj(zdict=dictionary()))
    elif plaintext[:2] == _GZIP:
        plaintext = _inflate(plaintext, zlib.decompressobj(wbits=31))
    try:
        document = json.loads(plaintext)
    except (UnicodeDecodeError, ValueError):
        raise RecordError("the sealed record is not a JSON document") from None
    if not isinstance(document, dict) or document.get("format") != RECORD_FORMAT:
        raise RecordError("the sealed record is not a visit record")
    if document.get("version") != RECORD_VERSION:
        raise RecordError(f"visit record version {document.get('version')!r}; this hub reads "
                          f"version {RECORD_VERSION}")
    visit_id, items = document.get("visit_id"), document.get("events")
    if not isinstance(visit_id, str) or not isinstance(items, list):
        raise RecordError("a visit record has a visit_id and a list of events")
    if not is_printable_id(visit_id, MAX_VISIT_ID):
        raise RecordError(f"a visit id is 1 to {MAX_VISIT_ID} printable characters")
    try:
        events = tuple(Event.from_dict(item) for item in items)
    except EventError as error:
        raise RecordError(f"an event in the record: {error}") from None
    if any(event.visit_id != visit_id for event in events):
        raise RecordError(f"an event in the record belongs to another visit than {visit_id}")
    return VisitRecord(visit_id, events)


def _inflate(compressed: bytes, inflater: Any) -> bytes:
    """Inflated, refusing more than MAX_PLAINTEXT (a small bomb is not a visit)."""
    try:
        inflated: bytes = inflater.decompress(compressed, MAX_PLAINTEXT + 1)
    except zlib.error:
        raise RecordError("the sealed record's compression is damaged") from None
    if len(inflated) > MAX_PLAINTEXT or inflater.unconsumed_tail:
        raise RecordError(f"the sealed record inflates past {MAX_PLAINTEXT // 2**20} MiB")
    if not inflater.eof:
        raise RecordError("the sealed record's compression is cut short")
    return inflated


def record_problem(record: VisitRecord, sender: Author, held: Mapping[str, str]) -> str | None:
    """Why the hub may not take a record `sender` sealed, or None. `held` maps the ids of the
    record's events that the hub already holds to their canonical text ("" where another
    school holds the id).

    A record holds the whole visit: the partner's and the console's events too, which the
    phone pulled from the hub. An event is taken only if this phone may have recorded it (as
    in a push: `own_event`) or it is identical to the one the hub holds; an event the hub
    holds with other content, or someone else's that the hub has never seen, refuses the
    whole record, which is sealed and kept as one."""
    for event in record.events:
        known = held.get(event.id)
        if known is not None:
            if known != event.canonical():
                return f"event {event.id} differs from the one the hub holds with that id"
            continue
        try:
            own_event(event, sender)
        except EventError as error:
            return f"event {event.id}: {error}"
    return None


@dataclass(frozen=True, slots=True)
class SealedPush:
    records: tuple[SealedRecord, ...]
    rejected: tuple[Rejected, ...] = ()


def parse_sealed_push(body: Any) -> SealedPush:
    """Whole-request problems raise ProtocolError; an unreadable document is rejected on its
    own (it stays in the phone's outbox, quarantined with the reason)."""
    items = batch(body, "records", MAX_RECORDS)
    records: list[SealedRecord] = []
    rejected: list[Rejected] = []
    for index, item in enumerate(items):
        ref = _ref(item, index)
        try:
            if not isinstance(item, Mapping):
                raise SealError("a sealed-record document is a JSON object")
            records.append(SealedRecord.from_json(item))
        except SealError as error:
            rejected.append(Rejected(ref, str(error)))
    return SealedPush(tuple(records), tuple(rejected))


def _ref(item: Any, index: int) -> str:
    record_id = item.get("record_id") if isinstance(item, Mapping) else None
    if isinstance(record_id, str) and 0 < len(record_id) <= 64:
        return record_id
    return f"records[{index}]"
