"""The phone's repository: one contract over the in-memory twin and the encrypted store,
then what only the disk can do wrong: reopening, torn writes, compaction, damage."""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fieldapp.crypto.storage import (
    NotAStoreError,
    RolledBackStoreError,
    StoreError,
    TamperedStoreError,
    TruncatedStoreError,
    WrongKeyError,
)
from fieldapp.domain.events import Author, Event, EventError, EventType, new_event_id
from fieldapp.store.journal import FRAME, GROW, LENGTH, SECTOR
from fieldapp.store.repository import (
    EncryptedRepository,
    MemoryRepository,
    NotAcknowledgedError,
    Repository,
)
from tests.integration.store_files import Snapshots, record_ends, records_end, write_over

KEY = bytes(range(32))
CHILD = "Zebedee Quillfeather"
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
AUTHOR = Author("staff-ann", "phone-a")


def event(n: int, visit: str = "visit-1", kind: EventType = EventType.CHECKLIST_ANSWERED,
          **payload: object) -> Event:
    at = T0 + timedelta(seconds=n)
    return Event(id=new_event_id(at, n.to_bytes(10, "big")), visit_id=visit, type=kind, at=at,
                 author=AUTHOR, payload=payload or {"item": f"item-{n}", "answer": "yes"})


@pytest.fixture(params=["memory", "encrypted"])
def repo(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Repository]:
    store: Repository = (MemoryRepository() if request.param == "memory"
                         else EncryptedRepository(tmp_path / "store", KEY, compact_every=5))
    yield store
    store.close()


# --- the contract, over both ---------------------------------------------------------------

def test_appended_events_come_back_in_order_per_visit(repo: Repository) -> None:
    repo.append([event(3), event(1), event(2, visit="visit-2")])
    repo.append([event(4)])
    assert [e.payload["item"] for e in repo.events("visit-1")] == ["item-1", "item-3", "item-4"]
    assert repo.visit_ids() == ("visit-1", "visit-2")
    assert repo.events("nobody") == ()
    assert repo.count() == 4


def test_a_resent_event_is_a_no_op_and_a_conflicting_one_is_refused(repo: Repository) -> None:
    repo.append([event(1)])
    repo.append([event(1), event(1)])
    assert repo.count() == 1
    clash = Event(id=event(1).id, visit_id="visit-1", type=EventType.LEFT, at=T0, author=AUTHOR)
    with pytest.raises(EventError, match="different event"):
        repo.append([clash])
    with pytest.raises(EventError, match="share this id"):
        repo.append([event(2), Event(id=event(2).id, visit_id="visit-1", type=EventType.LEFT,
                                     at=T0, author=AUTHOR)])
    assert repo.count() == 1  # a refused batch changes nothing


def test_only_unsynced_events_wait_in_the_outbox(repo: Repository) -> None:
    repo.append([event(n) for n in range(1, 8)])
    repo.mark_synced([event(2).id, event(5).id, "no-such-event"])
    assert [e.id for e in repo.unsynced()] == [event(n).id for n in (1, 3, 4, 6, 7)]
    repo.mark_synced([event(n).id for n in range(1, 8)])
    assert repo.unsynced() == ()


def test_a_finalised_visit_leaves_only_its_sealed_record(repo: Repository) -> None:
    repo.append([event(1, payload_child=CHILD), event(2), event(3, visit="visit-2")])
    repo.mark_synced([event(1).id, event(2).id])
    repo.finalise("visit-1", "rec-1", b"sealed bytes", {"sealed_at": "2026-11-23T12:00:00Z"})
    assert repo.events("visit-1") == () and repo.visit_ids() == ("visit-2",)
    assert [e.visit_id for e in repo.unsynced()] == ["visit-2"]
    assert repo.sealed() == (("rec-1", b"sealed bytes"),)
    assert repo.receipts() == {"visit-1": {"sealed_at": "2026-11-23T12:00:00Z",
                                           "record_id": "rec-1"}}
    repo.acknowledge_sealed("rec-1")
    assert repo.sealed() == ()


