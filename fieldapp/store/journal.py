"""An encrypted, append-only journal: the durable half of a tap.

Each record is sealed on its own (AES-256-GCM, its sequence number bound in as associated
data) and written with one write and one fdatasync, so the cost of making a tap durable does
not depend on how much is already stored. The file is grown ahead of its records, with zeros,
256 KiB at a time: a record is written over space already there, so its fdatasync has no file
size to record, as SQLite's WAL reuses its file. Replaying a journal after a crash drops a
torn last record (one whose write never returned, so nothing was acknowledged) and refuses
anything else: a damaged, reordered or altered record anywhere, the last one included, is
tampering.

File: header = magic `HVJL`, version 1, 16-byte journal id, 8-byte key id; then frames of
u32 length, u32 CRC-32 of that length, 12-byte nonce, ciphertext and tag, sealed with the
associated data header || u64 sequence (1, 2, ...), so no record can be moved or dropped
from the middle unnoticed; then zeros (docs/store-format.md). A write cut short leaves a
prefix of its frame, or its frame with whole sectors never written (zeros), and nothing after
it; a complete frame that fails its tag otherwise was written whole and then changed, and is
refused, the file left as it is.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from fieldapp.crypto.storage import (
    NotAStoreError,
    StoreError,
    TamperedStoreError,
    TruncatedStoreError,
    WrongKeyError,
    key_id,
    write_atomically,
)

MAGIC: Final = b"HVJL"
VERSION: Final = 1
HEADER: Final = struct.Struct(">4sB16s8s")
LENGTH: Final = struct.Struct(">I")
FRAME: Final = struct.Struct(">II")  # length, CRC-32 of the length
SEQUENCE: Final = struct.Struct(">Q")
NONCE_SIZE: Final = 12
TAG_SIZE: Final = 16
MAX_RECORD: Final = 16 * 1024 * 1024
GROW: Final = 256 * 1024  # the file grows this much at a time, zeros ahead of the records
SECTOR: Final = 512  # what a disk writes whole: a write cut short leaves whole sectors unwritten
TELLING: Final = 16  # the least run of zeros taken as never written (a tag's length)


class Journal:
    """Append sealed records to one journal file (`scan` reads one, `resume` carries on)."""

    def __init__(self, path: Path, key: bytes, header: bytes, next_sequence: int,
                 end: int) -> None:
        self.path = path
        self._aead = AESGCM(key)
        self._header = header
        self.sequence = next_sequence - 1
        self._fd = os.open(path, os.O_WRONLY)
        self._end = end  # where the next record goes: zeros from here on
        self._size = os.fstat(self._fd).st_size
        self._broken = False

    @classmethod
    def create(cls, path: Path, key: bytes) -> Journal:
        """A new, empty journal with room for its first records. It appears whole or not
        at all: a crash while it is being made must not leave a file too short to open."""
        if path.exists():
            raise FileExistsError(path)
        header = HEADER.pack(MAGIC, VERSION, os.urandom(16), key_id(key))
        write_atomically(path, header + bytes(GROW - HEADER.size))
        return cls(path, key, header, next_sequence=1, end=HEADER.size)

    @classmethod
    def resume(cls, path: Path, key: bytes, scanned: Scanned) -> Journal:
        """Append to a journal already read with `scan`, zeroing its torn last record."""
        if scanned.torn:  # a torn last record: never acknowledged
            fd = os.open(path, os.O_WRONLY)
            try:
                _write_at(fd, bytes(scanned.used - scanned.good_length), scanned.good_length)
                os.fdatasync(fd)
            finally:
                os.close(fd)
        return cls(path, key, scanned.header, next_sequence=len(scanned.records) + 1,
                   end=scanned.good_length)

    @property
    def journal_id(self) -> str:
        """The random id in the header, hex: tells this journal from any other."""
        return self._header[5:21].hex()

    def append(self, record: dict[str, Any]) -> int:
        """Seal and write one record; durable (fdatasynced) when this returns. If the write
        fails, what it wrote is zeroed again, so no half-record is left behind."""
        if self._broken:
            raise StoreError(f"{self.path.name} could not be repaired after a failed write: "
                             "reopen the store")
        self.sequence += 1
        plaintext = json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode()
        nonce = os.urandom(NONCE_SIZE)
        sealed = nonce + self._aead.encrypt(nonce, plaintext,
                                            self._header + SEQUENCE.pack(self.sequence))
        frame = FRAME.pack(len(sealed), zlib.crc32(LENGTH.pack(len(sealed)))) + sealed
        end = self._end + len(frame)
        size = max(self._size, -(-end // GROW) * GROW)  # grown, zeros and all, in this write
        try:
            _write_at(self._fd, frame + bytes(size - end) if size > self._size else frame,
                      self._end)
            os.fdatasync(self._fd)
        except BaseException:
            self.sequence -= 1
            try:
                os.ftruncate(self._fd, self._size)
                _write_at(self._fd, bytes(min(len(frame), self._size - self._end)), self._end)
            except OSError:
                self._broken = True
            raise
        self._end, self._size = end, size
        return self.sequence

    def close(self) -> None:
        os.close(self._fd)


def _write_at(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


@dataclass(frozen=True, slots=True)
class Scanned:
    """A journal file as read: its records, header, and how much of it is whole."""

    records: list[dict[str, Any]]
    header: bytes
    good_length: int  # the header and the whole records
    used: int  # up to the last byte that is not zero

    @property
    def torn(self) -> bool:
        """It ends in a record whose write was cut short."""
        return self.good_length < self.used

    @property
    def journal_id(self) -> str:
        return self.header[5:21].hex()


def scan(path: Path, key: bytes) -> Scanned:
    """Read a journal file without changing it; a StoreError naming it if it is damaged."""
    blob = path.read_bytes()
    records, header, good_length = _read(blob, key, path.name)
    return Scanned(records, header, good_length,
                   good_length + len(blob[good_length:].rstrip(b"\0")))


def _read(blob: bytes, key: bytes, name: str) -> tuple[list[dict[str, Any]], bytes, int]:
    """(records, header, length of the good prefix) of a journal file's bytes."""
    if len(blob) < HEADER.size:
        raise TruncatedStoreError(f"{name} is cut off before its header ends")
    magic, version, _journal_id, file_key_id = HEADER.unpack_from(blob)
    if magic != MAGIC or version != VERSION:
        raise NotAStoreError(f"{name} is not a Home Visits journal this app can read")
    if file_key_id != key_id(key):
        raise WrongKeyError(f"{name} was written under another key")
    header = blob[: HEADER.size]
    aead = AESGCM(key)
    plaintexts: list[bytes] = []
    offset = HEADER.size
    for start, end in _frames(blob, offset, name):
        sequence = len(plaintexts) + 1
        try:
            plaintexts.append(aead.decrypt(blob[start:start + NONCE_SIZE],
                                           blob[start + NONCE_SIZE:end],
                                           header + SEQUENCE.pack(sequence)))
        except InvalidTag:
            if _cut_short(blob, start, end):
                break  # the last write, partly never written: a crash before it returned
            raise TamperedStoreError(f"{name}: record {sequence} has been altered") from None
        offset = end
    records: list[dict[str, Any]] = json.loads(b"[" + b",".join(plaintexts) + b"]")  # at once
    return records, header, offset


