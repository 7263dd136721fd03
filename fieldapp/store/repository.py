"""The phone's repository: visits and their events, what is still to sync, and the outbox of
sealed records. `MemoryRepository` is the in-memory twin; `EncryptedRepository` keeps the same
state on disk, encrypted, and makes every change durable before it returns.

Every change is a small record (append these events; these are synced; this visit is sealed)
applied to the same in-memory state in both. On disk the record is appended to the encrypted
journal (one write, one fsync: a tap costs the same with 100 or 50,000 events stored) and now
and then the whole state is written as a snapshot, an encrypted TinyDB database, in the
background, after which the journal starts afresh. Sealed records wait in `outbox/`, one
file each, until the hub acknowledges them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from fieldapp.crypto.storage import (
    EncryptedStorage,
    StoreError,
    TamperedStoreError,
    fsync_directory,
    write_atomically,
)
from fieldapp.domain.events import Event, EventError
from fieldapp.store.anchor import Anchor, AnchorKeeper, Mark, diagnose, journal_name, recorded
from fieldapp.store.journal import Journal, Scanned, scan
from fieldapp.sync.records import is_record_id

SNAPSHOT: Final = "store.db"
OUTBOX: Final = "outbox"
COMPACT_EVERY: Final = 2000  # journal records before a background snapshot, at the least
SNAPSHOT_PIECE: Final = 64  # events encoded, encrypted and written at a time
_JOURNAL = re.compile(r"journal-(\d{8})\.log")


class Repository(Protocol):
    def append(self, events: Sequence[Event], synced: bool = False) -> None: ...
    def events(self, visit_id: str) -> tuple[Event, ...]: ...
    def visit_ids(self) -> tuple[str, ...]: ...
    def unsynced(self) -> tuple[Event, ...]: ...
    def mark_synced(self, event_ids: Iterable[str]) -> None: ...
    def resync(self, event_ids: Iterable[str]) -> None: ...
    def quarantine(self, reasons: Mapping[str, str]) -> None: ...
    def quarantined(self) -> tuple[tuple[Event, str], ...]: ...
    def finalise(self, visit_id: str, record_id: str, envelope: bytes,
                 receipt: Mapping[str, Any] | None = None,
                 sealed: Iterable[str] | None = None) -> None: ...
    def drop(self, visit_id: str, receipt: Mapping[str, Any] | None = None,
             sealed: Iterable[str] | None = None) -> None: ...
    def receipts(self) -> Mapping[str, Mapping[str, Any]]: ...
    def sealed(self) -> tuple[tuple[str, bytes], ...]: ...
    def acknowledge_sealed(self, record_id: str) -> None: ...
    def set(self, key: str, value: Any) -> None: ...
    def get(self, key: str, default: Any = None) -> Any: ...
    def record_unlock(self, token: bytes) -> None: ...
    def unlocks(self) -> tuple[bytes, ...]: ...
    def unlocks_sent(self, count: int) -> None: ...
    def count(self) -> int: ...
    def close(self) -> None: ...


class NotAcknowledgedError(StoreError):
    """A visit may be sealed and purged only once the hub holds all of its events."""


class _State:
    """What both repositories hold, changed only by `apply(record)`."""

    def __init__(self) -> None:
        self.docs: dict[int, dict[str, Any]] = {}  # doc id -> event in its wire form
        self.by_id: dict[str, int] = {}
        self.by_visit: dict[str, set[int]] = {}
        self.synced: set[str] = set()  # acknowledged by the hub, or pulled from it
        self.quarantined: dict[str, str] = {}  # event id -> the hub's reason for refusing it
        self.receipts: dict[str, dict[str, Any]] = {}  # purged visit id -> its receipt
        self.settings: dict[str, Any] = {}  # enrolment, hub, pack, contacts, pull cursor
        self.unlocks: list[str] = []  # unlock tokens (base64) not yet taken by the hub
        self.next_doc = 1

    def check_new(self, events: Sequence[Event]) -> list[Event]:
        """The events not stored yet; the same id with other content is an EventError."""
        fresh: dict[str, Event] = {}
        for event in events:
            known = self.by_id.get(event.id)
            if known is not None:
                if Event.from_dict(self.docs[known]).canonical() != event.canonical():
                    raise EventError(f"event {event.id}: a different event has this id")
            elif event.id in fresh and fresh[event.id].canonical() != event.canonical():
                raise EventError(f"event {event.id}: two different events share this id")
            else:
                fresh[event.id] = event
        return list(fresh.values())

    def apply(self, record: dict[str, Any]) -> None:
        op = record["op"]
        if op == "append":
            for doc in record["events"]:
                if doc["id"] in self.by_id or doc["visit_id"] in self.receipts:
                    continue  # stored already, or a visit sealed and purged here
                self.docs[self.next_doc] = doc
                self.by_id[doc["id"]] = self.next_doc
                self.by_visit.setdefault(doc["visit_id"], set()).add(self.next_doc)
                self.next_doc += 1
                if record.get("synced"):  # pulled from the hub: it has them
                    self.synced.add(doc["id"])
        elif op == "synced":
            self.synced.update(i for i in record["ids"] if i in self.by_id)
            for event_id in record["ids"]:
                self.quarantined.pop(event_id, None)
        elif op == "resync":  # the hub lost them (a restored backup): push them again
            self.synced.difference_update(record["ids"])
        elif op == "quarantined":
            self.quarantined.update((i, reason) for i, reason in record["reasons"].items()
                                    if i in self.by_id and i not in self.synced)
        elif op == "finalised":
            for doc_id in self.by_visit.pop(record["visit_id"], set()):
                event_id = self.docs.pop(doc_id)["id"]
                del self.by_id[event_id]
                self.synced.discard(event_id)
                self.quarantined.pop(event_id, None)
            self.receipts[record["visit_id"]] = record.get(
                "receipt", {"record_id": record["record_id"]})
        elif op == "unlocked":
            self.unlocks.append(record["token"])
        elif op == "unlocks_sent":
            del self.unlocks[:record["count"]]
        elif op == "set":
            if record["value"] is None:
                self.settings.pop(record["key"], None)
            else:
                self.settings[record["key"]] = record["value"]
        else:  # pragma: no cover - records are only written by this module
            raise StoreError(f"unknown journal record {op!r}")

    def events(self, visit_id: str) -> tuple[Event, ...]:
        docs = sorted((self.docs[d] for d in self.by_visit.get(visit_id, ())),
                      key=lambda doc: doc["id"])
        return tuple(Event.from_dict(doc) for doc in docs)

    def unsynced(self) -> tuple[Event, ...]:
        """What this phone still has to push: neither acknowledged, pulled nor quarantined."""
        pending = sorted(i for i in self.by_id
                         if i not in self.synced and i not in self.quarantined)
        return tuple(Event.from_dict(self.docs[self.by_id[i]]) for i in pending)

    def quarantine_list(self) -> tuple[tuple[Event, str], ...]:
        return tuple((Event.from_dict(self.docs[self.by_id[i]]), reason)
                     for i, reason in sorted(self.quarantined.items()))

    def frozen(self) -> _Frozen:
        """A cheap copy to snapshot from (documents are never changed once stored)."""
        return _Frozen(dict(self.docs), frozenset(self.synced), dict(self.quarantined),
                       dict(self.receipts), dict(self.settings), tuple(self.unlocks))

    @staticmethod
    def snapshot(frozen: _Frozen, journal: int) -> Iterator[bytes]:
        """The state as a TinyDB database, as JSON in pieces: the `events` table (each with its
        `synced` flag), `quarantine` (an event id and the hub's reason a document),
        `receipts` (one a purged visit), `settings` (one document) and `meta` (which journal
        carries on from it). Between pieces the thread writing it lets taps run (a tap waits
        for at most one piece, not the whole snapshot)."""
        parts = [b'{"events":{']
        for index, (doc_id, doc) in enumerate(frozen.docs.items()):
            item = json.dumps({**doc, "synced": doc["id"] in frozen.synced},
                              separators=(",", ":"), ensure_ascii=False)
            parts.append(f'{"," if index else ""}"{doc_id}":{item}'.encode())
            if len(parts) == SNAPSHOT_PIECE:
                yield b"".join(parts)
                parts = []
                time.sleep(0)  # let a waiting tap have the interpreter
        tables = {
            "quarantine": {str(n): {"id": i, "reason": r}
                           for n, (i, r) in enumerate(sorted(frozen.quarantined.items()), 1)},
            "receipts": {str(n): {**receipt, "visit_id": visit_id}
                         for n, (visit_id, receipt) in enumerate(sorted(frozen.receipts.items()),
                                                                 1)},
            "settings": {"1": frozen.settings} if frozen.settings else {},
            "unlocks": {str(n): {"token": token} for n, token in enumerate(frozen.unlocks, 1)},
            "meta": {"1": {"journal": journal}},
        }
        rest = json.dumps(tables, separators=(",", ":"), ensure_ascii=False)
        parts.append(b"}," + rest[1:].encode())
        yield b"".join(parts)

    @classmethod
    def from_snapshot(cls, data: dict[str, dict[str, Any]]) -> _State:
        """The state a snapshot holds, built in one pass (unlock waits for it)."""
        state = cls()
        docs, by_id, by_visit, synced = state.docs, state.by_id, state.by_visit, state.synced
        for key, doc in data.get("events", {}).items():
            doc_id = int(key)
            if doc.pop("synced", False):
                synced.add(doc["id"])
            docs[doc_id] = doc
            by_id[doc["id"]] = doc_id
            by_visit.setdefault(doc["visit_id"], set()).add(doc_id)
        state.docs = dict(sorted(docs.items()))
        state.next_doc = max(docs, default=0) + 1
        state.quarantined = {doc["id"]: doc["reason"]
                             for doc in data.get("quarantine", {}).values()}
        state.receipts = {doc["visit_id"]: {k: v for k, v in doc.items() if k != "visit_id"}
                          for doc in data.get("receipts", {}).values()}
        state.settings = dict(data.get("settings", {}).get("1", {}))
        state.unlocks = [doc["token"] for _n, doc in sorted(
            data.get("unlocks", {}).items(), key=lambda item: int(item[0]))]
        return state

    def finalise_record(self, visit_id: str, record_id: str,
                        receipt: Mapping[str, Any] | None,
                        sealed: Iterable[str] | None = None) -> dict[str, Any]:
        """The journal record that seals and purges a visit: refused (NotAcknowledgedError)
        while the hub does not hold every one of its events, or when the visit holds other
        events than the `sealed` ones (one recorded while the record was being sealed)."""
        held = {self.docs[d]["id"] for d in self.by_visit.get(visit_id, ())}
        waiting = [i for i in held if i not in self.synced]
        if waiting:
            raise NotAcknowledgedError(f"visit {visit_id}: {len(waiting)} event(s) not yet "
                                       "acknowledged by the hub: it cannot be sealed yet")
        if sealed is not None and held != set(sealed):
            raise NotAcknowledgedError(f"visit {visit_id}: it changed while it was being "
                                       "sealed: it will be sealed again")
        return {"op": "finalised", "visit_id": visit_id, "record_id": record_id,
                "receipt": {**(receipt or {}), "record_id": record_id}}


@dataclass(frozen=True, slots=True)
class _Frozen:
    docs: dict[int, dict[str, Any]]
    synced: frozenset[str]
    quarantined: dict[str, str]
    receipts: dict[str, dict[str, Any]]
    settings: dict[str, Any]
    unlocks: tuple[str, ...]


def _append(events: Sequence[Event], synced: bool) -> dict[str, Any]:
    record: dict[str, Any] = {"op": "append", "events": [e.to_dict() for e in events]}
    if synced:
        record["synced"] = True
    return record


def _unlocked(token: bytes) -> dict[str, Any]:
    return {"op": "unlocked", "token": base64.b64encode(token).decode("ascii")}


def _check_record_id(record_id: str) -> str:
    if not is_record_id(record_id):
        raise ValueError("a record id is letters, digits, '-' and '_' (it names a file)")
    return record_id


def first_journal(snapshot: Mapping[str, Any] | None) -> int:
    """The journal a snapshot says carries on from it (1 where there is no snapshot yet)."""
    return int((snapshot or {}).get("meta", {}).get("1", {"journal": 1})["journal"])


def _note_ad(record_id: str) -> bytes:
    return f"home-visits outbox note v1 {record_id}".encode()


def _seal_note(key: bytes, record_id: str, visit_id: str, envelope: bytes,
               events: Iterable[str]) -> bytes:
    """The `.visit` file: which visit a sealed record purges, the events sealed in it and the
    record's SHA-256, sealed under the store key and bound to the record id."""
    note = json.dumps({"visit_id": visit_id, "sha256": hashlib.sha256(envelope).hexdigest(),
                       "events": sorted(events)}, separators=(",", ":")).encode()
    nonce = os.urandom(12)
    return nonce + AESGCM(key).encrypt(nonce, note, _note_ad(record_id))


def _open_note(key: bytes, record_id: str, blob: bytes) -> tuple[str, str, frozenset[str]]:
    """(visit id, record digest, event ids) from a `.visit` file, or TamperedStoreError."""
    try:
        note = json.loads(AESGCM(key).decrypt(blob[:12], blob[12:], _note_ad(record_id)))
        return str(note["visit_id"]), str(note["sha256"]), frozenset(note["events"])
    except (InvalidTag, ValueError):
        raise TamperedStoreError(f"{OUTBOX}/{record_id}.visit was not written by this store "
                                 "or has been altered") from None


class MemoryRepository:
    """The in-memory twin, for tests and for the hub's fakes."""

    def __init__(self) -> None:
        self._state = _State()
        self._outbox: dict[str, bytes] = {}

    def append(self, events: Sequence[Event], synced: bool = False) -> None:
        fresh = self._state.check_new(events)
        if fresh:
            self._state.apply(_append(fresh, synced))

    def events(self, visit_id: str) -> tuple[Event, ...]:
        return self._state.events(visit_id)

    def visit_ids(self) -> tuple[str, ...]:
        return tuple(sorted(self._state.by_visit))

    def unsynced(self) -> tuple[Event, ...]:
        return self._state.unsynced()

    def mark_synced(self, event_ids: Iterable[str]) -> None:
        self._state.apply({"op": "synced", "ids": sorted(set(event_ids))})

    def resync(self, event_ids: Iterable[str]) -> None:
        self._state.apply({"op": "resync", "ids": sorted(set(event_ids))})

    def quarantine(self, reasons: Mapping[str, str]) -> None:
        self._state.apply({"op": "quarantined", "reasons": dict(reasons)})

    def quarantined(self) -> tuple[tuple[Event, str], ...]:
        return self._state.quarantine_list()

    def finalise(self, visit_id: str, record_id: str, envelope: bytes,
                 receipt: Mapping[str, Any] | None = None,
                 sealed: Iterable[str] | None = None) -> None:
        record = self._state.finalise_record(visit_id, _check_record_id(record_id), receipt,
                                             sealed)
        self._outbox[record_id] = bytes(envelope)
        self._state.apply(record)

    def drop(self, visit_id: str, receipt: Mapping[str, Any] | None = None,
             sealed: Iterable[str] | None = None) -> None:
        self._state.apply(self._state.finalise_record(visit_id, "", receipt, sealed))

    def receipts(self) -> Mapping[str, Mapping[str, Any]]:
        return dict(self._state.receipts)

    def sealed(self) -> tuple[tuple[str, bytes], ...]:
        return tuple(sorted(self._outbox.items()))

    def acknowledge_sealed(self, record_id: str) -> None:
        self._outbox.pop(record_id, None)

    def set(self, key: str, value: Any) -> None:
        self._state.apply({"op": "set", "key": key, "value": value})

    def get(self, key: str, default: Any = None) -> Any:
        return self._state.settings.get(key, default)

    def count(self) -> int:
        return len(self._state.docs)

    def record_unlock(self, token: bytes) -> None:
        self._state.apply(_unlocked(token))

    def unlocks(self) -> tuple[bytes, ...]:
        return tuple(base64.b64decode(t) for t in self._state.unlocks)

    def unlocks_sent(self, count: int) -> None:
        if count:
            self._state.apply({"op": "unlocks_sent", "count": count})

    def close(self) -> None:
        pass


class EncryptedRepository:
    """The repository on disk: encrypted journal + snapshot + sealed outbox, in `directory`.

    `compact_every`: journal records after which the state is snapshotted in the background
    (or a quarter of the events stored, if that is more).
    `generation`: the snapshot generation the key vault last recorded (rollback check).
    `anchor`: where the store's anchor is kept (the key vault: see anchor.py). It is checked
    on open and recorded on open, on every journal switch, after every snapshot and on close;
    without one only the files' own consistency can be checked.
    """

    def __init__(self, directory: Path, key: bytes, compact_every: int = COMPACT_EVERY,
                 generation: int = 0, anchor: AnchorKeeper | None = None,
                 snapshot: Callable[..., EncryptedStorage] = EncryptedStorage) -> None:
        """`snapshot` makes the snapshot file's storage (a test's fails or holds its writes)."""
        self.directory = Path(directory)
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        (self.directory / OUTBOX).mkdir(mode=0o700, exist_ok=True)
        self._key = key
        self._compact_every = compact_every
        self._lock = threading.Lock()
        self._anchor_lock = threading.Lock()
        self._keeper = anchor
        self._serial = 0
        self._closed_journals: list[Mark] = []  # switched away from, not yet in a snapshot
        self._compactor: threading.Thread | None = None
        self._compaction_error: BaseException | None = None
        self._storage = snapshot(self.directory / SNAPSHOT, key=key,
                                 min_generation=generation)
        for leftover in [*(self.directory / OUTBOX).glob(".tmp-*"),  # a seal cut short
                         *self.directory.glob(".tmp-journal-*")]:  # a journal never begun
            leftover.unlink()
        self._state, self._journal, self._number = self._recover()
        self._record_anchor()
        if self._closed_journals or self._journal.sequence >= self._due():
            self.start_compaction()  # so the next unlock has less to replay

    @property
    def generation(self) -> int:
        return self._storage.generation

    # --- opening ---------------------------------------------------------------------------

    def _journals(self) -> list[tuple[int, Path]]:
        found = ((int(m.group(1)), p) for p in self.directory.iterdir()
                 if (m := _JOURNAL.fullmatch(p.name)))
        return sorted(found)

    def _recover(self) -> tuple[_State, Journal, int]:
        """Read everything, check it against itself and the anchor, and only then change
        anything: a refused store is left exactly as it was found."""
        data = self._storage.read()
        snapshot = data is not None
        first = first_journal(data)
        data = data or {}
        covered = [path for number, path in self._journals() if number < first]
        live: list[tuple[int, Path, Scanned]] = [
            (number, path, scan(path, self._key)) for number, path in self._journals()
            if number >= first]
        for _number, path, scanned in live[:-1]:
            if scanned.torn:
                raise TamperedStoreError(f"{path.name} ends in a cut-off record, but a later "
                                         "journal follows it")
        found = {number: (s.journal_id, len(s.records)) for number, _, s in live}
        anchor = None
        if self._keeper is not None:
            anchor = recorded(self._keeper, self._key, snapshot, found)
            self._serial = anchor.serial
        diagnose(anchor, first, self._storage.generation if snapshot else 0, found)
        outbox = self._check_outbox()
        # Everything is as the store left it: from here on, it may be changed.
        for path in covered:  # already in the snapshot: a compaction cut short
            path.unlink()
        state = _State.from_snapshot(data)
        for _number, _path, scanned in live:
            for record in scanned.records:
                state.apply(record)
        if live:
            number, path, scanned = live[-1]
            journal = Journal.resume(path, self._key, scanned)
            self._closed_journals = [Mark(n, s.journal_id, len(s.records))
                                     for n, _, s in live[:-1]]
        else:
            number, journal = first, Journal.create(self._journal_path(first), self._key)
        self._settle_outbox(outbox, state, journal)
        return state, journal, number

    def _check_outbox(self) -> dict[str, tuple[str, frozenset[str]]]:
        """Each sealed record waiting in the outbox: record id -> (visit id, the event ids
        sealed in it), read from its authenticated `.visit` file. A `.visit` left alone is a
        seal cut short (removed later); a `.sealed` without one, or one that does not match
        it, was not written by this store and is refused."""
        outbox = self.directory / OUTBOX
        found: dict[str, tuple[str, frozenset[str]]] = {}
        for record_id in self._outbox_ids():
            sealed = outbox / f"{record_id}.sealed"
            try:
                note = (outbox / f"{record_id}.visit").read_bytes()
            except FileNotFoundError:
                raise TamperedStoreError(f"{OUTBOX}/{sealed.name} has no .visit file: this "
                                         "store did not put it there") from None
            visit_id, digest, events = _open_note(self._key, record_id, note)
            if hashlib.sha256(sealed.read_bytes()).hexdigest() != digest:
                raise TamperedStoreError(f"{OUTBOX}/{sealed.name} is not the record its "
                                         ".visit file names")
            found[record_id] = (visit_id, events)
        return found

    def _settle_outbox(self, found: Mapping[str, tuple[str, frozenset[str]]], state: _State,
                       journal: Journal) -> None:
        """Finish seals a crash cut short: a record whose journal entry never came is
        journaled now if the visit holds exactly the events sealed in it, all held by the
        hub; otherwise (a tap came in while it was sealed) it is stale and goes, to be sealed
        again. A `.visit` without its record is a seal cut short before the record."""
        outbox = self.directory / OUTBOX
        for orphan in outbox.glob("*.visit"):
            if not orphan.with_suffix(".sealed").exists():
                orphan.unlink()
        for record_id, (visit_id, events) in found.items():
            if visit_id not in state.by_visit:
                continue  # journaled already: waiting for the hub's acknowledgement
            try:
                record = state.finalise_record(visit_id, record_id, None, events)
            except NotAcknowledgedError:
                for suffix in (".sealed", ".visit"):
                    (outbox / f"{record_id}{suffix}").unlink()
                continue
            journal.append(record)  # durable now, not only in memory
            state.apply(record)

    def _journal_path(self, number: int) -> Path:
        return self.directory / journal_name(number)

    # --- the anchor ------------------------------------------------------------------------

    def _anchor(self, generation: int) -> Anchor:
        """What is on disk now: the snapshot generation and each live journal with the
        records it holds (no fewer will ever be there). Callers hold the anchor lock."""
        journal = self._journal
        return Anchor(self._serial + 1, generation, (
            *self._closed_journals, Mark(self._number, journal.journal_id, journal.sequence)))

    def _record_anchor(self) -> None:
        """Tell the vault what is on disk now (see anchor.py)."""
        if self._keeper is None:
            return
        with self._anchor_lock:
            anchor = self._anchor(self._storage.generation)
            self._keeper.save_anchor(anchor.seal(self._key), anchor.serial)
            self._serial = anchor.serial

    def anchor_document(self, key: bytes, serial: int) -> dict[str, Any]:
        """The anchor as it is now, numbered `serial` and sealed under `key` (a key rotation
        records it in the vault with the new key)."""
        with self._anchor_lock:
            return replace(self._anchor(self._storage.generation), serial=serial).seal(key)

    # --- changes ---------------------------------------------------------------------------

    def _record(self, record: dict[str, Any]) -> None:
        """Journal the record (durable), then apply it. Callers hold the lock."""
        self._journal.append(record)
        self._state.apply(record)
        # Snapshot when the journal has grown by a quarter of what is stored: the snapshot's
        # cost, spread over the taps in between, stays the same however much is stored.
        if self._journal.sequence >= self._due() and not self._compacting():
            self._start_compaction()

    def _due(self) -> int:
        return max(self._compact_every, len(self._state.docs) // 4)

    def append(self, events: Sequence[Event], synced: bool = False) -> None:
        """Store new events durably; `synced`: they came from the hub (a pull), which holds
        them, so they are never pushed. Events of a visit sealed and purged here are dropped."""
        with self._lock:
            fresh = self._state.check_new(events)
            if fresh:
                self._record(_append(fresh, synced))

    def mark_synced(self, event_ids: Iterable[str]) -> None:
        with self._lock:
            ids = sorted(i for i in set(event_ids) if i in self._state.by_id
                         and i not in self._state.synced)
            if ids:
                self._record({"op": "synced", "ids": ids})

    def resync(self, event_ids: Iterable[str]) -> None:
        """Push these again: the hub that acknowledged them no longer has them (a database
        restored from an older backup)."""
        with self._lock:
            ids = sorted(i for i in set(event_ids) if i in self._state.synced)
            if ids:
                self._record({"op": "resync", "ids": ids})

    def quarantine(self, reasons: Mapping[str, str]) -> None:
        """Set aside events the hub refused, with its reasons: shown to staff, kept, and no
        longer pushed (a later acknowledgement releases one)."""
        with self._lock:
            wanted = {i: r for i, r in reasons.items()
                      if i in self._state.by_id and i not in self._state.synced
                      and self._state.quarantined.get(i) != r}
            if wanted:
                self._record({"op": "quarantined", "reasons": wanted})

    def quarantined(self) -> tuple[tuple[Event, str], ...]:
        with self._lock:
            return self._state.quarantine_list()

    def finalise(self, visit_id: str, record_id: str, envelope: bytes,
                 receipt: Mapping[str, Any] | None = None,
                 sealed: Iterable[str] | None = None) -> None:
        """Put the sealed record in the outbox, then drop the visit's plaintext events,
        keeping `receipt` (no personal data: ids and times). Refused (NotAcknowledgedError)
        while any of the visit's events is not yet held by the hub, or when it holds others
        than the `sealed` ones: a tap while the record was sealed is never lost with it.
        The outbox names the visit first (authenticated: which visit, which events, and the
        record's digest), then holds the record: a crash between the two leaves a name
        alone, removed on open."""
        name = _check_record_id(record_id)
        with self._lock:
            self._state.finalise_record(visit_id, name, receipt, sealed)
            events = frozenset(sealed) if sealed is not None else frozenset(
                self._state.docs[d]["id"] for d in self._state.by_visit.get(visit_id, ()))
        outbox = self.directory / OUTBOX
        write_atomically(outbox / f"{name}.visit",
                         _seal_note(self._key, name, visit_id, bytes(envelope), events))
        write_atomically(outbox / f"{name}.sealed", bytes(envelope))
        with self._lock:
            try:  # checked again: the lock was let go while the files were written
                record = self._state.finalise_record(visit_id, name, receipt, events)
            except NotAcknowledgedError:
                for suffix in (".sealed", ".visit"):
                    (outbox / f"{name}{suffix}").unlink(missing_ok=True)
                raise
            self._record(record)

    def drop(self, visit_id: str, receipt: Mapping[str, Any] | None = None,
             sealed: Iterable[str] | None = None) -> None:
        """Purge a visit that is over without sealing it: the phone recorded nothing of it
        (the hub holds all of it). Refused, as finalise is, while any of it is not held."""
        with self._lock:
            self._record(self._state.finalise_record(visit_id, "", receipt, sealed))

    def receipts(self) -> Mapping[str, Mapping[str, Any]]:
        with self._lock:
            return dict(self._state.receipts)

    def set(self, key: str, value: Any) -> None:
        """Keep a setting (JSON), encrypted and durable like the events; None removes it."""
        with self._lock:
            if self._state.settings.get(key) != value:
                self._record({"op": "set", "key": key, "value": value})

    def get(self, key: str, default: Any = None) -> Any:
        with self._lock:
            return self._state.settings.get(key, default)

    def record_unlock(self, token: bytes) -> None:
        """Keep an unlock token (crypto.sealing): every unlock leaves one, of one size."""
        with self._lock:
            self._record(_unlocked(token))

    def unlocks(self) -> tuple[bytes, ...]:
        """The unlock tokens the hub has not taken yet, oldest first."""
        with self._lock:
            return tuple(base64.b64decode(t) for t in self._state.unlocks)

    def unlocks_sent(self, count: int) -> None:
        """The hub took the `count` oldest unlock tokens."""
        with self._lock:
            if count:
                self._record({"op": "unlocks_sent", "count": count})

    def acknowledge_sealed(self, record_id: str) -> None:
        outbox = self.directory / OUTBOX
        for suffix in (".sealed", ".visit"):
            (outbox / f"{_check_record_id(record_id)}{suffix}").unlink(missing_ok=True)
        fsync_directory(outbox)

    # --- reads -----------------------------------------------------------------------------

    def events(self, visit_id: str) -> tuple[Event, ...]:
        with self._lock:
            return self._state.events(visit_id)

    def visit_ids(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(sorted(self._state.by_visit))

    def unsynced(self) -> tuple[Event, ...]:
        with self._lock:
            return self._state.unsynced()

    def count(self) -> int:
        return len(self._state.docs)

    def _outbox_ids(self) -> list[str]:
        return sorted(p.stem for p in (self.directory / OUTBOX).glob("*.sealed"))

    def sealed(self) -> tuple[tuple[str, bytes], ...]:
        outbox = self.directory / OUTBOX
        return tuple((i, (outbox / f"{i}.sealed").read_bytes()) for i in self._outbox_ids())

    # --- compaction ------------------------------------------------------------------------

    def _compacting(self) -> bool:
        return self._compactor is not None and self._compactor.is_alive()

    def _start_compaction(self) -> None:
        """Switch to a new journal now; in the background, record both journals in the
        anchor, write the snapshot of everything before the new one, record the anchor
        again, then delete the old journal. A crash anywhere in between loses nothing and
        leaves nothing the next open would refuse: the old snapshot and both journals are
        replayed."""
        old, number = self._journal, self._number
        self._journal = Journal.create(self._journal_path(number + 1), self._key)
        self._number = number + 1
        self._closed_journals.append(Mark(number, old.journal_id, old.sequence))
        self._compactor = threading.Thread(
            target=self._write_snapshot, args=(self._state.frozen(), self._number, old),
            name="store-compaction", daemon=True)
        self._compactor.start()

    def _write_snapshot(self, frozen: _Frozen, journal: int, old: Journal) -> None:
        try:
            old.close()
            self._record_anchor()
            self._storage.write_json(_State.snapshot(frozen, journal))
            with self._anchor_lock:
                self._closed_journals = [m for m in self._closed_journals
                                         if m.number >= journal]
            self._record_anchor()
            for number, path in self._journals():
                if number < journal:  # all in the snapshot now
                    path.unlink()
            fsync_directory(self.directory)
        except BaseException as error:  # kept, and raised to the next caller of compact()
            self._compaction_error = error

    def start_compaction(self) -> None:
        """Snapshot in the background now, unless one is already being written."""
        with self._lock:
            if not self._compacting():
                self._start_compaction()

    @property
    def compacting(self) -> bool:
        return self._compacting()

    def wait_for_snapshot(self) -> None:
        """Wait until the snapshot being written in the background, if any, is done."""
        compactor = self._compactor
        if compactor is not None:
            compactor.join()

    def compact(self) -> None:
        """Snapshot now and wait for it (on close, and in tests)."""
        with self._lock:
            self.wait_for_snapshot()
            self._start_compaction()
            compactor = self._compactor
        assert compactor is not None
        compactor.join()
        if self._compaction_error is not None:
            error, self._compaction_error = self._compaction_error, None
            raise error

    def close(self, wiped: bool = False) -> None:
        """Wait for a snapshot being written, record the anchor (exact now: nothing more
        will be written) and let the key go. `wiped`: the vault and the files are gone
        already (too many wrong PINs), so there is nothing to record."""
        with self._lock:
            self.wait_for_snapshot()
            if self._key:
                self._journal.close()
                if not wiped:
                    self._record_anchor()
            self._key = b""
            self._storage.close()
