"""Opening the phone's store with the staff PIN, and the things that happen only then.

- The vault opens the data key; the repository lives in the vault's directory (`store/`), so a
  wipe after ten wrong PINs, or on a revoked device, takes it too.
- A duress PIN opens the store as usual and, silently, seals a duress alert for every visit
  the staff are out on (or, with none, for the device's own record) to the hub, in the unlock
  token every unlock leaves: the store it opens shows nothing of it, and sync sends it first.
- A key rotation cut short by a crash is finished before the store is used.
- The vault keeps the store's anchor (what files it has, how far each has grown), recorded by
  the repository on open, at every journal switch and snapshot, and on close.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from fieldapp.crypto.sealing import TOKEN_TEXT, decoy_token, seal_token
from fieldapp.crypto.storage import EncryptedStorage, TamperedStoreError, WrongKeyError
from fieldapp.crypto.vault import Unlocked, Vault, reencrypt_store
from fieldapp.domain.events import Author, EventType, device_visit_id
from fieldapp.domain.findings import Decision, Draft
from fieldapp.domain.lifecycle import OUT
from fieldapp.domain.rules import stamp
from fieldapp.domain.state import fold
from fieldapp.store.anchor import journal_name
from fieldapp.store.journal import Journal, scan
from fieldapp.store.repository import SNAPSHOT, EncryptedRepository, first_journal

STORE = "store"


@dataclass
class OpenStore:
    vault: Vault
    session: Unlocked
    repository: EncryptedRepository

    def close(self, wiped: bool = False) -> None:
        """Close the store (its anchor is recorded exactly, unless `wiped`: the vault and
        the files are gone) and lock the session."""
        self.repository.close(wiped)
        self.session.lock()


@dataclass(frozen=True)
class Sender:
    """Who a duress alert raised on this phone is from, and the hub's key it is sealed to."""

    author: Author
    hub_key: bytes


def open_store(vault: Vault, pin: str, now: datetime,
               sender: Sender | Callable[[EncryptedRepository], Sender | None] | None = None,
               entropy: Callable[[], bytes] = lambda: os.urandom(10)) -> OpenStore:
    """Unlock and open the store; WrongPin, Wiped and the other VaultErrors pass through.

    Every unlock leaves one unlock token in the store (crypto.sealing), the same size
    whatever the PIN: after the duress PIN, the silent alert sealed to the hub (`sender`, or
    how to read it from the store: the enrolment is kept there); otherwise, or before the
    phone is enrolled, a decoy. Nothing the duress PIN opens shows the alert."""
    session = vault.unlock(pin, now)
    directory = vault.directory / STORE
    if session.previous_key is not None:  # a rotation cut short: finish it first
        vault.finish_rotation(*rekey_repository(vault, session.previous_key, session.key))
    repository = EncryptedRepository(directory, session.key, generation=vault.generation,
                                     anchor=vault)
    to = sender(repository) if callable(sender) else sender
    token = decoy_token()
    if session.duress and to is not None:
        token = seal_token(to.hub_key, duress_alert(repository, to.author, now, entropy))
    repository.record_unlock(token)
    return OpenStore(vault, session, repository)


def duress_alert(repository: EncryptedRepository, author: Author, now: datetime,
                 entropy: Callable[[], bytes]) -> bytes:
    """A silent duress alert for each visit staff are out on, or for the device's own record,
    as the JSON a token carries: `{"events": [...]}` (as many visits as fit in it)."""
    out = [v for v in repository.visit_ids() if fold(repository.events(v)).phase in OUT]
    alert = Decision(drafts=(Draft(EventType.DURESS_ALERT, {"silent": True}),))
    events: list[dict[str, Any]] = []
    text = b'{"events":[]}'
    for visit_id in out or [device_visit_id(author.device_id)]:
        state = fold(repository.events(visit_id))
        more = [e.to_dict() for e in stamp(state, alert, visit_id, author, now, entropy)]
        longer = json.dumps({"events": events + more}, separators=(",", ":")).encode()
        if len(longer) > TOKEN_TEXT:
            break
        events, text = events + more, longer
    return text


def rotate_key(vault: Vault, pin: str, duress_pin: str, now: datetime) -> None:
    """A new data key: the vault first (keeping the old one), then the store, then the vault
    lets the old key go. A crash at any point is finished by the next `open_store`."""
    old, new = vault.rotate(pin, duress_pin, now)
    vault.finish_rotation(*rekey_repository(vault, old, new))


def rekey_repository(vault: Vault, old_key: bytes,
                     new_key: bytes) -> tuple[int, dict[str, Any]]:
    """Re-encrypt the repository under `new_key`: (the snapshot generation written, the
    store's anchor sealed under the new key), for `vault.finish_rotation`.

    Everything is first folded into the snapshot (leaving one empty journal), the snapshot is
    rewritten under the new key, and the empty journal is replaced by one under it.
    Repeating this after a crash at any step is safe: the store found already under the new
    key is checked against itself only (its anchor is still under the old key)."""
    directory = vault.directory / STORE
    try:
        repository = EncryptedRepository(directory, old_key, generation=vault.generation,
                                         anchor=vault)
    except WrongKeyError:  # the snapshot is under the new key already
        pass
    else:
        repository.compact()
        generation = repository.generation
        repository.close()
        reencrypt_store(directory / SNAPSHOT, old_key, new_key, generation)
    _replace_old_journals(directory, old_key, new_key)
    repository = EncryptedRepository(directory, new_key, generation=vault.generation)
    document, kept = vault.load_anchor()
    serial = max(kept, document.get("serial", 0) if document else 0) + 1
    anchor = repository.anchor_document(new_key, serial)
    repository.close()
    return repository.generation, anchor


def _replace_old_journals(directory: Path, old_key: bytes, new_key: bytes) -> None:
    """After the snapshot is under the new key: the journal it names, empty and under the old
    key, is made again under the new one. Anything else under the old key is refused."""
    first = first_journal(EncryptedStorage(directory / SNAPSHOT, new_key).read())
    for path in sorted(directory.glob("journal-*.log")):
        try:
            scan(path, new_key)
        except WrongKeyError:
            if scan(path, old_key).records:
                raise TamperedStoreError(f"{path.name} holds records under the old key after "
                                         "the store was re-encrypted") from None
            path.unlink()
    if not (directory / journal_name(first)).exists():
        Journal.create(directory / journal_name(first), new_key)
