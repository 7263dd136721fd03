"""The key vault: the PIN (plus the platform keystore, where there is one) opens the store's
data key; wrong PINs are counted durably and wipe at ten; the duress PIN opens the same key
without a trace; rotation re-encrypts the store without a crash ever losing it."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import shutil
import stat
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from tinydb import TinyDB

import fieldapp.crypto.vault as vault_module
from fieldapp.crypto.keystore import (
    NO_KEYSTORE,
    Keystore,
    KeystoreUnavailable,
    MemoryKeystore,
    NoKeystore,
)
from fieldapp.crypto.keystore_flet import FletKeystore
from fieldapp.crypto.storage import EncryptedStorage, WrongKeyError, key_id
from fieldapp.crypto.vault import (
    DEFAULT_KDF,
    KEY_SIZE,
    MAX_FAILURES,
    NONCE_SIZE,
    ROLE_PIN,
    WHY_LONG,
    KeystoreMismatch,
    KeystoreNotAnswering,
    Locked,
    NoVault,
    RotationPending,
    ScryptParams,
    Vault,
    VaultCorrupt,
    VaultError,
    VaultExists,
    WeakPin,
    Wiped,
    WrongPin,
    associated_data,
    check_pins,
    derive_kek,
    pin_problem,
    reencrypt_store,
)
from tests.integration.test_keystore_flet import FakeSecureStorage

PIN = "48291673"
DURESS = "73058419"
WRONG = "90517362"
NOW = datetime(2025, 3, 4, 9, 0, tzinfo=UTC)
FAST = ScryptParams(n=2**10, r=8, p=1)  # only where a test makes many attempts
CHILD = "Zebedee Quillfeather"  # a sentinel: never on disk in clear


class PowerCut(BaseException):
    """The phone dies mid-operation."""


def make(directory: Path, keystore: Keystore | None = None) -> Vault:
    return Vault.create(directory, PIN, DURESS, keystore or MemoryKeystore(), NOW,
                        kdf_params=FAST, kdf_floor=FAST)


def header(directory: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((directory / "vault.json").read_bytes())
    return document


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def write_store(path: Path, key: bytes, min_generation: int = 0) -> int:
    storage = EncryptedStorage(path, key, min_generation)
    with TinyDB(storage=lambda: storage) as db:
        db.table("visits").insert({"child": CHILD, "phase": "planned"})
    return storage.generation


def read_store(path: Path, key: bytes, min_generation: int = 0) -> list[Any]:
    storage = EncryptedStorage(path, key, min_generation)
    with TinyDB(storage=lambda: storage) as db:
        return list(db.table("visits").all())


# --- set up and open --------------------------------------------------------------------------

def test_the_default_kdf_is_scrypt_at_owasp_level_and_is_kept_in_the_header(
        tmp_path: Path) -> None:
    assert (DEFAULT_KDF.n, DEFAULT_KDF.r, DEFAULT_KDF.p) == (2**17, 8, 1)
    vault = Vault.create(tmp_path, PIN, DURESS, MemoryKeystore(), NOW)
    kdf = header(tmp_path)["kdf"]
    assert kdf["name"] == "scrypt" and kdf["length"] == 32
    assert kdf["n"] >= 2**17 and kdf["r"] == 8 and kdf["p"] == 1
    assert len(base64.b64decode(kdf["salt"])) == 16
    assert vault.kdf == DEFAULT_KDF
    assert len(vault.unlock(PIN, NOW).key) == 32


def test_the_pin_opens_a_data_key_that_opens_the_store(tmp_path: Path) -> None:
    keystore = MemoryKeystore()
    make(tmp_path, keystore)
    session = Vault.open(tmp_path, keystore).unlock(PIN, NOW)
    assert len(session.key) == 32 and session.duress is False
    write_store(tmp_path / "store.db", session.key)
    again = Vault.open(tmp_path, keystore).unlock(PIN, NOW)
    assert read_store(tmp_path / "store.db", again.key) == [{"child": CHILD, "phase": "planned"}]


def test_each_vault_gets_its_own_random_data_key(tmp_path: Path) -> None:
    one = make(tmp_path / "a").unlock(PIN, NOW).key
    two = make(tmp_path / "b").unlock(PIN, NOW).key
    assert one != two


def test_the_vault_file_is_private_and_versioned(tmp_path: Path) -> None:
    make(tmp_path)
    assert stat.S_IMODE((tmp_path / "vault.json").stat().st_mode) == 0o600
    assert header(tmp_path)["version"] == 1
    assert header(tmp_path)["format"] == "home-visits key vault"


def test_a_second_vault_is_not_created_over_the_first(tmp_path: Path) -> None:
    make(tmp_path)
    before = snapshot(tmp_path)
    with pytest.raises(VaultExists):
        make(tmp_path)
    assert snapshot(tmp_path) == before


def test_opening_where_no_vault_is_set_up_says_so(tmp_path: Path) -> None:
    with pytest.raises(NoVault, match="no key vault"):
        Vault.open(tmp_path, MemoryKeystore())


@pytest.mark.parametrize("params", [
    ScryptParams(n=2**10, r=0, p=1),
    ScryptParams(n=2**10, r=8, p=-1),
    ScryptParams(n=2**10, r=8, p=True),  # a bool is not a count
    ScryptParams(n=1024.0, r=8, p=1),  # type: ignore[arg-type]
], ids=["r zero", "p negative", "p bool", "n float"])
def test_a_vault_is_not_set_up_with_scrypt_parameters_that_are_not_positive_integers(
        tmp_path: Path, params: ScryptParams) -> None:
    keystore = MemoryKeystore()
    with pytest.raises(ValueError, match="positive integers"):
        Vault.create(tmp_path / "phone", PIN, DURESS, keystore, NOW, kdf_params=params)
    assert not (tmp_path / "phone").exists() and keystore.names() == frozenset()


class ForgetfulKeystore(MemoryKeystore):
    """A platform keystore that accepts a secret and then does not give it back."""

    def set(self, name: str, value: bytes) -> None:
        super().set(name, value)
        self.delete(name)


def test_a_keystore_that_loses_the_secret_at_set_up_stops_the_set_up(tmp_path: Path) -> None:
    with pytest.raises(KeystoreMismatch, match="did not keep the vault's secret"):
        make(tmp_path, ForgetfulKeystore())
    assert not (tmp_path / "vault.json").exists()
    with pytest.raises(NoVault):
        Vault.open(tmp_path, MemoryKeystore())


def test_the_vault_names_its_current_key_as_the_store_header_does(tmp_path: Path) -> None:
    keystore = MemoryKeystore()
    vault = make(tmp_path, keystore)
    store = tmp_path / "store.db"
    first = vault.unlock(PIN, NOW).key
    vault.record_generation(write_store(store, first))
    assert vault.key_id == key_id(first).hex() == header(tmp_path)["key"]["id"]
    assert bytes.fromhex(vault.key_id) in store.read_bytes()[:13]  # magic, version, key id
    _, new = rotate_fully(vault, store)
    assert vault.key_id == key_id(new).hex() != key_id(first).hex()
    assert Vault.open(tmp_path, keystore).key_id == vault.key_id
    assert bytes.fromhex(vault.key_id) in store.read_bytes()[:13]


# --- wrong PINs -------------------------------------------------------------------------------

def test_a_wrong_pin_counts_down_and_the_count_survives_a_crash(tmp_path: Path) -> None:
    keystore = MemoryKeystore()
    vault = make(tmp_path, keystore)
    for left in (9, 8):
        with pytest.raises(WrongPin) as wrong:
            vault.unlock(WRONG, NOW)
        assert wrong.value.attempts_left == left
    reopened = Vault.open(tmp_path, keystore)  # as after the app was killed
    assert reopened.failures == 2 and reopened.attempts_left == 8
    with pytest.raises(WrongPin, match="7 attempts left"):
        reopened.unlock(WRONG, NOW)


def test_the_attempt_is_counted_on_disk_before_the_pin_is_checked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    keystore = MemoryKeystore()
    make(tmp_path, keystore)

    def power_cut(*_: object) -> bytes:
        raise PowerCut

    monkeypatch.setattr(vault_module, "derive_kek", power_cut)
    with pytest.raises(PowerCut):
        Vault.open(tmp_path, keystore).unlock(PIN, NOW)
    assert header(tmp_path)["failures"] == 1
    monkeypatch.undo()
    assert Vault.open(tmp_path, keystore).attempts_left == 9


def test_a_stale_vault_object_cannot_reset_the_count(tmp_path: Path) -> None:
    keystore = MemoryKeystore()
    first = make(tmp_path, keystore)
    second = Vault.open(tmp_path, keystore)
    with pytest.raises(WrongPin):
        first.unlock(WRONG, NOW)
    with pytest.raises(WrongPin) as wrong:
        second.unlock(WRONG, NOW)
    assert wrong.value.attempts_left == 8


def test_ten_wrong_pins_wipe_the_vault_the_store_and_the_keystore_secret(tmp_path: Path) -> None:
    keystore = MemoryKeystore()
    vault = make(tmp_path, keystore)
    write_store(tmp_path / "store.db", vault.unlock(PIN, NOW).key)
    (tmp_path / "outbox").mkdir()
    (tmp_path / "outbox" / "1.json").write_text("{}")
    for _ in range(MAX_FAILURES - 1):
        with pytest.raises(WrongPin):
            vault.unlock(WRONG, NOW)
    assert len(keystore.names()) == 1  # the vault's secret, still kept
    with pytest.raises(Wiped, match="deleted"):
        vault.unlock(WRONG, NOW)
    assert list(tmp_path.iterdir()) == []
    assert keystore.names() == frozenset()
    with pytest.raises(NoVault):
        Vault.open(tmp_path, keystore)


class DiesOnForgetting(MemoryKeystore):
    """A keystore on a phone whose power goes, once armed, as it is told to forget a secret
    (the first thing a wipe does)."""

    armed = False

    def delete(self, name: str) -> None:
        if self.armed:
            self.armed = False
            raise PowerCut
        super().delete(name)


def test_a_wipe_cut_short_by_a_crash_is_finished_on_the_next_open(tmp_path: Path) -> None:
    keystore = DiesOnForgetting()
    vault = make(tmp_path, keystore)
    write_store(tmp_path / "store.db", vault.unlock(PIN, NOW).key)
    for _ in range(MAX_FAILURES - 1):
        with pytest.raises(WrongPin):
            vault.unlock(WRONG, NOW)
    keystore.armed = True
    with pytest.raises(PowerCut):
        vault.unlock(WRONG, NOW)
    assert (tmp_path / "store.db").exists() and len(keystore.names()) == 1
    with pytest.raises(Wiped):
        Vault.open(tmp_path, keystore)
    assert list(tmp_path.iterdir()) == [] and keystore.names() == frozenset()


def test_the_right_pin_after_nine_wrong_ones_resets_the_count(tmp_path: Path) -> None:
    keystore = MemoryKeystore()
    vault = make(tmp_path, keystore)
    for _ in range(MAX_FAILURES - 1):
        with pytest.raises(WrongPin):
            vault.unlock(WRONG, NOW)
    assert vault.unlock(PIN, NOW).duress is False
    assert Vault.open(tmp_path, keystore).failures == 0
    for _ in range(MAX_FAILURES - 1):  # a fresh nine, and still not wiped
        with pytest.raises(WrongPin):
            vault.unlock(WRONG, NOW)
    assert len(vault.unlock(PIN, NOW).key) == 32


# --- duress -----------------------------------------------------------------------------------

def test_the_duress_pin_opens_the_same_key_and_says_so_only_to_the_app(tmp_path: Path) -> None:
    vault = make(tmp_path)
    normal = vault.unlock(PIN, NOW)
    duress = vault.unlock(DURESS, NOW)
    assert duress.key == normal.key
    assert duress.duress is True and normal.duress is False
    assert repr(duress) == repr(normal)


def test_a_duress_unlock_leaves_exactly_the_bytes_a_normal_unlock_leaves(tmp_path: Path) -> None:
    keystore = MemoryKeystore()
    directory = tmp_path / "phone"
    vault = make(directory, keystore)
    write_store(directory / "store.db", vault.unlock(PIN, NOW).key)
    with pytest.raises(WrongPin):
        vault.unlock(WRONG, NOW)  # so that both unlocks reset a count
    before = tmp_path / "before"
    shutil.copytree(directory, before)

    Vault.open(directory, keystore).unlock(PIN, NOW)
    after_normal = snapshot(directory)
    shutil.rmtree(directory)
    shutil.copytree(before, directory)
    Vault.open(directory, keystore).unlock(DURESS, NOW)
    after_duress = snapshot(directory)

    assert after_duress == after_normal
    assert header(directory)["failures"] == 0


# --- PIN rules --------------------------------------------------------------------------------

EXAMPLES = {"123456", "654321", "121212", "123123"}  # the messages' own examples


@pytest.mark.parametrize(("pin", "reason"), [
    ("", "passphrase needs at least 12"),
    ("12a456", "passphrase needs at least 12"),
    ("\u0664\u0668\u0662\u0669\u0661\u0666\u0664\u0668", "passphrase"),  # Arabic-Indic
    ("482916", "at least 8 digits"),
    ("9051736", "at least 8 digits"),
    ("4829167305" * 6 + "48291", "at most 64"),
    ("x" * 65, "at most 64"),
    ("aaaaaaaaaaaaaaaa", "so few different characters"),
    ("abababababab", "so few different characters"),
    ("77777777", "same digit"),
    ("12345678", "run of digits"),
    ("87654321", "run of digits"),
    ("34567890", "run of digits"),
    ("12121212", "repeated pattern"),
    ("47114711", "repeated pattern"),
    ("11223344", "most common"),
    ("12344321", "most common"),
])
def test_weak_pins_are_refused_with_a_plain_reason(pin: str, reason: str) -> None:
    problem = pin_problem(pin)
    assert problem is not None and reason in problem
    assert pin in {"", *EXAMPLES} or pin not in problem  # the PIN is never echoed
    with pytest.raises(WeakPin, match=rf"^the PIN is refused: .*{reason}"):
        check_pins(pin, DURESS)
    with pytest.raises(WeakPin, match=rf"^the duress PIN is refused: .*{reason}"):
        check_pins(PIN, pin)


@pytest.mark.parametrize("pin", ["20417793", "48291673", "4829167305" * 6 + "4829",
                                 "red folder on tuesday", "correct horse battery"])
def test_eight_digits_or_a_passphrase_are_accepted(pin: str) -> None:
    assert pin_problem(pin) is None
    # Refused only for being the same twice: each passed its own checks first.
    with pytest.raises(WeakPin, match=r"^the duress PIN is refused: it must differ from the PIN$"):
        check_pins(pin, pin)


def test_the_set_up_screen_says_why_in_one_line() -> None:
    assert "\n" not in WHY_LONG and "8 digits" in WHY_LONG and "passphrase" in WHY_LONG


def test_a_weak_pin_writes_no_vault_and_keeps_no_secret(tmp_path: Path) -> None:
    keystore = MemoryKeystore()
    with pytest.raises(WeakPin, match=r"^the PIN is refused: a PIN needs at least 8 digits$"):
        Vault.create(tmp_path / "phone", "482916", DURESS, keystore, NOW, kdf_params=FAST,
                     kdf_floor=FAST)
    assert not (tmp_path / "phone").exists() and keystore.names() == frozenset()


def test_the_duress_pin_must_differ_from_the_pin() -> None:
    for pin in (PIN, "red folder on tuesday"):
        with pytest.raises(WeakPin, match=r"^the duress PIN is refused: it must differ"):
            check_pins(pin, pin)


# --- keystore ---------------------------------------------------------------------------------

def test_a_copied_vault_without_the_keystore_secret_is_refused_and_not_counted(
        tmp_path: Path) -> None:
    make(tmp_path / "phone", MemoryKeystore())
    shutil.copytree(tmp_path / "phone", tmp_path / "laptop")
    for elsewhere in (MemoryKeystore(), NoKeystore()):
        copied = Vault.open(tmp_path / "laptop", elsewhere)
        with pytest.raises(KeystoreMismatch, match="copied or restored"):
            copied.unlock(PIN, NOW)
        assert Vault.open(tmp_path / "laptop", elsewhere).failures == 0


def test_a_different_secret_under_the_same_name_is_refused_and_not_counted(
        tmp_path: Path) -> None:
    keystore = MemoryKeystore()
    make(tmp_path, keystore)
    (name,) = keystore.names()
    keystore.set(name, bytes(32))
    with pytest.raises(KeystoreMismatch):
        Vault.open(tmp_path, keystore).unlock(PIN, NOW)
    assert header(tmp_path)["failures"] == 0


def test_with_a_keystore_the_vault_says_the_pin_alone_is_not_enough(tmp_path: Path) -> None:
    vault = make(tmp_path, MemoryKeystore())
    assert vault.keystore_protected is True
    assert "needs the PIN and a secret held by" in vault.protection


def test_without_a_keystore_the_vault_says_so_and_relies_on_the_pin(tmp_path: Path) -> None:
    vault = make(tmp_path, NoKeystore())
    assert vault.keystore_protected is False
    assert vault.protection == NO_KEYSTORE
    assert "relies on the PIN alone" in NoKeystore().description
    assert header(tmp_path)["keystore"] is None
    session = Vault.open(tmp_path, NoKeystore()).unlock(PIN, NOW)
    assert len(session.key) == 32
    with pytest.raises(WrongPin):
        Vault.open(tmp_path, NoKeystore()).unlock(WRONG, NOW)


@contextmanager
def in_memory() -> Iterator[Keystore]:
    yield MemoryKeystore()


@contextmanager
def on_a_phone() -> Iterator[Keystore]:
    """FletKeystore over a stand-in for the phone's secure storage, its loop running in a
    thread of its own (the page's), called from this one (as the vault's worker calls it)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="page", daemon=True)
    thread.start()
    try:
        yield FletKeystore(FakeSecureStorage(), loop)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.close()