def test_a_visit_is_never_sealed_before_the_hub_holds_all_of_it(repo: Repository) -> None:
    repo.append([event(1), event(2)])
    repo.mark_synced([event(1).id])
    with pytest.raises(NotAcknowledgedError, match="1 event"):
        repo.finalise("visit-1", "rec-1", b"sealed bytes")
    assert len(repo.events("visit-1")) == 2 and repo.sealed() == () and repo.receipts() == {}


def test_a_pull_never_brings_a_purged_visit_back(repo: Repository) -> None:
    repo.append([event(1)], synced=True)
    repo.finalise("visit-1", "rec-1", b"sealed")
    repo.append([event(2)], synced=True)  # the partner's late event, pulled afterwards
    assert repo.events("visit-1") == () and repo.visit_ids() == ()


def test_pulled_events_are_never_pushed(repo: Repository) -> None:
    repo.append([event(1)])
    repo.append([event(2), event(3)], synced=True)
    assert [e.id for e in repo.unsynced()] == [event(1).id]


def test_refused_events_wait_aside_with_the_hubs_reason(repo: Repository) -> None:
    repo.append([event(n) for n in (1, 2, 3)])
    repo.quarantine({event(2).id: "payload: unknown field", "no-such-event": "x"})
    assert [e.id for e in repo.unsynced()] == [event(1).id, event(3).id]
    assert [(e.id, why) for e, why in repo.quarantined()] == [
        (event(2).id, "payload: unknown field")]
    repo.mark_synced([event(2).id])  # the hub took it after all (a fixed hub, a resend)
    assert repo.quarantined() == () and repo.unsynced() == (event(1), event(3))
    repo.quarantine({event(2).id: "too late"})  # acknowledged: never set aside again
    assert repo.quarantined() == ()


def test_settings_are_kept_and_removed(repo: Repository) -> None:
    assert repo.get("cursor", 0) == 0
    repo.set("cursor", 41)
    repo.set("hub", {"url": "https://hub.example"})
    assert (repo.get("cursor"), repo.get("hub")) == (41, {"url": "https://hub.example"})
    repo.set("cursor", None)
    assert repo.get("cursor") is None


def test_unlock_tokens_wait_in_order_until_the_hub_takes_them(repo: Repository) -> None:
    for token in (b"first", b"second", b"third"):
        repo.record_unlock(token)
    repo.unlocks_sent(0)  # nothing taken: nothing changes
    repo.unlocks_sent(2)
    assert repo.unlocks() == (b"third",)


def test_a_record_id_must_be_safe_as_a_file_name(repo: Repository) -> None:
    with pytest.raises(ValueError, match="names a file"):
        repo.finalise("visit-1", "../../etc/passwd", b"x")


# --- only on disk --------------------------------------------------------------------------

def open_store(tmp_path: Path, **options: Any) -> EncryptedRepository:
    return EncryptedRepository(tmp_path / "store", KEY, **options)


def damaged_journal(tmp_path: Path, index: int, records: int = 2) -> bytes:
    """A closed store of `records` taps whose journal has one bit flipped at `index` (from
    the end of its records if negative)."""
    store = open_store(tmp_path)
    for n in range(1, records + 1):
        store.append([event(n)])
    store.close()
    (journal,) = (tmp_path / "store").glob("journal-*.log")
    blob = bytearray(journal.read_bytes())
    blob[index if index >= 0 else records_end(journal) + index] ^= 0x01
    journal.write_bytes(bytes(blob))
    return bytes(blob)


def test_everything_survives_closing_and_reopening(tmp_path: Path) -> None:
    store = open_store(tmp_path, compact_every=3)
    store.append([event(n) for n in range(1, 4)])
    for n in range(4, 12):
        store.append([event(n)])
    store.mark_synced([event(1).id])
    store.append([event(20, visit="visit-2")], synced=True)
    store.finalise("visit-2", "rec-9", b"envelope", {"sealed_at": "t"})
    store.quarantine({event(3).id: "refused"})
    store.set("cursor", 7)
    for compacted in (False, True):
        store.close()
        again = open_store(tmp_path)
        assert [e.id for e in again.events("visit-1")] == [event(n).id for n in range(1, 12)]
        assert event(1).id not in {e.id for e in again.unsynced()}
        assert event(3).id not in {e.id for e in again.unsynced()}
        assert [(e.id, why) for e, why in again.quarantined()] == [(event(3).id, "refused")]
        assert again.sealed() == (("rec-9", b"envelope"),)
        assert again.receipts() == {"visit-2": {"sealed_at": "t", "record_id": "rec-9"}}
        assert again.get("cursor") == 7
        if not compacted:
            again.compact()  # the same from the snapshot as from the journal
        store = again
    store.close()


