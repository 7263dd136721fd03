"""EncryptedStorage: a TinyDB Storage that keeps the database encrypted and crash-safe on disk.

Use it as `TinyDB(path, storage=EncryptedStorage, key=<32-byte key>)`; every TinyDB feature
works on it, as on JSONStorage. Unlike JSONStorage it never rewrites the file in place: each
write goes to a new temporary file (created 0600 in the same directory), is fsynced, replaces
the old file atomically and the directory is fsynced, so a crash at any instant leaves either
the old database or the new one, never a torn one. The format is in docs/store-format.md.

A file that is empty, truncated, tampered with, written under another key or older than the
last one this storage saw is refused with a StoreError that says which; it is never taken as
an empty database and never overwritten.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from tinydb.storages import Storage

MAGIC: Final = b"HVDB"
VERSION: Final = 1
HEADER: Final = struct.Struct(">4sB8sQ")  # magic, version, key id, generation
NONCE_SIZE: Final = 12
TAG_SIZE: Final = 16
TEMP_PREFIX: Final = ".tmp-"


class StoreError(Exception):
    """A store file that cannot be opened as it is. Nothing was changed."""


class EmptyStoreError(StoreError):
    """The file exists but holds nothing: a write that never finished, or a wiped file."""


class TruncatedStoreError(StoreError):
    """The file is shorter than its header and tag: cut off."""


class NotAStoreError(StoreError):
    """The file does not start like a store file, or is a version this app cannot read."""


class WrongKeyError(StoreError):
    """The file was written under another key."""


class TamperedStoreError(StoreError):
    """The file's contents or header were changed after it was written."""


class RolledBackStoreError(StoreError):
    """The file is older than one this device has already written: a copy put back."""


class MissingStoreFileError(StoreError):
    """A file the store wrote, and still needs, is not there."""


def key_id(key: bytes) -> bytes:
    """An 8-byte name for a key, so a file written under another key is told apart from a
    tampered one. It is a MAC of a fixed label: it reveals nothing about the key."""
    mac = hmac.HMAC(key, hashes.SHA256())
    mac.update(b"home-visits store key id")
    return mac.finalize()[:8]


def fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, content: bytes | Iterable[bytes]) -> None:
    """Durable replace: temp file (0600, same directory), fsync, rename, fsync directory.
    `content` may come in pieces, each written as it comes."""
    temp = path.with_name(f"{TEMP_PREFIX}{path.name}.{os.urandom(6).hex()}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        for piece in [content] if isinstance(content, bytes) else content:
            view = memoryview(piece)
            while view:
                view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        temp.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(temp, path)
    fsync_directory(path.parent)


def remove_leftovers(path: Path) -> None:
    """Temporary files a crash left behind next to `path` hold nothing acknowledged."""
    for leftover in path.parent.glob(f"{TEMP_PREFIX}{path.name}.*"):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()


def unseal(key: bytes, blob: bytes, name: str) -> tuple[int, bytes]:
    """(generation, plaintext) from a sealed file, or the StoreError that says what is wrong."""
    if not blob:
        raise EmptyStoreError(f"{name} is empty: it was never completely written")
    if blob[:4] != MAGIC[: len(blob[:4])]:
        raise NotAStoreError(f"{name} is not a Home Visits store file")
    if len(blob) < HEADER.size + NONCE_SIZE + TAG_SIZE:
        raise TruncatedStoreError(f"{name} is cut off ({len(blob)} bytes)")
    _magic, version, file_key_id, generation = HEADER.unpack_from(blob)
    if version != VERSION:
        raise NotAStoreError(f"{name} is store format {version}; this app reads {VERSION}")
    if file_key_id != key_id(key):
        raise WrongKeyError(f"{name} was written under another key")
    header, nonce = blob[: HEADER.size], blob[HEADER.size: HEADER.size + NONCE_SIZE]
    try:
        plaintext = AESGCM(key).decrypt(nonce, blob[HEADER.size + NONCE_SIZE:], header)
    except InvalidTag:
        raise TamperedStoreError(f"{name} has been altered or damaged") from None
    return generation, plaintext


class EncryptedStorage(Storage):
    """TinyDB storage: AES-256-GCM, a fresh nonce per write, atomic and durable writes.

    `min_generation` is the generation the caller last saw written (the key vault keeps it);
    a file older than that is a rolled-back copy and is refused.
    """

    def __init__(self, path: str | os.PathLike[str], key: bytes, min_generation: int = 0,
                 create_dirs: bool = False) -> None:
        if not isinstance(key, bytes) or len(key) != 32:
            raise ValueError("EncryptedStorage needs a 32-byte key from the key vault")
        self.path = Path(path)
        self._key = key
        self.generation = min_generation
        if create_dirs:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        remove_leftovers(self.path)

    def read(self) -> dict[str, dict[str, Any]] | None:
        try:
            blob = self.path.read_bytes()
        except FileNotFoundError:
            if self.generation > 0:
                raise RolledBackStoreError(
                    f"{self.path.name} is missing, but generation {self.generation} was "
                    "written") from None
            return None  # a new database
        generation, plaintext = unseal(self._key, blob, self.path.name)
        if generation < self.generation:
            raise RolledBackStoreError(
                f"{self.path.name} is generation {generation}, older than {self.generation}")
        self.generation = generation
        data: dict[str, dict[str, Any]] = json.loads(plaintext)
        return data

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        self.write_json(json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode())

    def write_json(self, plaintext: bytes | Iterable[bytes]) -> None:
        """Write a database already encoded as JSON, whole or in pieces: each piece is
        encrypted and written as it comes (AES-GCM run incrementally: the same file as one
        call would give), so a large database never sits in memory twice."""
        generation = self.generation + 1
        header = HEADER.pack(MAGIC, VERSION, key_id(self._key), generation)
        nonce = os.urandom(NONCE_SIZE)
        encryptor = Cipher(algorithms.AES(self._key), modes.GCM(nonce)).encryptor()
        encryptor.authenticate_additional_data(header)

        def sealed() -> Iterator[bytes]:
            yield header + nonce
            for piece in [plaintext] if isinstance(plaintext, bytes) else plaintext:
                yield encryptor.update(piece)
            yield encryptor.finalize() + encryptor.tag

        write_atomically(self.path, sealed())
        self.generation = generation

    def close(self) -> None:
        self._key = b""