BAD_NAME = "a keystore name is 1-64 characters of a-z, 0-9, '.' and '-'"


@pytest.mark.parametrize("keystore", [in_memory, on_a_phone], ids=["memory", "flet"])
def test_a_keystore_keeps_replaces_and_forgets_secrets(
        keystore: Callable[[], AbstractContextManager[Keystore]]) -> None:
    with keystore() as store:
        assert store.available is True and store.get("home-visits.vault.x") is None
        store.set("home-visits.vault.x", b"\x00" * 32)
        store.set("home-visits.vault.x", b"\x01" * 32)
        store.set("home-visits.vault.y", b"\x02" * 64)
        assert store.get("home-visits.vault.x") == b"\x01" * 32
        store.delete("home-visits.vault.x")
        store.delete("home-visits.vault.x")
        assert store.get("home-visits.vault.x") is None
        assert store.get("home-visits.vault.y") == b"\x02" * 64  # the other one kept
        for bad_name in ("", "Child Name", "a/b", "x" * 65):
            with pytest.raises(ValueError, match=re.escape(BAD_NAME)):
                store.get(bad_name)
            with pytest.raises(ValueError, match=re.escape(BAD_NAME)):
                store.set(bad_name, b"\x01" * 32)
        for bad_value in (b"", b"x" * 65):
            with pytest.raises(ValueError, match=r"^a keystore value is 1-64 bytes$"):
                store.set("home-visits.vault.z", bad_value)
        assert store.get("home-visits.vault.z") is None


