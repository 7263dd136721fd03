"""What the phone does with each answer a hub (or something pretending to be one) may give:
scripted answers, no hub. Every odd answer is a clear failure or a reason kept; nothing the
phone recorded is lost or marked sent unless the hub said it holds it."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from fieldapp.crypto.sealing import HubKeyPair
from fieldapp.domain.events import Author, Event, EventType, new_event_id
from fieldapp.domain.journeys import let_in
from fieldapp.domain.policy import load_pack, pack_text
from fieldapp.domain.simulate import SimulatedVisit
from fieldapp.store.repository import MemoryRepository
from fieldapp.sync.client import (
    ENROLMENT,
    Enrolment,
    EnrolmentError,
    HubFault,
    SyncClient,
    enrol,
)
from fieldapp.sync.slip import slip_code
from tests.samples import sample

KEYS = HubKeyPair.generate()
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
ME = Author("staff-ann", "dev-ann")
PARTNER = Author("staff-ben", "dev-ben")
Handler = Callable[[httpx.Request], httpx.Response]


def enrolled() -> MemoryRepository:
    repository = MemoryRepository()
    repository.set(ENROLMENT, asdict(Enrolment(
        "http://127.0.0.1:9", "dev-ann", "token", "staff-ann", "uplands", "Uplands",
        base64.b64encode(KEYS.public_bytes()).decode())))
    repository.set("pack", pack_text("uplands-junior"))
    return repository


def event(n: int, by: Author = ME, kind: EventType = EventType.CHECKED_IN,
          visit: str = "visit-1") -> Event:
    at = T0 + timedelta(seconds=n)
    return Event(new_event_id(at, n.to_bytes(10, "big")), visit, kind, at, by, sample(kind))


def pulled(*events: Event, **changes: Any) -> dict[str, Any]:
    return {"protocol": 1, "events": [e.to_dict() for e in events], "withheld": [],
            "cursor": 10, "more": False, "pack_version": "v1", "pack": None, "baseline": 5,
            "head": 10,
            "database_id": "db-1", "contacts": {"reception_phone": "01902 000111",
                                                "school_phone": "", "dsl_mobile": "",
                                                "office_hours": ""}, **changes}


def hub(push: Handler | None = None, pull: Handler | None = None,
        sealed: Handler | None = None) -> httpx.MockTransport:
    def acknowledge(request: httpx.Request) -> httpx.Response:
        ids = [e["id"] for e in json.loads(gzip.decompress(request.content))["events"]]
        return httpx.Response(200, json={"stored": ids, "already": [], "conflicts": [],
                                         "rejected": []})

    def handle(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/api/v1/push":
            return (push or acknowledge)(request)
        if path == "/api/v1/pull":
            return (pull or (lambda _r: httpx.Response(200, json=pulled())))(request)
        assert path == "/api/v1/sealed/envelopes"
        return (sealed or (lambda _r: httpx.Response(200, json={"stored": []})))(request)

    return httpx.MockTransport(handle)


def test_a_push_the_hub_refuses_outright_is_a_failure_and_keeps_the_events() -> None:
    repository = enrolled()
    repository.append([event(1)])
    client = SyncClient(repository, hub(push=lambda _r: httpx.Response(
        400, json={"error": "bad_push", "message": "unsupported protocol"})))
    with pytest.raises(HubFault, match="unsupported protocol"):
        client.sync()
    assert [e.id for e in repository.unsynced()] == [event(1).id]


def test_one_event_too_large_for_the_hub_waits_aside() -> None:
    repository = enrolled()
    repository.append([event(1)])
    SyncClient(repository, hub(push=lambda _r: httpx.Response(413, json={
        "error": "too_large", "message": "at most 1 MiB"}))).sync()
    assert [why for _e, why in repository.quarantined()] == ["too large for the hub to take"]


def test_only_what_the_hub_names_of_this_batch_is_taken_as_sent_or_refused() -> None:
    repository = enrolled()
    repository.append([event(1), event(2)])
    answer = {"stored": [event(1).id, "not-in-the-batch"], "already": [], "conflicts": [],
              "rejected": [{"ref": event(2).id, "reason": "payload: unknown field"},
                           {"ref": "someone-elses", "reason": "x"}, "not an object"]}
    SyncClient(repository, hub(push=lambda _r: httpx.Response(200, json=answer))).sync()
    assert repository.unsynced() == ()
    assert [(e.id, why) for e, why in repository.quarantined()] == [
        (event(2).id, "payload: unknown field")]


@pytest.mark.parametrize("answer", [
    pulled(cursor=-1), pulled(cursor="10"), pulled(contacts=["01902"]),
    pulled(contacts={"reception_phone": 1}), pulled(events=[{"id": "x"}]),
    {k: v for k, v in pulled().items() if k != "database_id"},
])
def test_a_pull_answer_that_is_not_the_protocols_is_refused_whole(answer: Any) -> None:
    repository = enrolled()
    with pytest.raises(HubFault, match="pull answer cannot be used"):
        SyncClient(repository, hub(pull=lambda _r: httpx.Response(200, json=answer))).sync()
    assert repository.get("cursor") is None and repository.visit_ids() == ()


def test_a_pull_refused_is_a_failure() -> None:
    with pytest.raises(HubFault, match="refused a pull"):
        SyncClient(enrolled(), hub(pull=lambda _r: httpx.Response(
            404, json={"error": "not_found", "message": "no"}))).sync()


def test_a_new_pack_that_cannot_be_used_is_not_taken() -> None:
    repository = enrolled()
    before = repository.get("pack")
    SyncClient(repository, hub(pull=lambda _r: httpx.Response(200, json=pulled(
        pack="format = 1\nid = 'broken'", pack_version="v2")))).sync()
    assert repository.get("pack") == before
    client = SyncClient(repository, hub())
    (problem,) = client.status().problems
    assert problem.startswith("the school's new pack cannot be used")
    client.sync()  # a good pull since: nothing more to say
    assert client.status().problems == ()


def test_an_event_from_the_hub_that_clashes_with_one_held_is_left_out() -> None:
    repository = enrolled()
    mine = event(1, PARTNER)
    repository.append([mine], synced=True)
    clash = Event(mine.id, mine.visit_id, EventType.LEFT, mine.at, PARTNER,
                  sample(EventType.LEFT))
    other = event(2, PARTNER)
    client = SyncClient(repository, hub(pull=lambda _r: httpx.Response(200, json=pulled(
        clash, other))))
    client.sync()
    assert [e.type for e in repository.events("visit-1")] == [EventType.CHECKED_IN] * 2
    assert client.status().problems == (
        f"event {mine.id} from the hub differs from the one this phone holds",)


def test_sealed_records_the_hub_refuses_stay_and_say_why() -> None:
    repository = enrolled()
    repository.append([event(1)], synced=True)
    repository.finalise("visit-1", "rec-1", _envelope("rec-1"))
    answer = {"stored": [], "already": [], "conflicts": ["rec-1"],
              "rejected": [{"ref": "rec-2", "reason": "sealed to another key"}, 7]}
    SyncClient(repository, hub(sealed=lambda _r: httpx.Response(409, json=answer))).sync()
    assert [record_id for record_id, _e in repository.sealed()] == ["rec-1"]
    status = SyncClient(repository).status()
    assert status.sealed_refused == (("rec-1", "the hub holds another record with this id"),)
    assert status.waiting == 0 and not status.settled
    with pytest.raises(HubFault, match="refused sealed records"):
        SyncClient(repository, hub(sealed=lambda _r: httpx.Response(
            400, json={"error": "bad_push", "message": "no"}))).sync()


def _envelope(record_id: str) -> bytes:
    from fieldapp.crypto.sealing import seal
    return seal(KEYS.public_bytes(), "uplands", record_id, b"{}")


@pytest.mark.parametrize(("status", "body", "error", "says"), [
    (403, {"error": "enrolment_refused", "message": "this enrolment code is not valid"},
     EnrolmentError, "not valid"),
    (403, {"error": "enrolment_refused"}, EnrolmentError, "was refused"),
    (422, {"error": "invalid_request", "message": "code: too long"}, HubFault, "too long"),
    (200, {"device_id": "d"}, HubFault, "cannot be used"),
    (200, {"hub_public_key": "not base64!", "pack": ""}, HubFault, "cannot be used"),
])
def test_an_enrolment_answer_that_cannot_be_used_stores_nothing(
        status: int, body: dict[str, Any], error: type[Exception], says: str) -> None:
    repository = MemoryRepository()
    slip = slip_code("ABCDEFGHJK", KEYS.public_bytes())
    transport = httpx.MockTransport(lambda _r: httpx.Response(status, json=body))
    with pytest.raises(error, match=says):
        enrol(repository, "http://127.0.0.1:9", slip, transport=transport)
    assert repository.get(ENROLMENT) is None


def test_a_pull_goes_on_while_the_hub_says_there_is_more() -> None:
    pages = iter([pulled(event(1, PARTNER), cursor=1, more=True),
                  pulled(event(2, PARTNER), cursor=2)])
    repository = enrolled()
    report = SyncClient(repository, hub(pull=lambda _r: httpx.Response(
        200, json=next(pages)))).sync()
    assert report.pulled == 2 and repository.get("cursor") == 2


def test_an_answer_that_inflates_too_far_is_not_read_to_its_end() -> None:
    """A gzip bomb from something posing as the hub: refused once past 16 MiB, not inflated
    to gigabytes."""
    bomb = gzip.compress(b" " * (17 * 2**20))
    repository = enrolled()
    repository.append([event(1)])
    client = SyncClient(repository, hub(push=lambda _r: httpx.Response(
        200, content=bomb, headers={"Content-Encoding": "gzip",
                                    "Content-Type": "application/json"})))
    with pytest.raises(HubFault, match="inflates past 16 MiB"):
        client.sync()
    assert [e.id for e in repository.unsynced()] == [event(1).id]


def test_a_tap_while_a_visit_is_sealed_is_never_lost_with_it() -> None:
    """Sealing read the visit, then a concern was recorded before the purge: the purge is
    refused, the concern kept and sent, and the visit sealed again whole on the next sync."""
    from fieldapp.sync import client as module

    repository = enrolled()
    walked = SimulatedVisit(load_pack("uplands-junior"), T0, visit_id="visit-1", author=ME)
    for _label, minutes, command in let_in(walked):
        walked.do(command, after_minutes=minutes)
    repository.append(walked.events, synced=True)  # over, and all at the hub
    late = event(10**5, kind=EventType.CONCERN_RAISED)
    real_seal = module.seal

    def seal_then_tap(*args: Any) -> bytes:
        repository.append([late])  # recorded while the record is being sealed
        return real_seal(*args)

    module.seal = seal_then_tap  # type: ignore[assignment]
    try:
        client = SyncClient(repository, hub())
        assert client.sync().sealed == 0
    finally:
        module.seal = real_seal
    assert late.id in {e.id for e in repository.events("visit-1")}
    assert client.sync().sealed == 1  # now with the concern in it
    assert repository.visit_ids() == ()
