"""The visit lifecycle table, read as the journeys staff make and the moves it forbids."""

from __future__ import annotations

import itertools

import pytest

from fieldapp.domain.events import EventType as E
from fieldapp.domain.lifecycle import (
    FINISHED,
    ON_SITE,
    OUT,
    TRANSITIONS,
    IllegalTransition,
    Phase,
    allowed,
    next_phase,
)

P = Phase

HELP = (E.SAFE_PHRASE_USED, E.EMERGENCY_CALL, E.CONCERN_RAISED, E.CHECKED_IN)
FOLLOW_UPS = frozenset({E.FOLLOW_UP_CREATED, E.FOLLOW_UP_DONE})
AT_THE_ADDRESS = (P.ARRIVED, P.WAITING, P.AT_DOOR, P.INSIDE, P.DOORSTEP, P.NOT_AT_HOME,
                  P.CALLED_OFF)


def walk(*events: E, start: Phase = P.NEW) -> list[Phase]:
    """The phase after each event, in turn."""
    phases, phase = [], start
    for event in events:
        phase = next_phase(phase, event)
        phases.append(phase)
    return phases


def reachable(start: Phase) -> set[Phase]:
    seen, todo = {start}, [start]
    while todo:
        phase = todo.pop()
        for event in allowed(phase):
            after = next_phase(phase, event)
            if after not in seen:
                seen.add(after)
                todo.append(after)
    return seen


# --- illegal moves ---------------------------------------------------------------------------


def test_arriving_before_signing_out_names_the_event_and_the_phase() -> None:
    with pytest.raises(IllegalTransition) as error:
        next_phase(P.AUTHORISED, E.ARRIVED)
    assert str(error.value) == "cannot record 'arrived' while the visit is 'authorised'"
    assert error.value.event is E.ARRIVED
    assert error.value.phase is P.AUTHORISED


def test_an_illegal_move_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="cannot record 'entered' while the visit is 'arrived'"):
        next_phase(P.ARRIVED, E.ENTERED)


ILLEGAL = [
    (phase, event)
    for phase, event in itertools.product(Phase, E)
    if (phase, event) not in TRANSITIONS
]


@pytest.mark.parametrize(("phase", "event"), ILLEGAL,
                         ids=[f"{event.value}-in-{phase.value}" for phase, event in ILLEGAL])
def test_every_move_not_in_the_table_is_refused(phase: Phase, event: E) -> None:
    with pytest.raises(IllegalTransition) as error:
        next_phase(phase, event)
    assert (error.value.event, error.value.phase) == (event, phase)
    assert f"'{event.value}'" in str(error.value)
    assert f"'{phase.value}'" in str(error.value)


def test_every_move_in_the_table_goes_where_the_table_says() -> None:
    for (phase, event), after in TRANSITIONS.items():
        assert next_phase(phase, event) is after


# A duress alert (raised on whatever a phone holds) and an alert's acknowledgement at school:
# in every phase.
ALERT = {E.DURESS_ALERT, E.ALERT_ACKNOWLEDGED}


# --- allowed ---------------------------------------------------------------------------------


def test_a_new_visit_can_only_be_planned_or_carry_a_duress_alert_and_its_acknowledgement(
        ) -> None:
    assert allowed(P.NEW) == {E.PLANNED} | ALERT


def test_a_duress_alert_and_its_acknowledgement_come_in_every_phase_and_move_nothing(
        ) -> None:
    for phase in P:
        assert next_phase(phase, E.DURESS_ALERT) is phase
        assert next_phase(phase, E.ALERT_ACKNOWLEDGED) is phase


def test_a_planned_visit_can_be_assessed_authorised_or_cancelled() -> None:
    assert allowed(P.PLANNED) == {E.RISK_ASSESSED, E.AUTHORISED, E.CANCELLED, *ALERT}


def test_allowed_lists_exactly_the_events_the_table_accepts() -> None:
    for phase in Phase:
        accepted = {event for event in E if (phase, event) in TRANSITIONS}
        assert allowed(phase) == accepted, phase


