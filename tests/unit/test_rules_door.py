"""At the address: arriving, no answer, who opens the door, the doorstep checklist."""

from __future__ import annotations

from dataclasses import replace

import pytest

from fieldapp.domain import commands as c
from fieldapp.domain.findings import Kind
from fieldapp.domain.journeys import let_in, no_answer
from fieldapp.domain.lifecycle import Phase
from fieldapp.domain.policy import (
    ChecklistItem,
    Cite,
    Duration,
    NoteRule,
    Pack,
    Rule,
    Then,
)
from fieldapp.domain.rules import decide
from fieldapp.domain.timers import wait_findings
from tests.unit.support import PHONE, T0, walk

CITE = Cite("Test section", "the policy's words")


def with_arrival_check(pack: Pack) -> Pack:
    both = ChecklistItem(
        id="both_present", stage="arrival", ask="Are both of you here?",
        applies_if="separate_cars",
        answers={"yes": Rule((Then.CONTINUE,), "", None),
                 "no": Rule((Then.WAIT_FOR_ADULT,), "Wait for your colleague before knocking.",
                            CITE)},
    )
    return replace(pack, checklist=(both, *pack.checklist))


def two_cars(visit_pack: Pack) -> object:
    return c.SignOut(expected_return=T0.replace(hour=12), vehicles=("AB12 CDE", "XY34 ZZZ"),
                     told=visit_pack.sign_out.tell,
                     checks=("roles_clarified", "mobile_phone", "money"))


def test_separate_cars_mean_both_staff_present_before_knocking(uplands: Pack) -> None:
    pack = with_arrival_check(uplands)
    visit = walk(pack, until=c.SignOut)
    visit.do(two_cars(pack))  # type: ignore[arg-type]
    arrived = visit.do(c.Arrive())
    assert arrived.codes() == ("ask_both_present",)
    knock = visit.do(c.NoAnswer())
    assert knock.codes() == ("checklist_incomplete",)
    assert visit.do(c.DoorAnswered("parent")).codes() == ("checklist_incomplete",)
    visit.do(c.Answer("both_present", False))
    assert visit.do(c.ParentRunningLate()).codes() == ("before_knocking_both_present",)
    visit.do(c.Answer("both_present", True))
    assert visit.do(c.DoorAnswered("parent")).accepted


def test_the_arrival_check_does_not_apply_when_travelling_together(uplands: Pack) -> None:
    pack = with_arrival_check(uplands)
    visit = walk(pack, until=c.DoorAnswered)
    assert visit.do(c.DoorAnswered("parent")).accepted
    with pytest.raises(c.CommandError, match="does not apply"):
        visit.do(c.Answer("both_present", True))


def test_checklist_questions_belong_to_their_moment(uplands: Pack) -> None:
    pack = with_arrival_check(uplands)
    visit = walk(pack, until=c.SignOut)
    visit.do(two_cars(pack))  # type: ignore[arg-type]
    visit.do(c.Arrive())
    with pytest.raises(c.CommandError, match="once the door is answered"):
        visit.do(c.Answer("id_shown", True))
    visit.do(c.Answer("both_present", True))
    visit.do(c.DoorAnswered("parent"))
    with pytest.raises(c.CommandError, match="before knocking"):
        visit.do(c.Answer("both_present", True))
    with pytest.raises(c.CommandError, match="no checklist item 'wings'"):
        visit.do(c.Answer("wings", True))


def test_schools_that_check_in_are_told_to_phone_before_knocking(uplands: Pack) -> None:
    pack = replace(uplands, sign_out=replace(uplands.sign_out, check_in_calls=True))
    visit = walk(pack, until=c.CheckIn)
    assert visit.do(c.Arrive()).codes() == ("check_in_before_arriving",)


def test_no_answer_starts_the_wait_and_says_what_the_policy_wants(uplands: Pack) -> None:
    pack = replace(uplands, wait=replace(uplands.wait, no_answer_minutes=20, cite=CITE,
                                         call_via_school=CITE))
    visit = walk(pack, until=c.NoAnswer, journey=no_answer)
    decision = visit.do(c.NoAnswer())
    assert decision.codes() == ("wait_limit", "call_via_school", "leave_note")
    assert "at most 20 minutes" in decision.findings[0].say
    assert "own mobile" in decision.findings[1].say
    assert visit.state.phase is Phase.WAITING
    visit.wait(19)
    assert wait_findings(visit.state, pack, visit.now) == ()
    visit.do(c.NoAnswer(), after_minutes=0.5)  # knocking again keeps the clock
    visit.wait(0.5)
    assert [f.code for f in wait_findings(visit.state, pack, visit.now)] == [
        "wait_limit_reached"]