def _frames(blob: bytes, offset: int, name: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each complete frame; stops at the zeros after the last one or at a
    torn last one, refuses a damaged one.

    A frame starts with its length and a CRC-32 of that length, so a damaged length is told
    apart from a write cut short (which leaves a prefix of one frame, or zeros)."""
    while offset < len(blob):
        if len(blob) - offset < FRAME.size:
            return  # a torn frame header
        length, check = FRAME.unpack_from(blob, offset)
        if check != zlib.crc32(LENGTH.pack(length)) or not NONCE_SIZE < length <= MAX_RECORD:
            if not any(blob[offset:offset + FRAME.size]) and _zeros_after(
                    blob, offset + FRAME.size + MAX_RECORD):
                return  # zeros: room for records to come, or a write whose start never landed
            raise TamperedStoreError(f"{name}: a record's length has been altered")
        start, end = offset + FRAME.size, offset + FRAME.size + length
        if end > len(blob):
            return  # the last write, cut short
        yield start, end
        offset = end


def _cut_short(blob: bytes, start: int, end: int) -> bool:
    """Whether the frame body [start, end), which fails its tag, is the last write cut short:
    nothing written after it, and its tag or a sector's share of it never written (zeros)."""
    if not _zeros_after(blob, end):
        return False
    if not any(blob[end - TAG_SIZE:end]):
        return True
    edge = start
    while edge < end:
        upto = min(end, (edge // SECTOR + 1) * SECTOR)
        if upto - edge >= TELLING and blob.count(0, edge, upto) == upto - edge:
            return True
        edge = upto
    return False


def _zeros_after(blob: bytes, offset: int) -> bool:
    return blob.count(0, offset) == max(0, len(blob) - offset)
