"""Keystore: the port through which the key vault keeps a secret in the phone's platform keystore.

On a phone the vault keeps a 32-byte random secret in the Android Keystore / iOS Keychain (through
flet-secure-storage) and mixes it into the key that wraps the data key, so a copied vault file
plus the PIN is not enough to open the store. The port is deliberately small and synchronous:

    get(name) -> bytes | None      set(name, value)      delete(name)
    available: bool                description: str

Names are short ASCII (`[a-z0-9.-]`, at most 64 characters) and values are small binary secrets
(at most 64 bytes), so an adapter over a string-valued store (flet-secure-storage keeps text)
stores `base64(value)` and decodes it on `get`. Two implementations live here:

- `MemoryKeystore`: the in-memory twin, for tests and for the desktop/web demo.
- `NoKeystore`: for devices with no platform keystore; the vault then relies on the PIN alone
  and says so (`description`).
"""

from __future__ import annotations

import re
from typing import Final, Protocol

NAME: Final = re.compile(r"[a-z0-9.-]{1,64}")
MAX_VALUE: Final = 64
NO_KEYSTORE: Final = "no platform keystore on this device: the vault relies on the PIN alone"


class KeystoreUnavailable(RuntimeError):
    """The platform keystore did not answer (any method may raise it). The vault turns it into
    a VaultError (`KeystoreNotAnswering`) and counts no PIN attempt."""


class Keystore(Protocol):
    """A place outside the app's files that keeps small secrets for this device only."""

    @property
    def available(self) -> bool:
        """False where the device has no platform keystore."""
        ...

    @property
    def description(self) -> str:
        """One plain sentence for the settings screen: what keeps the secret."""
        ...

    def get(self, name: str) -> bytes | None:
        """The secret stored under `name`, or None when there is none."""
        ...

    def set(self, name: str, value: bytes) -> None:
        """Store `value` under `name`, replacing any previous value."""
        ...

    def delete(self, name: str) -> None:
        """Forget `name`; forgetting a name that is not there is not an error."""
        ...


def check_entry(name: str, value: bytes | None = None) -> None:
    """Refuse names and values an adapter over a platform keystore could not keep as they are."""
    if not NAME.fullmatch(name):
        raise ValueError("a keystore name is 1-64 characters of a-z, 0-9, '.' and '-'")
    if value is not None and not (isinstance(value, bytes) and 0 < len(value) <= MAX_VALUE):
        raise ValueError(f"a keystore value is 1-{MAX_VALUE} bytes")


class MemoryKeystore:
    """The in-memory twin of a platform keystore."""

    available: bool = True
    description: str = "an in-memory keystore (tests and demo only: gone when the app stops)"

    def __init__(self) -> None:
        self._secrets: dict[str, bytes] = {}

    def get(self, name: str) -> bytes | None:
        check_entry(name)
        return self._secrets.get(name)

    def set(self, name: str, value: bytes) -> None:
        check_entry(name, value)
        self._secrets[name] = bytes(value)

    def delete(self, name: str) -> None:
        check_entry(name)
        self._secrets.pop(name, None)

    def names(self) -> frozenset[str]:
        """What is stored (names only), so tests can see a wipe forgot everything."""
        return frozenset(self._secrets)


class NoKeystore:
    """A device with no platform keystore: nothing is kept, and the vault is told so."""

    available: bool = False
    description: str = NO_KEYSTORE

    def get(self, name: str) -> bytes | None:
        check_entry(name)
        return None

    def set(self, name: str, value: bytes) -> None:
        raise RuntimeError(NO_KEYSTORE)

    def delete(self, name: str) -> None:
        check_entry(name)
