"""Events: time-ordered ids, the wire form and its validation, and merging two phones' lists."""

from __future__ import annotations

import dataclasses
import itertools
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fieldapp.domain.events import (
    FORMAT,
    Author,
    Event,
    EventError,
    EventType,
    is_event_id,
    merge,
    new_event_id,
)

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
T0 = datetime(2024, 1, 15, 9, 0, tzinfo=UTC)
LOW = bytes(10)
HIGH = b"\xff" * 10
PHONE_A = Author("staff-1", "phone-a")

# Every time an id can carry, including 2038-39 where float arithmetic once lost a millisecond.
NEAR_TIMES = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(9999, 12, 31), timezones=st.just(UTC)
)
ENTROPY = st.binary(min_size=10, max_size=10)


def decode(event_id: str) -> tuple[int, bytes]:
    """The (milliseconds, entropy) an id was made from, read back from its ULID layout."""
    number = 0
    for char in event_id:
        number = number * 32 + CROCKFORD.index(char)
    return number >> 80, (number & ((1 << 80) - 1)).to_bytes(10, "big")


def make_event(
    kind: EventType = EventType.ARRIVED,
    at: datetime = T0,
    entropy: bytes = LOW,
    payload: dict[str, Any] | None = None,
    visit_id: str = "visit-1",
) -> Event:
    return Event(id=new_event_id(at, entropy), visit_id=visit_id, type=kind, at=at,
                 author=PHONE_A, payload=payload or {})


# --- ids -------------------------------------------------------------------------------------


def test_an_id_is_26_characters_a_reader_can_recognise() -> None:
    event_id = new_event_id(T0, bytes(range(10)))
    assert len(event_id) == 26
    assert is_event_id(event_id)


def test_an_id_carries_the_millisecond_and_the_entropy_it_was_made_from() -> None:
    at = T0 + timedelta(milliseconds=123)
    millis, entropy = decode(new_event_id(at, bytes(range(10))))
    assert millis == (at - EPOCH) // timedelta(milliseconds=1)
    assert entropy == bytes(range(10))


def test_the_same_time_and_entropy_always_give_the_same_id() -> None:
    # as a ULID: 48 bits of milliseconds, then the 80 of entropy, in Crockford base 32
    assert new_event_id(T0, b"0123456789") == "01HM65JQM060RK4CSM6MV3EE1S"
    assert new_event_id(T0, b"0123456789") == new_event_id(T0, b"0123456789")


def test_ids_made_at_the_same_millisecond_are_kept_apart_by_entropy() -> None:
    assert new_event_id(T0, LOW) != new_event_id(T0, b"\x00" * 9 + b"\x01")


def test_an_id_made_a_millisecond_later_sorts_later_whatever_the_entropy() -> None:
    assert new_event_id(T0, HIGH) < new_event_id(T0 + timedelta(milliseconds=1), LOW)


def test_the_utc_offset_of_the_time_does_not_change_the_id() -> None:
    local = T0.astimezone(timezone(timedelta(hours=1)))
    assert new_event_id(local, LOW) == new_event_id(T0, LOW)


@given(first=NEAR_TIMES, gap_ms=st.integers(min_value=1, max_value=10**9),
       first_entropy=ENTROPY, second_entropy=ENTROPY)
def test_ids_sort_by_the_time_they_were_made(
    first: datetime, gap_ms: int, first_entropy: bytes, second_entropy: bytes
) -> None:
    second = first + timedelta(milliseconds=gap_ms)
    assert new_event_id(first, first_entropy) < new_event_id(second, second_entropy)


