"""Vault: the staff PIN (and, on phones, the platform keystore) opens the store's data key.

The data key is 32 random bytes. `vault.json` keeps it only wrapped (AES-256-GCM) under

    KEK = HKDF-SHA256(scrypt(PIN, salt) || keystore secret)

where the keystore secret is 32 random bytes kept by the platform keystore (see keystore.py),
so the file copied to another device is useless even with the PIN. Where there is no keystore
the secret is empty, `keystore_protected` is False and `protection` says the PIN stands alone.
The KDF's name, parameters and salt are in the file, so a later version can move to Argon2id.

The same data key is wrapped twice: under the PIN and under the duress PIN. Both wraps share
one scrypt salt, so every attempt costs exactly one scrypt whichever PIN it is (a duress
unlock takes no longer than a normal one, and unlock stays under the 0.6 s target); the wraps
are stored in random order and say which is which only inside their ciphertext. A duress
unlock returns the same key with `duress=True` and writes exactly the bytes a normal unlock
writes: the app, not the vault, records the silent alert.

Every attempt (unlock or rotate) first writes `failures + 1` durably, then derives and checks;
only a success writes the count back to 0. The 10th failure in a row wipes: the keystore
secret, every file in the directory (the store), then vault.json. A wipe cut short by a crash
is finished by the next `Vault.open`, which sees the count at the limit.

Rotation, ordered so that a crash at any point loses nothing (docs/store-format.md):
    old, new = vault.rotate(pin, duress_pin, now)   # vault: new key current, old kept as previous
    gen = reencrypt_store(store, old, new, vault.generation)  # store: rewritten under new key
    vault.finish_rotation(gen)                       # vault: old key dropped, generation recorded
After a crash, `unlock` returns `previous_key` too; the app repeats the last two steps
(`reencrypt_store` does nothing to a store that is already under the new key). A rotation also
renews the salt and the keystore secret; each wrap is bound to its slot and its key's rotation
number, and the keystore keeps the highest rotation reached, so a rotation cannot be undone by
editing or putting back vault.json. `change_pin` replaces the PIN (the duress PIN stays).
The store's anchor (fieldapp.store.anchor) is kept here too (`load_anchor`, `save_anchor`).

Errors (none carries a PIN, a key or anything personal):

    VaultError
     ├── NoVault            no vault.json in the directory
     ├── VaultExists        create() where a vault already is
     ├── VaultCorrupt       vault.json is damaged, cut off or a newer format (an attempt is
     │                      counted before the keys are read, as for a wrong PIN)
     ├── WeakPin            a PIN refused at create(); the reason is in plain English
     ├── KeystoreMismatch   the keystore does not hold this vault's secret; not counted as a try
     ├── WrongPin           .attempts_left; the failure was counted before the check
     ├── Wiped              the last allowed attempt failed: keys and store are gone
     ├── Locked             the session was idle too long and its key was dropped
     └── RotationPending    rotate() before the last rotation was finished
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac as stdlib_hmac
import itertools
import json
import os
import secrets
import shutil
import threading
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final, NoReturn

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from fieldapp.crypto.keystore import NAME, NO_KEYSTORE, Keystore, KeystoreUnavailable
from fieldapp.crypto.storage import (
    EncryptedStorage,
    WrongKeyError,
    fsync_directory,
    key_id,
    remove_leftovers,
    write_atomically,
)

FILE_NAME: Final = "vault.json"
FORMAT: Final = "home-visits key vault"
VERSION: Final = 1
MAX_FAILURES: Final = 10
KEY_SIZE: Final = 32
SALT_SIZE: Final = 16
NONCE_SIZE: Final = 12
WRAP_SIZE: Final = NONCE_SIZE + 1 + KEY_SIZE + 16  # nonce, role byte + key, tag
CHECK_SIZE: Final = 8
ROLE_PIN: Final = 1
ROLE_DURESS: Final = 2
CURRENT: Final = "key"  # the slots a wrapped key sits in (bound into its associated data)
PREVIOUS: Final = "previous_key"
MAX_KDF_MEMORY: Final = 1 << 30  # refuse parameters that would need more than 1 GiB
_WRITING = threading.RLock()  # vault.json is read, changed and written by one thread at a time


class VaultError(Exception):
    """The vault cannot do what was asked. The message is safe to show and to log."""


class NoVault(VaultError):
    """There is no vault in this directory: the app has not been set up here."""


class VaultExists(VaultError):
    """A vault is already set up in this directory."""


class VaultCorrupt(VaultError):
    """vault.json cannot be read as it is. Nothing was changed."""


class WeakPin(VaultError):
    """A PIN that is too easy to guess, with the reason."""


class KeystoreMismatch(VaultError):
    """The platform keystore does not hold this vault's secret (a copied or restored file)."""