def test_no_keystore_keeps_nothing() -> None:
    assert NoKeystore().available is False and NoKeystore().get("anything") is None
    with pytest.raises(RuntimeError, match="no platform keystore"):
        NoKeystore().set("anything", b"x")


def test_forgetting_on_a_device_without_a_keystore_is_harmless_but_still_checks_the_name(
        ) -> None:
    NoKeystore().delete("home-visits.vault.x")
    for bad_name in ("", "Child Name", "a/b", "x" * 65):
        with pytest.raises(ValueError, match=re.escape(BAD_NAME)):
            NoKeystore().delete(bad_name)


def test_a_vault_set_up_without_a_keystore_says_so_where_a_keystore_now_is(
        tmp_path: Path) -> None:
    make(tmp_path, NoKeystore())
    vault = Vault.open(tmp_path, MemoryKeystore())  # e.g. the keystore arrived with an update
    assert vault.keystore_protected is False
    assert vault.protection == (
        "this vault was set up without a platform keystore: it relies on the PIN alone")
    assert len(vault.unlock(PIN, NOW).key) == 32


def test_a_revoked_device_whose_keystore_is_gone_is_still_wiped(tmp_path: Path) -> None:
    phone = tmp_path / "phone"
    vault = make(phone, MemoryKeystore())
    write_store(phone / "store.db", vault.unlock(PIN, NOW).key)
    (phone / "outbox").mkdir()
    (phone / "outbox" / "1.json").write_text("{}")
    Vault.open(phone, NoKeystore()).wipe()  # the keystore was reset: there is no secret to forget
    assert list(phone.iterdir()) == []
    with pytest.raises(NoVault):
        Vault.open(phone, NoKeystore())


