"""Sealed records sent as they are, back to back (`/api/v1/sealed/envelopes`): the same answers
as the JSON route, without base64; a body that does not split into envelopes changes nothing."""

from __future__ import annotations

import pytest

from fieldapp.crypto.sealing import SealError, seal, split_envelopes
from fieldapp.sync.records import visit_record
from tests.hub.world import School, World

RAW = {"Content-Type": "application/octet-stream"}


def envelope(world: World, school: School, record_id: str) -> bytes:
    plaintext = visit_record(school.out, world.store.visit_events(school.id, school.out))
    return seal(world.keys.public_bytes(), school.id, record_id, plaintext)


def test_envelopes_back_to_back_are_stored_like_json_ones(world: World, uplands: School) -> None:
    body = envelope(world, uplands, "rec-a") + envelope(world, uplands, "rec-b")
    answer = world.client.post("/api/v1/sealed/envelopes", content=body,
                               headers={**uplands.phone(), **RAW})
    assert answer.status_code == 200 and sorted(answer.json()["stored"]) == ["rec-a", "rec-b"]
    again = world.client.post("/api/v1/sealed/envelopes", content=body,
                              headers={**uplands.phone(), **RAW})
    assert sorted(again.json()["already"]) == ["rec-a", "rec-b"]
    other = envelope(world, uplands, "rec-a")  # the same id, another envelope
    clash = world.client.post("/api/v1/sealed/envelopes", content=other,
                              headers={**uplands.phone(), **RAW})
    assert clash.status_code == 409 and clash.json()["conflicts"] == ["rec-a"]


@pytest.mark.parametrize(("cut", "says"), [(b"garbage", "no sealed record starts"),
                                           (-5, "cut short"), (0, "no sealed records")])
def test_a_body_that_is_not_envelopes_is_400_and_stores_nothing(
        world: World, uplands: School, cut: bytes | int, says: str) -> None:
    whole = envelope(world, uplands, "rec-c")
    body = whole + cut if isinstance(cut, bytes) else whole[:cut] if cut else b""
    answer = world.client.post("/api/v1/sealed/envelopes", content=body,
                               headers={**uplands.phone(), **RAW})
    assert answer.status_code == 400 and says in answer.json()["message"]
    assert world.client.post("/api/v1/sealed/envelopes", content=whole,
                             headers={**uplands.phone(), **RAW}).json()["stored"] == ["rec-c"]


def test_at_most_fifty_envelopes_split() -> None:
    blob = seal(bytes(range(1, 33)), "s", "r", b"x")
    assert split_envelopes(blob * 2, 2) == [blob, blob]
    with pytest.raises(SealError, match="more than 2"):
        split_envelopes(blob * 3, 2)
