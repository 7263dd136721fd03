"""A sentinel child's name and address, written through every path the phone has (the
vault, the journal, snapshots, the sealed outbox, temporary files, logs), appear in no file
the app writes and in no log line."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fieldapp.crypto.keystore import MemoryKeystore
from fieldapp.crypto.sealing import HubKeyPair, open_sealed, seal
from fieldapp.crypto.vault import Vault
from fieldapp.domain import commands as c
from fieldapp.domain.journeys import Journey, let_in
from fieldapp.domain.policy import load_pack
from fieldapp.domain.simulate import SimulatedVisit
from fieldapp.store.repository import EncryptedRepository

NAME = "Zebedee Quillfeather"
ADDRESS = "17 Marrowbone Crescent"
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def sentinel_visit(visit: SimulatedVisit) -> Iterator[tuple[str, float, c.Command]]:
    for label, minutes, command in let_in(visit):
        if isinstance(command, c.Plan):
            command = replace(command, child_name=NAME, address=ADDRESS)
        if isinstance(command, c.RecordOutcome):
            command = replace(command, summary=f"{NAME} seen at {ADDRESS}, well")
        yield label, minutes, command


def leaks(root: Path) -> list[str]:
    found = []
    needles = [text.encode(enc) for text in (NAME, ADDRESS, "Quillfeather", "Marrowbone")
               for enc in ("utf-8", "utf-16-le")]
    for path in root.rglob("*"):
        if "Quill" in path.name or "Marrow" in path.name:
            found.append(f"file name {path.name}")
        if path.is_file():
            content = path.read_bytes()
            found += [f"{path.relative_to(root)}" for n in needles if n in content]
    return found


def test_no_file_or_log_the_phone_writes_holds_the_childs_name(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    journey: Journey = sentinel_visit
    visit = SimulatedVisit(load_pack("uplands-junior"), NOW)
    for _label, minutes, command in journey(visit):
        assert visit.do(command, after_minutes=minutes).accepted

    keystore = MemoryKeystore()
    Vault.create(tmp_path / "vault", "28491375", "71930564", keystore, NOW)
    key = Vault.open(tmp_path / "vault", keystore).unlock("28491375", NOW).key
    store = EncryptedRepository(tmp_path / "store", key, compact_every=3)
    for event in visit.events:  # one tap at a time, snapshots in between
        store.append([event])
    store.mark_synced(e.id for e in visit.events[:5])
    store.set("hub", {"url": "https://hub.example", "token": "t0ken", "child": NAME})
    store.compact()
    assert leaks(tmp_path) == []
    store.mark_synced(e.id for e in visit.events)  # the hub holds them all: it may be sealed

    hub = HubKeyPair.generate()
    record = json.dumps([e.to_dict() for e in store.events(visit.visit_id)]).encode()
    envelope = seal(hub.public_bytes(), "uplands-junior", "rec-1", record)
    store.finalise(visit.visit_id, "rec-1", envelope)
    store.compact()
    store.close()

    assert leaks(tmp_path) == []
    assert NAME not in caplog.text and ADDRESS not in caplog.text
    # the hub, and only the hub, reads it back
    opened = json.loads(open_sealed(hub, "uplands-junior", "rec-1", envelope))
    assert opened[0]["payload"]["child_name"] == NAME
    again = EncryptedRepository(tmp_path / "store", key)
    assert again.events(visit.visit_id) == ()  # after sealing the plaintext draft is gone
    again.close()
