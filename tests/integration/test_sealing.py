"""Sealing finalised records to the hub's key: only the hub opens them, a moved, cut or changed
envelope is refused with an error that says which, and the phone keeps no way back in."""

from __future__ import annotations

import base64
import gc
import hashlib
import json
import struct
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

from fieldapp.crypto import sealing
from fieldapp.crypto.sealing import (
    HubKeyPair,
    InvalidKeyError,
    MovedEnvelopeError,
    NotAnEnvelopeError,
    SealedRecord,
    SealError,
    TamperedEnvelopeError,
    TruncatedEnvelopeError,
    UnsupportedVersionError,
    WrongHubKeyError,
    key_fingerprint,
    load_public_key,
    open_sealed,
    read_header,
    seal,
)

HUB = HubKeyPair.from_private_bytes(bytes(range(32)))
OTHER_HUB = HubKeyPair.from_private_bytes(bytes(range(32, 64)))
SCHOOL = "uplands-junior"
RECORD = "visit-0001"
CHILD = "Zebedee Quillfeather"  # a sentinel name: it must never appear outside the ciphertext
DRAFT = json.dumps({"child": CHILD, "outcome": "seen", "notes": "all well"}).encode()
ENVELOPE = seal(HUB.public_bytes(), SCHOOL, RECORD, DRAFT)

