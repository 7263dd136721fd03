"""Sealing finalised visit records to the school hub's public key, so only the hub can read them.

The phone holds the hub's X25519 public key (pinned by its fingerprint) and never a private key.
`seal` encrypts a record to that key with a fresh ephemeral key per record (X25519, HKDF-SHA256,
AES-256-GCM), bound to the school id and record id; once the caller drops its draft, nothing on
the phone can read the record back. Only the hub, holding a `HubKeyPair`, can `open_sealed` it.
Works on cryptography 43.0.1 (Flet's mobile builds: no HPKE) and later. Byte layout:
docs/store-format.md, "Sealed records".

Errors, all raised by the hub when opening (and by `read_header`/`SealedRecord` on the phone):

    SealError                   the envelope or key cannot be used as it is
    ├── InvalidKeyError         a public key that is not 32 bytes, is a low-order point,
    │                           or does not match the pinned fingerprint
    ├── NotAnEnvelopeError      does not start with b"HVSR", or is not a sealed-record document
    ├── UnsupportedVersionError a version this app cannot read
    ├── TruncatedEnvelopeError  shorter than its lengths say: cut off
    ├── WrongHubKeyError        sealed to another hub key
    ├── MovedEnvelopeError      authentic, but sealed for another school id or record id
    └── TamperedEnvelopeError   changed after sealing: the tag fails, trailing bytes,
                                malformed ids, or a low-order ephemeral key
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC: Final = b"HVSR"
VERSION: Final = 1
# magic, version, hub key fingerprint, school id length, record id length, ciphertext length
FIXED: Final = struct.Struct(">4sB8sHHI")
KEY_SIZE: Final = 32
NONCE_SIZE: Final = 12
TAG_SIZE: Final = 16
FINGERPRINT_SIZE: Final = 8
INFO_PREFIX: Final = b"home-visits sealed record v1"
DOCUMENT_FORMAT: Final = "home-visits sealed record"
DOCUMENT_VERSION: Final = 1
_RAW = serialization.Encoding.Raw


class SealError(Exception):
    """A sealed record or key that cannot be used as it is."""


class InvalidKeyError(SealError):
    """A hub public key that is the wrong size, a low-order point, or not the pinned one."""


class NotAnEnvelopeError(SealError):
    """The bytes (or JSON document) are not a sealed record at all."""


class UnsupportedVersionError(SealError):
    """A sealed record of a version this app cannot read."""


class TruncatedEnvelopeError(SealError):
    """The envelope is shorter than its own lengths say: it was cut off."""


class WrongHubKeyError(SealError):
    """The envelope was sealed to another hub key than the one opening it."""


class MovedEnvelopeError(SealError):
    """An authentic envelope presented as another school's or another record's."""


class TamperedEnvelopeError(SealError):
    """The envelope was changed after sealing."""


def key_fingerprint(hub_public: bytes) -> str:
    """The hub key's fingerprint phones pin: the first 16 hex digits of SHA-256(raw key)."""
    return hashlib.sha256(hub_public).digest()[:FINGERPRINT_SIZE].hex()


def load_public_key(raw: bytes, pinned: str | None = None) -> X25519PublicKey:
    """The hub's public key from its 32 raw bytes, refused if low-order or not the pinned one."""
    public = _public_key(raw)
    _check_shared(X25519PrivateKey.generate(), public, InvalidKeyError("a low-order hub key"))
    if pinned is not None and key_fingerprint(raw) != pinned:
        raise InvalidKeyError(f"hub key {key_fingerprint(raw)} is not the pinned key {pinned}")
    return public


@dataclass(frozen=True)
class HubKeyPair:
    """The hub's sealing key pair. Lives only on the hub; phones get `public_bytes()`."""

    _private: X25519PrivateKey = field(repr=False)

    @classmethod
    def generate(cls) -> HubKeyPair:
        return cls(X25519PrivateKey.generate())

    @classmethod
    def from_private_bytes(cls, raw: bytes) -> HubKeyPair:
        if len(raw) != KEY_SIZE:
            raise InvalidKeyError(f"a hub private key is {KEY_SIZE} bytes, not {len(raw)}")
        return cls(X25519PrivateKey.from_private_bytes(raw))

    def private_bytes(self) -> bytes:
        return self._private.private_bytes(
            _RAW, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )

    def public_bytes(self) -> bytes:
        return self._private.public_key().public_bytes(_RAW, serialization.PublicFormat.Raw)

    def fingerprint(self) -> str:
        return key_fingerprint(self.public_bytes())


