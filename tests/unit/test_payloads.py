"""Every event type's payload schema: what the engine writes passes (the journeys and the
hypothesis properties run through `decide`, which checks each draft), and every kind of bad
value a phone could send is refused with the field it is in."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from fieldapp.domain import commands as c
from fieldapp.domain.events import Author, Event, EventError, EventType
from fieldapp.domain.journeys import JOURNEYS
from fieldapp.domain.payloads import PAYLOADS, check_event, payload_problem
from fieldapp.domain.policy import load_pack, pack_ids
from fieldapp.domain.simulate import SimulatedVisit
from tests.samples import sample
from tests.unit.support import T0, walk

E = EventType


def engine_events() -> list[Event]:
    """Every event the three journeys write, for every school, plus a duress alert."""
    found = [Event("0" * 26, "device-x", E.DURESS_ALERT, T0, Author("s", "d"), {"silent": True})]
    for pack_id in pack_ids():
        for journey in JOURNEYS.values():
            visit = SimulatedVisit(load_pack(pack_id), T0)
            for _label, minutes, command in journey(visit):
                visit.do(command, after_minutes=minutes)  # refused steps record nothing
            found += visit.events
    return found


ENGINE_EVENTS = engine_events()
BY_TYPE = {event.type: event for event in ENGINE_EVENTS}


def event_of(event_type: EventType, payload: Any) -> Event:
    base = ENGINE_EVENTS[0]
    return Event(base.id, base.visit_id, event_type, base.at, base.author, payload)


def test_every_event_type_the_engine_writes_passes_its_schema() -> None:
    assert set(BY_TYPE) | {E.UPSTAIRS, E.SAFE_PHRASE_USED, E.EMERGENCY_CALL, E.WAIT_STARTED,
                           E.DOORSTEP_ONLY, E.FOLLOW_UP_DONE, E.ADULT_IN_ROOM,
                           E.ALERT_ACKNOWLEDGED} == set(EventType)
    for event in ENGINE_EVENTS:
        assert check_event(event) is event


def test_every_event_type_has_a_schema() -> None:
    assert set(PAYLOADS) == set(EventType)


# A payload a phone could push: (type, payload, the words the refusal must carry).
BAD: list[tuple[EventType, Any, str]] = [
    (E.SIGNED_OUT, {}, "missing checks, emergency_number, expected_arrival"),
    (E.SIGNED_OUT, {**BY_TYPE[E.SIGNED_OUT].payload, "expected_return": "soon"},
     "expected_return: expected an ISO 8601 time"),
    (E.SIGNED_OUT, {**BY_TYPE[E.SIGNED_OUT].payload,
                    "expected_return": "2026-11-23T12:00:00"}, "must carry its UTC offset"),
    (E.SIGNED_OUT, {**BY_TYPE[E.SIGNED_OUT].payload,
                    "expected_return": "9999-12-31T23:59:59-23:00"}, "out of range in UTC"),
    (E.SIGNED_OUT, {**BY_TYPE[E.SIGNED_OUT].payload, "vehicles": 5}, "vehicles: expected a list"),
    (E.SIGNED_OUT, {**BY_TYPE[E.SIGNED_OUT].payload, "vehicles": [["AB12"]]},
     "vehicles: [0]: expected text"),
    (E.SIGNED_OUT, {**BY_TYPE[E.SIGNED_OUT].payload, "vehicles": ["x"] * 6}, "at most 5 items"),
    (E.SIGNED_OUT, {**BY_TYPE[E.SIGNED_OUT].payload, "extra": 1}, "unknown field 'extra'"),
    (E.SIGNED_OUT, {**BY_TYPE[E.SIGNED_OUT].payload, "safe_phrase_reminded": "yes"},
     "expected true or false"),
    (E.SIGNED_OUT, {**BY_TYPE[E.SIGNED_OUT].payload, "safe_phrase_reminded": 1},
     "expected true or false"),
    (E.CHECKED_IN, {"note": math.nan}, "note: expected text"),
    (E.CHECKED_IN, {"note": math.inf}, "note: expected text"),
    (E.CHECKED_IN, {"note": json.loads("1e400")}, "note: expected text"),
    (E.CHECKED_IN, {"note": 10**30}, "note: expected text"),
    (E.CHECKED_IN, {"note": "a\x00b"}, "control characters"),
    (E.CHECKED_IN, {"note": "a\ud800b"}, "control characters"),
    (E.CHECKED_IN, {"note": "x" * 4001}, "at most 4000 characters"),
    (E.CHECKED_IN, {"note": None}, "expected text"),
    (E.ARRIVED, {"nested": json.loads("[" * 260 + "]" * 260)}, "unknown field 'nested'"),
    (E.ARRIVED, [], "expected an object"),
    (E.DOOR_ANSWERED, {"by": "the postman"}, "by: one of parent"),
    (E.CHECKLIST_ANSWERED, {"item": "id_shown", "answer": True}, "answer: one of yes, no"),
    (E.RISK_ASSESSED, {"answers": {"dogs": "no"}, "level": "low", "mitigations": ""},
     "'dogs': expected true or false"),
    (E.RISK_ASSESSED, {"answers": {f"q{n}": True for n in range(51)}, "level": "",
                       "mitigations": ""}, "at most 50 entries"),
    (E.RISK_ASSESSED, {"answers": [], "level": "", "mitigations": ""}, "expected an object"),
    (E.PLANNED, {**BY_TYPE[E.PLANNED].payload, "staff": [{"staff_id": "x\x00" + "y" * 5000}]},
     "staff: [0]: missing"),
    (E.PLANNED, {**BY_TYPE[E.PLANNED].payload,
                 "staff": [{**BY_TYPE[E.PLANNED].payload["staff"][0], "staff_id": "a\x00b"}]},
     "staff_id: control characters"),
    (E.PLANNED, {**BY_TYPE[E.PLANNED].payload,
                 "staff": [{**BY_TYPE[E.PLANNED].payload["staff"][0], "staff_id": ""}]},
     "staff_id: 1 to 64 characters"),
    (E.PLANNED, {**BY_TYPE[E.PLANNED].payload, "staff": ["ann"]}, "staff: [0]: expected an obj"),
    (E.OUTCOME_RECORDED, {**BY_TYPE[E.OUTCOME_RECORDED].payload, "actions": [{"what": "x"}]},
     "actions: [0]: missing by_whom"),
    (E.UPSTAIRS, {"room": "attic", "both_staff": True}, "room: one of upstairs"),
    (E.UPSTAIRS, {"room": "upstairs"}, "missing both_staff"),
    (E.DURESS_ALERT, {"silent": "true"}, "silent: expected true or false"),
    *((E.SAFE_PHRASE_USED, {"phrase": "red folder", "reception_phone": "01902 558870",
                            "position": where}, words) for where, words in (
        ({"lat": 91, "lon": 0}, "lat: a number of degrees from -90 to 90"),
        ({"lat": 52.5, "lon": -181.0}, "lon: a number of degrees from -180 to 180"),
        ({"lat": math.nan, "lon": 0}, "lat: a number of degrees"),
        ({"lat": True, "lon": 0}, "lat: a number of degrees"),
        ({"lat": "52.5", "lon": 0}, "lat: a number of degrees"),
        ({"lat": 52.5}, "position: missing lon"),
        ([52.5, -2.1], "position: expected an object"))),
    (E.EMERGENCY_CALL, {"number": "999", "position": {"lat": 0, "lon": math.inf}},
     "lon: a number of degrees"),
    *((E.OUTCOME_RECORDED, {**BY_TYPE[E.OUTCOME_RECORDED].payload,
                            "actions": [{"what": "x", "by_whom": "Ann", "due": due}]},
       "due: expected an ISO 8601 date") for due in ("Friday", "2026-02-30", 20261204,
                                                     "2026-12-04T10:00")),
    *((E.LEFT, {"returning_directly": True, "visit_minutes": bad, "overran_minutes": None},
       "visit_minutes: a whole number of minutes") for bad in (1.5, True, -1, 10**6, "5")),
]


@pytest.mark.parametrize(("event_type", "payload", "words"), BAD,
                         ids=[f"{t.value}-{n}" for n, (t, _p, _w) in enumerate(BAD)])
def test_a_payload_that_is_not_its_types_shape_is_refused_with_the_field(
        event_type: EventType, payload: Any, words: str) -> None:
    event = event_of(event_type, payload)
    with pytest.raises(EventError, match=r"^event\.payload") as refused:
        check_event(event)
    assert words in str(refused.value)
    assert event_type.value in str(refused.value)


def test_a_help_alert_may_carry_a_position_and_an_action_a_due_date() -> None:
    for event in (
        event_of(E.SAFE_PHRASE_USED, {"phrase": "red folder", "reception_phone": "1",
                                      "position": {"lat": -90, "lon": 180.0}}),
        event_of(E.EMERGENCY_CALL, {"number": "999", "position": {"lat": 52.58, "lon": -2.12}}),
        event_of(E.OUTCOME_RECORDED, {
            **BY_TYPE[E.OUTCOME_RECORDED].payload,
            "actions": [{"what": "x", "by_whom": "Ann", "due": "2026-12-04"},
                        {"what": "y", "by_whom": "Ben", "due": None},
                        {"what": "z", "by_whom": ""}]}),
    ):
        assert payload_problem(event) is None


def test_optional_fields_may_be_left_out_and_times_may_be_null() -> None:
    for event in (
        event_of(E.UPSTAIRS, {"room": "bedroom", "both_staff": True}),
        event_of(E.SIGNED_OUT, {**BY_TYPE[E.SIGNED_OUT].payload, "expected_leave": None,
                                "expected_arrival": None}),
    ):
        assert payload_problem(event) is None


@pytest.mark.parametrize("staff_id", ["", "a\x00b", "x" * 65, "tab\there"])
def test_an_author_id_must_be_printable_and_short(staff_id: str) -> None:
    wire = {**BY_TYPE[E.ARRIVED].to_dict(), "author": {"staff_id": staff_id, "device_id": "d"}}
    with pytest.raises(EventError, match=r"event\.author"):
        Event.from_dict(wire)


def test_text_too_long_for_its_field_is_a_malformed_command_not_a_bad_event() -> None:
    visit = walk(load_pack("uplands-junior"), until=c.Arrive)
    with pytest.raises(c.CommandError, match="checked_in: note: at most 4000 characters"):
        visit.do(c.CheckIn("x" * 4001))
    with pytest.raises(c.CommandError, match="control characters"):
        visit.do(c.CheckIn("nearly\x00there"))
    assert isinstance(visit, SimulatedVisit) and len(visit.events) == len(
        walk(load_pack("uplands-junior"), until=c.Arrive).events)


def test_the_tests_hand_made_payloads_have_the_right_shape() -> None:
    for kind in EventType:
        assert payload_problem(event_of(kind, sample(kind))) is None, kind