def test_nothing_personal_is_written_in_clear(tmp_path: Path) -> None:
    store = open_store(tmp_path, compact_every=4)
    for n in range(1, 12):
        store.append([event(n, child=CHILD, address="1 Quill Lane")])
    store.compact()
    store.close()
    for path in (tmp_path / "store").rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert b"Quillfeather" not in content and b"Quill Lane" not in content, path
            assert oct(path.stat().st_mode & 0o777) == oct(0o600), path


RECORD_CUT_SHORT = FRAME.pack(300, zlib.crc32(LENGTH.pack(300))) + b"\x17" * 100
A_LATER_SECTOR_WRITTEN = bytes(SECTOR) + b"\x17" * 200
TORN_TAILS = {
    "record cut short, in the room ahead": (RECORD_CUT_SHORT, True),
    "a later sector written, in the room ahead": (A_LATER_SECTOR_WRITTEN, True),
    "record cut short, at the file's end": (RECORD_CUT_SHORT, False),
    "frame header cut short, at the file's end": (b"\x00\x00\x01", False),
    "a later sector written, at the file's end": (A_LATER_SECTOR_WRITTEN, False),
}


@pytest.mark.parametrize(("tail", "grown"), TORN_TAILS.values(), ids=TORN_TAILS.keys())
def test_a_torn_last_record_is_dropped_and_the_rest_kept(tmp_path: Path, tail: bytes,
                                                         grown: bool) -> None:
    """A crash in the middle of a write: over the zeros the journal keeps ahead of its
    records, or at the end of a journal without them (written before they were kept)."""
    store = open_store(tmp_path)
    store.append([event(1)])
    store.append([event(2)])
    store.close()
    (journal,) = (tmp_path / "store").glob("journal-*.log")
    end = records_end(journal)
    if not grown:
        journal.write_bytes(journal.read_bytes()[:end])
    write_over(journal, end, tail)
    again = open_store(tmp_path)
    assert [e.id for e in again.events("visit-1")] == [event(1).id, event(2).id]
    assert not any(journal.read_bytes()[end:])  # the torn write is zeroed, not kept
    again.append([event(3)])
    again.close()
    assert open_store(tmp_path).count() == 3


