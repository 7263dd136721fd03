"""Reception's board at the hub: who is out, how to reach them, which visits are overdue or
raised an alert, by the hub's clock, whatever the phones can send; and one visit that cannot
be shown never takes the board down."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from sqlalchemy import Engine, insert

from fieldapp.domain import commands as c
from fieldapp.domain.events import Author, Event, EventType, new_event_id
from fieldapp.domain.journeys import let_in
from fieldapp.domain.lifecycle import Phase
from fieldapp.domain.policy import load_pack
from fieldapp.domain.rules import decide, stamp
from fieldapp.domain.simulate import SimulatedVisit
from fieldapp.domain.state import fold
from fieldapp.hub.board import Visitor, board
from fieldapp.hub.events_store import EventStore, History, events
from fieldapp.sync.protocol import Push

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
PACK = load_pack("uplands-junior")
# The directory knows Ann's mobile as a new number; Ben's it does not know.
CONTACTS = {"staff-ann": ("Ann Patel", "07700 900111"), "staff-ben": ("Ben Okafor", "")}


def visit_until(visit_id: str, stop: type, seed: int) -> SimulatedVisit:
    visit = SimulatedVisit(PACK, T0, visit_id=visit_id, author=Author("staff-ann", "phone-a"),
                           seed=seed)
    for _label, minutes, command in let_in(visit):
        if isinstance(command, stop):
            break
        visit.do(command, after_minutes=minutes)
    return visit


def stored(engine: Engine, *visits: SimulatedVisit) -> EventStore:
    store = EventStore(engine)
    for visit in visits:
        store.ingest("uplands", "phone-a", Push(events=tuple(visit.events)))
    return store


def test_a_visit_with_no_word_from_the_phone_turns_overdue_at_the_hub(engine: Engine) -> None:
    inside = visit_until("visit-inside", c.RecordOutcome, seed=1)
    back = visit_until("visit-back", c.Debrief, seed=2)
    planned = visit_until("visit-planned", c.SignOut, seed=3)
    store = stored(engine, inside, back, planned)
    assert inside.state.sign_out is not None
    leave_by = datetime.fromisoformat(inside.state.sign_out.detail["expected_leave"])

    (row,) = board(store, "uplands", PACK, leave_by, CONTACTS)
    assert row.visit_id == "visit-inside" and row.phase is Phase.INSIDE
    assert row.address == "1 Example Street" and row.vehicles == ("AB12 CDE",)
    assert row.overdue is None and row.attention == ""

    late = leave_by + timedelta(minutes=PACK.overdue.grace_minutes)
    (row,) = board(store, "uplands", PACK, late, CONTACTS)  # the phone has said nothing since
    assert row.overdue is not None and row.overdue.what == "not_left"
    assert row.overdue.escalation[0].startswith("Phone the lead visitor's mobile")


def test_the_board_carries_what_the_escalation_steps_need(engine: Engine) -> None:
    """Step 1 is "phone the lead visitor's mobile, then the second's": reception needs both
    numbers (the directory's first, else the plan's), the vehicle, and when they last called."""
    visit = visit_until("visit-1", c.DoorAnswered, seed=4)
    visit.do(c.CheckIn("at the door now"), after_minutes=3)
    (row,) = board(stored(engine, visit), "uplands", PACK, visit.now, CONTACTS)
    assert row.staff == (Visitor("staff-ann", "Ann Patel", "07700 900111"),
                         Visitor("staff-ben", "Ben Okafor", "07700 900002"))
    assert row.vehicles == ("AB12 CDE",)
    assert row.last_check_in == row.last_heard == visit.now


def test_alerts_show_on_the_board_first_with_who_raised_them(engine: Engine) -> None:
    quiet = visit_until("visit-0", c.RecordOutcome, seed=5)
    visit = visit_until("visit-1", c.RecordOutcome, seed=6)
    visit.do(c.UseSafePhrase(), after_minutes=1)
    visit.do(c.EmergencyCall((52.586, -2.128)), after_minutes=1)  # where the phone last was
    store = stored(engine, quiet, visit)
    first, second = board(store, "uplands", PACK, visit.now, CONTACTS)
    assert (first.visit_id, second.visit_id) == ("visit-1", "visit-0")
    alert, emergency = first.alerts
    assert (alert.type, alert.at, alert.by.mobile, alert.position) == (
        "safe_phrase_used", visit.now - timedelta(minutes=1), "07700 900111", None)
    assert (emergency.type, emergency.position) == ("emergency_call", (52.586, -2.128))
    assert board(store, "hart-hill", PACK, visit.now, CONTACTS) == ()


def test_a_mobile_and_emergency_number_given_at_sign_out_are_what_reception_rings(
        engine: Engine) -> None:
    visit = visit_until("visit-1", c.SignOut, seed=11)
    visit.do(c.SignOut(visit.now + timedelta(hours=2), ("AB12 CDE",), safe_phrase_reminded=True,
                       checks=tuple(check.id for check in PACK.sign_out.checks),
                       emergency_number="0121 496 0000", mobile="07700 900555"))
    (row,) = board(stored(engine, visit), "uplands", PACK, visit.now, CONTACTS)
    assert row.staff[0].mobile == "07700 900555" and row.staff[1].mobile == "07700 900002"
    assert row.emergency_number == "0121 496 0000"


def test_a_duress_alert_from_a_phone_with_no_visit_out_is_on_the_board(engine: Engine) -> None:
    at = T0 + timedelta(hours=3)
    alert = Event(new_event_id(at, b"\x01" * 10), "device-phone-a", EventType.DURESS_ALERT, at,
                  Author("staff-ann", "phone-a"), {"silent": True})
    store = EventStore(engine)
    store.ingest("uplands", "phone-a", Push(events=(alert,)))
    (row,) = board(store, "uplands", PACK, at + timedelta(minutes=5), CONTACTS)
    assert row.phase is Phase.NEW and row.alerts[0].type == "duress_alert"
    assert row.staff == (Visitor("staff-ann", "Ann Patel", "07700 900111"),)
    (row,) = board(store, "uplands", PACK, at + timedelta(days=2), CONTACTS)  # until someone
    assert row.sounding == row.alerts                                         # has it in hand
    acknowledge(store, "device-phone-a", alert.id, at + timedelta(days=2))
    assert board(store, "uplands", PACK, at + timedelta(days=2), CONTACTS) == ()


def acknowledge(store: EventStore, visit_id: str, alert_id: str, at: datetime,
                by: str = "Rita Reception") -> None:
    """As the console does (fieldapp.hub.console)."""
    console = Author("staff-rita", "hub-console")
    state = fold(store.visit_events("uplands", visit_id))
    decision = decide(state, c.AcknowledgeAlert(alert_id, by, "reception"), PACK, at,
                      by=console)
    assert decision.accepted
    store.ingest("uplands", "hub-console", Push(events=stamp(
        state, decision, visit_id, console, at, lambda: b"\x02" * 10)))


def test_an_alert_acknowledged_stops_sounding_and_says_who_has_it(engine: Engine) -> None:
    quiet = visit_until("visit-0", c.RecordOutcome, seed=5)
    first_alert = visit_until("visit-1", c.RecordOutcome, seed=6)
    first_alert.do(c.UseSafePhrase(), after_minutes=1)
    second_alert = visit_until("visit-2", c.RecordOutcome, seed=7)
    second_alert.do(c.EmergencyCall(), after_minutes=2)
    store = stored(engine, quiet, first_alert, second_alert)
    now = second_alert.now
    rows = board(store, "uplands", PACK, now, CONTACTS)
    assert [r.visit_id for r in rows] == ["visit-1", "visit-2", "visit-0"]
    acknowledge(store, "visit-1", rows[0].alerts[0].id, now)
    rows = board(store, "uplands", PACK, now, CONTACTS)
    assert [r.visit_id for r in rows] == ["visit-2", "visit-1", "visit-0"], \
        "an alert nobody has in hand goes above one that someone has"
    (handled,) = rows[1].alerts
    assert rows[1].sounding == () and handled.acknowledged is not None
    assert (handled.acknowledged.by, handled.acknowledged.role, handled.acknowledged.at) == (
        "Rita Reception", "reception", now)
    with pytest.raises(c.CommandError, match="acknowledged already by Rita Reception"):
        acknowledge(store, "visit-1", handled.id, now, by="Dee DSL")
    with pytest.raises(c.CommandError, match="no alert 'nope' on this visit"):
        acknowledge(store, "visit-1", "nope", now)


def bad_row(engine: Engine, visit_id: str, body: dict[str, Any]) -> None:
    """A row kept from before the hub checked payloads."""
    at = T0 + timedelta(minutes=1)
    event = Event(new_event_id(at, b"\xee" * 10), visit_id, EventType.SIGNED_OUT, at,
                  Author("staff-ann", "phone-a"))
    with engine.begin() as connection:
        connection.execute(insert(events).values(
            id=event.id, school_id="uplands", visit_id=visit_id, type="signed_out",
            device_id="phone-a", body=json.dumps(event.to_dict() | body)))


@pytest.mark.parametrize("payload", [{}, {"expected_return": "soon"}, {"vehicles": 5},
                                     {"expected_return": "2026-11-23T12:00:00"}])
def test_a_visit_whose_events_cannot_be_read_needs_attention_and_the_rest_still_show(
        engine: Engine, payload: dict[str, Any]) -> None:
    good = visit_until("visit-good", c.RecordOutcome, seed=7)
    broken = visit_until("visit-broken", c.SignOut, seed=8)
    store = stored(engine, good, broken)
    bad_row(engine, "visit-broken", {"payload": payload})
    rows = board(store, "uplands", PACK, good.now, CONTACTS)
    assert [(r.visit_id, r.attention != "") for r in rows] == [("visit-broken", True),
                                                              ("visit-good", False)]
    assert "1 of this visit's events cannot be read" in rows[0].attention


class BuggyOnOneVisit:
    """The school's events, as the board reads them, but a bug reading visit-1."""

    def __init__(self, store: EventStore) -> None:
        self.store = store

    def visit_ids(self, school_id: str) -> tuple[str, ...]:
        return self.store.visit_ids(school_id)

    def history(self, school_id: str, visit_id: str) -> History:
        if visit_id == "visit-1":
            raise KeyError("expected_return")
        return self.store.history(school_id, visit_id)


def test_a_bug_on_one_visit_leaves_the_board_up(engine: Engine) -> None:
    store = stored(engine, visit_until("visit-1", c.RecordOutcome, seed=9),
                   visit_until("visit-2", c.RecordOutcome, seed=10))
    buggy = cast(EventStore, BuggyOnOneVisit(store))  # the board uses only these two
    first, second = board(buggy, "uplands", PACK, T0 + timedelta(hours=1), CONTACTS)
    assert (first.visit_id, first.phase, second.visit_id) == ("visit-1", None, "visit-2")
    assert "cannot be shown (KeyError)" in first.attention