@dataclass(frozen=True)
class EnvelopeHeader:
    """What an envelope says in the clear: no personal data, only where it belongs."""

    version: int
    hub_key: str
    school_id: str
    record_id: str


def seal(hub_public: bytes, school_id: str, record_id: str, plaintext: bytes) -> bytes:
    """Encrypt one finalised record to the hub's key. Keeps nothing: not the draft, not the
    ephemeral key. The result can be opened only by the hub's private key."""
    school, record = _encode_id("school_id", school_id), _encode_id("record_id", record_id)
    if len(plaintext) > 0xFFFFFFFF - TAG_SIZE:
        raise ValueError("a record this large cannot be sealed")
    hub = _public_key(hub_public)
    ephemeral = X25519PrivateKey.generate()
    shared = _check_shared(ephemeral, hub, InvalidKeyError("a low-order hub key"))
    ephemeral_public = ephemeral.public_key().public_bytes(_RAW, serialization.PublicFormat.Raw)
    fingerprint = bytes.fromhex(key_fingerprint(hub_public))
    sealed_size = len(plaintext) + TAG_SIZE
    header = FIXED.pack(MAGIC, VERSION, fingerprint, len(school), len(record), sealed_size)
    header += school + record
    key = _derive(shared, ephemeral_public, hub_public, school, record)
    nonce = os.urandom(NONCE_SIZE)
    return header + ephemeral_public + nonce + AESGCM(key).encrypt(nonce, plaintext, header)


def open_sealed(hub_private: HubKeyPair, school_id: str, record_id: str, envelope: bytes) -> bytes:
    """The hub's way back to the record, refused with a SealError that says what is wrong."""
    if not isinstance(hub_private, HubKeyPair):
        raise TypeError("only the hub's private key (a HubKeyPair) can open a sealed record")
    header, aad, ephemeral_public, nonce, ciphertext = _parse(envelope)
    if header.hub_key != hub_private.fingerprint():
        raise WrongHubKeyError(
            f"sealed to hub key {header.hub_key}; this hub's key is {hub_private.fingerprint()}"
        )
    ephemeral = X25519PublicKey.from_public_bytes(ephemeral_public)
    bad_point = TamperedEnvelopeError("the envelope's ephemeral key is a low-order point")
    shared = _check_shared(hub_private._private, ephemeral, bad_point)
    school, record = header.school_id.encode(), header.record_id.encode()
    key = _derive(shared, ephemeral_public, hub_private.public_bytes(), school, record)
    try:
        plaintext = AESGCM(key).decrypt(nonce, ciphertext, aad)
    except InvalidTag:
        raise TamperedEnvelopeError("the envelope was changed after sealing") from None
    for name, sealed_for, asked in (
        ("school", header.school_id, school_id),
        ("record", header.record_id, record_id),
    ):
        if sealed_for != asked:
            raise MovedEnvelopeError(f"sealed for {name} {sealed_for!r}, presented as {asked!r}")
    return plaintext


def read_header(envelope: bytes) -> EnvelopeHeader:
    """The clear part of an envelope, checked for shape but not authenticated (no key here)."""
    return _parse(envelope)[0]


@dataclass(frozen=True)
class SealedRecord:
    """An envelope ready for the outbox and the wire as JSON: ids and hub key in clear, the
    envelope base64. `from_json` refuses a document whose envelope belongs elsewhere."""

    school_id: str
    record_id: str
    hub_key: str
    envelope: bytes = field(repr=False)

    @classmethod
    def from_envelope(cls, envelope: bytes) -> SealedRecord:
        header = read_header(envelope)
        return cls(header.school_id, header.record_id, header.hub_key, envelope)

    def to_json(self) -> dict[str, str | int]:
        return {
            "format": DOCUMENT_FORMAT,
            "version": DOCUMENT_VERSION,
            "school_id": self.school_id,
            "record_id": self.record_id,
            "hub_key": self.hub_key,
            "envelope": base64.b64encode(self.envelope).decode("ascii"),
        }

    @classmethod
    def from_json(cls, document: Mapping[str, object]) -> SealedRecord:
        if document.get("format") != DOCUMENT_FORMAT:
            raise NotAnEnvelopeError("not a sealed-record document")
        if document.get("version") != DOCUMENT_VERSION:
            raise UnsupportedVersionError(
                f"sealed-record document version {document.get('version')!r}; "
                f"this app reads version {DOCUMENT_VERSION}"
            )
        fields = [document.get(k) for k in ("school_id", "record_id", "hub_key", "envelope")]
        if not all(isinstance(value, str) for value in fields):
            raise NotAnEnvelopeError("a sealed-record document with a missing or non-text field")
        school_id, record_id, hub_key, encoded = (str(value) for value in fields)
        try:
            envelope = base64.b64decode(encoded, validate=True)
        except ValueError:  # binascii.Error, or text that is not ASCII at all
            raise NotAnEnvelopeError("the envelope is not valid base64") from None
        record = cls.from_envelope(envelope)
        if (record.school_id, record.record_id, record.hub_key) != (school_id, record_id, hub_key):
            raise MovedEnvelopeError(
                f"the envelope belongs to school {record.school_id!r} record "
                f"{record.record_id!r} (hub key {record.hub_key}), not to school {school_id!r} "
                f"record {record_id!r} (hub key {hub_key})"
            )
        return record

    def open(self, hub_private: HubKeyPair) -> bytes:
        return open_sealed(hub_private, self.school_id, self.record_id, self.envelope)