# Where each event may be recorded, written out from the rules rather than read from the table.
AWAY = {P.SIGNED_OUT, P.ARRIVED, P.WAITING, P.AT_DOOR, P.INSIDE, P.DOORSTEP, P.NOT_AT_HOME,
        P.CALLED_OFF, P.LEFT}
OVER = {P.LEFT, P.RETURNED, P.DEBRIEFED, P.CANCELLED}
WHERE: dict[E, set[Phase]] = {
    E.PLANNED: {P.NEW},
    E.RISK_ASSESSED: {P.PLANNED, P.AUTHORISED},
    E.AUTHORISED: {P.PLANNED, P.AUTHORISED},
    E.SIGNED_OUT: {P.AUTHORISED},
    E.CANCELLED: {P.PLANNED, P.AUTHORISED, P.SIGNED_OUT, P.ARRIVED, P.WAITING, P.AT_DOOR,
                  P.INSIDE, P.DOORSTEP},
    E.ARRIVED: {P.SIGNED_OUT},
    E.CHECKLIST_ANSWERED: {P.ARRIVED, P.AT_DOOR, P.INSIDE, P.DOORSTEP},
    E.NO_ANSWER: {P.ARRIVED, P.WAITING},
    E.WAIT_STARTED: {P.ARRIVED, P.WAITING},
    E.DOOR_ANSWERED: {P.ARRIVED, P.WAITING, P.AT_DOOR},
    E.NOT_AT_HOME_NOTE_LEFT: {P.WAITING},
    E.ENTERED: {P.AT_DOOR},
    E.DOORSTEP_ONLY: {P.AT_DOOR, P.INSIDE},
    E.UPSTAIRS: {P.INSIDE},
    E.ADULT_IN_ROOM: {P.INSIDE},
    E.OUTCOME_RECORDED: {P.INSIDE, P.DOORSTEP, P.LEFT, P.RETURNED},
    E.LEFT: set(AT_THE_ADDRESS),
    E.RETURNED: {P.LEFT},
    E.DEBRIEFED: {P.RETURNED},
    E.CHECKED_IN: AWAY,
    E.SAFE_PHRASE_USED: AWAY,
    E.EMERGENCY_CALL: AWAY,
    E.CONCERN_RAISED: AWAY | {P.RETURNED, P.DEBRIEFED},
    E.DURESS_ALERT: set(Phase),
    E.ALERT_ACKNOWLEDGED: set(Phase),
    E.FOLLOW_UP_CREATED: OVER,
    E.FOLLOW_UP_DONE: OVER,
}


def test_every_event_type_has_its_phases_written_out() -> None:
    assert set(WHERE) == set(E)


@pytest.mark.parametrize("event", list(WHERE), ids=[event.value for event in WHERE])
def test_each_event_is_allowed_in_exactly_the_phases_the_rules_give_it(event: E) -> None:
    assert {phase for phase in Phase if event in allowed(phase)} == WHERE[event]


def test_every_phase_allows_something_besides_an_alert() -> None:
    """No phase is a dead end: something of the visit's own can still be recorded."""
    assert {phase for phase in Phase if allowed(phase) - ALERT} == set(Phase)


# --- journeys, top to bottom -----------------------------------------------------------------


def test_a_visit_inside_the_home_goes_from_plan_to_debrief() -> None:
    assert walk(
        E.PLANNED, E.RISK_ASSESSED, E.AUTHORISED, E.SIGNED_OUT, E.ARRIVED, E.DOOR_ANSWERED,
        E.CHECKLIST_ANSWERED, E.ENTERED, E.UPSTAIRS, E.OUTCOME_RECORDED, E.LEFT, E.RETURNED,
        E.DEBRIEFED,
    ) == [
        P.PLANNED, P.PLANNED, P.AUTHORISED, P.SIGNED_OUT, P.ARRIVED, P.AT_DOOR, P.AT_DOOR,
        P.INSIDE, P.INSIDE, P.INSIDE, P.LEFT, P.RETURNED, P.DEBRIEFED,
    ]


