"""The vault's keys over time: a floor on the scrypt cost, a rotation that renews the salt and
the keystore secret (so an old copy of vault.json opens nothing), and a PIN change."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fieldapp.crypto.keystore import MemoryKeystore, NoKeystore
from fieldapp.crypto.vault import (
    DEFAULT_KDF,
    KDF_FLOOR,
    KeystoreMismatch,
    RotationPending,
    ScryptParams,
    Vault,
    WeakPin,
    WrongPin,
)

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
FAST = ScryptParams(n=2**10, r=8, p=1)
PIN, DURESS, NEW = "28491375", "71930564", "50318264"


def make(folder: Path, keystore: MemoryKeystore | NoKeystore) -> Vault:
    Vault.create(folder, PIN, DURESS, keystore, NOW, kdf_params=FAST, kdf_floor=FAST)
    return Vault.open(folder, keystore)


@pytest.mark.parametrize("cheap", [ScryptParams(n=2), ScryptParams(n=2**16),
                                   ScryptParams(n=2**17, r=4)])
def test_a_vault_is_never_set_up_cheaper_than_the_documented_floor(tmp_path: Path,
                                                                   cheap: ScryptParams) -> None:
    keystore = MemoryKeystore()
    with pytest.raises(ValueError, match="costs less than the floor, n=131072, r=8, p=1"):
        Vault.create(tmp_path / "phone", PIN, DURESS, keystore, NOW, kdf_params=cheap)
    assert not (tmp_path / "phone" / "vault.json").exists()
    assert KDF_FLOOR == DEFAULT_KDF == ScryptParams(n=2**17, r=8, p=1)


def test_a_rotation_renews_the_salt_and_the_keystore_secret(tmp_path: Path) -> None:
    keystore = MemoryKeystore()
    vault = make(tmp_path / "phone", keystore)
    shutil.copytree(tmp_path / "phone", tmp_path / "copy")  # taken before the rotation
    before = json.loads(vault.path.read_text())
    old, new = vault.rotate(PIN, DURESS, NOW)
    vault.finish_rotation(0)
    after = json.loads(vault.path.read_text())
    assert after["kdf"]["salt"] != before["kdf"]["salt"]
    assert after["keystore"]["entry"] != before["keystore"]["entry"]
    assert before["keystore"]["entry"] not in keystore.names(), "the old secret is gone"
    assert Vault.open(tmp_path / "phone", keystore).unlock(PIN, NOW).key == new
    with pytest.raises(KeystoreMismatch):  # the old file and both PINs open nothing now
        Vault.open(tmp_path / "copy", keystore).unlock(PIN, NOW)
    assert old != new


def test_the_pin_is_changed_and_the_duress_pin_stays(tmp_path: Path) -> None:
    keystore = MemoryKeystore()
    vault = make(tmp_path, keystore)
    key = vault.unlock(PIN, NOW).key
    vault.change_pin(PIN, NEW)
    assert vault.unlock(NEW, NOW).key == key and not vault.unlock(NEW, NOW).duress
    assert vault.unlock(DURESS, NOW).duress and vault.unlock(DURESS, NOW).key == key
    with pytest.raises(WrongPin, match="9 attempts left"):
        vault.unlock(PIN, NOW)
    assert vault.failures == 1


def test_a_pin_change_refused_changes_nothing(tmp_path: Path) -> None:
    keystore = MemoryKeystore()
    vault = make(tmp_path, keystore)
    key = vault.unlock(PIN, NOW).key
    unchanged = vault.path.read_bytes()
    with pytest.raises(WeakPin, match="the new PIN is refused: a PIN needs at least 8 digits"):
        vault.change_pin(PIN, "1234")
    assert vault.path.read_bytes() == unchanged, "a weak PIN is refused before any attempt"
    with pytest.raises(WeakPin, match="must differ from the PIN and the duress PIN"):
        vault.change_pin(PIN, DURESS)
    with pytest.raises(WrongPin, match="9 attempts left"):
        vault.change_pin(NEW, "61728394")  # not the PIN: counted like an unlock
    with pytest.raises(WrongPin, match="8 attempts left"):
        vault.change_pin(DURESS, NEW)  # the duress PIN cannot change the PIN
    assert vault.unlock(PIN, NOW).key == key and vault.failures == 0
    vault.rotate(PIN, DURESS, NOW)
    with pytest.raises(RotationPending):
        vault.change_pin(PIN, NEW)


def test_a_rotation_without_a_keystore_renews_the_salt(tmp_path: Path) -> None:
    vault = make(tmp_path, NoKeystore())
    before = json.loads(vault.path.read_text())
    old, new = vault.rotate(PIN, DURESS, NOW)
    after = json.loads(vault.path.read_text())
    assert after["kdf"]["salt"] != before["kdf"]["salt"] and after["keystore"] is None
    assert vault.unlock(PIN, NOW).previous_key == old and vault.unlock(PIN, NOW).key == new
