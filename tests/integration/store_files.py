"""The store's files as tests handle them: where a journal's records end (zeros after them),
and a snapshot file whose writes a power cut stops or a test holds back."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from pathlib import Path

from fieldapp.crypto.storage import EncryptedStorage
from fieldapp.store.journal import FRAME, HEADER


def record_ends(path: Path) -> list[int]:
    """Where each record of a journal ends; after the last, zeros (room for more records)."""
    blob, ends, offset = path.read_bytes(), [], HEADER.size
    while offset + FRAME.size <= len(blob) and any(blob[offset:offset + FRAME.size]):
        offset += FRAME.size + int.from_bytes(blob[offset:offset + 4], "big")
        ends.append(offset)
    return ends


def records_end(path: Path) -> int:
    """Where the last record ends (the header's end if there is none)."""
    return [HEADER.size, *record_ends(path)][-1]


def write_over(path: Path, offset: int, data: bytes) -> None:
    """Put `data` at `offset`, as a write in place does (the file keeps its length)."""
    blob = bytearray(path.read_bytes())
    blob[offset:offset + len(data)] = data
    path.write_bytes(bytes(blob))


class Snapshots:
    """What a store makes its snapshot file with (its `snapshot`): from `cut()` on, every
    snapshot write fails as a power cut would; while `held`, writes wait until it is set."""

    def __init__(self) -> None:
        self.power_cut = False
        self.held: threading.Event | None = None

    def cut(self) -> None:
        self.power_cut = True

    def __call__(self, path: str | os.PathLike[str], key: bytes,
                 min_generation: int = 0) -> EncryptedStorage:
        return _Snapshot(path, key, min_generation, self)


class _Snapshot(EncryptedStorage):
    def __init__(self, path: str | os.PathLike[str], key: bytes, min_generation: int,
                 control: Snapshots) -> None:
        super().__init__(path, key, min_generation)
        self._control = control

    def write_json(self, plaintext: bytes | Iterable[bytes]) -> None:
        if self._control.held is not None:
            self._control.held.wait(10)
        if self._control.power_cut:
            raise OSError("power cut")
        super().write_json(plaintext)
