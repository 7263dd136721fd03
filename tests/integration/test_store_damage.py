"""The store against what it last wrote (its anchor, kept by the key vault): a journal or
snapshot that is missing, older, cut short, substituted or planted is refused with an error
naming the file, and the files are left exactly as they were found. What no check can see is
written down in docs/store-format.md and pinned here too, so the document stays true."""

from __future__ import annotations

import contextlib
import hashlib
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from fieldapp.crypto.keystore import KeystoreUnavailable, MemoryKeystore, NoKeystore
from fieldapp.crypto.storage import (
    MissingStoreFileError,
    RolledBackStoreError,
    StoreError,
    TamperedStoreError,
)
from fieldapp.crypto.vault import KeystoreNotAnswering, ScryptParams, Vault, reencrypt_store
from fieldapp.domain.events import Author
from fieldapp.store.repository import EncryptedRepository
from fieldapp.store.session import STORE, open_store, rotate_key
from tests.integration.store_files import Snapshots, record_ends, records_end
from tests.integration.test_repository import KEY, event

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
FAST = ScryptParams(n=2**10, r=8, p=1)
PIN, DURESS = "28491375", "71930564"
AUTHOR = Author("staff-ann", "phone-a")


class Keeper:
    """The vault's part in it, in memory: the anchor document and the keystore's serial."""

    def __init__(self) -> None:
        self.document: dict[str, Any] | None = None
        self.serial = 0
        self.fail_at: int | None = None  # a power cut at this save
        self.saves = 0

    def load_anchor(self) -> tuple[dict[str, Any] | None, int]:
        return self.document, self.serial

    def save_anchor(self, document: dict[str, Any], serial: int) -> None:
        self.saves += 1
        if self.saves == self.fail_at:
            raise OSError("power cut")
        self.document, self.serial = document, serial