# --- auto-lock --------------------------------------------------------------------------------

def test_the_session_locks_after_the_idle_time_and_drops_the_key(tmp_path: Path) -> None:
    session = make(tmp_path).unlock(PIN, NOW)
    assert not session.is_locked(NOW + timedelta(minutes=4, seconds=59), idle_minutes=5)
    assert session.is_locked(NOW + timedelta(minutes=5), idle_minutes=5)
    assert session._key == bytearray(32)  # zeroised in place
    with pytest.raises(Locked):
        _ = session.key
    with pytest.raises(Locked):
        session.touch(NOW + timedelta(minutes=6))
    assert session.is_locked(NOW, idle_minutes=5)  # stays locked


def test_activity_postpones_the_lock(tmp_path: Path) -> None:
    session = make(tmp_path).unlock(PIN, NOW)
    for minute in (4, 8, 12):
        assert not session.is_locked(NOW + timedelta(minutes=minute), idle_minutes=5)
        session.touch(NOW + timedelta(minutes=minute))
    assert not session.is_locked(NOW + timedelta(minutes=16), idle_minutes=5)
    assert session.is_locked(NOW + timedelta(minutes=17), idle_minutes=5)


def test_a_clock_set_back_locks_rather_than_extending_the_session(tmp_path: Path) -> None:
    session = make(tmp_path).unlock(PIN, NOW)
    assert session.is_locked(NOW - timedelta(hours=1), idle_minutes=5)