def test_a_visit_held_on_the_doorstep() -> None:
    assert walk(E.DOOR_ANSWERED, E.CHECKLIST_ANSWERED, E.DOORSTEP_ONLY, E.CHECKLIST_ANSWERED,
                E.OUTCOME_RECORDED, E.LEFT, start=P.ARRIVED) == [
        P.AT_DOOR, P.AT_DOOR, P.DOORSTEP, P.DOORSTEP, P.DOORSTEP, P.LEFT,
    ]


def test_staff_inside_can_step_back_out_to_finish_on_the_doorstep() -> None:
    assert next_phase(P.INSIDE, E.DOORSTEP_ONLY) is P.DOORSTEP


def test_nobody_answers_staff_wait_leave_the_note_and_go() -> None:
    assert walk(E.NO_ANSWER, E.NO_ANSWER, E.NOT_AT_HOME_NOTE_LEFT, E.LEFT, E.RETURNED,
                start=P.ARRIVED) == [
        P.WAITING, P.WAITING, P.NOT_AT_HOME, P.LEFT, P.RETURNED,
    ]


def test_a_parent_running_late_turns_up_and_answers_the_door() -> None:
    assert walk(E.WAIT_STARTED, E.NO_ANSWER, E.DOOR_ANSWERED, start=P.ARRIVED) == [
        P.WAITING, P.WAITING, P.AT_DOOR,
    ]


def test_checklist_questions_can_be_answered_before_knocking() -> None:
    assert next_phase(P.ARRIVED, E.CHECKLIST_ANSWERED) is P.ARRIVED


def test_someone_else_coming_to_the_door_keeps_the_visit_at_the_door() -> None:
    assert next_phase(P.AT_DOOR, E.DOOR_ANSWERED) is P.AT_DOOR


def test_a_second_authorisation_keeps_the_visit_authorised() -> None:
    assert walk(E.AUTHORISED, E.AUTHORISED, start=P.PLANNED) == [P.AUTHORISED, P.AUTHORISED]


def test_a_new_risk_assessment_after_authorisation_needs_a_fresh_authorisation() -> None:
    assert next_phase(P.AUTHORISED, E.RISK_ASSESSED) is P.PLANNED
    with pytest.raises(IllegalTransition):
        next_phase(P.PLANNED, E.SIGNED_OUT)


def test_a_visit_cannot_be_signed_out_before_it_is_authorised() -> None:
    with pytest.raises(IllegalTransition, match="'signed_out' while the visit is 'planned'"):
        next_phase(P.PLANNED, E.SIGNED_OUT)


def test_a_visit_is_planned_only_once() -> None:
    with pytest.raises(IllegalTransition, match="'planned' while the visit is 'planned'"):
        next_phase(P.PLANNED, E.PLANNED)


def test_staff_cannot_go_in_before_the_door_is_answered() -> None:
    for phase in (P.ARRIVED, P.WAITING):
        with pytest.raises(IllegalTransition):
            next_phase(phase, E.ENTERED)


def test_going_upstairs_is_only_recorded_inside() -> None:
    assert {phase for phase in Phase if (phase, E.UPSTAIRS) in TRANSITIONS} == {P.INSIDE}


def test_an_outcome_is_recorded_only_once_the_visit_has_taken_place() -> None:
    phases = {phase for phase in Phase if (phase, E.OUTCOME_RECORDED) in TRANSITIONS}
    assert phases == {P.INSIDE, P.DOORSTEP, P.LEFT, P.RETURNED}


# --- cancelling ------------------------------------------------------------------------------


@pytest.mark.parametrize("phase", [P.PLANNED, P.AUTHORISED])
def test_cancelling_before_anyone_leaves_school_ends_the_visit(phase: Phase) -> None:
    assert next_phase(phase, E.CANCELLED) is P.CANCELLED


def test_a_visit_cancelled_before_leaving_only_takes_follow_ups() -> None:
    assert allowed(P.CANCELLED) == FOLLOW_UPS | ALERT
    assert reachable(P.CANCELLED) == {P.CANCELLED}


@pytest.mark.parametrize("phase", [P.SIGNED_OUT, P.ARRIVED, P.WAITING, P.AT_DOOR, P.INSIDE,
                                   P.DOORSTEP])