_P = 2**255 - 19
LOW_ORDER_POINTS = [
    bytes(32),
    (1).to_bytes(32, "little"),
    bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
    bytes.fromhex("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
    (_P - 1).to_bytes(32, "little"),
    _P.to_bytes(32, "little"),
    (_P + 1).to_bytes(32, "little"),
]

ids = st.text(min_size=1, max_size=40)  # hypothesis leaves out lone surrogates


def _header_end(envelope: bytes) -> int:
    school_size, record_size = struct.unpack_from(">HH", envelope, 13)
    return 21 + int(school_size) + int(record_size)


def _reheader(envelope: bytes, school_id: str, record_id: str) -> bytes:
    """The same envelope with its clear ids rewritten, as someone moving it might do."""
    school, record = school_id.encode(), record_id.encode()
    fixed = envelope[:13] + struct.pack(">HH", len(school), len(record)) + envelope[17:21]
    return fixed + school + record + envelope[_header_end(envelope) :]


# Round trip and layout


@settings(max_examples=200)
@given(plaintext=st.binary(max_size=4096), school_id=ids, record_id=ids)
def test_a_sealed_record_opens_on_the_hub_exactly_as_it_was(
    plaintext: bytes, school_id: str, record_id: str
) -> None:
    envelope = seal(HUB.public_bytes(), school_id, record_id, plaintext)
    assert open_sealed(HUB, school_id, record_id, envelope) == plaintext


def test_sealing_the_same_record_twice_gives_unrelated_envelopes() -> None:
    again = seal(HUB.public_bytes(), SCHOOL, RECORD, DRAFT)
    end = _header_end(ENVELOPE)
    assert again[:end] == ENVELOPE[:end]  # the clear header is the same...
    for start, stop in ((end, end + 32), (end + 32, end + 44), (end + 44, len(again))):
        assert again[start:stop] != ENVELOPE[start:stop]  # ...ephemeral key, nonce, ciphertext not


def test_an_independent_decrypter_following_the_documented_layout_opens_the_envelope() -> None:
    magic, version, key_id, school_size, record_size, sealed_size = struct.unpack_from(
        ">4sB8sHHI", ENVELOPE
    )
    assert (magic, version, key_id) == (b"HVSR", 1, hashlib.sha256(HUB.public_bytes()).digest()[:8])
    school = ENVELOPE[21 : 21 + school_size]
    record = ENVELOPE[21 + school_size : 21 + school_size + record_size]
    end = 21 + school_size + record_size
    ephemeral, nonce = ENVELOPE[end : end + 32], ENVELOPE[end + 32 : end + 44]
    ciphertext = ENVELOPE[end + 44 :]
    assert len(ciphertext) == sealed_size == len(DRAFT) + 16
    assert len(ENVELOPE) == 21 + len(SCHOOL) + len(RECORD) + 32 + 12 + len(DRAFT) + 16

    hub = X25519PrivateKey.from_private_bytes(HUB.private_bytes())
    shared = hub.exchange(X25519PublicKey.from_public_bytes(ephemeral))
    info = b"home-visits sealed record v1"
    info += struct.pack(">H", len(school)) + school + struct.pack(">H", len(record)) + record
    salt = ephemeral + HUB.public_bytes()
    key = HKDF(hashes.SHA256(), 32, salt=salt, info=info).derive(shared)
    assert AESGCM(key).decrypt(nonce, ciphertext, ENVELOPE[:end]) == DRAFT


def test_the_clear_header_says_where_the_envelope_belongs_and_nothing_more() -> None:
    header = read_header(ENVELOPE)
    assert (header.version, header.hub_key) == (1, HUB.fingerprint())
    assert (header.school_id, header.record_id) == (SCHOOL, RECORD)


def test_the_child_s_name_never_appears_outside_the_ciphertext() -> None:
    document = json.dumps(SealedRecord.from_envelope(ENVELOPE).to_json())
    for needle in (CHILD, CHILD.lower(), CHILD.split()[0], CHILD.split()[1]):
        for encoding in ("utf-8", "utf-16-le", "utf-16-be"):
            assert needle.encode(encoding) not in ENVELOPE
        assert needle not in document
    assert b"child" not in ENVELOPE


# Refusals, each with its own error


@pytest.mark.parametrize("mask", [0x01, 0x80, 0xFF])
def test_every_single_byte_change_anywhere_in_the_envelope_is_refused(mask: int) -> None:
    for index in range(len(ENVELOPE)):
        changed = bytearray(ENVELOPE)
        changed[index] ^= mask
        with pytest.raises(SealError):
            open_sealed(HUB, SCHOOL, RECORD, bytes(changed))


@settings(max_examples=300)
@given(data=st.data(), plaintext=st.binary(max_size=64), xor=st.integers(1, 255))
def test_any_single_byte_change_to_any_envelope_is_refused(
    data: st.DataObject, plaintext: bytes, xor: int
) -> None:
    envelope = seal(HUB.public_bytes(), SCHOOL, RECORD, plaintext)
    index = data.draw(st.integers(0, len(envelope) - 1), label="index")
    changed = bytearray(envelope)
    changed[index] ^= xor
    with pytest.raises(SealError):
        open_sealed(HUB, SCHOOL, RECORD, bytes(changed))


def test_a_change_to_the_ciphertext_is_refused_as_tampering() -> None:
    changed = bytearray(ENVELOPE)
    changed[-1] ^= 1
    with pytest.raises(TamperedEnvelopeError, match="changed after sealing"):
        open_sealed(HUB, SCHOOL, RECORD, bytes(changed))


def test_an_envelope_presented_as_another_record_is_refused_as_moved() -> None:
    with pytest.raises(MovedEnvelopeError, match="sealed for record 'visit-0001'"):
        open_sealed(HUB, SCHOOL, "visit-0002", ENVELOPE)


def test_an_envelope_presented_as_another_school_s_is_refused_as_moved() -> None:
    with pytest.raises(MovedEnvelopeError, match="sealed for school 'uplands-junior'"):
        open_sealed(HUB, "blue-coat-secondary", RECORD, ENVELOPE)


@pytest.mark.parametrize(
    ("school_id", "record_id"),
    [(SCHOOL, "visit-0002"), ("blue-coat-secondary", RECORD), (SCHOOL, "visit-00012")],
)
def test_rewriting_the_clear_ids_to_move_an_envelope_is_refused_as_tampering(
    school_id: str, record_id: str
) -> None:
    moved = _reheader(ENVELOPE, school_id, record_id)
    assert read_header(moved).record_id == record_id
    with pytest.raises(TamperedEnvelopeError):
        open_sealed(HUB, school_id, record_id, moved)


def test_an_envelope_sealed_to_another_hub_is_refused_as_the_wrong_key() -> None:
    with pytest.raises(WrongHubKeyError, match=f"sealed to hub key {HUB.fingerprint()}"):
        open_sealed(OTHER_HUB, SCHOOL, RECORD, ENVELOPE)


def test_every_cut_off_envelope_is_refused_as_truncated() -> None:
    for size in range(len(ENVELOPE)):
        with pytest.raises(TruncatedEnvelopeError):
            open_sealed(HUB, SCHOOL, RECORD, ENVELOPE[:size])


def test_bytes_after_the_ciphertext_are_refused() -> None:
    with pytest.raises(TamperedEnvelopeError, match="after the ciphertext"):
        open_sealed(HUB, SCHOOL, RECORD, ENVELOPE + b"\0")


@given(garbage=st.binary(min_size=1, max_size=200).filter(lambda b: not b.startswith(b"HVSR")))
def test_garbage_is_refused_as_not_an_envelope(garbage: bytes) -> None:
    if b"HVSR".startswith(garbage):
        return  # a prefix of the magic is a truncated envelope, tested above
    with pytest.raises(NotAnEnvelopeError):
        open_sealed(HUB, SCHOOL, RECORD, garbage)


def test_text_is_refused_as_not_an_envelope() -> None:
    with pytest.raises(NotAnEnvelopeError, match="not str"):
        open_sealed(HUB, SCHOOL, RECORD, ENVELOPE.decode("latin-1"))  # type: ignore[arg-type]


def test_another_version_is_refused_as_unsupported() -> None:
    with pytest.raises(UnsupportedVersionError, match="version 2"):
        open_sealed(HUB, SCHOOL, RECORD, ENVELOPE[:4] + b"\x02" + ENVELOPE[5:])


def _with_ciphertext_of(size: int) -> bytes:
    """ENVELOPE cut to `size` ciphertext bytes, with the length field saying so."""
    end = _header_end(ENVELOPE)
    return ENVELOPE[:17] + struct.pack(">I", size) + ENVELOPE[21 : end + 44 + size]


@pytest.mark.parametrize(
    "forged",
    [
        _reheader(ENVELOPE, "", RECORD),
        _reheader(ENVELOPE, SCHOOL, ""),
        _reheader(ENVELOPE, "", ""),
        _with_ciphertext_of(15),
        _with_ciphertext_of(0),
    ],
    ids=["empty school id", "empty record id", "both ids empty", "short of a tag", "no ciphertext"],
)
def test_an_envelope_with_an_empty_id_or_no_room_for_a_tag_is_refused_as_tampering(
    forged: bytes,
) -> None:
    with pytest.raises(TamperedEnvelopeError, match="an empty id or a ciphertext shorter"):
        read_header(forged)
    with pytest.raises(TamperedEnvelopeError, match="an empty id or a ciphertext shorter"):
        open_sealed(HUB, SCHOOL, RECORD, forged)
    with pytest.raises(TamperedEnvelopeError):
        SealedRecord.from_json({**SealedRecord.from_envelope(ENVELOPE).to_json(),
                                "envelope": base64.b64encode(forged).decode("ascii")})


# Keys: fingerprints, pinning, low-order points


def test_the_fingerprint_is_stable_and_is_the_start_of_the_key_s_sha256() -> None:
    raw = HUB.public_bytes()
    expected = hashlib.sha256(raw).hexdigest()[:16]
    assert key_fingerprint(raw) == HUB.fingerprint() == expected
    assert HubKeyPair.from_private_bytes(HUB.private_bytes()).fingerprint() == expected
    assert key_fingerprint(bytes(raw)) == key_fingerprint(raw)
    assert OTHER_HUB.fingerprint() != expected
    generated = HubKeyPair.generate()
    assert len(generated.public_bytes()) == len(generated.private_bytes()) == 32
    assert HubKeyPair.from_private_bytes(generated.private_bytes()).public_bytes() == (
        generated.public_bytes()
    )


def test_a_phone_accepts_the_pinned_hub_key_and_refuses_any_other() -> None:
    load_public_key(HUB.public_bytes(), pinned=HUB.fingerprint())
    with pytest.raises(InvalidKeyError, match="not the pinned key"):
        load_public_key(OTHER_HUB.public_bytes(), pinned=HUB.fingerprint())


@pytest.mark.parametrize("size", [0, 31, 33, 64])
def test_a_public_key_of_the_wrong_size_is_refused(size: int) -> None:
    with pytest.raises(InvalidKeyError, match=f"not {size}"):
        load_public_key(bytes(range(size)))
    with pytest.raises(InvalidKeyError):
        seal(bytes(range(size)), SCHOOL, RECORD, DRAFT)


def test_a_private_key_of_the_wrong_size_is_refused() -> None:
    with pytest.raises(InvalidKeyError):
        HubKeyPair.from_private_bytes(bytes(31))


@pytest.mark.parametrize("point", LOW_ORDER_POINTS, ids=lambda p: p.hex()[:8])
def test_a_low_order_hub_key_is_refused_at_load_and_at_sealing(point: bytes) -> None:
    with pytest.raises(InvalidKeyError, match="low-order"):
        load_public_key(point)
    with pytest.raises(InvalidKeyError, match="low-order"):
        seal(point, SCHOOL, RECORD, DRAFT)


def test_an_all_zero_shared_secret_is_refused_even_if_the_library_returns_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class ZeroExchange:
        """A stand-in for a crypto build that returns the all-zero secret instead of raising."""

        @staticmethod
        def generate() -> ZeroExchange:
            return ZeroExchange()

        def exchange(self, public: object) -> bytes:
            return bytes(32)

    monkeypatch.setattr(sealing, "X25519PrivateKey", ZeroExchange)
    with pytest.raises(InvalidKeyError, match="low-order"):
        seal(HUB.public_bytes(), SCHOOL, RECORD, DRAFT)


@pytest.mark.parametrize("point", LOW_ORDER_POINTS, ids=lambda p: p.hex()[:8])
def test_an_envelope_with_a_low_order_ephemeral_key_is_refused_at_opening(point: bytes) -> None:
    end = _header_end(ENVELOPE)
    forged = ENVELOPE[:end] + point + ENVELOPE[end + 32 :]
    with pytest.raises(TamperedEnvelopeError, match="low-order"):
        open_sealed(HUB, SCHOOL, RECORD, forged)


@pytest.mark.parametrize(
    ("school_id", "record_id"), [("", RECORD), (SCHOOL, ""), ("x" * 70000, RECORD)]
)
def test_empty_or_oversized_ids_cannot_be_sealed(school_id: str, record_id: str) -> None:
    with pytest.raises(ValueError, match="non-empty"):
        seal(HUB.public_bytes(), school_id, record_id, DRAFT)


def test_a_record_too_large_for_the_envelope_s_length_field_is_refused_before_sealing() -> None:
    class FourGibibyteRecord(bytes):
        """Stands in for a 4 GiB record (one the 32-bit ciphertext length cannot describe)
        without allocating it: only its length is read before the refusal."""

        def __len__(self) -> int:
            return 0xFFFFFFFF - 16 + 1

    with pytest.raises(ValueError, match="a record this large cannot be sealed"):
        seal(HUB.public_bytes(), SCHOOL, RECORD, FourGibibyteRecord(DRAFT))


# The phone keeps no way back in


def test_the_phone_cannot_open_an_envelope_with_anything_it_holds() -> None:
    phone_holds = [HUB.public_bytes(), load_public_key(HUB.public_bytes()), ENVELOPE]
    for thing in phone_holds:
        with pytest.raises(TypeError, match="only the hub's private key"):
            open_sealed(thing, SCHOOL, RECORD, ENVELOPE)  # type: ignore[arg-type]
    with pytest.raises(WrongHubKeyError):  # a key pair the phone makes itself is another key
        open_sealed(HubKeyPair.generate(), SCHOOL, RECORD, ENVELOPE)
    assert "_private" not in repr(HUB) and HUB.private_bytes().hex() not in repr(HUB)


def test_sealing_leaves_no_key_or_draft_behind_in_the_module() -> None:
    def snapshot() -> dict[str, Any]:
        return {name: value for name, value in vars(sealing).items() if not name.startswith("__")}

    before = snapshot()
    seal(HUB.public_bytes(), SCHOOL, "visit-0003", DRAFT)
    after = snapshot()
    assert after.keys() == before.keys()
    assert all(after[name] is before[name] for name in before)
    for value in after.values():
        assert not isinstance(value, bytes | bytearray) or CHILD.encode() not in value
        assert not isinstance(value, X25519PrivateKey | HubKeyPair)


def test_the_draft_passed_in_is_not_kept_once_the_caller_drops_it() -> None:
    released: list[bool] = []

    class Draft(bytes):
        def __del__(self) -> None:
            released.append(True)

    draft = Draft(DRAFT)
    envelope = seal(HUB.public_bytes(), SCHOOL, "visit-0004", draft)
    del draft
    gc.collect()
    assert released == [True]
    assert open_sealed(HUB, SCHOOL, "visit-0004", envelope) == DRAFT


# The JSON document for the outbox and the wire


def test_a_sealed_record_survives_json_and_the_hub_opens_it() -> None:
    record = SealedRecord.from_envelope(ENVELOPE)
    document = json.loads(json.dumps(record.to_json()))
    assert set(document) == {"format", "version", "school_id", "record_id", "hub_key", "envelope"}
    assert (document["school_id"], document["record_id"]) == (SCHOOL, RECORD)
    assert document["hub_key"] == HUB.fingerprint()
    again = SealedRecord.from_json(document)
    assert again == record
    assert again.open(HUB) == DRAFT


def test_a_document_whose_envelope_belongs_to_another_record_is_refused_as_moved() -> None:
    document = SealedRecord.from_envelope(ENVELOPE).to_json()
    document["record_id"] = "visit-0002"
    with pytest.raises(MovedEnvelopeError, match="belongs to school 'uplands-junior' record"):
        SealedRecord.from_json(document)


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"format": "something else"}, NotAnEnvelopeError),
        ({"version": 2}, UnsupportedVersionError),
        ({"record_id": 7}, NotAnEnvelopeError),
        ({"envelope": "not base64!"}, NotAnEnvelopeError),
        ({"envelope": "\u00e9t\u00e9"}, NotAnEnvelopeError),  # not even ASCII
        ({"envelope": "AAAA"}, NotAnEnvelopeError),
        ({"envelope": "SFZTUgE="}, TruncatedEnvelopeError),
    ],
)
def test_a_malformed_document_is_refused_with_the_reason(
    change: dict[str, object], error: type[SealError]
) -> None:
    document: dict[str, object] = {**SealedRecord.from_envelope(ENVELOPE).to_json(), **change}
    with pytest.raises(error):
        SealedRecord.from_json(document)