def files(folder: Path) -> dict[str, str]:
    """Every file under `folder` and a digest of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def refused(directory: Path, keeper: Keeper | None, error: type[StoreError],
            match: str) -> None:
    """Opening is refused with `error` naming what is wrong, and nothing on disk changes."""
    before = files(directory)
    anchor = None if keeper is None else dict(keeper.document or {})
    with pytest.raises(error, match=match):
        EncryptedRepository(directory, KEY, anchor=keeper)
    assert files(directory) == before, "a refused store is left as it was found"
    assert keeper is None or (keeper.document or {}) == anchor


def store_of(directory: Path, keeper: Keeper | None, taps: int = 5, close: bool = True,
             snapshots: Snapshots | None = None) -> EncryptedRepository:
    store = EncryptedRepository(directory, KEY, anchor=keeper, snapshot=snapshots or Snapshots())
    for n in range(1, taps + 1):
        store.append([event(n)])
    if close:
        store.close()
    return store


def journal(directory: Path, number: int = 1) -> Path:
    return directory / f"journal-{number:08d}.log"


# --- the journal, after a clean close --------------------------------------------------------

CUTS: dict[str, Callable[[list[int]], int]] = {
    "the last record": lambda ends: ends[-2],
    "the last three": lambda ends: ends[-4],
    "inside a record": lambda ends: ends[-3] + 20,
    "to its header": lambda ends: 29,
}


@pytest.mark.parametrize("cut", CUTS.values(), ids=CUTS.keys())
def test_records_removed_from_the_journals_end_are_refused(tmp_path: Path,
                                                           cut: Callable[[list[int]], int]) -> None:
    keeper, directory = Keeper(), tmp_path / "store"
    store_of(directory, keeper)
    path = journal(directory)
    path.write_bytes(path.read_bytes()[:cut(record_ends(path))])
    refused(directory, keeper, RolledBackStoreError,
            r"journal-00000001.log holds \d record\(s\), fewer than the 5 the vault recorded")


def test_a_journal_put_back_from_an_older_copy_is_refused(tmp_path: Path) -> None:
    keeper, directory = Keeper(), tmp_path / "store"
    store_of(directory, keeper, taps=2)
    older = journal(directory).read_bytes()
    store = EncryptedRepository(directory, KEY, anchor=keeper)
    store.append([event(3)])
    store.close()
    journal(directory).write_bytes(older)
    refused(directory, keeper, RolledBackStoreError, "fewer than the 3")


@pytest.mark.parametrize(("snapshot", "kept"), [(False, True), (True, True), (True, False)],
                         ids=["journal only", "with a snapshot", "no vault, with a snapshot"])
def test_a_deleted_journal_is_refused_not_replaced_by_an_empty_one(
        tmp_path: Path, snapshot: bool, kept: bool) -> None:
    keeper, directory = (Keeper() if kept else None), tmp_path / "store"
    store = store_of(directory, keeper, close=False)
    if snapshot:
        store.compact()
        store.append([event(9)])
    store.close()
    (path,) = directory.glob("journal-*.log")
    path.unlink()
    refused(directory, keeper, MissingStoreFileError, f"{path.name} is missing")


def test_a_missing_journal_number_is_refused(tmp_path: Path) -> None:
    """The snapshot names journal 2; only journal 3 is there."""
    keeper, directory = Keeper(), tmp_path / "store"
    snapshots = Snapshots()
    store = store_of(directory, keeper, close=False, snapshots=snapshots)
    store.compact()  # snapshot: carry on in journal 2
    snapshots.cut()
    store.append([event(8)])
    with pytest.raises(OSError):
        store.compact()  # journal 3 begun; this snapshot never written
    store.append([event(9)])
    store.close()
    journal(directory, 2).unlink()
    refused(directory, keeper, MissingStoreFileError, "journal-00000002.log is missing")
    refused(directory, None, MissingStoreFileError, "journal-00000002.log is missing")


def test_a_journal_from_another_store_under_the_same_key_is_refused(tmp_path: Path) -> None:
    keeper, directory = Keeper(), tmp_path / "store"
    store_of(directory, keeper, taps=2)
    store_of(tmp_path / "other", None, taps=7)
    shutil.copy(journal(tmp_path / "other"), journal(directory))
    refused(directory, keeper, TamperedStoreError,
            "journal-00000001.log has been replaced by another journal")


def test_a_journal_newer_than_anything_the_store_wrote_is_refused(tmp_path: Path) -> None:
    keeper, directory = Keeper(), tmp_path / "store"
    store_of(directory, keeper, taps=2)
    for number in (2, 3):
        shutil.copy(journal(directory), journal(directory, number))
    refused(directory, keeper, TamperedStoreError, "journal-00000003.log is newer")


def test_a_whole_record_damaged_at_the_journals_end_is_refused_even_without_a_vault(
        tmp_path: Path) -> None:
    directory = tmp_path / "store"
    store_of(directory, None)
    blob = bytearray(journal(directory).read_bytes())
    blob[records_end(journal(directory)) - 1] ^= 1
    journal(directory).write_bytes(bytes(blob))
    refused(directory, None, TamperedStoreError, "record 5 has been altered")


def test_an_earlier_journal_ending_in_a_cut_off_record_is_refused(tmp_path: Path) -> None:
    keeper, directory = Keeper(), tmp_path / "store"
    snapshots = Snapshots()
    store = store_of(directory, keeper, close=False, snapshots=snapshots)
    snapshots.cut()
    with pytest.raises(OSError):
        store.compact()
    store.close()
    with journal(directory).open("ab") as f:
        f.write(b"\x00\x00\x01")
    refused(directory, keeper, TamperedStoreError,
            "journal-00000001.log ends in a cut-off record, but a later journal follows it")


# --- the snapshot and the folder, after a stop without a clean close ---------------------------

def test_an_older_snapshot_put_back_after_the_app_was_killed_is_refused(tmp_path: Path) -> None:
    keeper, directory = Keeper(), tmp_path / "store"
    store = store_of(directory, keeper, close=False)
    store.compact()
    older = (directory / "store.db").read_bytes()
    store.append([event(9)])
    store.compact()  # recorded at once, not only on a clean close
    del store  # killed: never closed
    (directory / "store.db").write_bytes(older)
    refused(directory, keeper, RolledBackStoreError, "store.db is generation 1, older than")


def test_the_store_folder_put_back_from_an_older_copy_is_refused(tmp_path: Path) -> None:
    keeper, directory = Keeper(), tmp_path / "store"
    store = store_of(directory, keeper, close=False)
    store.compact()
    shutil.copytree(directory, tmp_path / "copy")
    for n in range(10, 14):
        store.append([event(n)])
    store.compact()
    store.append([event(20)])
    del store  # killed
    shutil.rmtree(directory)
    shutil.copytree(tmp_path / "copy", directory)
    refused(directory, keeper, RolledBackStoreError, "store.db is generation 1")


# --- what a crash at any step leaves -----------------------------------------------------------

@pytest.mark.parametrize("at", [1, 2, 3, 4], ids=["on open", "after the switch",
                                                  "after the snapshot", "on close"])
def test_a_power_cut_at_any_anchor_loses_nothing_and_the_store_opens(tmp_path: Path,
                                                                    at: int) -> None:
    keeper, directory = Keeper(), tmp_path / "store"
    store_of(directory, keeper, taps=3)
    keeper.saves, keeper.fail_at = 0, at
    with contextlib.suppress(OSError):
        store = EncryptedRepository(directory, KEY, anchor=keeper)  # save 1
        store.append([event(4)])
        store.start_compaction()  # saves 2 and 3, in the background
        store.wait_for_snapshot()
        store.append([event(5)])
        store.close()  # the last save
    keeper.fail_at = None
    again = EncryptedRepository(directory, KEY, anchor=keeper)
    assert again.count() == (3 if at == 1 else 5), "every acknowledged tap is there"
    again.close()


# --- the outbox --------------------------------------------------------------------------------

def sealed_visit(directory: Path, keeper: Keeper) -> EncryptedRepository:
    store = EncryptedRepository(directory, KEY, anchor=keeper)
    store.append([event(1), event(2, visit="visit-2")], synced=True)
    store.finalise("visit-1", "rec-1", b"envelope of visit 1")
    return store


def test_a_planted_record_naming_a_live_visit_is_refused_and_the_visit_kept(
        tmp_path: Path) -> None:
    keeper, directory = Keeper(), tmp_path / "store"
    sealed_visit(directory, keeper).close()
    outbox = directory / "outbox"
    (outbox / "rec-9.visit").write_bytes(b"visit-2")
    (outbox / "rec-9.sealed").write_bytes(b"anything")
    refused(directory, keeper, TamperedStoreError,
            "outbox/rec-9.visit was not written by this store")
    (outbox / "rec-9.visit").write_bytes((outbox / "rec-1.visit").read_bytes())  # moved
    refused(directory, keeper, TamperedStoreError, "outbox/rec-9.visit")
    (outbox / "rec-9.visit").unlink()
    refused(directory, keeper, TamperedStoreError, "outbox/rec-9.sealed has no .visit file")
    (outbox / "rec-9.sealed").unlink()
    (outbox / "rec-1.sealed").write_bytes(b"another record")
    refused(directory, keeper, TamperedStoreError,
            "outbox/rec-1.sealed is not the record its .visit file names")


def test_a_tap_recorded_while_a_seal_was_cut_short_is_kept(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A tap journaled after the outbox was written, then the phone died before the seal
    was checked again: the next open keeps the visit whole and drops the stale record."""
    import fieldapp.store.repository as module

    keeper, directory = Keeper(), tmp_path / "store"
    store = EncryptedRepository(directory, KEY, anchor=keeper)
    store.append([event(1)], synced=True)
    written = module.write_atomically

    def tap_then_die(path: Path, data: bytes) -> None:
        written(path, data)
        if path.suffix == ".sealed":
            store.append([event(2)], synced=True)
            raise KeyboardInterrupt("the phone died")

    monkeypatch.setattr(module, "write_atomically", tap_then_die)
    with pytest.raises(KeyboardInterrupt):
        store.finalise("visit-1", "rec-1", b"sealed", sealed=[event(1).id])
    monkeypatch.undo()
    again = EncryptedRepository(directory, KEY, anchor=keeper)
    assert [e.id for e in again.events("visit-1")] == [event(1).id, event(2).id]
    assert again.sealed() == () and list((directory / "outbox").iterdir()) == []
    again.close()