class WrongPin(VaultError):
    """The PIN did not open the vault; `attempts_left` before the wipe."""

    def __init__(self, attempts_left: int) -> None:
        self.attempts_left = attempts_left
        plural = "attempt" if attempts_left == 1 else "attempts"
        super().__init__(f"wrong PIN: {attempts_left} {plural} left before this device is wiped")


class KeystoreNotAnswering(VaultError):
    """The platform keystore did not answer: nothing was changed and no attempt counted."""


class Wiped(VaultError):
    """Too many wrong PINs: the keys and the store have been deleted."""


class Locked(VaultError):
    """The session was locked after the idle time; unlock again."""


class RotationPending(VaultError):
    """The last key rotation has not been finished."""


# --- PIN rules --------------------------------------------------------------------------------

MIN_PIN: Final = 8
MIN_PASSPHRASE: Final = 12
MAX_PIN: Final = 64
# Why 8 digits, in the one line the set-up screen shows.
WHY_LONG: Final = ("At least 8 digits, or a passphrase of 12 characters or more: if the phone is "
                   "lost, a 6-digit PIN can be guessed in hours.")
NOT_ANSWERING: Final = "the phone's keystore did not answer: try again (nothing was changed)"
COMMON_PINS: Final = frozenset({  # among the most chosen 8-digit PINs the other rules let by
    "11223344", "12344321", "11112222", "12348765", "14725836", "13572468", "11111112",
    "88888889", "12121233",
})


