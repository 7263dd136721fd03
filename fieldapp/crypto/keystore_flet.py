"""The platform keystore on phones: Keychain (iOS) and Keystore (Android) via flet-secure-storage.

The vault is synchronous and slow on purpose (scrypt), so the app runs it in a worker thread;
flet-secure-storage is asynchronous and lives on the page's event loop. `FletKeystore` bridges
the two: each call is sent to the loop and the worker waits for its answer. Secrets are kept
as base64 text, the form the platform stores.

`platform_keystore(page)` picks what this device has: the secure storage on a phone, or
`NoKeystore` in a browser (where "secure" storage is only the browser's own storage, which
does not bind a secret to the device).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Coroutine
from typing import Any, Protocol, TypeVar

from fieldapp.crypto.keystore import Keystore, KeystoreUnavailable, NoKeystore, check_entry

T = TypeVar("T")
TIMEOUT_SECONDS = 10.0


class SecureStorageLike(Protocol):
    """What FletKeystore uses of `flet_secure_storage.SecureStorage`."""

    async def get(self, key: str) -> str | None: ...
    async def set(self, key: str, value: Any) -> None: ...
    async def remove(self, key: str) -> None: ...


class FletKeystore:
    """A Keystore over flet-secure-storage. Call it from a worker thread, never the loop."""

    available = True
    description = "this phone's secure keystore (Keychain or Android Keystore)"

    def __init__(self, storage: SecureStorageLike, loop: asyncio.AbstractEventLoop) -> None:
        self._storage = storage
        self._loop = loop

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            coroutine.close()
            raise RuntimeError("FletKeystore waits for the page's loop: call it from a worker "
                               "thread (asyncio.to_thread), not from the loop itself")
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        try:
            return future.result(timeout=TIMEOUT_SECONDS)
        except TimeoutError:
            future.cancel()
            raise KeystoreUnavailable("the phone's keystore did not answer in time") from None

    def get(self, name: str) -> bytes | None:
        check_entry(name)
        text = self._call(self._storage.get(name))
        if text is None:
            return None
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            return None  # not ours: as good as missing

    def set(self, name: str, value: bytes) -> None:
        check_entry(name, value)
        self._call(self._storage.set(name, base64.b64encode(value).decode("ascii")))

    def delete(self, name: str) -> None:
        check_entry(name)
        self._call(self._storage.remove(name))


def platform_keystore(page: Any) -> Keystore:
    """The keystore this device offers: secure storage on a phone, none in a browser.

    Must be called on the page's loop (it registers the Flet service with the page)."""
    if getattr(page, "web", False):
        return NoKeystore()
    from flet_secure_storage import SecureStorage  # type: ignore[import-untyped]

    storage = SecureStorage()
    return FletKeystore(storage, asyncio.get_running_loop())