def test_a_parent_running_late_gets_the_late_wait_limit(uplands: Pack) -> None:
    pack = replace(uplands, wait=replace(uplands.wait, late_parent_minutes=10, cite=CITE))
    visit = walk(pack, until=c.NoAnswer, journey=no_answer)
    decision = visit.do(c.ParentRunningLate())
    assert decision.codes() == ("late_wait_limit",)
    assert "Do not go in until the parent arrives" in decision.findings[0].say
    visit.wait(10)
    assert [f.code for f in wait_findings(visit.state, pack, visit.now)] == [
        "wait_limit_reached"]
    assert visit.do(c.ParentRunningLate()).codes() == ("late_wait_limit",)


def test_a_school_without_a_late_limit_says_nothing_about_it(uplands: Pack) -> None:
    visit = walk(uplands, until=c.NoAnswer, journey=no_answer)
    assert visit.do(c.ParentRunningLate()).findings == ()


def test_the_not_at_home_note_carries_the_school_number(uplands: Pack) -> None:
    visit = walk(uplands, until=c.LeaveNote, journey=no_answer)
    visit.do(c.LeaveNote())
    assert visit.state.phase is Phase.NOT_AT_HOME
    assert visit.state.note_left is not None
    assert "contact school on 01902 558870" in visit.state.note_left.detail["text"]


def test_a_note_without_a_number_says_the_school(uplands: Pack) -> None:
    pack = replace(uplands, contacts=replace(uplands.contacts, school_phone=""))
    visit = walk(pack, until=c.LeaveNote, journey=no_answer)
    visit.do(c.LeaveNote())
    assert visit.state.note_left is not None
    assert "contact school on the school at" in visit.state.note_left.detail["text"]


def test_an_optional_note_is_offered_not_required(uplands: Pack) -> None:
    pack = replace(uplands, not_at_home=replace(uplands.not_at_home, note=NoteRule.OPTIONAL))
    visit = walk(pack, until=c.NoAnswer, journey=no_answer)
    decision = visit.do(c.NoAnswer())
    assert decision.findings[0].kind is Kind.INSTRUCTION
    assert "You may post a note" in decision.findings[0].say


def test_no_note_step_where_the_policy_has_no_note(uplands: Pack) -> None:
    pack = replace(uplands, not_at_home=replace(uplands.not_at_home, note=NoteRule.NONE))
    visit = walk(pack, until=c.NoAnswer, journey=no_answer)
    assert visit.do(c.NoAnswer()).findings == ()


def test_who_answered_must_be_one_of_the_known_kinds(uplands: Pack) -> None:
    visit = walk(uplands, until=c.DoorAnswered)
    with pytest.raises(c.CommandError, match="parent, delegated_adult"):
        visit.do(c.DoorAnswered("the dog"))


def test_unsupervised_child_invitation_means_do_not_enter(uplands: Pack) -> None:
    visit = walk(uplands, until=c.DoorAnswered)
    told = visit.do(c.DoorAnswered("unsupervised_child"))
    assert told.findings[0].code == "do_not_enter"
    assert told.findings[0].policy == "Uplands Junior School, During the Visit"
    for item in ("id_shown", "invited_in", "animals_out", "feel_safe"):
        visit.do(c.Answer(item, True))
    entering = visit.do(c.Enter())
    assert entering.codes() == ("do_not_enter",)
    assert "a child on their own" in entering.refusals[0].because
    assert "unsupervised by a responsible adult" in entering.refusals[0].quote
    assert visit.do(c.DoorstepOnly()).codes() == ("no_doorstep_visit",)
    assert visit.state.phase is Phase.AT_DOOR


