"""docs/store-format.md describes every file the store writes well enough to read it: the
reader kept beside it (docs/store_reader.py, written from the document's text and importing
nothing of the app) decrypts every file a day's use leaves, and replaying what it reads gives
exactly what the app shows."""

from __future__ import annotations

import base64
import importlib.util
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from fieldapp.crypto.keystore import MemoryKeystore
from fieldapp.crypto.vault import ScryptParams, Vault
from fieldapp.store.session import open_store
from tests.integration.test_repository import event

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
DOCS = Path(__file__).resolve().parents[2] / "docs"


def reader() -> ModuleType:
    spec = importlib.util.spec_from_file_location("store_reader", DOCS / "store_reader.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def replay(read: dict[str, Any]) -> dict[str, Any]:
    """The state, as the document says to rebuild it: the snapshot's tables, then each journal
    from the one `meta` names, in number order, record by record."""
    tables = read["snapshot"][1] if read["snapshot"] else {}
    events = {doc["id"]: doc for doc in tables.get("events", {}).values()}
    synced = {i for i, doc in events.items() if doc["synced"]}
    quarantine = {doc["id"]: doc["reason"] for doc in tables.get("quarantine", {}).values()}
    receipts = {doc["visit_id"]: doc for doc in tables.get("receipts", {}).values()}
    settings = dict(tables.get("settings", {}).get("1", {}))
    unlocks = [doc["token"] for _, doc in sorted(tables.get("unlocks", {}).items(),
                                                 key=lambda item: int(item[0]))]
    first = tables.get("meta", {}).get("1", {}).get("journal", 1)
    for number, (_journal_id, records) in sorted(read["journals"].items()):
        assert number >= first, "journals before the snapshot's are deleted"
        for record in records:
            op = record["op"]
            if op == "append":
                for doc in record["events"]:
                    if doc["id"] not in events and doc["visit_id"] not in receipts:
                        events[doc["id"]] = doc
                        if record.get("synced"):
                            synced.add(doc["id"])
            elif op == "synced":
                synced.update(record["ids"])
                for i in record["ids"]:
                    quarantine.pop(i, None)
            elif op == "resync":
                synced.difference_update(record["ids"])
            elif op == "quarantined":
                quarantine.update(record["reasons"])
            elif op == "finalised":
                for i in [i for i, doc in events.items() if doc["visit_id"] == record["visit_id"]]:
                    del events[i]
                    synced.discard(i)
                receipts[record["visit_id"]] = record["receipt"]
            elif op == "unlocked":
                unlocks.append(record["token"])
            elif op == "unlocks_sent":
                del unlocks[:record["count"]]
            else:
                assert op == "set"
                if record["value"] is None:
                    settings.pop(record["key"], None)
                else:
                    settings[record["key"]] = record["value"]
    return {"events": sorted(events), "synced": sorted(synced & set(events)),
            "quarantine": quarantine, "receipts": sorted(receipts), "settings": settings,
            "unlocks": [base64.b64decode(t) for t in unlocks]}


def test_every_file_the_store_writes_is_read_by_the_documents_reader(tmp_path: Path) -> None:
    keystore = MemoryKeystore()
    Vault.create(tmp_path, "28491375", "71930564", keystore, NOW,
                 kdf_params=ScryptParams(n=2**10), kdf_floor=ScryptParams(n=2**10))
    vault = Vault.open(tmp_path, keystore)
    opened = open_store(vault, "28491375", NOW)
    store, key = opened.repository, opened.session.key
    store.append([event(n) for n in range(1, 6)])
    store.append([event(10, visit="visit-2"), event(11, visit="visit-2")], synced=True)
    store.mark_synced([event(1).id])
    store.quarantine({event(2).id: "the hub refused it"})
    store.set("cursor", 41)
    store.compact()  # a snapshot, and journal 2
    store.finalise("visit-2", "rec-2", b"the envelope of visit 2", {"sealed_at": "t"})
    store.append([event(6)])
    store.resync([event(1).id])
    store.set("cursor", None)
    store.set("pack_id", "uplands-junior")
    store.unlocks_sent(1)  # the hub took the first unlock's token
    store.record_unlock(b"a second unlock's token")
    shown = {"events": sorted(e.id for v in store.visit_ids() for e in store.events(v)),
             "synced": sorted({e.id for v in store.visit_ids() for e in store.events(v)}
                              - {e.id for e in store.unsynced()}
                              - {e.id for e, _ in store.quarantined()}),
             "quarantine": {e.id: why for e, why in store.quarantined()},
             "receipts": sorted(store.receipts()),
             "settings": {"pack_id": "uplands-junior"},
             "unlocks": list(store.unlocks())}
    opened.close()

    read = reader().read_store(tmp_path, key)
    assert replay(read) == shown
    (note, envelope), = read["outbox"].values()
    assert envelope == b"the envelope of visit 2"
    assert note == {"visit_id": "visit-2", "events": sorted([event(10).id, event(11).id]),
                    "sha256": note["sha256"]}
    anchor = read["anchor"]
    assert anchor["generation"] == read["snapshot"][0]
    assert anchor["journals"] == [[n, journal_id, len(records)]  # exact after a clean close
                                  for n, (journal_id, records) in read["journals"].items()]