@given(at=NEAR_TIMES, entropy=ENTROPY)
def test_every_id_made_is_recognised_and_decodes_to_its_inputs(
    at: datetime, entropy: bytes
) -> None:
    event_id = new_event_id(at, entropy)
    assert is_event_id(event_id)
    assert decode(event_id) == ((at - EPOCH) // timedelta(milliseconds=1), entropy)


@given(entropies=st.sets(ENTROPY, min_size=2, max_size=20))
def test_ids_with_different_entropy_are_unique(entropies: set[bytes]) -> None:
    assert len({new_event_id(T0, entropy) for entropy in entropies}) == len(entropies)


def test_an_id_made_a_millisecond_later_in_2039_still_sorts_later() -> None:
    later = datetime(2039, 1, 15, 17, 0, 59, 88000, tzinfo=UTC)
    earlier = later - timedelta(milliseconds=1)
    assert new_event_id(earlier, HIGH) < new_event_id(later, LOW)


@pytest.mark.parametrize("size", [0, 9, 11, 16])
def test_an_id_needs_exactly_ten_bytes_of_entropy(size: int) -> None:
    with pytest.raises(EventError, match="exactly 10 bytes of entropy"):
        new_event_id(T0, bytes(size))


def test_an_id_needs_a_time_with_its_utc_offset() -> None:
    with pytest.raises(EventError, match="timezone-aware"):
        new_event_id(datetime(2024, 1, 15, 9, 0), LOW)


def test_an_id_cannot_be_made_for_a_time_before_1970() -> None:
    with pytest.raises(EventError, match="out of range"):
        new_event_id(datetime(1969, 12, 31, 23, 59, tzinfo=UTC), LOW)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "01HM",  # too short
        "01HMA2XJ5G0000000000000000X",  # too long
        "01hma2xj5g0000000000000000",  # lower case
        "01HMA2XJ5G000000000000000U",  # U is not a Crockford digit
        "01HMA2XJ5G00000000000000IL",  # nor are I and L
        "81HMA2XJ5G0000000000000000",  # more than 128 bits
        "01HMA2XJ5G-000000000000000",
    ],
)
def test_text_that_is_not_an_event_id_is_not_recognised(text: str) -> None:
    assert not is_event_id(text)


def test_the_largest_and_smallest_ids_are_recognised() -> None:
    assert is_event_id("0" * 26)
    assert is_event_id("7" + "Z" * 25)


# --- wire form -------------------------------------------------------------------------------


def test_the_wire_form_is_versioned_and_in_utc() -> None:
    at = datetime(2024, 1, 15, 10, 30, tzinfo=timezone(timedelta(hours=1)))
    event = make_event(EventType.DOOR_ANSWERED, at, payload={"by": "parent"})
    assert event.to_dict() == {
        "v": FORMAT,
        "id": event.id,
        "visit_id": "visit-1",
        "type": "door_answered",
        "at": "2024-01-15T09:30:00+00:00",
        "author": {"staff_id": "staff-1", "device_id": "phone-a"},
        "payload": {"by": "parent"},
    }


def test_an_event_survives_the_wire_unchanged() -> None:
    event = make_event(EventType.OUTCOME_RECORDED,
                       payload={"child_seen": True, "actions": [{"what": "call", "by": "dsl"}]})
    wire = json.loads(json.dumps(event.to_dict()))
    assert Event.from_dict(wire) == event
    assert Event.from_dict(wire).canonical() == event.canonical()


def test_a_time_recorded_with_a_local_offset_comes_back_as_the_same_instant() -> None:
    local = datetime(2024, 7, 1, 10, 30, tzinfo=timezone(timedelta(hours=1)))
    event = make_event(at=local)
    back = Event.from_dict(event.to_dict())
    assert back.at == local
    assert back.at.utcoffset() == timedelta(0)
    assert back.canonical() == event.canonical()


def test_a_time_sent_with_a_local_offset_is_read_as_that_instant() -> None:
    wire = make_event().to_dict() | {"at": "2024-01-15T10:00:00+01:00"}
    assert Event.from_dict(wire).at == T0


def test_equal_events_have_equal_canonical_text_whatever_their_offset_or_key_order() -> None:
    local = T0.astimezone(timezone(timedelta(hours=-5)))
    first = make_event(at=T0, payload={"a": 1, "b": 2})
    second = Event(id=first.id, visit_id=first.visit_id, type=first.type, at=local,
                   author=first.author, payload={"b": 2, "a": 1})
    assert first.canonical() == second.canonical()


def test_the_payload_read_from_the_wire_is_a_copy() -> None:
    wire = make_event(payload={"by": "parent"}).to_dict()
    event = Event.from_dict(wire)
    wire["payload"]["by"] = "sibling"
    assert event.payload == {"by": "parent"}