def test_calling_off_a_visit_once_out_still_leaves_staff_to_get_away(phase: Phase) -> None:
    assert next_phase(phase, E.CANCELLED) is P.CALLED_OFF
    assert next_phase(P.CALLED_OFF, E.LEFT) is P.LEFT


def test_a_called_off_visit_cannot_record_a_return_before_leaving() -> None:
    with pytest.raises(IllegalTransition, match="'returned' while the visit is 'called_off'"):
        next_phase(P.CALLED_OFF, E.RETURNED)


# --- leaving and help ------------------------------------------------------------------------


@pytest.mark.parametrize("phase", AT_THE_ADDRESS)
def test_leaving_is_possible_from_every_phase_at_the_address(phase: Phase) -> None:
    assert next_phase(phase, E.LEFT) is P.LEFT


def test_the_on_site_phases_are_those_at_the_address() -> None:
    assert set(ON_SITE) == set(AT_THE_ADDRESS)


@pytest.mark.parametrize("phase", [P.NEW, P.PLANNED, P.AUTHORISED, P.SIGNED_OUT, P.LEFT,
                                   P.RETURNED, P.DEBRIEFED, P.CANCELLED])
def test_leaving_is_not_recorded_away_from_the_address(phase: Phase) -> None:
    with pytest.raises(IllegalTransition):
        next_phase(phase, E.LEFT)


@pytest.mark.parametrize(("phase", "event"), list(itertools.product(OUT, HELP)),
                         ids=[f"{e.value}-in-{p.value}" for p, e in itertools.product(OUT, HELP)])
def test_staff_can_call_for_help_or_raise_a_concern_whenever_they_are_out(
    phase: Phase, event: E
) -> None:
    assert next_phase(phase, event) is phase


def test_out_means_from_signing_out_until_back() -> None:
    assert set(OUT) == {P.SIGNED_OUT, *AT_THE_ADDRESS, P.LEFT}


@pytest.mark.parametrize("phase", [P.NEW, P.PLANNED, P.AUTHORISED, P.RETURNED, P.DEBRIEFED,
                                   P.CANCELLED])
def test_safe_phrase_and_emergency_calls_are_only_for_staff_who_are_out(phase: Phase) -> None:
    for event in (E.SAFE_PHRASE_USED, E.EMERGENCY_CALL, E.CHECKED_IN):
        with pytest.raises(IllegalTransition):
            next_phase(phase, event)


def test_a_concern_can_still_be_raised_after_getting_back() -> None:
    assert next_phase(P.RETURNED, E.CONCERN_RAISED) is P.RETURNED
    assert next_phase(P.DEBRIEFED, E.CONCERN_RAISED) is P.DEBRIEFED


@pytest.mark.parametrize("phase", OUT)
def test_staff_who_are_out_can_always_get_back(phase: Phase) -> None:
    assert P.RETURNED in reachable(phase)


# --- after the visit -------------------------------------------------------------------------


def test_the_return_is_recorded_only_after_leaving() -> None:
    assert {phase for phase in Phase if (phase, E.RETURNED) in TRANSITIONS} == {P.LEFT}


def test_after_the_debrief_only_concerns_alerts_and_follow_ups_are_recorded() -> None:
    assert allowed(P.DEBRIEFED) == {E.CONCERN_RAISED} | ALERT | FOLLOW_UPS


@pytest.mark.parametrize("phase", FINISHED)
def test_follow_ups_are_created_and_done_once_the_visit_is_over(phase: Phase) -> None:
    assert next_phase(phase, E.FOLLOW_UP_CREATED) is phase
    assert next_phase(phase, E.FOLLOW_UP_DONE) is phase


@pytest.mark.parametrize("phase", [p for p in Phase if p not in FINISHED])
def test_follow_ups_wait_until_the_visit_is_over(phase: Phase) -> None:
    with pytest.raises(IllegalTransition):
        next_phase(phase, E.FOLLOW_UP_CREATED)


def test_every_phase_can_be_reached_from_a_new_visit() -> None:
    assert reachable(P.NEW) == set(Phase)