def test_the_idle_lock_during_an_unfinished_rotation_drops_the_previous_key_too(
        tmp_path: Path) -> None:
    keystore = MemoryKeystore()
    vault = make(tmp_path, keystore)
    old, new = vault.rotate(PIN, DURESS, NOW)
    # crash before the store was re-encrypted: the next unlock hands out both keys
    session = Vault.open(tmp_path, keystore).unlock(PIN, NOW)
    assert session.key == new and session.previous_key == old
    assert session.is_locked(NOW + timedelta(minutes=5), idle_minutes=5)
    assert session._key == bytearray(32) and session._previous == bytearray(32)  # zeroised
    with pytest.raises(Locked):
        _ = session.previous_key
    with pytest.raises(Locked):
        _ = session.key


# --- rotation ---------------------------------------------------------------------------------

def rotate_fully(vault: Vault, store: Path) -> tuple[bytes, bytes]:
    old, new = vault.rotate(PIN, DURESS, NOW + timedelta(days=30))
    vault.finish_rotation(reencrypt_store(store, old, new, vault.generation))
    return old, new


def test_rotation_re_encrypts_the_store_under_a_new_key(tmp_path: Path) -> None:
    keystore = MemoryKeystore()
    vault = make(tmp_path, keystore)
    store = tmp_path / "store.db"
    first = vault.unlock(PIN, NOW).key
    vault.record_generation(write_store(store, first))
    old, new = rotate_fully(vault, store)
    assert old == first and new != old
    with pytest.raises(WrongKeyError):
        read_store(store, old)
    assert read_store(store, new, vault.generation) == [{"child": CHILD, "phase": "planned"}]
    reopened = Vault.open(tmp_path, keystore)
    assert reopened.unlock(PIN, NOW).key == new
    assert reopened.unlock(DURESS, NOW).key == new  # the duress PIN follows the rotation
    assert reopened.unlock(PIN, NOW).previous_key is None
    assert reopened.generation == 2 and not reopened.rotation_pending
    assert header(tmp_path)["rotated"] is not None