def good_wire() -> dict[str, Any]:
    return make_event(payload={"by": "parent"}).to_dict()


def without(key: str) -> dict[str, Any]:
    wire = good_wire()
    del wire[key]
    return wire


def wire_with(**changes: Any) -> dict[str, Any]:
    return good_wire() | changes


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(None, "event: expected an object", id="none"),
        pytest.param([1, 2], "event: expected an object", id="list"),
        pytest.param("event", "event: expected an object", id="text"),
        pytest.param(without("v"), "event: unsupported format version None", id="no-version"),
        pytest.param(wire_with(v=2), "event: unsupported format version 2", id="version-2"),
        pytest.param(wire_with(v="1"), "event: unsupported format version '1'", id="version-text"),
        pytest.param(without("id"), "event.id: expected a 26-character event id", id="no-id"),
        pytest.param(wire_with(id=12), "event.id: expected a 26-character", id="id-number"),
        pytest.param(wire_with(id="abc"), "event.id: expected a 26-character", id="id-short"),
        pytest.param(wire_with(id="01hma2xj5g0000000000000000"), "event.id:", id="id-lower"),
        pytest.param(without("visit_id"), "event.visit_id: expected 1 to 128 printable",
                     id="no-visit"),
        pytest.param(wire_with(visit_id=""), "event.visit_id:", id="visit-empty"),
        pytest.param(wire_with(visit_id=7), "event.visit_id:", id="visit-number"),
        pytest.param(wire_with(visit_id="v" * 129), "event.visit_id:", id="visit-too-long"),
        pytest.param(wire_with(visit_id="visit\x00"), "event.visit_id:", id="visit-nul"),
        pytest.param(wire_with(at="0001-01-01T00:00:00+01:00"), "event.at: '0001",
                     id="at-before-utc-begins"),
        pytest.param(without("type"), "event.type: unknown event type None", id="no-type"),
        pytest.param(wire_with(type="teleported"), "event.type: unknown event type 'teleported'",
                     id="type-unknown"),
        pytest.param(wire_with(type="ARRIVED"), "event.type: unknown event type", id="type-case"),
        pytest.param(without("at"), "event.at: expected an ISO 8601 time", id="no-at"),
        pytest.param(wire_with(at=1705309200), "event.at: expected an ISO 8601 time",
                     id="at-number"),
        pytest.param(wire_with(at="yesterday"), "event.at: not an ISO 8601 time: 'yesterday'",
                     id="at-garbage"),
        pytest.param(wire_with(at="2024-01-15T09:00:00"), "event.at: the time must carry its UTC",
                     id="at-naive"),
        pytest.param(wire_with(at="2024-01-15"), "event.at: the time must carry its UTC",
                     id="at-date-only"),
        pytest.param(without("author"), "event.author: expected {staff_id, device_id}",
                     id="no-author"),
        pytest.param(wire_with(author="staff-1"), "event.author:", id="author-text"),
        pytest.param(wire_with(author={"staff_id": "staff-1"}), "event.author:",
                     id="author-no-device"),
        pytest.param(wire_with(author={"device_id": "phone-a"}), "event.author:",
                     id="author-no-staff"),
        pytest.param(wire_with(author={"staff_id": 1, "device_id": "phone-a"}), "event.author:",
                     id="author-staff-number"),
        pytest.param(without("payload"), "event.payload: expected an object", id="no-payload"),
        pytest.param(wire_with(payload=["by", "parent"]), "event.payload: expected an object",
                     id="payload-list"),
        pytest.param(wire_with(payload=None), "event.payload: expected an object",
                     id="payload-none"),
    ],
)
def test_a_malformed_event_is_rejected_naming_the_field(data: Any, message: str) -> None:
    with pytest.raises(EventError) as error:
        Event.from_dict(data)
    assert str(error.value).startswith(message)


# --- merging ---------------------------------------------------------------------------------


def test_merging_two_phones_lists_gives_every_event_once_in_id_order() -> None:
    arrived = make_event(EventType.ARRIVED, T0)
    knocked = make_event(EventType.NO_ANSWER, T0 + timedelta(minutes=1), HIGH)
    answered = make_event(EventType.DOOR_ANSWERED, T0 + timedelta(minutes=2))
    assert merge([answered, arrived], [knocked]) == (arrived, knocked, answered)


