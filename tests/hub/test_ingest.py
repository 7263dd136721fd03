"""Pushes reach the hub exactly once in effect: resent, reordered, duplicated or interrupted,
nothing is lost and nothing is stored twice; the same id with other content is never an
overwrite; one bad event never holds up the rest."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from fieldapp.domain.events import Author, Event, EventType, new_event_id
from fieldapp.hub.events_store import EventStore, Page
from fieldapp.sync.protocol import MAX_BATCH, PROTOCOL, ProtocolError, parse_push
from tests.hub.races import DriverRace
from tests.samples import STAFF, sample

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
PHONE = "phone-a"
SENDER = Author("staff-ann", PHONE)


def event(n: int, visit: str = "visit-1", device: str = PHONE, **payload: Any) -> Event:
    at = T0 + timedelta(seconds=n)
    return Event(id=new_event_id(at, n.to_bytes(10, "big")), visit_id=visit,
                 type=EventType.CHECKLIST_ANSWERED, at=at, author=Author("staff-ann", device),
                 payload=payload or {"item": f"item-{n}", "answer": "yes"})


def body(*items: Any) -> dict[str, Any]:
    return {"protocol": PROTOCOL,
            "events": [i.to_dict() if isinstance(i, Event) else i for i in items]}


def push(store: EventStore, *items: Any, school: str = "uplands") -> Any:
    return store.ingest(school, PHONE, parse_push(body(*items), SENDER))


def test_new_events_are_stored_and_said_so(engine: Engine) -> None:
    store = EventStore(engine)
    result = push(store, event(1), event(2))
    assert result.stored == (event(1).id, event(2).id) and result.acknowledged == result.stored
    assert [e.id for e in store.visit_events("uplands", "visit-1")] == [event(1).id, event(2).id]


def test_a_resend_is_a_no_op_answered_the_same(engine: Engine) -> None:
    store = EventStore(engine)
    push(store, event(1))
    again = push(store, event(1), event(1), event(2))
    assert again.already == (event(1).id,) and again.stored == (event(2).id,)
    assert set(again.acknowledged) == {event(1).id, event(2).id}
    assert store.count() == 2


def test_the_same_id_with_other_content_is_a_conflict_not_an_overwrite(engine: Engine) -> None:
    store = EventStore(engine)
    push(store, event(1))
    forged = Event(id=event(1).id, visit_id="visit-1", type=EventType.LEFT, at=T0,
                   author=SENDER, payload=sample(EventType.LEFT))
    result = push(store, forged, event(2))
    assert result.conflicts == (event(1).id,) and result.stored == (event(2).id,)
    (kept,) = [e for e in store.visit_events("uplands", "visit-1") if e.id == event(1).id]
    assert kept == event(1)
    within = push(store, event(3), Event(id=event(3).id, visit_id="visit-1",
                                         type=EventType.LEFT, at=T0, author=SENDER,
                                         payload=sample(EventType.LEFT)))
    assert within.conflicts == (event(3).id,) and within.stored == ()


def test_one_bad_event_is_set_aside_and_the_rest_stored(engine: Engine) -> None:
    store = EventStore(engine)
    result = push(store, event(1), {"id": "nonsense", "v": 1}, 42, event(2, device="phone-b"),
                  event(3))
    assert result.stored == (event(1).id, event(3).id)
    assert [r.ref for r in result.rejected] == ["nonsense", "events[2]", event(2).id]
    assert "another device" in result.rejected[2].reason
    assert store.count() == 2


@pytest.mark.parametrize(("bad", "message"), [
    ([], "JSON object"), ({"protocol": 2, "events": []}, "unsupported protocol 2"),
    ({"protocol": True, "events": []}, "unsupported protocol True"),
    ({"protocol": 1, "events": {}}, "expected a list"),
    ({"protocol": 1, "events": [{}] * (MAX_BATCH + 1)}, f"at most {MAX_BATCH}"),
])
def test_an_unreadable_push_is_refused_whole(engine: Engine, bad: Any, message: str) -> None:
    store = EventStore(engine)
    with pytest.raises(ProtocolError, match=message):
        store.ingest("uplands", PHONE, parse_push(bad, SENDER))
    assert store.count() == 0


def test_schools_are_kept_apart(engine: Engine) -> None:
    store = EventStore(engine)
    push(store, event(1), school="uplands")
    push(store, event(2), school="hart-hill")
    assert [e.id for e in store.visit_events("uplands", "visit-1")] == [event(1).id]
    assert store.since("hart-hill", 0).events == [event(2)]
    stolen = push(store, event(1), school="hart-hill")  # another school sending its id
    assert stolen.conflicts == (event(1).id,) and stolen.acknowledged == ()
    assert store.visit_events("hart-hill", "visit-1") == (event(2),)


def test_pulling_since_a_cursor_returns_each_event_once(engine: Engine) -> None:
    store = EventStore(engine)
    push(store, event(1), event(2))
    first = store.since("uplands", 0, limit=1)
    rest = store.since("uplands", first.cursor)
    push(store, event(3))
    newest = store.since("uplands", rest.cursor)
    assert first.full and not rest.full
    assert [e.id for e in first.events + rest.events + newest.events] == [
        event(n).id for n in (1, 2, 3)]
    assert store.since("uplands", newest.cursor) == Page([], [], newest.cursor, False)


def test_interrupted_repeated_and_reordered_pushes_store_each_event_exactly_once(
    engine: Engine,
) -> None:
    store = EventStore(engine)
    outbox = [event(n, visit=f"visit-{n % 4}") for n in range(60)]
    rng = random.Random(7)
    acknowledged: set[str] = set()
    while len(acknowledged) < len(outbox):
        pending = [e for e in outbox if e.id not in acknowledged]
        batch = rng.sample(pending, k=min(len(pending), rng.randint(1, 12)))
        batch += rng.sample(outbox, k=3)  # resends of anything, acknowledged or not
        rng.shuffle(batch)
        result = push(store, *batch)
        if rng.random() < 0.3:
            continue  # the answer was lost on the way back: the phone will send them again
        acknowledged.update(result.acknowledged)
    assert store.count() == len(outbox)
    stored = {e.id for v in range(4) for e in store.visit_events("uplands", f"visit-{v}")}
    assert stored == {e.id for e in outbox}


def test_two_phones_pushing_the_same_events_at_once_store_them_once(engine: Engine) -> None:
    store = EventStore(engine)
    shared = [event(n) for n in range(40)]
    answers: list[Any] = []
    errors: list[BaseException] = []

    def phone() -> None:
        try:
            for start in range(0, 40, 8):
                answers.append(push(store, *shared[start:start + 8]))
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=phone) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert store.count() == 40
    assert all(set(a.acknowledged) for a in answers)


def test_a_race_with_another_push_is_retried_then_reported(engine: Engine) -> None:
    """Another worker stores an event between this push's check and its insert: the push
    is tried again and finds it held. Met at every try, the database's error is reported."""
    store = EventStore(engine, connect=DriverRace("events", races=1))
    result = push(store, event(1))
    assert result.stored == () and result.already == (event(1).id,)
    assert store.count("uplands") == 1 and store.count("elsewhere") == 0

    store = EventStore(engine, connect=DriverRace("events", races=3))
    with pytest.raises(engine.dialect.loaded_dbapi.IntegrityError):
        push(store, event(2), event(3), event(4))  # each try loses one of them
    assert store.count("uplands") == 4  # the other pushes' three, none twice