def test_a_crash_after_the_vault_write_of_a_rotation_loses_nothing(tmp_path: Path) -> None:
    keystore = MemoryKeystore()
    vault = make(tmp_path, keystore)
    store = tmp_path / "store.db"
    vault.record_generation(write_store(store, vault.unlock(PIN, NOW).key))
    old, new = vault.rotate(PIN, DURESS, NOW)
    # crash: the store was not re-encrypted
    session = Vault.open(tmp_path, keystore).unlock(PIN, NOW)
    assert session.key == new and session.previous_key == old
    assert read_store(store, old) == [{"child": CHILD, "phase": "planned"}]
    reopened = Vault.open(tmp_path, keystore)
    assert session.previous_key is not None
    reopened.finish_rotation(reencrypt_store(store, session.previous_key, session.key,
                                             reopened.generation))
    assert read_store(store, new, reopened.generation) == [{"child": CHILD, "phase": "planned"}]


def test_a_crash_after_the_store_write_of_a_rotation_loses_nothing(tmp_path: Path) -> None:
    keystore = MemoryKeystore()
    vault = make(tmp_path, keystore)
    store = tmp_path / "store.db"
    vault.record_generation(write_store(store, vault.unlock(PIN, NOW).key))
    old, new = vault.rotate(PIN, DURESS, NOW)
    generation = reencrypt_store(store, old, new, vault.generation)
    # crash before finish_rotation: doing it again changes nothing
    session = Vault.open(tmp_path, keystore).unlock(DURESS, NOW)
    assert session.previous_key == old
    assert reencrypt_store(store, old, new, vault.generation) == generation
    vault.finish_rotation(generation)
    assert read_store(store, new, generation) == [{"child": CHILD, "phase": "planned"}]


def test_a_rotation_cannot_be_rolled_back_by_moving_wraps_between_slots_or_files(
        tmp_path: Path) -> None:
    """Swapping `key` and `previous_key`, or planting an older file's key, needs no key: it
    must open nothing, so the store is never re-encrypted back under the old key. Each wrap
    is bound to its slot and its key's rotation number; the keystore keeps the highest."""
    keystore = MemoryKeystore()
    vault = make(tmp_path, keystore)
    before_rotation = header(tmp_path)
    old_secret = keystore.get(before_rotation["keystore"]["entry"])
    old, new = vault.rotate(PIN, DURESS, NOW)
    pending = header(tmp_path)
    assert (pending["key"]["rotation"], pending["previous_key"]["rotation"]) == (1, 0)
    path = tmp_path / "vault.json"
    path.write_text(json.dumps({**pending, "key": pending["previous_key"],
                                "previous_key": pending["key"]}))
    with pytest.raises(VaultCorrupt, match="previous key is not the one before"):
        Vault.open(tmp_path, keystore)
    path.write_text(json.dumps({**pending, "key": {**pending["previous_key"], "rotation": 1},
                                "previous_key": {**pending["key"], "rotation": 0}}))
    with pytest.raises(WrongPin):  # the numbers edited to fit: the wraps no longer open
        Vault.open(tmp_path, keystore).unlock(PIN, NOW)
    path.write_text(json.dumps({**before_rotation, "failures": 0}))  # the older file put back
    with pytest.raises(KeystoreMismatch):  # its secret went with the rotation
        Vault.open(tmp_path, keystore).unlock(PIN, NOW)
    assert old_secret is not None  # had it survived (a crash before it was deleted):
    keystore.set(before_rotation["keystore"]["entry"], old_secret)
    with pytest.raises(VaultCorrupt, match="older than this phone's last key rotation"):
        Vault.open(tmp_path, keystore).unlock(PIN, NOW)
    path.write_text(json.dumps({**pending, "failures": 0}))
    session = Vault.open(tmp_path, keystore).unlock(PIN, NOW)
    assert (session.key, session.previous_key) == (new, old)