def _public_key(raw: bytes) -> X25519PublicKey:
    if not isinstance(raw, bytes) or len(raw) != KEY_SIZE:
        size = len(raw) if isinstance(raw, bytes) else type(raw).__name__
        raise InvalidKeyError(f"a hub public key is {KEY_SIZE} raw bytes, not {size}")
    return X25519PublicKey.from_public_bytes(raw)


def _check_shared(private: X25519PrivateKey, public: X25519PublicKey, error: SealError) -> bytes:
    """ECDH, refusing the all-zero secret a low-order point gives (OpenSSL raises for it too)."""
    try:
        shared = private.exchange(public)
    except ValueError:
        raise error from None
    if shared == bytes(len(shared)):
        raise error
    return shared


def _derive(shared: bytes, ephemeral: bytes, hub: bytes, school: bytes, record: bytes) -> bytes:
    info = INFO_PREFIX + _prefixed(school) + _prefixed(record)
    return HKDF(hashes.SHA256(), KEY_SIZE, salt=ephemeral + hub, info=info).derive(shared)


def _prefixed(value: bytes) -> bytes:
    return struct.pack(">H", len(value)) + value


def _encode_id(name: str, value: str) -> bytes:
    encoded = value.encode("utf-8") if isinstance(value, str) else b""
    if not 0 < len(encoded) <= 0xFFFF:
        raise ValueError(f"{name} must be a non-empty string of at most 65535 UTF-8 bytes")
    return encoded


def split_envelopes(blob: bytes, most: int) -> list[bytes]:
    """Envelopes sent back to back (each says its own length in its header), split again:
    at most `most` of them. A SealError says where the framing breaks."""
    envelopes: list[bytes] = []
    offset = 0
    while offset < len(blob):
        if len(envelopes) == most:
            raise SealError(f"more than {most} envelopes")
        if blob[offset:offset + len(MAGIC)] != MAGIC or len(blob) - offset < FIXED.size:
            raise NotAnEnvelopeError(f"no sealed record starts at byte {offset}")
        _, _, _, school_size, record_size, sealed_size = FIXED.unpack_from(blob, offset)
        end = offset + FIXED.size + school_size + record_size + KEY_SIZE + NONCE_SIZE + \
            sealed_size
        if end > len(blob):
            raise TruncatedEnvelopeError(f"the envelope at byte {offset} is cut short")
        envelopes.append(blob[offset:end])
        offset = end
    return envelopes


