"""Sealed visit records at the hub: kept sealed at rest, opened only with the hub's private key
and only when someone with the right to read them asks (the caller audit-logs the read).

A record is checked when it arrives, by opening it in memory and reading it, so that what the
hub acknowledges (and the phone then forgets) can be read later; its plaintext is never
written anywhere. The same record id with another envelope is a conflict, never an overwrite.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    Index,
    LargeBinary,
    String,
    Table,
    UniqueConstraint,
    insert,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from fieldapp.crypto.sealing import (
    HubKeyPair,
    SealedRecord,
    SealError,
    WrongHubKeyError,
    open_sealed,
)
from fieldapp.domain.events import Author
from fieldapp.hub.directory import as_utc
from fieldapp.hub.events_store import EventStore, arrival_order, metadata
from fieldapp.sync.protocol import PushResult, Rejected
from fieldapp.sync.records import (
    RecordError,
    VisitRecord,
    is_record_id,
    read_visit_record,
    record_problem,
)

sealed_records: Final = Table(
    "sealed_records", metadata,
    arrival_order(),
    Column("record_id", String(64), nullable=False),
    Column("school_id", String(64), nullable=False),
    Column("visit_id", String(128), nullable=False),
    Column("hub_key", String(16), nullable=False),
    Column("device_id", String(64), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("envelope", LargeBinary, nullable=False),
    Index("sealed_school_visit", "school_id", "visit_id"),
    UniqueConstraint("school_id", "record_id", name="sealed_school_record"),
)


@dataclass(frozen=True, slots=True)
class StoredRecord:
    record_id: str
    visit_id: str
    received_at: datetime
    hub_key: str  # the fingerprint of the hub key it was sealed to
    envelope: bytes = field(repr=False)


class SealedStore:
    """Sealed records: taken when sealed to the hub's live key or to a key it retired in a
    rotation and still holds (a phone not enrolled again yet seals to the key it pinned), and
    opened with the key each was sealed to."""

    def __init__(self, engine: Engine, keys: HubKeyPair,
                 retired: Sequence[HubKeyPair] = (),
                 begin: Callable[[], AbstractContextManager[Connection]] | None = None) -> None:
        """`begin`: the transaction records are stored in (a test's stands between)."""
        self.engine = engine
        self._begin = begin or engine.begin
        self.keys = keys
        self._held_keys = {key.fingerprint(): key for key in (*retired, keys)}
        self._events = EventStore(engine)

    def ingest(self, school_id: str, sender: Author, records: Sequence[SealedRecord],
               rejected: Sequence[Rejected], now: datetime,
               on_visits: Collection[str]) -> PushResult:
        """Store what is new and readable; answer what became of each record. `sender`: the
        phone's device id and member of staff; `on_visits`: the visits that member of staff
        is on, the only ones the phone may seal."""
        readable: dict[str, tuple[SealedRecord, str]] = {}
        refused = list(rejected)
        conflicts: list[str] = []
        for record in records:
            problem = self._problem(school_id, sender, record, on_visits)
            if isinstance(problem, str):
                refused.append(Rejected(record.record_id, problem))
            elif record.record_id in readable and \
                    readable[record.record_id][0].envelope != record.envelope:
                conflicts.append(record.record_id)
            else:
                readable[record.record_id] = (record, problem.visit_id)
        for record_id in conflicts:
            readable.pop(record_id, None)
        for attempt in range(3):
            try:
                return self._store(school_id, sender.device_id, readable, conflicts, refused,
                                   now)
            except IntegrityError:  # another push stored one of these meanwhile
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _problem(self, school_id: str, sender: Author, record: SealedRecord,
                 on_visits: Collection[str]) -> VisitRecord | str:
        """The record read in memory, or why it cannot be accepted."""
        if record.school_id != school_id:
            return "sealed for another school"
        if not is_record_id(record.record_id):
            return "a record id is 1 to 64 letters, digits, '-' and '_'"
        # A key retired by a rotation still takes records: a phone sealed them to the key it
        # had pinned before it was enrolled again with the new one.
        key = self._held_keys.get(record.hub_key)
        if key is None:
            return (f"sealed to hub key {record.hub_key}, not this hub's key "
                    f"{self.keys.fingerprint()}: enrol the phone again")
        try:
            opened = read_visit_record(record.open(key))
        except (SealError, RecordError) as error:
            return str(error)
        if opened.visit_id not in on_visits:
            return "a record of a visit this phone's member of staff is not on"
        held = self._events.held(school_id, [event.id for event in opened.events])
        return record_problem(opened, sender, held) or opened

    def _store(self, school_id: str, device_id: str,
               readable: dict[str, tuple[SealedRecord, str]], conflicts: list[str],
               refused: list[Rejected], now: datetime) -> PushResult:
        already: list[str] = []
        clashes = list(conflicts)
        with self._begin() as connection:
            held = {row.record_id: row for row in connection.execute(
                select(sealed_records.c.record_id, sealed_records.c.envelope)
                .where(sealed_records.c.school_id == school_id,
                       sealed_records.c.record_id.in_(list(readable)))).all()} if readable else {}
            new = []
            for record_id, (record, visit_id) in readable.items():
                row = held.get(record_id)
                if row is None:
                    new.append({"record_id": record_id, "school_id": school_id,
                                "visit_id": visit_id, "hub_key": record.hub_key,
                                "device_id": device_id, "received_at": now,
                                "envelope": record.envelope})
                elif bytes(row.envelope) == record.envelope:
                    already.append(record_id)
                else:
                    clashes.append(record_id)
            if new:
                connection.execute(insert(sealed_records), new)
        return PushResult(stored=tuple(str(r["record_id"]) for r in new), already=tuple(already),
                          conflicts=tuple(clashes), rejected=tuple(refused))

    def for_visit(self, school_id: str, visit_id: str) -> tuple[StoredRecord, ...]:
        """The visit's records as held, still sealed."""
        return self._held(sealed_records.c.school_id == school_id,
                          sealed_records.c.visit_id == visit_id)

    def get(self, school_id: str, record_id: str) -> StoredRecord | None:
        """The record as held, still sealed; None if the school holds no such record."""
        found = self._held(sealed_records.c.school_id == school_id,
                           sealed_records.c.record_id == record_id)
        return found[0] if found else None

    def open(self, school_id: str, stored: StoredRecord) -> VisitRecord:
        """A held record, read with the key it was sealed to. Audit-log the read before
        calling this."""
        key = self._held_keys.get(stored.hub_key)
        if key is None:
            raise WrongHubKeyError(
                f"sealed to hub key {stored.hub_key}, which this hub does not hold (it holds "
                f"{', '.join(sorted(self._held_keys))}): start it with that key as "
                "--retired-key")
        return read_visit_record(open_sealed(key, school_id, stored.record_id,
                                             stored.envelope))

    def _held(self, *where: ColumnElement[bool]) -> tuple[StoredRecord, ...]:
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(sealed_records.c.record_id, sealed_records.c.visit_id,
                       sealed_records.c.received_at, sealed_records.c.hub_key,
                       sealed_records.c.envelope)
                .where(*where).order_by(sealed_records.c.seq)).all()
        return tuple(StoredRecord(row.record_id, row.visit_id, as_utc(row.received_at),
                                  row.hub_key, bytes(row.envelope)) for row in rows)
