"""Opening the phone's store with the staff PIN, and the things that happen only then.

- The vault opens the data key; the repository lives in the vault's directory (`store/`), so a
  wipe after ten wrong PINs, or on a revoked device, takes it too.
- A duress PIN opens the store as usual and, silently, appends a duress alert to every visit
  the staff are out on (or, with none, to the device's own record); it syncs like any event.
- A key rotation cut short by a crash is finished before the store is used.
- On close, the snapshot generation is recorded in the vault, for rollback checks.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from fieldapp.crypto.storage import WrongKeyError
from fieldapp.crypto.vault import Unlocked, Vault, reencrypt_store
from fieldapp.domain.events import Author, Event, EventType, device_visit_id
from fieldapp.domain.findings import Decision, Draft
from fieldapp.domain.lifecycle import OUT
from fieldapp.domain.rules import stamp
from fieldapp.domain.state import fold
from fieldapp.store.repository import SNAPSHOT, EncryptedRepository

STORE = "store"


@dataclass
class OpenStore:
    vault: Vault
    session: Unlocked
    repository: EncryptedRepository

    def close(self) -> None:
        self.repository.close()
        self.vault.record_generation(self.repository.generation)


def open_store(vault: Vault, pin: str, now: datetime,
               author: Author | Callable[[EncryptedRepository], Author],
               entropy: Callable[[], bytes] = lambda: os.urandom(10)) -> OpenStore:
    """Unlock and open the store; WrongPin, Wiped and the other VaultErrors pass through.
    `author`: who a duress alert is from (or how to read it from the store: the phone's
    enrolment is kept there)."""
    session = vault.unlock(pin, now)
    directory = vault.directory / STORE
    if session.previous_key is not None:  # a rotation cut short: finish it first
        vault.finish_rotation(rekey_repository(directory, session.previous_key, session.key,
                                               vault.generation))
    repository = EncryptedRepository(directory, session.key, generation=vault.generation)
    if session.duress:
        by = author if isinstance(author, Author) else author(repository)
        raise_duress_alert(repository, by, now, entropy)
    return OpenStore(vault, session, repository)


def raise_duress_alert(repository: EncryptedRepository, author: Author, now: datetime,
                       entropy: Callable[[], bytes]) -> tuple[Event, ...]:
    """Append a silent duress alert to each visit staff are out on, or to the device's record."""
    out = [v for v in repository.visit_ids() if fold(repository.events(v)).phase in OUT]
    alert = Decision(drafts=(Draft(EventType.DURESS_ALERT, {"silent": True}),))
    events: list[Event] = []
    for visit_id in out or [device_visit_id(author.device_id)]:
        state = fold(repository.events(visit_id))
        events += stamp(state, alert, visit_id, author, now, entropy)
    repository.append(events)
    return tuple(events)


def rotate_key(vault: Vault, pin: str, duress_pin: str, now: datetime) -> None:
    """A new data key: the vault first (keeping the old one), then the store, then the vault
    lets the old key go. A crash at any point is finished by the next `open_store`."""
    old, new = vault.rotate(pin, duress_pin, now)
    vault.finish_rotation(rekey_repository(vault.directory / STORE, old, new, vault.generation))


def rekey_repository(directory: Path, old_key: bytes, new_key: bytes, generation: int) -> int:
    """Re-encrypt the repository under `new_key`; returns the snapshot generation written.

    Everything is first folded into the snapshot (leaving one empty journal), the empty
    journal is removed, and the snapshot is rewritten under the new key; the next open starts
    a journal under it. Repeating this after a crash at any step is safe."""
    try:
        repository = EncryptedRepository(directory, old_key, generation=generation)
    except WrongKeyError:  # already under the new key
        repository = EncryptedRepository(directory, new_key, generation=generation)
        repository.close()
        return repository.generation
    repository.compact()
    generation = repository.generation
    repository.close()
    for journal in directory.glob("journal-*.log"):
        journal.unlink()
    return reencrypt_store(directory / SNAPSHOT, old_key, new_key, generation)