# --- through the vault -------------------------------------------------------------------------

def vault_with_store(folder: Path, keystore: MemoryKeystore | NoKeystore) -> Vault:
    Vault.create(folder, PIN, DURESS, keystore, NOW, kdf_params=FAST, kdf_floor=FAST)
    vault = Vault.open(folder, keystore)
    opened = open_store(vault, PIN, NOW)
    opened.repository.append([event(1), event(2)])
    opened.close()
    return vault


def test_an_altered_or_removed_anchor_in_the_vault_is_refused(tmp_path: Path) -> None:
    import json

    vault = vault_with_store(tmp_path, NoKeystore())
    document = json.loads(vault.path.read_text())
    document["store_anchor"]["journals"][0][2] = 0  # "it held no records"
    vault.path.write_text(json.dumps(document))
    with pytest.raises(TamperedStoreError, match="anchor has been altered"):
        open_store(vault, PIN, NOW)
    document["store_anchor"] = None
    vault.path.write_text(json.dumps(document))
    with pytest.raises(MissingStoreFileError, match=r"vault\.json has no record"):
        open_store(vault, PIN, NOW)


def app_folder_put_back(tmp_path: Path, keystore: MemoryKeystore | NoKeystore) -> Vault:
    """A phone whose whole app folder (vault.json and store) was copied, used on, then put
    back from the copy: its vault as it is now."""
    vault = vault_with_store(tmp_path / "app", keystore)
    shutil.copytree(tmp_path / "app", tmp_path / "copy")
    opened = open_store(vault, PIN, NOW)
    opened.repository.append([event(3)])
    opened.close()
    shutil.rmtree(tmp_path / "app")
    shutil.copytree(tmp_path / "copy", tmp_path / "app")
    return Vault.open(tmp_path / "app", keystore)


