"""EncryptedStorage: a drop-in for TinyDB's JSONStorage that is encrypted and crash-safe,
and that refuses every damaged file with an error saying what is wrong."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tinydb import Query, TinyDB
from tinydb.storages import MemoryStorage

from fieldapp.crypto.storage import (
    HEADER,
    EmptyStoreError,
    EncryptedStorage,
    NotAStoreError,
    RolledBackStoreError,
    TamperedStoreError,
    TruncatedStoreError,
    WrongKeyError,
)

KEY = bytes(range(32))
OTHER_KEY = bytes(32)
CHILD = "Zebedee Quillfeather"  # a sentinel name: it must never appear on disk in clear


@pytest.fixture(params=["memory", "encrypted"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TinyDB]:
    """The same TinyDB behaviour over the in-memory twin and the encrypted file."""
    if request.param == "memory":
        database = TinyDB(storage=MemoryStorage)
    else:
        database = TinyDB(tmp_path / "store.db", storage=EncryptedStorage, key=KEY)
    yield database
    database.close()


def test_every_tinydb_feature_works_on_the_storage(db: TinyDB) -> None:
    visits = db.table("visits")
    first = visits.insert({"child": CHILD, "phase": "planned", "n": 1})
    visits.insert_multiple([{"child": "B", "phase": "left", "n": 2},
                            {"child": "C", "phase": "left", "n": 3}])
    visit = Query()
    assert visits.get(doc_id=first)["child"] == CHILD  # type: ignore[index]
    assert len(visits.search(visit.phase == "left")) == 2
    visits.update({"phase": "inside"}, doc_ids=[first])
    visits.upsert({"child": "D", "phase": "new", "n": 4}, visit.child == "D")
    visits.remove(visit.n == 3)
    assert sorted(d["n"] for d in visits.all()) == [1, 2, 4]
    assert visits.count(visit.phase == "inside") == 1
    db.drop_table("visits")
    assert db.tables() == set()


def test_the_database_survives_closing_and_reopening(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    with TinyDB(path, storage=EncryptedStorage, key=KEY) as db:
        db.table("events").insert({"type": "arrived", "child": CHILD})
    with TinyDB(path, storage=EncryptedStorage, key=KEY) as db:
        assert db.table("events").all() == [{"type": "arrived", "child": CHILD}]


def test_nothing_personal_is_written_in_clear(tmp_path: Path) -> None:
    with TinyDB(tmp_path / "store.db", storage=EncryptedStorage, key=KEY) as db:
        for n in range(20):
            db.table("visits").insert({"child": CHILD, "n": n})
    for file in tmp_path.iterdir():
        content = file.read_bytes()
        assert CHILD.encode() not in content and b"Zebedee" not in content
        assert stat.S_IMODE(file.stat().st_mode) == 0o600


def test_every_write_uses_a_fresh_nonce_and_a_higher_generation(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    storage = EncryptedStorage(path, key=KEY)
    storage.write({"t": {"1": {"a": 1}}})
    first = path.read_bytes()
    storage.write({"t": {"1": {"a": 1}}})
    second = path.read_bytes()
    assert first != second
    nonce = slice(HEADER.size, HEADER.size + 12)
    assert first[nonce] != second[nonce]
    assert HEADER.unpack_from(first)[3] == 1 and HEADER.unpack_from(second)[3] == 2


def written(tmp_path: Path, data: dict[str, Any] | None = None) -> Path:
    path = tmp_path / "store.db"
    EncryptedStorage(path, key=KEY).write(data or {"events": {"1": {"child": CHILD}}})
    return path


def test_a_missing_file_is_a_new_empty_database(tmp_path: Path) -> None:
    assert EncryptedStorage(tmp_path / "new.db", key=KEY).read() is None


def test_a_zero_length_file_is_refused_not_taken_as_empty(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    path.write_bytes(b"")
    with pytest.raises(EmptyStoreError, match="is empty"):
        EncryptedStorage(path, key=KEY).read()
    with pytest.raises(EmptyStoreError):
        TinyDB(path, storage=EncryptedStorage, key=KEY).table("events").all()
    assert path.read_bytes() == b""  # never overwritten


@pytest.mark.parametrize("keep", [2, HEADER.size, HEADER.size + 20])
def test_a_truncated_file_is_refused(tmp_path: Path, keep: int) -> None:
    path = written(tmp_path)
    path.write_bytes(path.read_bytes()[:keep])
    with pytest.raises(TruncatedStoreError, match=rf"^store\.db is cut off \({keep} bytes\)$"):
        EncryptedStorage(path, key=KEY).read()


def test_a_file_that_is_not_a_store_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    path.write_text('{"_default": {}}')  # a plain JSONStorage file
    with pytest.raises(NotAStoreError, match="not a Home Visits store file"):
        EncryptedStorage(path, key=KEY).read()


def test_a_future_format_version_is_refused(tmp_path: Path) -> None:
    path = written(tmp_path)
    blob = bytearray(path.read_bytes())
    blob[4] = 9
    path.write_bytes(bytes(blob))
    with pytest.raises(NotAStoreError, match="store format 9"):
        EncryptedStorage(path, key=KEY).read()


def test_the_wrong_key_is_told_apart_from_tampering(tmp_path: Path) -> None:
    path = written(tmp_path)
    with pytest.raises(WrongKeyError, match="another key"):
        EncryptedStorage(path, key=OTHER_KEY).read()


@pytest.mark.parametrize("where", ["generation", "nonce", "body", "tag"])
def test_any_flipped_byte_is_detected(tmp_path: Path, where: str) -> None:
    path = written(tmp_path)
    blob = bytearray(path.read_bytes())
    index = {"generation": HEADER.size - 1, "nonce": HEADER.size + 3,
             "body": HEADER.size + 14, "tag": len(blob) - 1}[where]
    blob[index] ^= 0x01
    path.write_bytes(bytes(blob))
    with pytest.raises(TamperedStoreError, match="altered or damaged"):
        EncryptedStorage(path, key=KEY).read()
    assert path.read_bytes() == bytes(blob)  # left as found, for investigation


def test_a_rolled_back_copy_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    storage = EncryptedStorage(path, key=KEY)
    storage.write({"events": {"1": {"type": "arrived"}}})
    old_copy = path.read_bytes()
    storage.write({"events": {"1": {"type": "arrived"}, "2": {"type": "left"}}})
    path.write_bytes(old_copy)
    with pytest.raises(RolledBackStoreError, match="generation 1, older than 2"):
        storage.read()
    with pytest.raises(RolledBackStoreError):
        EncryptedStorage(path, key=KEY, min_generation=2).read()


def test_a_deleted_file_after_writes_is_a_rollback_not_a_new_database(tmp_path: Path) -> None:
    path = written(tmp_path)
    path.unlink()
    with pytest.raises(RolledBackStoreError, match="missing"):
        EncryptedStorage(path, key=KEY, min_generation=1).read()


def test_leftover_temp_files_from_a_crash_are_cleaned_on_open(tmp_path: Path) -> None:
    path = written(tmp_path)
    leftover = tmp_path / ".tmp-store.db.deadbeef"
    leftover.write_bytes(b"half a write")
    unrelated = tmp_path / "notes.txt"
    unrelated.write_text("keep me")
    EncryptedStorage(path, key=KEY)
    assert not leftover.exists() and unrelated.exists()


def test_a_failed_write_leaves_the_old_database_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = written(tmp_path)
    before = path.read_bytes()
    storage = EncryptedStorage(path, key=KEY)

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        storage.write({"events": {}})
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["store.db"]
    assert storage.generation == 0  # nothing acknowledged


def test_only_a_32_byte_key_is_accepted(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="32-byte key"):
        EncryptedStorage(tmp_path / "x.db", key=b"short")


def test_the_storage_can_create_its_private_directory(tmp_path: Path) -> None:
    path = tmp_path / "app" / "data" / "store.db"
    EncryptedStorage(path, key=KEY, create_dirs=True).write({"t": {}})
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
