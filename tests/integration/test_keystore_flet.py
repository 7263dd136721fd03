"""The phone's keystore adapter: the vault (in a worker thread) reaches flet-secure-storage
(async, on the page's loop) and gets its secret back; a silent keystore is reported."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from fieldapp.crypto.keystore import KeystoreUnavailable, NoKeystore
from fieldapp.crypto.keystore_flet import FletKeystore, platform_keystore
from fieldapp.crypto.vault import KeystoreMismatch, ScryptParams, Vault

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
FAST = ScryptParams(n=2**10, r=8, p=1)


class FakeSecureStorage:
    """Stands in for flet_secure_storage.SecureStorage: async, text values, on the loop."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.silent = False

    async def get(self, key: str) -> str | None:
        if self.silent:
            await asyncio.sleep(3600)
        await asyncio.sleep(0)
        return self.values.get(key)

    async def set(self, key: str, value: Any) -> None:
        assert isinstance(value, str)  # the platform keeps text
        self.values[key] = value

    async def remove(self, key: str) -> None:
        self.values.pop(key, None)


def test_the_vault_keeps_its_secret_in_the_phones_keystore(tmp_path: Path) -> None:
    async def scenario() -> None:
        storage = FakeSecureStorage()
        keystore = FletKeystore(storage, asyncio.get_running_loop())

        def set_up_and_unlock() -> bytes:  # what the app runs with asyncio.to_thread
            Vault.create(tmp_path, "28491375", "71930564", keystore, NOW, kdf_params=FAST,
                         kdf_floor=FAST)
            return Vault.open(tmp_path, keystore).unlock("28491375", NOW).key

        key = await asyncio.to_thread(set_up_and_unlock)
        assert len(key) == 32
        assert len(storage.values) == 1  # the secret, as base64 text
        (secret,) = storage.values.values()
        assert secret.isascii()

        storage.values.clear()  # the file copied to another phone: no secret there
        with pytest.raises(KeystoreMismatch, match="secret is not in this device's keystore"):
            await asyncio.to_thread(lambda: Vault.open(tmp_path, keystore).unlock("28491375", NOW))
        failures = await asyncio.to_thread(lambda: Vault.open(tmp_path, keystore).failures)
        assert failures == 0  # not counted as a wrong PIN

    asyncio.run(scenario())


def test_a_value_that_is_not_ours_counts_as_missing_and_delete_forgets() -> None:
    async def scenario() -> None:
        storage = FakeSecureStorage()
        keystore = FletKeystore(storage, asyncio.get_running_loop())
        storage.values["vault.secret"] = "not base64!"
        assert await asyncio.to_thread(keystore.get, "vault.secret") is None
        await asyncio.to_thread(keystore.set, "vault.secret", b"\x01" * 32)
        assert await asyncio.to_thread(keystore.get, "vault.secret") == b"\x01" * 32
        await asyncio.to_thread(keystore.delete, "vault.secret")
        assert storage.values == {}

    asyncio.run(scenario())


def test_calling_from_the_loop_itself_is_refused_rather_than_deadlocking() -> None:
    async def scenario() -> None:
        keystore = FletKeystore(FakeSecureStorage(), asyncio.get_running_loop())
        with pytest.raises(RuntimeError, match="worker thread"):
            keystore.get("vault.secret")

    asyncio.run(scenario())


def test_a_keystore_that_does_not_answer_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("fieldapp.crypto.keystore_flet.TIMEOUT_SECONDS", 0.05)

    async def scenario() -> None:
        storage = FakeSecureStorage()
        storage.silent = True
        keystore = FletKeystore(storage, asyncio.get_running_loop())
        with pytest.raises(KeystoreUnavailable, match="did not answer"):
            await asyncio.to_thread(keystore.get, "vault.secret")

    asyncio.run(scenario())


def test_a_browser_has_no_platform_keystore_and_a_phone_has_one() -> None:
    in_browser = platform_keystore(SimpleNamespace(web=True))
    assert isinstance(in_browser, NoKeystore) and not in_browser.available

    async def on_the_phone() -> object:
        return platform_keystore(SimpleNamespace(web=False))

    on_phone = asyncio.run(on_the_phone())
    assert isinstance(on_phone, FletKeystore) and on_phone.available
    assert "secure keystore" in on_phone.description