def test_rotation_needs_both_pins_and_a_wrong_one_counts(tmp_path: Path) -> None:
    keystore = MemoryKeystore()
    vault = make(tmp_path, keystore)
    key = vault.unlock(PIN, NOW).key
    for pin, duress in ((WRONG, DURESS), (PIN, WRONG), (DURESS, PIN)):
        with pytest.raises(WrongPin):
            vault.rotate(pin, duress, NOW)
    assert Vault.open(tmp_path, keystore).failures == 3
    assert vault.unlock(PIN, NOW).key == key  # nothing rotated


def test_a_second_rotation_waits_until_the_first_is_finished(tmp_path: Path) -> None:
    vault = make(tmp_path)
    first = vault.rotate(PIN, DURESS, NOW)
    with pytest.raises(RotationPending, match="finish the last key rotation"):
        vault.rotate(PIN, DURESS, NOW)
    assert vault.unlock(PIN, NOW).key == first[1]  # the refused one changed nothing
    vault.finish_rotation(0)
    second = vault.rotate(PIN, DURESS, NOW)
    assert second[0] == first[1] and second[1] not in first  # on from the first's new key


def test_reencrypting_a_store_that_was_never_written_is_nothing_to_do(tmp_path: Path) -> None:
    assert reencrypt_store(tmp_path / "store.db", bytes(32), bytes(range(32))) == 0
    assert not (tmp_path / "store.db").exists()


# --- generation -------------------------------------------------------------------------------

def test_the_store_generation_is_recorded_durably_and_never_goes_back(tmp_path: Path) -> None:
    keystore = MemoryKeystore()
    vault = make(tmp_path, keystore)
    assert vault.generation == 0
    vault.record_generation(7)
    assert Vault.open(tmp_path, keystore).generation == 7
    with pytest.raises(ValueError, match="only grow"):
        vault.record_generation(6)
    assert header(tmp_path)["generation"] == 7


# --- damaged files ----------------------------------------------------------------------------

def edit(change: Callable[[dict[str, Any]], None]) -> Callable[[bytes], bytes]:
    def damage(blob: bytes) -> bytes:
        document = json.loads(blob)
        change(document)
        return json.dumps(document).encode()
    return damage