def _parse(envelope: bytes) -> tuple[EnvelopeHeader, bytes, bytes, bytes, bytes]:
    """Split an envelope into header, associated data, ephemeral key, nonce and ciphertext."""
    if not isinstance(envelope, bytes):
        raise NotAnEnvelopeError(f"an envelope is bytes, not {type(envelope).__name__}")
    if envelope[: len(MAGIC)] != MAGIC[: len(envelope)]:
        raise NotAnEnvelopeError("this is not a sealed record (no HVSR magic)")
    if len(envelope) > len(MAGIC) and envelope[len(MAGIC)] != VERSION:
        raise UnsupportedVersionError(
            f"sealed-record version {envelope[len(MAGIC)]}; this app reads version {VERSION}"
        )
    if len(envelope) < FIXED.size:
        raise TruncatedEnvelopeError(f"{len(envelope)} bytes is shorter than the fixed header")
    _, version, fingerprint, school_size, record_size, sealed_size = FIXED.unpack_from(envelope)
    header_end = FIXED.size + school_size + record_size
    expected = header_end + KEY_SIZE + NONCE_SIZE + sealed_size
    if len(envelope) < expected:
        raise TruncatedEnvelopeError(f"{len(envelope)} bytes where the lengths say {expected}")
    if len(envelope) > expected:
        raise TamperedEnvelopeError(f"{len(envelope) - expected} bytes after the ciphertext")
    if sealed_size < TAG_SIZE or not school_size or not record_size:
        raise TamperedEnvelopeError("an empty id or a ciphertext shorter than its tag")
    try:
        school_id = envelope[FIXED.size : FIXED.size + school_size].decode("utf-8")
        record_id = envelope[FIXED.size + school_size : header_end].decode("utf-8")
    except UnicodeDecodeError:
        raise TamperedEnvelopeError("an id in the header is not UTF-8") from None
    header = EnvelopeHeader(version, fingerprint.hex(), school_id, record_id)
    ephemeral = envelope[header_end : header_end + KEY_SIZE]
    nonce = envelope[header_end + KEY_SIZE : header_end + KEY_SIZE + NONCE_SIZE]
    return header, envelope[:header_end], ephemeral, nonce, envelope[expected - sealed_size :]


# --- unlock tokens ------------------------------------------------------------------------------
#
# Every unlock leaves one token in the store, of one size, whatever the PIN: after a duress
# unlock it is the silent alert sealed to the hub's key; after a normal one, a decoy sealed the
# same way to a key nobody keeps. Without the hub's private key the two cannot be told apart,
# so the store a duress PIN opens shows nothing of the alert. The phone sends every token, the
# hub opens what it can. Layout: ephemeral X25519 public key (32) || nonce (12) ||
# AES-256-GCM(plaintext padded to TOKEN_TEXT bytes) with its tag (16).

TOKEN_TEXT: Final = 4096
TOKEN_SIZE: Final = KEY_SIZE + NONCE_SIZE + TOKEN_TEXT + TAG_SIZE
TOKEN_INFO: Final = b"home-visits unlock token v1"


def seal_token(hub_public: bytes, plaintext: bytes) -> bytes:
    """`plaintext` (at most TOKEN_TEXT bytes, padded with spaces to it) sealed to the hub."""
    if len(plaintext) > TOKEN_TEXT:
        raise ValueError(f"an unlock token carries at most {TOKEN_TEXT} bytes")
    hub = _public_key(hub_public)
    ephemeral = X25519PrivateKey.generate()
    shared = _check_shared(ephemeral, hub, InvalidKeyError("a low-order hub key"))
    ephemeral_public = ephemeral.public_key().public_bytes(_RAW, serialization.PublicFormat.Raw)
    key = HKDF(hashes.SHA256(), KEY_SIZE, salt=ephemeral_public + hub_public,
               info=TOKEN_INFO).derive(shared)
    nonce = os.urandom(NONCE_SIZE)
    padded = plaintext.ljust(TOKEN_TEXT, b" ")
    return ephemeral_public + nonce + AESGCM(key).encrypt(nonce, padded, ephemeral_public)


def decoy_token() -> bytes:
    """A token like any other, sealed to a key made here and forgotten: nobody can open it."""
    nobody = X25519PrivateKey.generate().public_key().public_bytes(
        _RAW, serialization.PublicFormat.Raw)
    return seal_token(nobody, b"")


def open_token(hub_private: HubKeyPair, token: bytes) -> bytes | None:
    """The token's plaintext (padding included) if it was sealed to this hub, else None (a
    decoy, or another hub's). A token of the wrong size is a SealError."""
    if not isinstance(token, bytes) or len(token) != TOKEN_SIZE:
        raise TruncatedEnvelopeError(f"an unlock token is {TOKEN_SIZE} bytes")
    ephemeral_public = token[:KEY_SIZE]
    try:
        shared = _check_shared(hub_private._private,
                               X25519PublicKey.from_public_bytes(ephemeral_public),
                               TamperedEnvelopeError("a low-order key"))
    except TamperedEnvelopeError:
        return None
    key = HKDF(hashes.SHA256(), KEY_SIZE, salt=ephemeral_public + hub_private.public_bytes(),
               info=TOKEN_INFO).derive(shared)
    try:
        return AESGCM(key).decrypt(token[KEY_SIZE:KEY_SIZE + NONCE_SIZE],
                                   token[KEY_SIZE + NONCE_SIZE:], ephemeral_public)
    except InvalidTag:
        return None