def test_merging_nothing_gives_no_events() -> None:
    assert merge() == ()
    assert merge([], []) == ()


def test_a_resent_event_is_kept_once() -> None:
    arrived = make_event(EventType.ARRIVED)
    resent = Event.from_dict(json.loads(json.dumps(arrived.to_dict())))
    assert merge([arrived], [resent, arrived]) == (arrived,)


def test_an_event_resent_with_its_time_in_another_offset_is_the_same_event() -> None:
    arrived = make_event(EventType.ARRIVED)
    local = Event(id=arrived.id, visit_id=arrived.visit_id, type=arrived.type,
                  at=T0.astimezone(timezone(timedelta(hours=2))), author=arrived.author)
    assert merge([arrived], [local]) == (arrived,)


@pytest.mark.parametrize(
    "change",
    [
        {"type": EventType.NO_ANSWER},
        {"at": T0 + timedelta(seconds=1)},
        {"visit_id": "visit-2"},
        {"author": Author("staff-2", "phone-b")},
        {"payload": {"by": "sibling"}},
    ],
    ids=["type", "at", "visit", "author", "payload"],
)
def test_same_event_id_with_different_content_is_a_conflict(change: dict[str, Any]) -> None:
    original = make_event(EventType.DOOR_ANSWERED, payload={"by": "parent"})
    clash = dataclasses.replace(original, **change)
    with pytest.raises(EventError, match=f"event {original.id}: two different events"):
        merge([original], [clash])


PAYLOADS = st.dictionaries(
    st.sampled_from(["by", "item", "answer", "note"]),
    st.one_of(st.text(max_size=5), st.integers(), st.booleans(), st.none()),
    max_size=3,
)
EVENTS = st.builds(
    make_event,
    kind=st.sampled_from(list(EventType)),
    at=st.integers(0, 10**9).map(lambda ms: T0 + timedelta(milliseconds=ms)),
    entropy=st.sampled_from([LOW, HIGH, b"0123456789"]),
    payload=PAYLOADS,
)


@given(events=st.lists(EVENTS, max_size=12, unique_by=lambda event: event.id), data=st.data())
def test_merging_any_split_of_the_same_events_in_any_order_gives_the_same_history(
    events: list[Event], data: st.DataObject
) -> None:
    expected = tuple(sorted(events, key=lambda event: event.id))
    shuffled = data.draw(st.permutations(events))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(events)), max_size=4)))
    bounds = [0, *cuts, len(events)]
    parts = [list(shuffled[start:end]) for start, end in itertools.pairwise(bounds)]
    resent = data.draw(st.lists(st.sampled_from(events), max_size=3)) if events else []
    assert merge(*parts) == expected
    assert merge(*parts, resent) == expected
    assert merge(*reversed(parts)) == expected


def test_a_boolean_format_version_is_not_version_one() -> None:
    data = {**make_event().to_dict(), "v": True}
    with pytest.raises(EventError, match="unsupported format version True"):
        Event.from_dict(data)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)


@given(visit_id=st.text(min_size=1), staff_id=st.text(), device_id=st.text(),
       kind=st.sampled_from(list(EventType)),
       at=st.datetimes(timezones=st.timezones() | st.just(UTC)).filter(
           lambda at: datetime.min.replace(tzinfo=UTC) + timedelta(days=1) < at
           < datetime.max.replace(tzinfo=UTC) - timedelta(days=1)),
       payload=st.dictionaries(st.text(), JSON_VALUES, max_size=4))
def test_the_canonical_text_is_the_sorted_compact_ascii_json_of_the_wire_form(
    visit_id: str, staff_id: str, device_id: str, kind: EventType, at: datetime,
    payload: dict[str, Any],
) -> None:
    event = Event(id=new_event_id(T0, LOW), visit_id=visit_id, type=kind, at=at,
                  author=Author(staff_id, device_id), payload=payload)
    assert event.canonical() == json.dumps(event.to_dict(), sort_keys=True,
                                           separators=(",", ":"))
