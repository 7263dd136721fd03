"""A visit's state as a fold over its events: what each fact records, and how two phones agree."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fieldapp.domain.events import Author, Event, EventError, new_event_id
from fieldapp.domain.events import EventType as E
from fieldapp.domain.lifecycle import IllegalTransition, Phase
from fieldapp.domain.state import (
    Authorisation,
    FollowUp,
    Mark,
    Staff,
    VisitState,
    apply,
    fold,
)

VISIT = "visit-1"
T0 = datetime(2024, 1, 15, 9, 0, tzinfo=UTC)
PHONE_A = Author("staff-1", "phone-a")
PHONE_B = Author("staff-2", "phone-b")

_entropy: Iterator[int] = itertools.count(1)

LEAD = {"staff_id": "s1", "name": "Ann Lead", "safeguarding_trained": True,
        "knows_family": False, "mobile": "07700 900001"}
SECOND = {"staff_id": "s2", "name": "Bo Second", "safeguarding_trained": False,
          "knows_family": True, "mobile": ""}


def at(minute: float) -> datetime:
    return T0 + timedelta(minutes=minute)


def make(
    kind: E,
    minute: float = 0,
    payload: dict[str, Any] | None = None,
    *,
    visit_id: str = VISIT,
    author: Author = PHONE_A,
) -> Event:
    """An event at T0 + `minute`, with an id no other event in these tests shares."""
    when = at(minute)
    return Event(id=new_event_id(when, next(_entropy).to_bytes(10, "big")), visit_id=visit_id,
                 type=kind, at=when, author=author, payload=payload or {})


def journey(*steps: E | tuple[E, dict[str, Any]], start: float = 0) -> list[Event]:
    """Events one minute apart, each a type or a (type, payload) pair."""
    events = []
    for minute, step in enumerate(steps, start=int(start)):
        kind, payload = step if isinstance(step, tuple) else (step, {})
        events.append(make(kind, minute, payload))
    return events


AUTHORISED = (E.PLANNED, E.RISK_ASSESSED, (E.AUTHORISED, {"step": "dsl", "by": "s9",
                                                          "role": "safeguarding_lead"}))
ARRIVED = (*AUTHORISED, E.SIGNED_OUT, E.ARRIVED)
AT_DOOR = (*ARRIVED, (E.DOOR_ANSWERED, {"by": "parent"}))
INSIDE = (*AT_DOOR, E.ENTERED)


def state_after(*steps: E | tuple[E, dict[str, Any]]) -> VisitState:
    return fold(journey(*steps))


# --- a new visit -----------------------------------------------------------------------------


def test_a_visit_with_no_events_is_new_and_empty() -> None:
    state = fold()
    assert state == VisitState()
    assert state.phase is Phase.NEW
    assert state.visit_started is None
    assert state.authorised_steps() == frozenset()


def test_the_first_event_names_the_visit() -> None:
    state = apply(VisitState(), make(E.PLANNED))
    assert state.visit_id == VISIT
    assert state.phase is Phase.PLANNED


# --- before leaving school -------------------------------------------------------------------


def test_planning_records_the_plan_and_the_staff() -> None:
    plan = {"child_ref": "C-17", "address": "1 High St", "announced": True,
            "staff": [LEAD, SECOND]}
    state = fold([make(E.PLANNED, payload=plan)])
    assert state.plan == plan
    assert state.staff == (
        Staff("s1", "Ann Lead", safeguarding_trained=True, mobile="07700 900001"),
        Staff("s2", "Bo Second", knows_family=True),
    )


def test_staff_entries_that_are_not_records_are_ignored() -> None:
    state = fold([make(E.PLANNED, payload={"staff": [LEAD, "Bo Second", 7, None, ["s2"]]})])
    assert [member.staff_id for member in state.staff] == ["s1"]


def test_a_plan_without_staff_has_no_staff() -> None:
    assert fold([make(E.PLANNED, payload={"child_ref": "C-17"})]).staff == ()


def test_a_plan_whose_staff_is_not_a_list_has_no_staff() -> None:
    assert fold([make(E.PLANNED, payload={"staff": None})]).staff == ()


def test_staff_survive_a_round_trip_through_a_plain_record() -> None:
    for record in (LEAD, SECOND):
        member = Staff.from_dict(record)
        assert member.to_dict() == record
        assert Staff.from_dict(member.to_dict()) == member


def test_staff_records_missing_fields_take_the_defaults() -> None:
    assert Staff.from_dict({}) == Staff(staff_id="", name="")
    assert Staff.from_dict({"staff_id": 42, "name": "Cy"}) == Staff("42", "Cy")


def test_a_risk_assessment_is_recorded() -> None:
    answers = {"answers": {"read_risk_assessment": True}, "level": "low"}
    state = state_after(E.PLANNED, (E.RISK_ASSESSED, answers))
    assert state.risk == answers
    assert state.phase is Phase.PLANNED


def test_authorisations_accumulate_with_who_gave_them_and_when() -> None:
    state = state_after(E.PLANNED, (E.AUTHORISED, {"step": "head", "by": "s8", "role": "head"}),
                        (E.AUTHORISED, {"step": "dsl", "by": "s9", "role": "dsl"}))
    assert state.authorisations == (
        Authorisation(step="head", by="s8", role="head", at=at(1)),
        Authorisation(step="dsl", by="s9", role="dsl", at=at(2)),
    )
    assert state.authorised_steps() == {"head", "dsl"}
    assert state.phase is Phase.AUTHORISED


def test_an_authorisation_missing_its_details_is_recorded_with_blanks() -> None:
    state = state_after(E.PLANNED, E.AUTHORISED)
    assert state.authorisations == (Authorisation(step="", by="", role="", at=at(1)),)


def test_a_new_risk_assessment_clears_the_authorisations() -> None:
    state = state_after(*AUTHORISED, (E.RISK_ASSESSED, {"level": "high"}))
    assert state.authorisations == ()
    assert state.authorised_steps() == frozenset()
    assert state.risk == {"level": "high"}
    assert state.phase is Phase.PLANNED


def test_signing_out_records_the_time_and_what_was_said() -> None:
    details = {"expected_return": "2024-01-15T11:00:00+00:00", "vehicles": ["AB12 CDE"]}
    state = state_after(*AUTHORISED, (E.SIGNED_OUT, details))
    assert state.sign_out == Mark(at=at(3), detail=details)
    assert state.phase is Phase.SIGNED_OUT


def test_check_in_calls_are_all_kept() -> None:
    state = state_after(*AUTHORISED, E.SIGNED_OUT, (E.CHECKED_IN, {"note": "on the way"}),
                        E.ARRIVED, (E.CHECKED_IN, {"note": "arrived"}))
    assert [mark.detail["note"] for mark in state.check_ins] == ["on the way", "arrived"]
    assert [mark.at for mark in state.check_ins] == [at(4), at(6)]


# --- at the door -----------------------------------------------------------------------------


def test_arriving_is_recorded() -> None:
    state = state_after(*ARRIVED)
    assert state.arrived == Mark(at=at(4))
    assert state.phase is Phase.ARRIVED


def test_knocking_again_does_not_restart_the_wait() -> None:
    state = state_after(*ARRIVED, E.NO_ANSWER, E.NO_ANSWER, E.NO_ANSWER)
    assert state.wait == Mark(at=at(5), detail={"reason": "no_answer"})
    assert state.phase is Phase.WAITING


def test_hearing_the_parent_is_late_keeps_the_wait_from_the_first_knock() -> None:
    """The late parent's longer limit applies, counted from the first knock: the wait never
    restarts, however no-answer and running-late alternate."""
    state = state_after(*ARRIVED, E.NO_ANSWER, E.NO_ANSWER, E.WAIT_STARTED)
    assert state.wait == Mark(at=at(5), detail={"reason": "running_late"})
    state = state_after(*ARRIVED, E.WAIT_STARTED, E.NO_ANSWER, E.WAIT_STARTED, E.NO_ANSWER)
    assert state.wait == Mark(at=at(5), detail={"reason": "running_late"})


def test_the_wait_keeps_what_was_said_with_it() -> None:
    state = state_after(*ARRIVED, (E.WAIT_STARTED, {"note": "ten minutes"}))
    assert state.wait is not None
    assert state.wait.detail == {"reason": "running_late", "note": "ten minutes"}


def test_a_payload_cannot_change_why_staff_are_waiting() -> None:
    state = state_after(*ARRIVED, (E.NO_ANSWER, {"reason": "running_late"}))
    assert state.wait is not None
    assert state.wait.detail["reason"] == "no_answer"


def test_leaving_the_not_at_home_note_is_recorded() -> None:
    state = state_after(*ARRIVED, E.NO_ANSWER, E.NOT_AT_HOME_NOTE_LEFT)
    assert state.note_left == Mark(at=at(6))
    assert state.phase is Phase.NOT_AT_HOME


def test_who_answered_the_door_is_recorded_and_a_later_answer_replaces_it() -> None:
    state = state_after(*ARRIVED, (E.DOOR_ANSWERED, {"by": "sibling"}))
    assert state.answered_by == "sibling"
    state = state_after(*ARRIVED, (E.DOOR_ANSWERED, {"by": "sibling"}),
                        (E.DOOR_ANSWERED, {"by": "parent"}))
    assert state.answered_by == "parent"
    assert state.phase is Phase.AT_DOOR


def test_a_door_answer_without_who_is_recorded_as_blank() -> None:
    assert state_after(*ARRIVED, E.DOOR_ANSWERED).answered_by == ""


def test_the_checklist_keeps_the_latest_answer_for_each_item() -> None:
    state = state_after(
        *AT_DOOR,
        (E.CHECKLIST_ANSWERED, {"item": "id_shown", "answer": "no"}),
        (E.CHECKLIST_ANSWERED, {"item": "invited_in", "answer": "yes"}),
        (E.CHECKLIST_ANSWERED, {"item": "id_shown", "answer": "yes"}),
    )
    assert state.checklist == {"id_shown": "yes", "invited_in": "yes"}


# --- the visit -------------------------------------------------------------------------------


def test_the_visit_starts_on_entering() -> None:
    state = state_after(*INSIDE)
    assert state.entered == Mark(at=at(len(INSIDE) - 1))
    assert state.visit_started == state.entered
    assert state.phase is Phase.INSIDE


def test_the_visit_starts_on_the_doorstep_when_held_there() -> None:
    state = state_after(*AT_DOOR, (E.DOORSTEP_ONLY, {"reason": "animals"}))
    assert state.doorstep == Mark(at=at(len(AT_DOOR)), detail={"reason": "animals"})
    assert state.visit_started == state.doorstep


def test_entering_then_stepping_out_keeps_the_start_from_entering() -> None:
    state = state_after(*INSIDE, E.DOORSTEP_ONLY)
    assert state.visit_started == Mark(at=at(len(INSIDE) - 1))


def test_the_visit_has_not_started_while_at_the_door() -> None:
    assert state_after(*AT_DOOR).visit_started is None


def test_each_trip_upstairs_and_each_concern_is_kept() -> None:
    state = state_after(*INSIDE, (E.UPSTAIRS, {"with": "parent"}),
                        (E.CONCERN_RAISED, {"kind": "disclosure"}), E.UPSTAIRS,
                        (E.CONCERN_RAISED, {"kind": "other"}))
    n = len(INSIDE)
    assert [mark.at for mark in state.upstairs] == [at(n), at(n + 2)]
    assert [mark.detail["kind"] for mark in state.concerns] == ["disclosure", "other"]


def test_alerts_record_whether_the_safe_phrase_or_an_emergency_call_was_used() -> None:
    state = state_after(*INSIDE, (E.SAFE_PHRASE_USED, {"phrase": "red folder"}),
                        (E.EMERGENCY_CALL, {"number": "999"}))
    n = len(INSIDE)
    ids = [str(alert.detail["id"]) for alert in state.alerts]  # what acknowledges each
    assert len(set(ids)) == 2
    assert state.alerts == (
        Mark(at=at(n), detail={"type": "safe_phrase_used", "phrase": "red folder",
                               "id": ids[0]}),
        Mark(at=at(n + 1), detail={"type": "emergency_call", "number": "999", "id": ids[1]}),
    )


def test_an_alert_is_acknowledged_once_by_the_first_at_school_who_has_it_in_hand() -> None:
    events = journey(*INSIDE, (E.SAFE_PHRASE_USED, {"phrase": "red folder"}), E.EMERGENCY_CALL)
    phrase, emergency = events[-2].id, events[-1].id
    console = Author("s9", "hub-console")
    first = make(E.ALERT_ACKNOWLEDGED, 30, {"alert": phrase, "by": "Rita", "role": "reception"},
                 author=console)
    second = make(E.ALERT_ACKNOWLEDGED, 31, {"alert": phrase, "by": "Dee", "role": "dsl"},
                  author=console)
    unknown = make(E.ALERT_ACKNOWLEDGED, 32, {"alert": "nope", "by": "Dee", "role": "dsl"},
                   author=console)
    state = fold([*events, first, second, unknown])
    assert state.alerts[0].detail["acknowledged"] == {
        "by": "Rita", "role": "reception", "staff_id": "s9", "at": at(30).isoformat()}
    assert "acknowledged" not in state.alerts[1].detail and state.alerts[1].detail["id"] == \
        emergency
    assert state.phase is Phase.INSIDE


def test_a_payload_cannot_disguise_what_kind_of_alert_was_raised() -> None:
    state = state_after(*INSIDE, (E.EMERGENCY_CALL, {"type": "check_in", "id": "x"}))
    assert state.alerts[0].detail["type"] == "emergency_call"
    assert state.alerts[0].detail["id"] != "x", "nor which alert an acknowledgement names"


def test_the_outcome_is_recorded() -> None:
    outcome = {"child_seen": True, "summary": "Agreed a plan"}
    state = state_after(*INSIDE, (E.OUTCOME_RECORDED, outcome))
    assert state.outcome == Mark(at(len(INSIDE)), outcome)


def test_cancelling_records_why() -> None:
    state = state_after(E.PLANNED, (E.CANCELLED, {"reason": "child back in school"}))
    assert state.cancelled == Mark(at=at(1), detail={"reason": "child back in school"})
    assert state.phase is Phase.CANCELLED


def test_leaving_returning_and_the_debrief_are_recorded() -> None:
    state = state_after(*INSIDE, (E.LEFT, {"returning_directly": True}), E.RETURNED,
                        (E.DEBRIEFED, {"with_whom": "dsl"}))
    n = len(INSIDE)
    assert state.left == Mark(at=at(n), detail={"returning_directly": True})
    assert state.returned == Mark(at=at(n + 1))
    assert state.debriefed == Mark(at=at(n + 2), detail={"with_whom": "dsl"})
    assert state.phase is Phase.DEBRIEFED


# --- follow-ups ------------------------------------------------------------------------------

RETURNED = (*INSIDE, E.LEFT, E.RETURNED)
CALL_PARENT = {"follow_up_id": "f1", "kind": "actions", "text": "Phone the parent on Friday"}


def test_a_follow_up_is_created_open() -> None:
    state = state_after(*RETURNED, (E.FOLLOW_UP_CREATED, CALL_PARENT))
    assert state.follow_ups == {"f1": FollowUp("f1", "actions", "Phone the parent on Friday",
                                               created_at=at(len(RETURNED)))}


def test_a_follow_up_without_its_own_id_takes_the_event_id() -> None:
    events = journey(*RETURNED, (E.FOLLOW_UP_CREATED, {"kind": "not_at_home", "text": "Ring"}))
    state = fold(events)
    assert list(state.follow_ups) == [events[-1].id]


def test_a_follow_up_is_done_when_marked_done() -> None:
    state = state_after(*RETURNED, (E.FOLLOW_UP_CREATED, CALL_PARENT),
                        (E.FOLLOW_UP_DONE, {"follow_up_id": "f1"}))
    assert state.follow_ups["f1"].done_at == at(len(RETURNED) + 1)


def test_marking_an_unknown_follow_up_done_changes_nothing() -> None:
    before = state_after(*RETURNED, (E.FOLLOW_UP_CREATED, CALL_PARENT))
    after = apply(before, make(E.FOLLOW_UP_DONE, 20, {"follow_up_id": "f2"}))
    assert after.follow_ups == before.follow_ups
    after = apply(after, make(E.FOLLOW_UP_DONE, 21))
    assert after.follow_ups == before.follow_ups


def test_marking_a_follow_up_done_twice_keeps_the_first_time() -> None:
    state = state_after(*RETURNED, (E.FOLLOW_UP_CREATED, CALL_PARENT),
                        (E.FOLLOW_UP_DONE, {"follow_up_id": "f1"}),
                        (E.FOLLOW_UP_DONE, {"follow_up_id": "f1"}))
    assert state.follow_ups["f1"].done_at == at(len(RETURNED) + 1)


# --- apply -----------------------------------------------------------------------------------


def test_an_event_from_another_visit_is_refused() -> None:
    state = state_after(E.PLANNED)
    stranger = make(E.RISK_ASSESSED, 1, visit_id="visit-2")
    with pytest.raises(EventError, match=f"event {stranger.id} belongs to another visit"):
        apply(state, stranger)


def test_applying_the_same_event_twice_changes_nothing() -> None:
    events = journey(*AT_DOOR)
    state = fold(events)
    assert apply(state, events[-1]) is state
    assert apply(state, events[0]) is state


def test_apply_refuses_a_move_the_lifecycle_forbids() -> None:
    with pytest.raises(IllegalTransition, match="'entered' while the visit is 'arrived'"):
        apply(state_after(*ARRIVED), make(E.ENTERED, 10))


def test_apply_remembers_every_event_it_applied() -> None:
    events = journey(*ARRIVED)
    assert fold(events).event_ids == {event.id for event in events}


# --- fold ------------------------------------------------------------------------------------


def test_fold_orders_events_by_id_whatever_order_they_arrive_in() -> None:
    events = journey(*INSIDE, E.LEFT)
    assert fold(list(reversed(events))) == fold(events)
    assert fold(events[::2], events[1::2]) == fold(events)


def test_a_resent_event_folds_once() -> None:
    events = journey(*INSIDE, (E.CONCERN_RAISED, {"kind": "other"}))
    state = fold(events, events[-2:])
    assert state == fold(events)
    assert len(state.concerns) == 1


def two_phones_both_leave() -> tuple[list[Event], list[Event], Event, Event]:
    shared = journey(*INSIDE)
    left_a = make(E.LEFT, 10, {"returning_directly": True}, author=PHONE_A)
    left_b = make(E.LEFT, 10.5, {"returning_directly": False}, author=PHONE_B)
    return [*shared, left_a], [*shared, left_b], left_a, left_b


def test_when_both_phones_record_leaving_the_second_is_set_aside_with_a_reason() -> None:
    phone_a, phone_b, left_a, left_b = two_phones_both_leave()
    state = fold(phone_a, phone_b)
    assert state.phase is Phase.LEFT
    assert state.left == Mark(at=left_a.at, detail={"returning_directly": True})
    assert state.set_aside == ((left_b.id, "cannot record 'left' while the visit is 'left'"),)
    assert left_b.id in state.event_ids


def test_both_phones_fold_their_lists_to_the_same_state_in_either_order() -> None:
    phone_a, phone_b, _, _ = two_phones_both_leave()
    assert fold(phone_a, phone_b) == fold(phone_b, phone_a)


def test_a_visit_carries_on_after_an_event_is_set_aside() -> None:
    phone_a, phone_b, _, _ = two_phones_both_leave()
    state = fold(phone_a, phone_b, [make(E.RETURNED, 20)])
    assert state.phase is Phase.RETURNED
    assert len(state.set_aside) == 1


def test_folding_events_of_two_visits_is_refused() -> None:
    with pytest.raises(EventError, match="belongs to another visit"):
        fold([make(E.PLANNED, 0), make(E.RISK_ASSESSED, 1, visit_id="visit-2")])


def test_an_id_the_same_on_both_phones_with_different_content_is_refused() -> None:
    planned = make(E.PLANNED, payload={"child_ref": "C-17"})
    clash = Event(id=planned.id, visit_id=VISIT, type=E.PLANNED, at=planned.at,
                  author=PHONE_B, payload={"child_ref": "C-18"})
    with pytest.raises(EventError, match="two different events share this id"):
        fold([planned], [clash])


def test_staff_flags_are_true_only_when_the_payload_says_true() -> None:
    from fieldapp.domain.state import Staff

    staff = Staff.from_dict({"staff_id": "s", "name": "S", "safeguarding_trained": "false",
                             "knows_family": 1})
    assert staff.safeguarding_trained is False and staff.knows_family is False