def test_a_plan_naming_staff_ids_no_one_can_have_is_rejected(engine: Engine) -> None:
    store = EventStore(engine)
    plans = [Event(new_event_id(T0, bytes([n]) * 10), "visit-9", EventType.PLANNED, T0,
                   Author("staff-ann", PHONE), sample(EventType.PLANNED, staff=[
                       {**STAFF[0], "staff_id": staff_id}]))
             for n, staff_id in enumerate(("x" * 65, "ann\x00", ""))]
    result = push(store, *plans)
    assert result.stored == () and len(result.rejected) == 3
    assert all("staff: [0]: staff_id" in r.reason for r in result.rejected)
    assert store.staff_visits("uplands", "staff-ann") == ()


def test_a_visit_planned_again_with_the_same_staff_is_stored(engine: Engine) -> None:
    store = EventStore(engine)
    plans = [Event(new_event_id(T0, bytes([n]) * 10), "visit-9", EventType.PLANNED, T0,
                   Author("staff-ann", PHONE), sample(EventType.PLANNED, staff=STAFF[:1]))
             for n in (1, 2)]
    assert push(store, plans[0]).stored == (plans[0].id,)
    assert push(store, plans[1]).stored == (plans[1].id,)
    assert store.staff_visits("uplands", "staff-ann") == ("visit-9",)