def test_a_sibling_at_the_door_is_asked_only_for_the_parent(uplands: Pack) -> None:
    visit = walk(uplands, until=c.DoorAnswered)
    told = visit.do(c.DoorAnswered("sibling"))
    assert told.findings[0].code == "wait_for_adult"
    assert "Do not discuss the purpose" in told.findings[0].say
    assert visit.do(c.DoorAnswered("parent")).accepted  # the parent comes to the door
    assert visit.state.answered_by == "parent"


def test_a_delegated_adult_gets_the_permission_reminder(uplands: Pack) -> None:
    visit = walk(uplands, until=c.DoorAnswered)
    told = visit.do(c.DoorAnswered("delegated_adult"))
    assert told.findings[0].code == "continue"
    assert "given permission" in told.findings[0].say


def test_entering_needs_every_doorstep_check_answered(uplands: Pack) -> None:
    visit = walk(uplands, until=c.DoorAnswered)
    visit.do(c.DoorAnswered("parent"))
    visit.do(c.Answer("id_shown", True))
    decision = visit.do(c.Enter())
    assert decision.codes() == ("checklist_incomplete",) * 3
    assert decision.refusals[0].say == "Answer first: Have you been invited in by a " \
                                       "responsible adult?"


@pytest.mark.parametrize(("item", "entry", "doorstep"), [
    ("id_shown", "do_not_enter", "no_doorstep_visit"),
    ("invited_in", "do_not_enter", None),
    ("animals_out", "do_not_enter", None),
    ("feel_safe", "do_not_enter", "no_doorstep_visit"),
])
def test_each_doorstep_no_keeps_staff_out_as_the_policy_says(
    uplands: Pack, item: str, entry: str, doorstep: str | None
) -> None:
    visit = walk(uplands, until=c.DoorAnswered)
    visit.do(c.DoorAnswered("parent"))
    for other in ("id_shown", "invited_in", "animals_out", "feel_safe"):
        answered = visit.do(c.Answer(other, other != item))
        if other == item:
            assert answered.findings[0].kind is Kind.INSTRUCTION
            assert answered.findings[0].quote
    entering = visit.do(c.Enter())
    assert entering.codes() == (entry,)
    on_doorstep = visit.do(c.DoorstepOnly("animals in the room"))
    assert on_doorstep.codes() == (() if doorstep is None else (doorstep,))


def test_putting_a_no_right_lets_staff_in(uplands: Pack) -> None:
    visit = walk(uplands, until=c.DoorAnswered)
    visit.do(c.DoorAnswered("parent"))
    for item in ("id_shown", "invited_in", "feel_safe"):
        visit.do(c.Answer(item, True))
    visit.do(c.Answer("animals_out", False))
    assert not visit.do(c.Enter()).accepted
    visit.do(c.Answer("animals_out", True))  # the dog is shut in the kitchen
    entered = visit.do(c.Enter())
    assert entered.accepted
    assert [f.code for f in entered.findings] == ["reminder", "reminder", "reminder", "reminder"]
    assert visit.state.phase is Phase.INSIDE


def test_no_entry_without_an_appointment_where_the_policy_requires_one(uplands: Pack) -> None:
    pack = replace(uplands, notice=replace(uplands.notice, entry_requires_appointment=CITE))
    visit = walk(pack, until=c.DoorAnswered, journey=_unannounced)
    visit.do(c.DoorAnswered("parent"))
    for item in ("id_shown", "invited_in", "animals_out", "feel_safe"):
        visit.do(c.Answer(item, True))
    assert visit.do(c.Enter()).codes() == ("do_not_enter",)
    assert visit.do(c.DoorstepOnly("no appointment")).accepted


def _unannounced(visit):  # type: ignore[no-untyped-def]
    for label, minutes, command in let_in(visit):
        if isinstance(command, c.Plan):
            command = replace(command, announced=False, notice_exception="emergency_safeguarding")
        yield label, minutes, command


def test_the_doorstep_visit_reminds_staff_of_the_time(uplands: Pack) -> None:
    pack = replace(uplands, duration=Duration(15, 30, "", CITE))
    visit = walk(pack, until=c.Enter)
    decision = visit.do(c.DoorstepOnly("parent prefers the door"))
    assert decision.codes() == ("duration",)
    assert decision.findings[0].say == "This visit should take about 15 minutes, no more than 30."
    assert visit.state.phase is Phase.DOORSTEP