def test_a_record_with_a_sector_never_written_is_a_write_cut_short(tmp_path: Path) -> None:
    """A long record spans sectors; a power cut may leave any of them unwritten (zeros),
    even one before its tag. Only the last record can be so, and only with nothing after."""
    store = open_store(tmp_path)
    store.append([event(1)])
    store.append([event(2, child="K" * 2000)])
    store.close()
    (journal,) = (tmp_path / "store").glob("journal-*.log")
    start, end = record_ends(journal)[-2:]
    sector = (start // SECTOR + 2) * SECTOR
    assert sector + SECTOR < end
    intact = journal.read_bytes()
    write_over(journal, sector, bytes(SECTOR))
    again = open_store(tmp_path)
    assert [e.id for e in again.events("visit-1")] == [event(1).id]
    again.close()
    journal.write_bytes(intact[:sector] + bytes(SECTOR) + intact[sector + SECTOR:end]
                        + bytes(SECTOR) + b"\x17" + intact[end + SECTOR + 1:])
    with pytest.raises(TamperedStoreError, match="record 2 has been altered"):
        open_store(tmp_path)  # written after it: not a write cut short


def test_the_journal_grows_ahead_of_its_records_and_reopens_at_each_step(
        tmp_path: Path) -> None:
    store = open_store(tmp_path, compact_every=10_000)
    (journal,) = (tmp_path / "store").glob("journal-*.log")
    assert journal.stat().st_size == GROW
    n = 0
    while journal.stat().st_size == GROW:
        n += 1
        store.append([event(n, child="K" * 1000)])
    assert journal.stat().st_size == 2 * GROW and records_end(journal) > GROW
    store.close()
    again = open_store(tmp_path, compact_every=10_000)
    assert again.count() == n
    again.append([event(n + 1)])
    again.close()
    assert open_store(tmp_path).count() == n + 1


def test_a_damaged_record_in_the_middle_is_refused_not_dropped(tmp_path: Path) -> None:
    damaged = damaged_journal(tmp_path, 60, records=3)  # inside the first record
    with pytest.raises(TamperedStoreError):
        open_store(tmp_path)
    (journal,) = (tmp_path / "store").glob("journal-*.log")
    assert journal.read_bytes() == damaged  # left as found


def test_a_damaged_length_is_refused(tmp_path: Path) -> None:
    damaged_journal(tmp_path, 29 + 2)  # the first frame's length
    with pytest.raises(TamperedStoreError, match="length"):
        open_store(tmp_path)


def test_another_key_cannot_open_the_store(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.append([event(1)])
    store.close()
    with pytest.raises(WrongKeyError):
        EncryptedRepository(tmp_path / "store", bytes(32))


def test_a_rolled_back_snapshot_is_refused(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.append([event(1)])
    store.compact()
    old = (tmp_path / "store" / "store.db").read_bytes()
    store.append([event(2)])
    store.compact()
    generation = store.generation
    store.close()
    (tmp_path / "store" / "store.db").write_bytes(old)
    with pytest.raises(RolledBackStoreError):
        EncryptedRepository(tmp_path / "store", KEY, generation=generation)


def test_a_compaction_cut_short_loses_nothing(tmp_path: Path) -> None:
    """Crash after the new journal started but before the snapshot was written."""
    snapshots = Snapshots()
    store = open_store(tmp_path, snapshot=snapshots)
    store.append([event(1)])
    store.append([event(2)])
    snapshots.cut()
    with pytest.raises(OSError, match="power cut"):
        store.compact()
    store.append([event(3)])
    store.close()
    assert len(list((tmp_path / "store").glob("journal-*.log"))) == 2
    again = open_store(tmp_path)
    assert again.count() == 3
    again.compact()
    assert len(list((tmp_path / "store").glob("journal-*.log"))) == 1
    again.close()


def test_a_seal_cut_short_is_completed_on_open(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The record is in the outbox, but the power went before its purge was journaled."""
    store = open_store(tmp_path)
    store.append([event(1), event(2, visit="visit-2")])
    store.mark_synced([event(1).id])

    def power_cut(fd: int) -> None:
        raise OSError("power cut")

    monkeypatch.setattr("os.fdatasync", power_cut)  # the journal's, not the outbox's fsync
    with pytest.raises(OSError, match="power cut"):
        store.finalise("visit-1", "rec-1", b"envelope")
    monkeypatch.undo()
    assert (tmp_path / "store" / "outbox" / "rec-1.sealed").exists()
    store.close()
    again = open_store(tmp_path)
    assert again.visit_ids() == ("visit-2",)
    assert again.sealed() == (("rec-1", b"envelope"),)
    again.acknowledge_sealed("rec-1")  # the hub took it: its files go...
    again.close()
    third = open_store(tmp_path)  # ...and the visit does not come back with them
    assert third.visit_ids() == ("visit-2",) and third.sealed() == ()
    third.close()


def test_a_seal_cut_short_before_its_record_was_written_leaves_the_visit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import fieldapp.store.repository as module

    store = open_store(tmp_path)
    store.append([event(1)], synced=True)
    written = module.write_atomically

    def crash_after_the_name(path: Path, data: bytes) -> None:
        if path.suffix == ".sealed":
            raise OSError("power cut")
        written(path, data)

    monkeypatch.setattr(module, "write_atomically", crash_after_the_name)
    with pytest.raises(OSError, match="power cut"):
        store.finalise("visit-1", "rec-1", b"envelope")
    store.close()
    outbox = tmp_path / "store" / "outbox"
    assert [p.name for p in outbox.iterdir()] == ["rec-1.visit"]
    again = open_store(tmp_path)
    assert again.visit_ids() == ("visit-1",) and again.sealed() == ()
    assert list(outbox.iterdir()) == []
    again.close()


def test_leftover_temp_files_in_the_outbox_are_removed(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.close()
    leftovers = [tmp_path / "store" / "outbox" / ".tmp-rec-1.sealed.abcd",
                 tmp_path / "store" / ".tmp-journal-00000002.log.abcd"]
    for leftover in leftovers:
        leftover.write_bytes(b"half")
    open_store(tmp_path).close()
    assert not any(leftover.exists() for leftover in leftovers)


def test_a_journal_is_never_made_twice(tmp_path: Path) -> None:
    from fieldapp.store.journal import Journal

    open_store(tmp_path).close()
    (journal,) = (tmp_path / "store").glob("journal-*.log")
    with pytest.raises(FileExistsError):
        Journal.create(journal, KEY)


def test_a_failed_write_is_not_acknowledged_and_leaves_no_half_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(tmp_path)
    store.append([event(1)])

    def disk_gone(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr("os.fdatasync", disk_gone)
    with pytest.raises(OSError, match="Input/output"):
        store.append([event(2)])
    monkeypatch.undo()
    assert store.count() == 1  # not acknowledged, not in the state
    store.append([event(3)])
    store.close()
    assert [e.id for e in open_store(tmp_path).events("visit-1")] == [event(1).id, event(3).id]


def test_a_journal_that_cannot_be_cut_back_refuses_further_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(tmp_path)

    def fail(*args: object) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr("os.fdatasync", fail)
    monkeypatch.setattr("os.ftruncate", fail)
    with pytest.raises(OSError):
        store.append([event(1)])
    monkeypatch.undo()
    with pytest.raises(StoreError, match="reopen the store"):
        store.append([event(2)])
    store.close()
    assert open_store(tmp_path).count() <= 1


@pytest.mark.parametrize("index", [-1, -40], ids=["its tag", "its ciphertext"])
def test_damage_to_the_very_last_record_is_refused_and_the_file_kept(
        tmp_path: Path, index: int) -> None:
    """A whole last record that fails its tag was written and then changed: no crash leaves
    that (a write cut short leaves a prefix, or a frame whose end is zeros)."""
    damaged = damaged_journal(tmp_path, index)
    with pytest.raises(TamperedStoreError, match=r"journal-00000001\.log: record 2"):
        open_store(tmp_path)
    (journal,) = (tmp_path / "store").glob("journal-*.log")
    assert journal.read_bytes() == damaged


def test_a_last_record_whose_end_was_never_written_is_a_write_cut_short(
        tmp_path: Path) -> None:
    damaged_journal(tmp_path, 0)
    (journal,) = (tmp_path / "store").glob("journal-*.log")
    blob = bytearray(journal.read_bytes())
    blob[0] ^= 0x01  # the magic back as it was
    end = records_end(journal)
    blob[end - 20:end] = bytes(20)  # the crash left the end of the frame unwritten
    journal.write_bytes(bytes(blob))
    again = open_store(tmp_path)
    assert [e.id for e in again.events("visit-1")] == [event(1).id]
    again.close()


@pytest.mark.parametrize(("content", "error"), [
    (b"HVJ", TruncatedStoreError), (b"XXXX" + bytes(40), NotAStoreError),
])
def test_a_journal_that_is_not_one_is_refused(tmp_path: Path, content: bytes,
                                             error: type[Exception]) -> None:
    open_store(tmp_path).close()
    (journal,) = (tmp_path / "store").glob("journal-*.log")
    journal.write_bytes(content)
    with pytest.raises(error):
        open_store(tmp_path)


def test_background_compaction_can_be_started_and_joined(tmp_path: Path) -> None:
    snapshots = Snapshots()
    store = open_store(tmp_path, snapshot=snapshots)
    store.append([event(n) for n in range(1, 50)])
    gate = snapshots.held = threading.Event()  # held until the second start has been asked
    store.start_compaction()
    assert store.compacting
    store.start_compaction()  # one at a time: no second journal is begun
    assert len(list((tmp_path / "store").glob("journal-*.log"))) == 2
    gate.set()
    store.append([event(60)])
    store.close()  # waits for the snapshot
    assert not store.compacting
    assert len(list((tmp_path / "store").glob("journal-*.log"))) == 1
    assert open_store(tmp_path).count() == 50


def test_marking_nothing_new_as_synced_writes_nothing(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.append([event(1)])
    store.mark_synced([event(1).id])
    (journal,) = (tmp_path / "store").glob("journal-*.log")
    size = journal.stat().st_size
    store.mark_synced([event(1).id, "unknown"])
    assert journal.stat().st_size == size
    store.close()
    store.close()  # closing twice is harmless


def test_replaying_a_record_twice_changes_nothing() -> None:
    from fieldapp.store.repository import _State

    state = _State()
    record = {"op": "append", "events": [event(1).to_dict()]}
    state.apply(record)
    state.apply(record)
    assert len(state.docs) == 1


def test_what_was_synced_stays_synced_through_a_snapshot(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.append([event(1), event(2)])
    store.mark_synced([event(1).id])
    store.compact()
    store.close()
    again = open_store(tmp_path)
    assert [e.id for e in again.unsynced()] == [event(2).id]
    again.close()


def test_a_journal_left_behind_after_its_snapshot_is_removed_not_replayed(
    tmp_path: Path,
) -> None:
    """Crash after the snapshot was written but before the old journal was deleted."""
    store = open_store(tmp_path)
    store.append([event(1), event(2)])
    (journal,) = (tmp_path / "store").glob("journal-*.log")
    left_behind = journal.read_bytes()
    store.compact()
    store.close()
    journal.write_bytes(left_behind)
    again = open_store(tmp_path)
    assert again.count() == 2 and not journal.exists()
    again.close()


def test_events_the_hub_lost_are_pushed_again(repo: Repository) -> None:
    repo.append([event(1), event(2)])
    repo.mark_synced([event(1).id, event(2).id])
    repo.resync([event(1).id, "no-such-event"])
    assert [e.id for e in repo.unsynced()] == [event(1).id]
    repo.mark_synced([event(1).id])
    repo.resync([])
    assert repo.unsynced() == ()


def test_a_visit_with_nothing_of_this_phones_is_dropped_without_a_record(
        repo: Repository) -> None:
    repo.append([event(1)], synced=True)
    repo.drop("visit-1", {"sealed_at": "t"})
    assert repo.visit_ids() == () and repo.sealed() == ()
    assert repo.receipts() == {"visit-1": {"sealed_at": "t", "record_id": ""}}
    repo.append([event(2, visit="visit-2")])
    with pytest.raises(NotAcknowledgedError):
        repo.drop("visit-2")


def test_a_visit_that_changed_while_it_was_sealed_is_not_purged(repo: Repository) -> None:
    """What was sealed is named: an event that came meanwhile (a pull, a tap) keeps the visit."""
    repo.append([event(1)], synced=True)
    sealed = [event(1).id]
    repo.append([event(2)], synced=True)  # pulled while the record was being sealed
    with pytest.raises(NotAcknowledgedError, match="changed while it was being sealed"):
        repo.finalise("visit-1", "rec-1", b"sealed", sealed=sealed)
    assert len(repo.events("visit-1")) == 2 and repo.sealed() == ()


def test_a_tap_while_the_outbox_is_written_keeps_the_visit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The lock is let go while the sealed record is written: a tap then is checked for."""
    import fieldapp.store.repository as module

    store = open_store(tmp_path)
    store.append([event(1)], synced=True)
    written = module.write_atomically

    def write_then_tap(path: Path, data: bytes) -> None:
        written(path, data)
        if path.suffix == ".sealed":
            store.append([event(2)], synced=True)

    monkeypatch.setattr(module, "write_atomically", write_then_tap)
    with pytest.raises(NotAcknowledgedError, match="changed while"):
        store.finalise("visit-1", "rec-1", b"sealed", sealed=[event(1).id])
    assert len(store.events("visit-1")) == 2 and store.sealed() == ()
    assert list((tmp_path / "store" / "outbox").iterdir()) == []  # nothing left behind
    store.close()