def pin_problem(pin: str) -> str | None:
    """Why `pin` is refused, in plain English, or None when it is acceptable. A PIN is at least
    8 digits (a stolen phone's vault file falls to scrypt guessing: 10^6 PINs in hours on a
    few dozen cores, 10^8 in weeks), or a passphrase of at least 12 characters."""
    if len(pin) > MAX_PIN:
        return f"a PIN or passphrase has at most {MAX_PIN} characters"
    if not (pin.isascii() and pin.isdigit()):
        if len(pin.strip()) < MIN_PASSPHRASE:
            return (f"a passphrase needs at least {MIN_PASSPHRASE} characters (or use a PIN of "
                    f"at least {MIN_PIN} digits)")
        if len(set(pin.lower())) < 5:
            return "a passphrase of so few different characters is too easy to guess"
        return None
    if len(pin) < MIN_PIN:
        return f"a PIN needs at least {MIN_PIN} digits"
    if len(set(pin)) == 1:
        return "the same digit repeated is too easy to guess"
    steps = {(int(b) - int(a)) % 10 for a, b in itertools.pairwise(pin)}
    if steps in ({1}, {9}):
        return "a run of digits such as 123456 or 654321 is too easy to guess"
    for period in range(2, len(pin) // 2 + 1):
        if len(pin) % period == 0 and pin == pin[:period] * (len(pin) // period):
            return "a repeated pattern such as 121212 or 123123 is too easy to guess"
    if pin in COMMON_PINS:
        return "this is one of the most common PINs"
    return None


def check_pins(pin: str, duress_pin: str) -> None:
    """Raise WeakPin unless both PINs are acceptable and differ."""
    for label, candidate in (("the PIN", pin), ("the duress PIN", duress_pin)):
        problem = pin_problem(candidate)
        if problem is not None:
            raise WeakPin(f"{label} is refused: {problem}")
    if stdlib_hmac.compare_digest(pin.encode(), duress_pin.encode()):
        raise WeakPin("the duress PIN is refused: it must differ from the PIN")


# --- the file ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class ScryptParams:
    """scrypt cost. The default is OWASP's minimum: N=2^17, r=8, p=1 (128 MiB)."""

    n: int = 2**17
    r: int = 8
    p: int = 1

    def check(self) -> None:
        if not all(type(v) is int and v >= 1 for v in (self.n, self.r, self.p)):
            raise ValueError("scrypt n, r and p are positive integers")
        if self.n < 2 or self.n & (self.n - 1):
            raise ValueError("scrypt n is a power of 2")
        if 128 * self.n * self.r * self.p > MAX_KDF_MEMORY:
            raise ValueError("scrypt parameters would need more than 1 GiB")

    def at_least(self, floor: ScryptParams) -> None:
        """Refuse parameters costing less than `floor` (memory, and so time, per guess)."""
        if self.n * self.r * self.p < floor.n * floor.r * floor.p:
            raise ValueError(f"scrypt n={self.n}, r={self.r}, p={self.p} costs less than the "
                             f"floor, n={floor.n}, r={floor.r}, p={floor.p}")


DEFAULT_KDF: Final = ScryptParams()
# The least a vault is set up with (docs/store-format.md): OWASP's minimum for scrypt. Tests
# and demo phones pass a lower floor on purpose (`kdf_floor`), never the app.
KDF_FLOOR: Final = ScryptParams()


@dataclass(frozen=True)
class KeySet:
    """One data key wrapped under the PIN and under the duress PIN, in random order."""

    key_id: str  # storage.key_id(data key), hex: names the key the store header names
    rotation: int  # 0 for the key made at set-up, +1 with every rotation
    wraps: tuple[bytes, ...]


@dataclass(frozen=True)
class VaultFile:
    vault_id: str
    kdf: ScryptParams
    salt: bytes
    keystore_entry: str | None
    keystore_check: bytes | None
    current: KeySet
    previous: KeySet | None
    failures: int
    generation: int
    created: datetime
    rotated: datetime | None
    anchor: dict[str, Any] | None = None  # the store's anchor (fieldapp.store.anchor)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: object, size: int, what: str) -> bytes:
    if not isinstance(text, str):
        raise ValueError(f"{what} is missing")
    data = base64.b64decode(text, validate=True)
    if len(data) != size:
        raise ValueError(f"{what} has the wrong length")
    return data


def dump_keyset(keys: KeySet) -> dict[str, Any]:
    return {"id": keys.key_id, "rotation": keys.rotation, "wraps": [b64(w) for w in keys.wraps]}


def dump(state: VaultFile) -> bytes:
    document = {
        "format": FORMAT,
        "version": VERSION,
        "vault_id": state.vault_id,
        "kdf": {"name": "scrypt", "n": state.kdf.n, "r": state.kdf.r, "p": state.kdf.p,
                "length": KEY_SIZE, "salt": b64(state.salt)},
        "keystore": None if state.keystore_entry is None or state.keystore_check is None
        else {"entry": state.keystore_entry, "check": b64(state.keystore_check)},
        "key": dump_keyset(state.current),
        "previous_key": None if state.previous is None else dump_keyset(state.previous),
        "failures": state.failures,
        "generation": state.generation,
        "created": state.created.isoformat(),
        "rotated": None if state.rotated is None else state.rotated.isoformat(),
        "store_anchor": state.anchor,
    }
    return json.dumps(document, indent=1, sort_keys=True).encode("ascii") + b"\n"


def integer(value: object, what: str) -> int:
    if type(value) is not int or value < 0:
        raise ValueError(f"{what} is not a count")
    return value


def hex_id(value: object, size: int, what: str) -> str:
    if not isinstance(value, str) or len(value) != 2 * size:
        raise ValueError(f"{what} is damaged")
    bytes.fromhex(value)
    return value


def parse_keyset(value: object, what: str) -> KeySet:
    if not isinstance(value, dict) or not isinstance(value.get("wraps"), list):
        raise ValueError(f"{what} is damaged")
    wraps = tuple(unb64(w, WRAP_SIZE, f"a wrapped {what}") for w in value["wraps"])
    if len(wraps) != 2:
        raise ValueError(f"{what} does not have its two wraps")
    return KeySet(hex_id(value.get("id"), 8, f"the {what} id"),
                  integer(value.get("rotation"), f"the {what}'s rotation"), wraps)


def parse(blob: bytes) -> VaultFile:
    """The vault file, or VaultCorrupt saying what is wrong with it."""
    if not blob:
        raise VaultCorrupt("vault.json is empty: it was never completely written")
    try:
        document = json.loads(blob)
    except ValueError:
        raise VaultCorrupt("vault.json is damaged or cut off (not readable JSON)") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise VaultCorrupt("vault.json is not a Home Visits key vault")
    if document.get("version") != VERSION:
        raise VaultCorrupt(f"vault.json is vault format {str(document.get('version'))[:8]}; "
                           f"this app reads format {VERSION}")
    try:
        kdf = document["kdf"]
        if kdf.get("name") != "scrypt" or kdf.get("length") != KEY_SIZE:
            raise VaultCorrupt(f"vault.json uses the key derivation {str(kdf.get('name'))[:20]!r}"
                               ", which this app cannot use")
        params = ScryptParams(kdf["n"], kdf["r"], kdf["p"])
        params.check()
        keystore = document["keystore"]
        if keystore is not None and not NAME.fullmatch(str(keystore.get("entry"))):
            raise ValueError("the keystore entry is damaged")
        previous = document["previous_key"]
        failures = integer(document["failures"], "the failure count")
        rotated = document["rotated"]
        current = parse_keyset(document["key"], "data key")
        if previous is not None:
            previous = parse_keyset(previous, "previous key")
            if previous.rotation + 1 != current.rotation:
                raise ValueError("the previous key is not the one before the data key")
        anchor = document.get("store_anchor")
        if anchor is not None and not isinstance(anchor, dict):
            raise ValueError("the store's anchor is damaged")
        return VaultFile(
            vault_id=hex_id(document["vault_id"], 16, "the vault id"),
            kdf=params,
            salt=unb64(kdf.get("salt"), SALT_SIZE, "the salt"),
            keystore_entry=None if keystore is None else keystore["entry"],
            keystore_check=None if keystore is None
            else unb64(keystore.get("check"), CHECK_SIZE, "the keystore check"),
            current=current,
            previous=previous,
            failures=min(failures, MAX_FAILURES),
            generation=integer(document["generation"], "the store generation"),
            created=datetime.fromisoformat(document["created"]),
            rotated=None if rotated is None else datetime.fromisoformat(rotated),
            anchor=anchor,
        )
    except VaultCorrupt:
        raise
    except KeyError as missing:
        raise VaultCorrupt(f"vault.json is damaged: {missing} is missing") from None
    except (ValueError, TypeError, AttributeError, binascii.Error) as problem:
        raise VaultCorrupt(f"vault.json is damaged: {problem}") from None


# --- the cryptography -------------------------------------------------------------------------

def derive_kek(pin: str, kdf: ScryptParams, salt: bytes, secret: bytes) -> bytes:
    """One scrypt (the memory-hard part) then HKDF over it and the keystore secret."""
    stretched = Scrypt(salt=salt, length=KEY_SIZE, n=kdf.n, r=kdf.r,
                       p=kdf.p).derive(pin.encode("utf-8"))
    return HKDF(algorithm=hashes.SHA256(), length=KEY_SIZE, salt=None,
                info=b"home-visits vault kek v1").derive(stretched + secret)


def keystore_check(secret: bytes) -> bytes:
    """Tells a missing or different keystore secret from a wrong PIN; reveals nothing of it."""
    mac = hmac.HMAC(secret, hashes.SHA256())
    mac.update(b"home-visits vault keystore check")
    return mac.finalize()[:CHECK_SIZE]


def associated_data(vault_id: str, kid: str, slot: str, rotation: int) -> bytes:
    """What a wrap is bound to: the vault, the key, the slot it sits in (`key` or
    `previous_key`) and the key's rotation number, so no wrap can be moved to another slot or
    put back from an older vault.json into this one."""
    return f"{FORMAT} {VERSION} {vault_id} {kid} {slot} {rotation}".encode("ascii")


def wrap_keys(vault_id: str, data_key: bytes, keks: dict[int, bytes], slot: str,
              rotation: int) -> KeySet:
    kid = key_id(data_key).hex()
    wraps = []
    for role, kek in keks.items():
        nonce = os.urandom(NONCE_SIZE)
        plain = bytes([role]) + data_key
        wraps.append(nonce + AESGCM(kek).encrypt(
            nonce, plain, associated_data(vault_id, kid, slot, rotation)))
    secrets.SystemRandom().shuffle(wraps)
    return KeySet(kid, rotation, tuple(wraps))


def _opens(kek: bytes, wrap: bytes, ad: bytes) -> bool:
    try:
        AESGCM(kek).decrypt(wrap[:NONCE_SIZE], wrap[NONCE_SIZE:], ad)
    except InvalidTag:
        return False
    return True


def unwrap_keys(vault_id: str, keys: KeySet, kek: bytes, slot: str) -> tuple[int, bytes] | None:
    """(role, data key) from whichever wrap `kek` opens, or None. Tries every wrap."""
    opened = None
    for blob in keys.wraps:
        try:
            plain = AESGCM(kek).decrypt(blob[:NONCE_SIZE], blob[NONCE_SIZE:], associated_data(
                vault_id, keys.key_id, slot, keys.rotation))
        except InvalidTag:
            continue
        opened = (plain[0], plain[1:])
    if opened is not None and key_id(opened[1]).hex() != keys.key_id:
        raise VaultCorrupt("vault.json is damaged: a wrapped key does not match its id")
    return opened


# --- the unlocked session ---------------------------------------------------------------------

class Unlocked:
    """An open vault: the data key until the session locks. Its repr shows neither key nor mode.

    The gate calls `is_locked(now, pack idle minutes)` on resume and before each action, then
    `touch(now)`. Locking zeroises the key held here; `bytes` copies handed out cannot be
    zeroised in Python, so close the storage (which drops its copy) when the session locks.
    """

    def __init__(self, key: bytes, duress: bool, now: datetime,
                 previous_key: bytes | None = None) -> None:
        self._key = bytearray(key)
        self._previous = bytearray(previous_key) if previous_key is not None else None
        self.duress = duress
        self._last = now
        self._locked = False

    def __repr__(self) -> str:
        return f"<Unlocked {'locked' if self._locked else 'open'}>"

    @property
    def key(self) -> bytes:
        if self._locked:
            raise Locked("the vault locked after the idle time: enter the PIN again")
        return bytes(self._key)

    @property
    def previous_key(self) -> bytes | None:
        """The key before an unfinished rotation (see the module docstring), else None."""
        if self._locked:
            raise Locked("the vault locked after the idle time: enter the PIN again")
        return None if self._previous is None else bytes(self._previous)

    def touch(self, now: datetime) -> None:
        """The user did something: the idle time counts from now."""
        if self._locked:
            raise Locked("the vault locked after the idle time: enter the PIN again")
        self._last = now

    def is_locked(self, now: datetime, idle_minutes: float) -> bool:
        """Lock (and drop the key) once `idle_minutes` have passed since the last touch, or if
        the clock went back past it."""
        idle = now - self._last
        if not self._locked and not timedelta(0) <= idle < timedelta(minutes=idle_minutes):
            self.lock()
        return self._locked

    def lock(self) -> None:
        self._key[:] = bytes(len(self._key))
        if self._previous is not None:
            self._previous[:] = bytes(len(self._previous))
        self._locked = True


# --- the vault --------------------------------------------------------------------------------

class Vault:
    """The key vault in `directory` (the app's private directory, which also holds the store)."""

    def __init__(self, directory: Path, keystore: Keystore, state: VaultFile) -> None:
        self.directory = directory
        self.path = directory / FILE_NAME
        self._keystore = keystore
        self._state = state

    @classmethod
    def create(cls, directory: str | os.PathLike[str], pin: str, duress_pin: str,
               keystore: Keystore, now: datetime,
               kdf_params: ScryptParams = DEFAULT_KDF,
               kdf_floor: ScryptParams = KDF_FLOOR) -> Vault:
        """Set up a new vault with a new random data key. Takes two scrypt runs. Parameters
        costing less than `kdf_floor` are refused (ValueError)."""
        check_pins(pin, duress_pin)
        kdf_params.check()
        kdf_params.at_least(kdf_floor)
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = folder / FILE_NAME
        if path.exists():
            raise VaultExists("a key vault is already set up here")
        remove_leftovers(path)
        vault_id = os.urandom(16).hex()
        entry, check, secret = (new_secret(keystore, secret_name(vault_id, 0))
                                if keystore.available else (None, None, b""))
        salt = os.urandom(SALT_SIZE)
        keks = {ROLE_PIN: derive_kek(pin, kdf_params, salt, secret),
                ROLE_DURESS: derive_kek(duress_pin, kdf_params, salt, secret)}
        current = wrap_keys(vault_id, os.urandom(KEY_SIZE), keks, CURRENT, 0)
        state = VaultFile(vault_id, kdf_params, salt, entry, check, current, None, 0, 0, now, None)
        write_atomically(path, dump(state))
        return cls(folder, keystore, state)

    @classmethod
    def open(cls, directory: str | os.PathLike[str], keystore: Keystore) -> Vault:
        """The vault set up in `directory`. Finishes a wipe that a crash cut short."""
        folder = Path(directory)
        remove_leftovers(folder / FILE_NAME)
        vault = cls(folder, keystore, load(folder / FILE_NAME))
        vault._finish_wipe_if_due(vault._state)
        return vault

    # -- what the settings screen and the store need to know

    @property
    def keystore_protected(self) -> bool:
        return self._state.keystore_entry is not None

    @property
    def protection(self) -> str:
        if self.keystore_protected:
            return f"the data key needs the PIN and a secret held by {self._keystore.description}"
        if self._keystore.available:
            return "this vault was set up without a platform keystore: it relies on the PIN alone"
        return NO_KEYSTORE

    @property
    def kdf(self) -> ScryptParams:
        return self._state.kdf

    @property
    def failures(self) -> int:
        return self._state.failures

    @property
    def attempts_left(self) -> int:
        return MAX_FAILURES - self._state.failures

    @property
    def generation(self) -> int:
        """The store generation last recorded: a store file older than this is rolled back."""
        return self._state.generation

    @property
    def key_id(self) -> str:
        return self._state.current.key_id

    @property
    def rotation_pending(self) -> bool:
        return self._state.previous is not None

    # -- operations

    def unlock(self, pin: str, now: datetime) -> Unlocked:
        """The data key, if `pin` is the PIN or the duress PIN; else WrongPin, or Wiped."""
        state = self._attempt()
        kek = derive_kek(pin, state.kdf, state.salt, self._secret(state))
        opened = unwrap_keys(state.vault_id, state.current, kek, CURRENT)
        if opened is None:
            self._failed(state)
        role, data_key = opened
        if state.current.rotation < self._kept_number(state, ".rotation"):
            raise VaultCorrupt("vault.json is older than this phone's last key rotation: it was "
                               "put back from a copy")
        previous = None
        if state.previous is not None:
            before = unwrap_keys(state.vault_id, state.previous, kek, PREVIOUS)
            previous = None if before is None else before[1]
        self._update(failures=0)
        return Unlocked(data_key, role == ROLE_DURESS, now, previous)

    def rotate(self, pin: str, duress_pin: str, now: datetime) -> tuple[bytes, bytes]:
        """(old key, new key): a new data key, wrapped under both PINs; the old one is kept as
        the previous key until `finish_rotation`. Counts as an attempt, like unlock."""
        if self._reload().previous is not None:
            raise RotationPending("finish the last key rotation before starting another")
        state = self._attempt()
        secret = self._secret(state)
        keks = {ROLE_PIN: derive_kek(pin, state.kdf, state.salt, secret),
                ROLE_DURESS: derive_kek(duress_pin, state.kdf, state.salt, secret)}
        opened = {role: unwrap_keys(state.vault_id, state.current, kek, CURRENT)
                  for role, kek in keks.items()}
        old = opened[ROLE_PIN]
        duress = opened[ROLE_DURESS]
        if old is None or duress is None or old[0] != ROLE_PIN or duress[0] != ROLE_DURESS:
            self._failed(state)
        # A new salt and, where there is a keystore, a new secret under a new name: a copy of
        # the vault file from before the rotation, with the PINs, no longer opens anything.
        rotation = state.current.rotation
        entry, check, secret = state.keystore_entry, state.keystore_check, b""
        if entry is not None:
            entry, check, secret = new_secret(self._keystore,
                                              secret_name(state.vault_id, rotation + 1))
        salt = os.urandom(SALT_SIZE)
        keks = {ROLE_PIN: derive_kek(pin, state.kdf, salt, secret),
                ROLE_DURESS: derive_kek(duress_pin, state.kdf, salt, secret)}
        new = os.urandom(KEY_SIZE)
        self._update(current=wrap_keys(state.vault_id, new, keks, CURRENT, rotation + 1),
                     previous=wrap_keys(state.vault_id, old[1], keks, PREVIOUS, rotation),
                     salt=salt, keystore_entry=entry, keystore_check=check,
                     failures=0, rotated=now)
        self._keep_number(".rotation", rotation + 1)
        if state.keystore_entry is not None and state.keystore_entry != entry:
            with contextlib.suppress(KeystoreUnavailable):  # the old secret goes
                self._keystore.delete(state.keystore_entry)
        return old[1], new

    def change_pin(self, pin: str, new_pin: str) -> None:
        """Replace the PIN; the duress PIN stays. WrongPin if `pin` is not the PIN (counted,
        like an unlock), WeakPin if the new one is refused or is the duress PIN."""
        problem = pin_problem(new_pin)
        if problem is not None:
            raise WeakPin(f"the new PIN is refused: {problem}")
        if self._reload().previous is not None:
            raise RotationPending("finish the last key rotation before changing the PIN")
        state = self._attempt()
        secret = self._secret(state)
        old_kek = derive_kek(pin, state.kdf, state.salt, secret)
        opened = unwrap_keys(state.vault_id, state.current, old_kek, CURRENT)
        if opened is None or opened[0] != ROLE_PIN:
            self._failed(state)
        new_kek = derive_kek(new_pin, state.kdf, state.salt, secret)
        if unwrap_keys(state.vault_id, state.current, new_kek, CURRENT) is not None:
            self._update(failures=0)
            raise WeakPin("the new PIN is refused: it must differ from the PIN and the duress PIN")
        ad = associated_data(state.vault_id, state.current.key_id, CURRENT,
                             state.current.rotation)
        duress = [w for w in state.current.wraps if not _opens(old_kek, w, ad)]
        nonce = os.urandom(NONCE_SIZE)
        wraps = [nonce + AESGCM(new_kek).encrypt(nonce, bytes([ROLE_PIN]) + opened[1], ad),
                 *duress]
        secrets.SystemRandom().shuffle(wraps)
        self._update(current=replace(state.current, wraps=tuple(wraps)), failures=0)

    def finish_rotation(self, generation: int, anchor: dict[str, Any] | None = None) -> None:
        """The store is re-encrypted under the new key (at `generation`, with `anchor` sealed
        under it): drop the old key."""
        with _WRITING:
            state = self._reload()
            self._save(replace(state, previous=None, generation=self._grown(state, generation),
                               anchor=state.anchor if anchor is None else anchor))
        if anchor is not None:
            self._keep_number(".anchor", integer(anchor.get("serial"), "the anchor's serial"))

    def record_generation(self, generation: int) -> None:
        """Durably note the store generation just written, for rollback checks."""
        with _WRITING:
            state = self._reload()
            self._save(replace(state, generation=self._grown(state, generation)))

    # -- the store's anchor (fieldapp.store.anchor.AnchorKeeper)

    def load_anchor(self) -> tuple[dict[str, Any] | None, int]:
        """(the anchor last recorded, the highest anchor serial the keystore has seen)."""
        state = load(self.path)
        return state.anchor, self._kept_number(state, ".anchor")

    def save_anchor(self, document: dict[str, Any], serial: int) -> None:
        """Keep the store's anchor in vault.json, then its serial in the keystore (in that
        order: a crash between leaves the keystore behind, never ahead)."""
        with _WRITING:
            state = load(self.path)
            generation = max(state.generation,
                             integer(document.get("generation"), "the anchor's generation"))
            self._save(replace(state, anchor=document, generation=generation))
        self._keep_number(".anchor", serial)

    # -- high-water marks kept in the keystore, outside the app's files

    def _kept_number(self, state: VaultFile, suffix: str) -> int:
        """The highest number the keystore has kept under this vault's name + `suffix`."""
        if state.keystore_entry is None or not self._keystore.available:
            return 0
        try:
            kept = self._keystore.get(secret_name(state.vault_id, 0) + suffix)
        except KeystoreUnavailable:
            raise KeystoreNotAnswering(NOT_ANSWERING) from None
        return 0 if kept is None else int.from_bytes(kept, "big")

    def _keep_number(self, suffix: str, number: int) -> None:
        """Raise the keystore's mark, after vault.json was written: it may lag, never lead."""
        if self._state.keystore_entry is None or not self._keystore.available:
            return
        with contextlib.suppress(KeystoreUnavailable):
            self._keystore.set(secret_name(self._state.vault_id, 0) + suffix,
                               number.to_bytes(8, "big"))

    def wipe(self) -> None:
        """Forget the keystore secret, delete every file in the directory, then vault.json
        last (so a wipe cut short is finished by the next open). Also for a revoked device."""
        entry = self._state.keystore_entry
        if entry is not None and self._keystore.available:
            base = secret_name(self._state.vault_id, 0)
            for name in (entry, f"{base}.anchor", f"{base}.rotation"):
                self._keystore.delete(name)
        for child in self.directory.iterdir():
            if child == self.path:
                continue
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink(missing_ok=True)
        self.path.unlink(missing_ok=True)
        fsync_directory(self.directory)

    # -- helpers

    def _reload(self) -> VaultFile:
        """The file as it is now (another Vault object may have counted a failure)."""
        state = load(self.path)
        self._state = state
        self._finish_wipe_if_due(state)
        return state

    def _attempt(self) -> VaultFile:
        """Count the attempt durably before anything is derived or compared."""
        with _WRITING:
            state = self._reload()
            self._secret(state)  # a missing keystore secret is not a wrong PIN: uncounted
            counted = replace(state, failures=state.failures + 1)
            self._save(counted)
        return counted

    def _failed(self, state: VaultFile) -> NoReturn:
        if state.failures >= MAX_FAILURES:
            self.wipe()
            raise Wiped("too many wrong PINs: the keys and the store on this device were deleted")
        raise WrongPin(MAX_FAILURES - state.failures)

    def _finish_wipe_if_due(self, state: VaultFile) -> None:
        if state.failures >= MAX_FAILURES:
            self._failed(state)

    def _secret(self, state: VaultFile) -> bytes:
        if state.keystore_entry is None or state.keystore_check is None:
            return b""
        try:
            secret = self._keystore.get(state.keystore_entry) if self._keystore.available \
                else None
        except KeystoreUnavailable:
            raise KeystoreNotAnswering(NOT_ANSWERING) from None
        if secret is None or not stdlib_hmac.compare_digest(keystore_check(secret),
                                                            state.keystore_check):
            raise KeystoreMismatch(
                "this vault's secret is not in this device's keystore (the vault file was "
                "copied or restored from elsewhere, or the keystore was reset): it cannot be "
                "opened here")
        return secret

    def _save(self, state: VaultFile) -> None:
        write_atomically(self.path, dump(state))
        self._state = state

    def _update(self, **changes: Any) -> None:
        """Change fields of the file as it is now (the store may have recorded its anchor
        while a PIN was being checked)."""
        with _WRITING:
            self._save(replace(load(self.path), **changes))

    @staticmethod
    def _grown(state: VaultFile, generation: int) -> int:
        if type(generation) is not int or generation < state.generation:
            raise ValueError(f"store generations only grow: {generation} < {state.generation}")
        return generation


def secret_name(vault_id: str, rotation: int) -> str:
    """The keystore name of the secret a vault uses after `rotation` rotations."""
    base = f"home-visits.vault.{vault_id}"
    return base if rotation == 0 else f"{base}.s{rotation}"


def new_secret(keystore: Keystore, name: str) -> tuple[str, bytes, bytes]:
    """(name, check, secret): a new random secret kept in the keystore under `name`."""
    secret = os.urandom(KEY_SIZE)
    try:
        keystore.set(name, secret)
        kept = keystore.get(name)
    except KeystoreUnavailable:
        raise KeystoreNotAnswering(NOT_ANSWERING) from None
    if kept != secret:
        raise KeystoreMismatch("the platform keystore did not keep the vault's secret")
    return name, keystore_check(secret), secret


def load(path: Path) -> VaultFile:
    try:
        return parse(path.read_bytes())
    except FileNotFoundError:
        raise NoVault("no key vault is set up on this device") from None


def reencrypt_store(path: str | os.PathLike[str], old_key: bytes, new_key: bytes,
                    min_generation: int = 0) -> int:
    """Rewrite the store at `path` under `new_key` (one atomic replace) and return the generation
    written. A store already under `new_key` is left as it is, so a rotation cut short by a
    crash can simply be repeated. A missing store with `min_generation` 0 has nothing to do."""
    try:
        current = EncryptedStorage(path, new_key, min_generation)
        current.read()
        return current.generation
    except WrongKeyError:
        pass
    before = EncryptedStorage(path, old_key, min_generation)
    data = before.read()
    after = EncryptedStorage(path, new_key, before.generation)
    after.write(data if data is not None else {})
    before.close()
    after.close()
    return after.generation