def test_a_policy_without_numbers_still_says_do_not_stay_too_long(uplands: Pack) -> None:
    pack = replace(uplands, duration=Duration(None, None, "", CITE))
    visit = walk(pack, until=c.Enter)
    assert visit.do(c.Enter()).codes()[-1] == "keep_it_short"
    only_max = replace(uplands, duration=Duration(None, 30, "", CITE))
    visit = walk(only_max, until=c.Enter)
    assert visit.do(c.Enter()).findings[-1].say == "This visit should take no more than 30."


def test_stepping_back_out_to_the_doorstep_is_allowed(uplands: Pack) -> None:
    visit = walk(uplands, until=c.RecordOutcome)
    assert visit.do(c.DoorstepOnly("someone in the house is unwell")).accepted
    assert visit.state.phase is Phase.DOORSTEP


def test_cancelling_needs_a_reason_and_tells_staff_to_leave(uplands: Pack) -> None:
    visit = walk(uplands, until=c.Enter)
    with pytest.raises(c.CommandError, match="a reason for cancelling is required"):
        visit.do(c.Cancel(" "))
    decision = visit.do(c.Cancel("dog not put away"))
    assert decision.codes() == ("leave",)
    assert visit.state.phase is Phase.CALLED_OFF


def test_a_cancelled_visits_reason_goes_in_writing_where_the_policy_says(uplands: Pack) -> None:
    pack = replace(uplands, cancel_reason_to="headteacher", cancel_cite=CITE)
    visit = walk(pack, until=c.Enter)
    decision = visit.do(c.Cancel("felt unsafe"))
    assert decision.codes() == ("reason_in_writing", "leave")
    assert "to the headteacher in writing" in decision.findings[0].say
    assert visit.state.cancelled is not None
    assert visit.state.cancelled.detail["reason_to"] == "headteacher"


def test_turning_back_on_the_way_is_a_cancellation_without_a_doorstep(uplands: Pack) -> None:
    visit = walk(uplands, until=c.Arrive)
    decision = visit.do(c.Cancel("parent phoned: child taken to hospital"))
    assert decision.codes() == ()
    assert visit.state.phase is Phase.CALLED_OFF


def test_check_in_calls_are_recorded(uplands: Pack) -> None:
    visit = walk(uplands, until=c.Arrive)
    visit.do(c.CheckIn("  nearly there "))
    assert visit.state.check_ins[0].detail["note"] == "nearly there"


def test_engine_refusals_change_nothing(uplands: Pack) -> None:
    visit = walk(uplands, until=c.DoorAnswered)
    visit.do(c.DoorAnswered("unsupervised_child"))
    before = visit.state
    decision = decide(visit.state, c.Enter(), uplands, visit.now, by=PHONE)
    assert not decision.accepted and decision.drafts == ()
    assert visit.state == before


def test_a_usual_length_without_a_maximum(uplands: Pack) -> None:
    pack = replace(uplands, duration=Duration(15, None, "", CITE))
    visit = walk(pack, until=c.Enter)
    assert visit.do(c.Enter()).findings[-1].say == "This visit should take about 15 minutes."


@pytest.mark.parametrize(("condition", "announced", "first_visit", "asked"), [
    ("unannounced", False, True, True), ("unannounced", True, True, False),
    ("announced", True, True, True), ("announced", False, True, False),
    ("first_visit", True, True, True), ("first_visit", True, False, False),
])
def test_conditional_doorstep_checks_apply_only_to_their_visits(
    uplands: Pack, condition: str, announced: bool, first_visit: bool, asked: bool
) -> None:
    item = replace(uplands.checklist[0], id="extra", applies_if=condition)
    pack = replace(uplands, checklist=(*uplands.checklist, item))

    def journey(visit):  # type: ignore[no-untyped-def]
        for label, minutes, command in let_in(visit):
            if isinstance(command, c.Plan):
                command = replace(command, announced=announced, first_visit=first_visit,
                                  notice_exception="" if announced else "emergency_safeguarding")
            yield label, minutes, command

    visit = walk(pack, until=c.DoorAnswered, journey=journey)
    told = visit.do(c.DoorAnswered("parent"))
    assert ("ask_extra" in told.codes()) is asked
