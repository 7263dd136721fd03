"""A reader of the phone's store written from docs/store-format.md alone (nothing imported from
`fieldapp`), kept beside it: tests/integration/test_store_format.py decrypts every file the
store writes with it, so the document and the code cannot drift apart.

    read_store(folder, data_key) -> {"snapshot": ..., "journals": {n: [records]},
                                     "outbox": {record id: (note, envelope)}, "anchor": ...}
"""

from __future__ import annotations

import hashlib
import hmac
import json
import struct
import zlib
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def key_id(key: bytes) -> bytes:
    return hmac.new(key, b"home-visits store key id", hashlib.sha256).digest()[:8]


def read_database(blob: bytes, key: bytes) -> tuple[int, dict[str, Any]]:
    """(generation, tables) of a database file."""
    header = blob[:21]
    magic, version, kid, generation = struct.unpack(">4sB8sQ", header)
    assert (magic, version, kid) == (b"HVDB", 1, key_id(key))
    plaintext = AESGCM(key).decrypt(blob[21:33], blob[33:], header)
    return generation, json.loads(plaintext)


def read_journal(blob: bytes, key: bytes) -> tuple[str, list[dict[str, Any]]]:
    """(journal id in hex, records) of a journal file that ends cleanly: its records, then
    zeros (room for more) or nothing."""
    header = blob[:29]
    magic, version, journal_id, kid = struct.unpack(">4sB16s8s", header)
    assert (magic, version, kid) == (b"HVJL", 1, key_id(key))
    records, offset, n = [], 29, 0
    while offset < len(blob) and any(blob[offset:]):
        length, check = struct.unpack_from(">II", blob, offset)
        assert check == zlib.crc32(struct.pack(">I", length)) and 12 < length <= 16 << 20
        frame = blob[offset + 8: offset + 8 + length]
        n += 1
        records.append(json.loads(AESGCM(key).decrypt(frame[:12], frame[12:],
                                                       header + struct.pack(">Q", n))))
        offset += 8 + length
    return journal_id.hex(), records


def read_note(blob: bytes, key: bytes, record_id: str) -> dict[str, Any]:
    ad = f"home-visits outbox note v1 {record_id}".encode()
    return json.loads(AESGCM(key).decrypt(blob[:12], blob[12:], ad))


def check_anchor(anchor: dict[str, Any], key: bytes) -> dict[str, Any]:
    """The anchor's fields, once its MAC is verified."""
    body = {k: v for k, v in anchor.items() if k != "mac"}
    subkey = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                  info=b"home-visits store anchor v1").derive(key)
    text = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    assert hmac.compare_digest(hmac.new(subkey, text, hashlib.sha256).hexdigest(), anchor["mac"])
    return body


def read_store(folder: Path, key: bytes) -> dict[str, Any]:
    store = folder / "store"
    snapshot = None
    if (store / "store.db").exists():
        snapshot = read_database((store / "store.db").read_bytes(), key)
    journals = {int(p.name[8:16]): read_journal(p.read_bytes(), key)
                for p in sorted(store.glob("journal-*.log"))}
    outbox = {}
    for sealed in sorted((store / "outbox").glob("*.sealed")):
        note = read_note(sealed.with_suffix(".visit").read_bytes(), key, sealed.stem)
        envelope = sealed.read_bytes()
        assert hashlib.sha256(envelope).hexdigest() == note["sha256"]
        outbox[sealed.stem] = (note, envelope)
    vault = json.loads((folder / "vault.json").read_text())
    return {"snapshot": snapshot, "journals": journals, "outbox": outbox,
            "anchor": check_anchor(vault["store_anchor"], key)}