DAMAGE: dict[str, Callable[[bytes], bytes]] = {
    "empty": lambda blob: b"",
    "truncated": lambda blob: blob[: len(blob) // 2],
    "not json": lambda blob: b"\x00\xff" + blob,
    "not a vault": lambda blob: b'{"_default": {}}',
    "newer format": edit(lambda d: d.update(version=2)),
    "unknown kdf": edit(lambda d: d["kdf"].update(name="argon2id")),
    "kdf n not a power of 2": edit(lambda d: d["kdf"].update(n=1000)),
    "kdf memory absurd": edit(lambda d: d["kdf"].update(n=2**40)),
    "kdf r zero": edit(lambda d: d["kdf"].update(r=0)),
    "kdf n as text": edit(lambda d: d["kdf"].update(n="1024")),
    "salt missing": edit(lambda d: d["kdf"].pop("salt")),
    "short salt": edit(lambda d: d["kdf"].update(salt="AAAA")),
    "one wrap missing": edit(lambda d: d["key"]["wraps"].pop()),
    "wrap not base64": edit(lambda d: d["key"].update(wraps=["%%", "%%"])),
    "wraps not a list": edit(lambda d: d["key"].update(wraps="AAAA")),
    "key not an object": edit(lambda d: d.update(key="AAAA")),
    "previous key not an object": edit(lambda d: d.update(previous_key=["AAAA", "AAAA"])),
    "failure count not a number": edit(lambda d: d.update(failures="0")),
    "negative generation": edit(lambda d: d.update(generation=-1)),
    "key id missing": edit(lambda d: d["key"].pop("id")),
    "keystore entry renamed": edit(lambda d: d["keystore"].update(entry="../x")),
    "field missing": edit(lambda d: d.pop("previous_key")),
    "bad date": edit(lambda d: d.update(created="yesterday")),
    "store anchor not an object": edit(lambda d: d.update(store_anchor=[1, 2])),
}


@pytest.mark.parametrize("damage", DAMAGE.values(), ids=DAMAGE.keys())
def test_a_damaged_vault_file_is_refused_and_nothing_is_changed(
        tmp_path: Path, damage: Callable[[bytes], bytes]) -> None:
    keystore = MemoryKeystore()
    vault = make(tmp_path, keystore)
    write_store(tmp_path / "store.db", vault.unlock(PIN, NOW).key)
    path = tmp_path / "vault.json"
    path.write_bytes(damage(path.read_bytes()))
    before = snapshot(tmp_path)
    with pytest.raises(VaultCorrupt, match=r"vault\.json"):
        Vault.open(tmp_path, keystore)
    with pytest.raises(VaultCorrupt):
        vault.unlock(PIN, NOW)
    assert snapshot(tmp_path) == before and len(keystore.names()) == 1


def test_a_tampered_wrapped_key_opens_nothing(tmp_path: Path) -> None:
    # Without the PIN a changed ciphertext cannot be told from a wrong PIN: it counts as one.
    vault = make(tmp_path)
    document = header(tmp_path)
    for i, wrap in enumerate(document["key"]["wraps"]):
        raw = bytearray(base64.b64decode(wrap))
        raw[-1] ^= 1
        document["key"]["wraps"][i] = base64.b64encode(raw).decode()
    (tmp_path / "vault.json").write_text(json.dumps(document))
    for pin in (PIN, DURESS):
        with pytest.raises(WrongPin):
            vault.unlock(pin, NOW)


def test_a_wrap_that_opens_to_a_key_other_than_the_one_it_names_is_refused_as_damaged(
        tmp_path: Path) -> None:
    # Only someone holding the PIN and the keystore secret can make such a wrap (the key id is
    # authenticated): say, a tool that re-wrapped the wrong key. It must not be handed out.
    keystore = MemoryKeystore()
    make(tmp_path, keystore)
    document = header(tmp_path)
    (name,) = keystore.names()
    secret = keystore.get(name)
    assert secret is not None
    kek = AESGCM(derive_kek(PIN, FAST, base64.b64decode(document["kdf"]["salt"]), secret))
    aad = associated_data(document["vault_id"], document["key"]["id"], "key", 0)

    def opens(wrap: str) -> bool:
        raw = base64.b64decode(wrap)
        try:
            kek.decrypt(raw[:NONCE_SIZE], raw[NONCE_SIZE:], aad)
        except InvalidTag:
            return False
        return True

    (duress_wrap,) = [w for w in document["key"]["wraps"] if not opens(w)]
    nonce = bytes(NONCE_SIZE)
    forged = nonce + kek.encrypt(nonce, bytes([ROLE_PIN]) + bytes(KEY_SIZE), aad)
    document["key"]["wraps"] = [base64.b64encode(forged).decode(), duress_wrap]
    (tmp_path / "vault.json").write_text(json.dumps(document))
    with pytest.raises(VaultCorrupt, match="does not match its id"):
        Vault.open(tmp_path, keystore).unlock(PIN, NOW)


# --- nothing in clear -------------------------------------------------------------------------

def test_no_pin_or_key_material_is_written_in_clear(tmp_path: Path) -> None:
    keystore = MemoryKeystore()
    vault = make(tmp_path, keystore)
    store = tmp_path / "store.db"
    keys = [vault.unlock(PIN, NOW).key]
    vault.record_generation(write_store(store, keys[0]))
    with pytest.raises(WrongPin) as wrong:
        vault.unlock(WRONG, NOW)
    keys.append(rotate_fully(vault, store)[1])
    base = f"home-visits.vault.{header(tmp_path)['vault_id']}"
    assert keystore.names() == {f"{base}.s1", f"{base}.rotation"}  # the renewed secret, the
    secret = keystore.get(f"{base}.s1")                             # rotation it is at
    assert secret is not None
    needles = [PIN.encode(), DURESS.encode(), WRONG.encode(), CHILD.encode()]
    for key in [*keys, secret]:
        needles += [key, key.hex().encode(), base64.b64encode(key), base64.b64encode(key)[:20]]
    for file in tmp_path.iterdir():
        content = file.read_bytes()
        assert stat.S_IMODE(file.stat().st_mode) == 0o600
        for needle in needles:
            assert needle not in content, file.name
    for pin in (PIN, DURESS, WRONG):
        assert pin not in str(wrong.value)


def test_every_vault_error_shares_one_base() -> None:
    for error in (NoVault, VaultExists, VaultCorrupt, WeakPin, KeystoreMismatch, WrongPin, Wiped,
                  Locked, RotationPending):
        assert issubclass(error, VaultError)


class SilentKeystore(MemoryKeystore):
    """A platform keystore that stops answering (a phone's Keystore busy or locked)."""

    silent = False

    def get(self, name: str) -> bytes | None:
        if self.silent:
            raise KeystoreUnavailable("the phone's keystore did not answer in time")
        return super().get(name)


def test_a_keystore_that_does_not_answer_is_a_vault_error_and_counts_no_attempt(
        tmp_path: Path) -> None:
    keystore = SilentKeystore()
    make(tmp_path, keystore)
    keystore.silent = True
    with pytest.raises(KeystoreNotAnswering, match="did not answer: try again") as caught:
        Vault.open(tmp_path, keystore).unlock(PIN, NOW)
    assert isinstance(caught.value, VaultError)  # what an unlock screen catches
    assert header(tmp_path)["failures"] == 0
    with pytest.raises(KeystoreNotAnswering):
        Vault.create(tmp_path / "new", PIN, DURESS, keystore, NOW, kdf_params=FAST,
                     kdf_floor=FAST)
    assert not (tmp_path / "new" / "vault.json").exists()
    keystore.silent = False
    assert Vault.open(tmp_path, keystore).unlock(PIN, NOW).duress is False
