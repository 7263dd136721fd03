"""The store's anchor: what the key vault remembers of the store's files, so that a missing,
older or substituted snapshot or journal is refused instead of opened as if nothing were lost.

The repository records an anchor on open, on every journal switch, after every snapshot and on
a clean close: the snapshot generation and, for each live journal, its number, the random id
in its header and how many records it held then (a floor: records are only ever added). The
anchor is kept in `vault.json`, authenticated with a key derived from the store's data key
(so it cannot be edited to fit a rolled-back file), and its serial number is also kept in the
platform keystore where there is one (so `vault.json` cannot be put back with the store).

`diagnose` is the pure rule that compares what is on disk with the anchor. What it cannot see
(docs/store-format.md says so too): records appended after the last anchor and then removed
from the end of the newest journal, after a stop without a clean close; and, on a device
without a platform keystore, the whole app folder put back to an older copy.
"""

from __future__ import annotations

import hmac as stdlib_hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from fieldapp.crypto.storage import (
    MissingStoreFileError,
    RolledBackStoreError,
    TamperedStoreError,
)

LABEL: Final = b"home-visits store anchor v1"


@dataclass(frozen=True, slots=True)
class Mark:
    """One live journal as the anchor saw it."""

    number: int
    journal_id: str  # the 16-byte id in its header, hex
    records: int  # it held at least this many


@dataclass(frozen=True, slots=True)
class Anchor:
    serial: int  # grows by one with every anchor recorded
    generation: int  # the snapshot generation on disk when it was recorded
    journals: tuple[Mark, ...]

    def body(self) -> dict[str, Any]:
        return {"serial": self.serial, "generation": self.generation,
                "journals": [[m.number, m.journal_id, m.records] for m in self.journals]}

    def seal(self, key: bytes) -> dict[str, Any]:
        """The anchor as vault.json keeps it: its fields and their MAC."""
        body = self.body()
        return {**body, "mac": _mac(key, body).hex()}


class AnchorKeeper(Protocol):
    """Where the anchor is kept (the key vault)."""

    def load_anchor(self) -> tuple[dict[str, Any] | None, int]:
        """(the anchor document last recorded or None, the highest serial the keystore saw)."""
        ...

    def save_anchor(self, document: dict[str, Any], serial: int) -> None: ...


def _mac(key: bytes, body: Mapping[str, Any]) -> bytes:
    subkey = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=LABEL).derive(key)
    mac = hmac.HMAC(subkey, hashes.SHA256())
    mac.update(json.dumps(body, sort_keys=True, separators=(",", ":")).encode())
    return mac.finalize()


def _count(value: object) -> int:
    if type(value) is not int or value < 0:
        raise ValueError
    return value


def open_anchor(document: object, key: bytes, keystore_serial: int) -> Anchor:
    """The anchor from vault.json, checked: TamperedStoreError if it was changed or is not this
    store's, RolledBackStoreError if the keystore has seen a later one."""
    try:
        assert isinstance(document, dict)
        anchor = Anchor(_count(document["serial"]), _count(document["generation"]), tuple(
            Mark(_count(n), str(i), _count(c)) for n, i, c in document["journals"]))
        given = bytes.fromhex(document["mac"])
    except (AssertionError, KeyError, TypeError, ValueError):
        raise TamperedStoreError("vault.json: the store's anchor is damaged") from None
    if not stdlib_hmac.compare_digest(given, _mac(key, anchor.body())):
        raise TamperedStoreError("vault.json: the store's anchor has been altered or belongs "
                                 "to another store")
    if anchor.serial < keystore_serial:
        raise RolledBackStoreError(
            f"vault.json is older than this phone's keystore says (anchor {anchor.serial}, "
            f"the keystore saw {keystore_serial}): the app's files were put back from a copy")
    return anchor


def recorded(keeper: AnchorKeeper, key: bytes, snapshot: bool,
             found: Mapping[int, tuple[str, int]]) -> Anchor:
    """The anchor the vault keeps, checked. A store with anything in it but no anchor is
    refused: the anchor was taken out of vault.json (or the vault is not this store's)."""
    document, keystore_serial = keeper.load_anchor()
    if document is not None:
        return open_anchor(document, key, keystore_serial)
    if keystore_serial or snapshot or any(records for _id, records in found.values()):
        raise MissingStoreFileError("vault.json has no record of the store's files, but the "
                                    "store holds data: the vault was altered or replaced")
    return Anchor(0, 0, ())


def journal_name(number: int) -> str:
    return f"journal-{number:08d}.log"


def diagnose(anchor: Anchor | None, first: int, generation: int,
             found: Mapping[int, tuple[str, int]]) -> None:
    """Refuse a store whose files are not what it last wrote; None when they are.

    `first`: the journal the snapshot names (journals before it are in the snapshot);
    `generation`: the snapshot's (0: there is none); `found`: the journals numbered `first` or
    more on disk, as (id in hex, records held). `anchor`: None where nothing keeps one (a
    repository opened without a vault: only the files' own consistency is checked).
    Checked in this order: the snapshot not older than the anchor's; each anchored journal
    present, the same file, not shorter; no journal missing between the first and the newest;
    nothing newer than the store could have written since the anchor."""
    if anchor is not None and generation < anchor.generation:
        raise RolledBackStoreError(
            f"store.db is generation {generation}, older than the {anchor.generation} the "
            "vault recorded" if generation else
            f"store.db is missing, but the vault recorded generation {anchor.generation}")
    snapshot = generation > 0
    marks = [m for m in (anchor.journals if anchor else ()) if m.number >= first]
    for mark in marks:
        name = journal_name(mark.number)
        if mark.number not in found:
            raise MissingStoreFileError(
                f"{name} is missing: the vault recorded it with {mark.records} record(s)")
        journal_id, records = found[mark.number]
        if journal_id != mark.journal_id:
            raise TamperedStoreError(f"{name} has been replaced by another journal")
        if records < mark.records:
            raise RolledBackStoreError(
                f"{name} holds {records} record(s), fewer than the {mark.records} the vault "
                "recorded: records were removed or an older copy was put back")
    numbers = sorted(found)
    if not numbers:
        if snapshot:
            raise MissingStoreFileError(
                f"{journal_name(first)} is missing: the snapshot says the store carries on in it")
        return
    expected = list(range(first, numbers[-1] + 1))
    if numbers != expected:
        gap = min(set(expected) - set(numbers))
        raise MissingStoreFileError(f"{journal_name(gap)} is missing: the journals after it "
                                    "cannot be replayed without it")
    if anchor is not None:
        limit = max((m.number for m in marks), default=first) + 1
        if numbers[-1] > limit:
            raise TamperedStoreError(
                f"{journal_name(numbers[-1])} is newer than anything this store wrote since "
                "the vault last recorded it")