def test_the_whole_app_folder_put_back_is_refused_where_there_is_a_keystore(
        tmp_path: Path) -> None:
    vault = app_folder_put_back(tmp_path, MemoryKeystore())
    with pytest.raises(RolledBackStoreError, match="keystore"):
        open_store(vault, PIN, NOW)


def test_without_a_keystore_the_whole_app_folder_put_back_cannot_be_seen(
        tmp_path: Path) -> None:
    """The limit docs/store-format.md states: nothing outside the folder remembers it."""
    again = open_store(app_folder_put_back(tmp_path, NoKeystore()), PIN, NOW)
    assert again.repository.count() == 2
    again.close()


def test_a_rotation_keeps_the_anchor_and_a_closed_store_lets_its_key_go(tmp_path: Path) -> None:
    keystore = MemoryKeystore()
    vault = vault_with_store(tmp_path, keystore)
    rotate_key(vault, PIN, DURESS, NOW)
    opened = open_store(vault, PIN, NOW)
    assert opened.repository.count() == 2
    opened.repository.append([event(3)])
    opened.close()
    assert repr(opened.session) == "<Unlocked locked>"
    journals = sorted((tmp_path / STORE).glob("journal-*.log"))
    journals[-1].write_bytes(journals[-1].read_bytes()[:29])  # its records cut off
    with pytest.raises(RolledBackStoreError, match="fewer than"):
        open_store(vault, PIN, NOW)


def test_a_damaged_anchor_or_a_silent_keystore_opens_nothing(tmp_path: Path) -> None:
    import json

    keystore = SilentKeystore()
    vault = vault_with_store(tmp_path, keystore)
    keystore.silent_on = ".anchor"
    with pytest.raises(KeystoreNotAnswering):
        open_store(vault, PIN, NOW)
    keystore.silent_on = None
    document = json.loads(vault.path.read_text())
    for damaged in ({"serial": -1}, {**document["store_anchor"], "mac": "not hex"}):
        vault.path.write_text(json.dumps({**document, "store_anchor": damaged}))
        with pytest.raises(TamperedStoreError, match="anchor is damaged"):
            open_store(vault, PIN, NOW)


def test_records_under_the_old_key_after_a_rotations_rewrite_are_refused(
        tmp_path: Path) -> None:
    vault = vault_with_store(tmp_path, MemoryKeystore())
    opened = open_store(vault, PIN, NOW)
    opened.repository.compact()
    opened.repository.append([event(3)])
    opened.close()
    old, new = vault.rotate(PIN, DURESS, NOW)
    reencrypt_store(tmp_path / STORE / "store.db", old, new, vault.generation)
    with pytest.raises(TamperedStoreError, match="holds records under the old key"):
        open_store(vault, PIN, NOW)


class SilentKeystore(MemoryKeystore):
    """A keystore that stops answering for names ending so."""

    silent_on: str | None = None

    def get(self, name: str) -> bytes | None:
        if self.silent_on and name.endswith(self.silent_on):
            raise KeystoreUnavailable("the phone's keystore did not answer in time")
        return super().get(name)

    def set(self, name: str, value: bytes) -> None:
        if self.silent_on and name.endswith(self.silent_on):
            raise KeystoreUnavailable("the phone's keystore did not answer in time")
        super().set(name, value)
