"""Unlock tokens at the hub (fieldapp.crypto.sealing): a phone sends one per unlock, all of
one size. The hub opens those sealed to it (a duress unlock's silent alert: on the reception
board at once) and counts the decoys; a token that is not one is refused and nothing stored;
an alert sealed by one phone for another's name is refused like any event not its own."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fieldapp.crypto.sealing import (
    TOKEN_SIZE,
    TOKEN_TEXT,
    HubKeyPair,
    TruncatedEnvelopeError,
    decoy_token,
    open_token,
    seal_token,
)
from fieldapp.domain.events import Author, Event, EventType, new_event_id
from tests.hub.world import NOW, School, World


def alert(school: School, author: Author | None = None, visit: str = "") -> bytes:
    """A duress unlock's token, as the phone seals it."""
    at = NOW + timedelta(minutes=3)
    event = Event(new_event_id(at, b"duress-001"), visit or school.out, EventType.DURESS_ALERT,
                  at, author or Author(school.staff("ann"), school.device["device_id"]),
                  {"silent": True})
    return json.dumps({"events": [event.to_dict()]}).encode()


def push(world: World, school: School, *tokens: bytes, raw: list[Any] | None = None) -> Any:
    client = TestClient(world.client.app, raise_server_exceptions=False)
    return client.post("/api/v1/push", headers={**school.phone(), "Priority": "u=0"}, json={
        "protocol": 1, "events": [],
        "unlocks": raw if raw is not None else [base64.b64encode(t).decode() for t in tokens]})


def board_alerts(world: World, school: School) -> list[str]:
    client = TestClient(world.client.app)
    rows = client.get("/api/v1/console/board", headers=school.auth("reception")).json()["rows"]
    return [a["type"] for row in rows for a in row["alerts"]]


def test_a_duress_token_among_decoys_raises_the_alert_on_the_board(world: World) -> None:
    uplands = world.schools["uplands"]
    before = board_alerts(world, uplands)
    sealed = seal_token(world.keys.public_bytes(), alert(uplands))
    answer = push(world, uplands, decoy_token(), sealed, decoy_token())
    assert answer.status_code == 200 and answer.json()["unlocks"] == 3
    assert len(answer.json()["stored"]) == 1
    assert board_alerts(world, uplands).count("duress_alert") == before.count("duress_alert") + 1
    again = push(world, uplands, sealed)  # sent again after a lost answer: nothing new
    assert again.json()["already"] == answer.json()["stored"]


def test_decoys_alone_store_nothing(world: World) -> None:
    uplands = world.schools["uplands"]
    before = board_alerts(world, uplands)
    answer = push(world, uplands, *(decoy_token() for _ in range(5)))
    assert answer.json() == {"protocol": 1, "stored": [], "already": [], "conflicts": [],
                             "rejected": [], "unlocks": 5}
    assert board_alerts(world, uplands) == before


def test_a_token_that_is_not_one_is_refused_and_nothing_is_stored(world: World) -> None:
    uplands = world.schools["uplands"]
    sealed = base64.b64encode(seal_token(world.keys.public_bytes(), alert(uplands))).decode()
    for raw, says in (([sealed[:-4]], "an unlock token is 4156 bytes"),
                      (["%%%%"], "not base64"), ([sealed] * 21, "at most 20"),
                      ("not a list", "expected a list")):
        answer = push(world, uplands, raw=raw)  # type: ignore[arg-type]
        assert answer.status_code in (400, 422), says
        assert says in answer.json()["message"] or answer.status_code == 422
    assert "duress_alert" not in board_alerts(world, uplands)
    assert TOKEN_SIZE == 4156


def test_an_alert_sealed_in_another_phones_name_is_refused(world: World) -> None:
    uplands = world.schools["uplands"]
    forged = alert(uplands, Author(uplands.staff("ben"), "dev-someone-else"))
    answer = push(world, uplands, seal_token(world.keys.public_bytes(), forged))
    assert answer.status_code == 200 and answer.json()["stored"] == []
    (rejected,) = answer.json()["rejected"]
    assert "another device" in rejected["reason"]
    assert "duress_alert" not in board_alerts(world, uplands)


def test_a_token_the_hub_can_open_but_not_read_is_refused(world: World) -> None:
    uplands = world.schools["uplands"]
    answer = push(world, uplands, seal_token(world.keys.public_bytes(), b"not json"))
    assert answer.status_code == 400
    assert answer.json()["message"] == "unlocks[0]: not an unlock's alert"


def test_only_the_hub_a_token_is_sealed_to_opens_it() -> None:
    ours, theirs = HubKeyPair.generate(), HubKeyPair.generate()
    token = seal_token(ours.public_bytes(), b'{"events":[]}')
    assert open_token(ours, token) == b'{"events":[]}'.ljust(TOKEN_TEXT)
    assert open_token(theirs, token) is None and open_token(ours, decoy_token()) is None
    low_order = bytes(32) + token[32:]  # an ephemeral key whose shared secret is all zero
    assert open_token(ours, low_order) is None
    with pytest.raises(TruncatedEnvelopeError, match="an unlock token is 4156 bytes"):
        open_token(ours, token[:-1])
    with pytest.raises(ValueError, match="at most 4096 bytes"):
        seal_token(ours.public_bytes(), bytes(TOKEN_TEXT + 1))
