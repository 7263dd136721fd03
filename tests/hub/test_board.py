"""Reception's board at the hub: who is out and which visits are overdue, by the hub's clock,
whatever the phones can send."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from fieldapp.domain import commands as c
from fieldapp.domain.events import Author
from fieldapp.domain.journeys import let_in
from fieldapp.domain.lifecycle import Phase
from fieldapp.domain.policy import load_pack
from fieldapp.domain.simulate import SimulatedVisit
from fieldapp.hub.board import board
from fieldapp.hub.events_store import EventStore
from fieldapp.sync.protocol import Push

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
PACK = load_pack("uplands-junior")


def visit_until(visit_id: str, stop: type, seed: int) -> SimulatedVisit:
    visit = SimulatedVisit(PACK, T0, visit_id=visit_id, author=Author("staff-ann", "phone-a"),
                           seed=seed)
    for _label, minutes, command in let_in(visit):
        if isinstance(command, stop):
            break
        visit.do(command, after_minutes=minutes)
    return visit


def test_a_visit_with_no_word_from_the_phone_turns_overdue_at_the_hub(engine: Engine) -> None:
    store = EventStore(engine)
    inside = visit_until("visit-inside", c.RecordOutcome, seed=1)
    back = visit_until("visit-back", c.Debrief, seed=2)
    planned = visit_until("visit-planned", c.SignOut, seed=3)
    for visit in (inside, back, planned):
        store.ingest("uplands", "phone-a", Push(events=tuple(visit.events)))
    assert inside.state.sign_out is not None
    leave_by = datetime.fromisoformat(inside.state.sign_out.detail["expected_leave"])

    (row,) = board(store, "uplands", PACK, leave_by)
    assert row.visit_id == "visit-inside" and row.phase is Phase.INSIDE
    assert row.address == "1 Example Street" and row.vehicles == ("AB12 CDE",)
    assert row.staff == ("Ann Patel", "Ben Okafor") and row.overdue is None

    late = leave_by + timedelta(minutes=PACK.overdue.grace_minutes)
    (row,) = board(store, "uplands", PACK, late)  # the phone has said nothing since
    assert row.overdue is not None and row.overdue.what == "not_left"
    assert row.overdue.escalation[0].startswith("Phone the lead visitor")


def test_alerts_show_on_the_board(engine: Engine) -> None:
    store = EventStore(engine)
    visit = visit_until("visit-1", c.RecordOutcome, seed=4)
    visit.do(c.UseSafePhrase())
    store.ingest("uplands", "phone-a", Push(events=tuple(visit.events)))
    (row,) = board(store, "uplands", PACK, visit.now)
    assert row.alerts == ("safe_phrase_used",)
    assert board(store, "hart-hill", PACK, visit.now) == ()
