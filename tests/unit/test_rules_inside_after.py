"""Inside the home and after the visit: upstairs, bedrooms, concerns, the safe phrase,
999, the outcome, leaving, getting back, debrief and follow-ups."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from fieldapp.domain import commands as c
from fieldapp.domain.after import AttendanceCheck, after_steps, attendance_findings
from fieldapp.domain.events import EventType
from fieldapp.domain.findings import Kind
from fieldapp.domain.journeys import child_at_door, no_answer
from fieldapp.domain.lifecycle import IllegalTransition, Phase
from fieldapp.domain.policy import Bedroom, Cite, FollowUpRule, NoteRule, Pack, Upstairs
from tests.unit.support import walk

CITE = Cite("Test section", "the policy's words")


def inside(pack: Pack):  # type: ignore[no-untyped-def]
    return walk(pack, until=c.RecordOutcome)


def test_upstairs_only_with_a_responsible_adult_and_only_if_safe_and_necessary(
    uplands: Pack,
) -> None:
    visit = inside(uplands)
    alone = visit.do(c.GoUpstairs(with_responsible_adult=False, both_staff=True,
                                  safe_and_necessary=False))
    assert alone.codes() == ("upstairs_needs_adult", "upstairs_only_if_needed")
    assert "ONLY if you deem it completely safe" in alone.refusals[0].quote
    one_of_us = visit.do(c.GoUpstairs(True, both_staff=False, safe_and_necessary=True))
    assert one_of_us.accepted  # Uplands asks for an adult, not for both staff
    assert visit.state.upstairs[0].detail["room"] == "upstairs"


def test_upstairs_as_a_pair_where_the_policy_says(uplands: Pack) -> None:
    pack = replace(uplands, inside=replace(uplands.inside,
                                           upstairs=Upstairs.PAIR_WITH_RESPONSIBLE_ADULT))
    visit = inside(pack)
    assert visit.do(c.GoUpstairs(True, False, True)).codes() == ("upstairs_in_pairs",)
    assert visit.do(c.GoUpstairs(True, True, True)).accepted


def test_no_upstairs_rule_means_no_refusal(uplands: Pack) -> None:
    pack = replace(uplands, inside=replace(uplands.inside, upstairs=Upstairs.NO_RULE))
    assert inside(pack).do(c.GoUpstairs(False, False, False)).accepted


def test_never_a_childs_bedroom(uplands: Pack) -> None:
    decision = inside(uplands).do(c.EnterBedroom(True, True, True))
    assert decision.codes() == ("never_childs_bedroom",)
    assert decision.refusals[0].quote == "Do not enter a child's bedroom."


def test_bedroom_doorway_in_pairs_with_the_adult_first_where_the_policy_says(
    uplands: Pack,
) -> None:
    pack = replace(uplands, inside=replace(uplands.inside, bedroom=Bedroom.DOORWAY_ADULT_FIRST))
    visit = inside(pack)
    assert visit.do(c.EnterBedroom(adult_goes_first=False, doorway_only=True,
                                   both_staff=True)).codes() == ("bedroom_doorway_only",)
    assert visit.do(c.EnterBedroom(True, True, True)).codes() == ("bedroom_doorway",)
    assert visit.state.upstairs[-1].detail["room"] == "bedroom_doorway"


def test_no_bedroom_rule_records_the_room(uplands: Pack) -> None:
    pack = replace(uplands, inside=replace(uplands.inside, bedroom=Bedroom.NO_RULE))
    visit = inside(pack)
    assert visit.do(c.EnterBedroom(False, False, False)).findings == ()
    assert visit.state.upstairs[-1].detail["room"] == "bedroom"


@pytest.mark.parametrize(("kind", "code", "words"), [
    ("child_alone", "contact_dsl", "safeguarding team straight away"),
    ("immediate_danger", "call_999", "call 999"),
    ("disclosure", "contact_dsl", "Designated Safeguarding Team"),
    ("staff_unsafe", "leave", "place of safety"),
    ("threatened", "leave", "call 999"),
    ("other", "continue", "on your return"),
])
def test_each_concern_says_what_to_do_now(uplands: Pack, kind: str, code: str,
                                          words: str) -> None:
    visit = inside(uplands)
    decision = visit.do(c.RaiseConcern(kind, "note"))
    assert decision.codes() == (code,)
    assert words in decision.findings[0].say
    assert visit.state.concerns[0].detail == {"kind": kind, "note": "note"}


def test_an_unknown_kind_of_concern_is_an_error(uplands: Pack) -> None:
    with pytest.raises(c.CommandError, match="child_alone"):
        inside(uplands).do(c.RaiseConcern("gossip"))


def test_the_safe_phrase_shows_the_phrase_and_reception_number(uplands: Pack) -> None:
    visit = walk(uplands, until=c.Arrive)
    decision = visit.do(c.UseSafePhrase())
    assert decision.findings[0].say == ('Calling reception on 01902 558870. '
                                        'Say: "blue umbrella"')
    assert "agree a code word" in decision.findings[0].quote
    assert visit.state.alerts[0].detail["type"] == "safe_phrase_used"
    assert visit.state.phase is Phase.SIGNED_OUT


def test_the_safe_phrase_works_without_a_phrase_or_number(uplands: Pack) -> None:
    pack = replace(uplands, contacts=replace(uplands.contacts, reception_phone=""),
                   safe_phrase=replace(uplands.safe_phrase, cite=None))
    visit = walk(pack, until=c.Arrive)
    visit.state = replace(visit.state, plan={**visit.state.plan, "safe_phrase": ""})
    decision = visit.do(c.UseSafePhrase())
    assert decision.findings[0].say == "Calling reception: say you need help."
    assert decision.findings[0].quote == ""


def test_999_is_one_tap_away_whenever_staff_are_out(uplands: Pack) -> None:
    visit = walk(uplands, until=c.Leave, journey=child_at_door, refusals=1)
    decision = visit.do(c.EmergencyCall())
    assert decision.findings[0].say == "Calling 999."
    assert visit.state.alerts[-1].detail == {"type": "emergency_call", "number": "999",
                                             "id": visit.events[-1].id}


def test_a_help_alert_carries_the_last_known_position_where_allowed(uplands: Pack) -> None:
    visit = walk(uplands, until=c.Arrive)
    visit.do(c.UseSafePhrase((52.586, -2.128)))
    visit.do(c.EmergencyCall((52, -2)))
    assert [a.detail.get("position") for a in visit.state.alerts] == [
        {"lat": 52.586, "lon": -2.128}, {"lat": 52.0, "lon": -2.0}]
    for wrong in ((91.0, 0.0), (0.0, -180.5), (float("nan"), 0.0), (True, 0.0)):
        with pytest.raises(c.CommandError, match=r"a latitude .* and a longitude"):
            visit.do(c.UseSafePhrase(wrong))  # type: ignore[arg-type]
    assert len(visit.state.alerts) == 2


def test_an_outcomes_actions_say_who_and_by_when(uplands: Pack) -> None:
    visit = inside(uplands)
    visit.do(c.RecordOutcome(True, "seen", actions=(
        c.Action("Phone mum", "Ann Patel", date(2026, 12, 4)), c.Action("Letter", "Office"))))
    assert visit.state.outcome is not None
    assert visit.state.outcome.detail["actions"] == [
        {"what": "Phone mum", "by_whom": "Ann Patel", "due": "2026-12-04"},
        {"what": "Letter", "by_whom": "Office"}]


def test_an_outcome_needs_a_visit_that_took_place(uplands: Pack) -> None:
    visit = walk(uplands, until=c.Leave, journey=no_answer)
    with pytest.raises(IllegalTransition, match="'outcome_recorded' while the visit is 'not_at"):
        visit.do(c.RecordOutcome(True, "seen"))
    visit.do(c.Leave())
    with pytest.raises(c.CommandError, match="the visit did not take place"):
        visit.do(c.RecordOutcome(True, "seen"))


def test_an_outcome_needs_a_summary(uplands: Pack) -> None:
    with pytest.raises(c.CommandError, match="what happened"):
        inside(uplands).do(c.RecordOutcome(True, " "))


def test_actions_need_an_owner_where_the_policy_says(uplands: Pack) -> None:
    pack = replace(uplands, outcome=replace(uplands.outcome, actions_need_owner=True))
    visit = inside(pack)
    decision = visit.do(c.RecordOutcome(True, "seen", actions=(c.Action("send letter"),)))
    assert decision.codes() == ("actions_need_owner",)
    assert "send letter" in decision.refusals[0].because
    assert visit.do(c.RecordOutcome(True, "seen",
                                    actions=(c.Action("send letter", "Ann"),))).accepted
    assert visit.state.outcome is not None
    assert visit.state.outcome.detail["actions"] == [{"what": "send letter", "by_whom": "Ann"}]


def test_leaving_is_never_refused_but_reminds_what_is_missing(uplands: Pack) -> None:
    visit = inside(uplands)
    decision = visit.do(c.Leave(returning_directly=False))
    assert decision.accepted
    assert decision.codes() == ("record_outcome", "phone_if_not_returning")
    assert visit.state.phase is Phase.LEFT
    # the outcome can still be written up after leaving
    assert visit.do(c.RecordOutcome(True, "written up in the car")).accepted


def test_leaving_without_the_required_note_is_warned(uplands: Pack) -> None:
    visit = walk(uplands, until=c.LeaveNote, journey=no_answer)
    decision = visit.do(c.Leave())
    assert decision.codes() == ("note_not_left",)
    assert [e.type for e in visit.events[-2:]] == [EventType.LEFT, EventType.FOLLOW_UP_CREATED]


def test_nobody_home_creates_the_follow_up(uplands: Pack) -> None:
    visit = walk(uplands, until=c.Return, journey=no_answer)
    assert list(visit.state.follow_ups) == ["visit-1/not_at_home"]
    assert visit.state.follow_ups["visit-1/not_at_home"].done_at is None


def test_a_called_off_visit_creates_its_follow_up(uplands: Pack) -> None:
    rule = FollowUpRule("rearrange", "cancelled", "Rearrange the visit.", None, None, CITE)
    pack = replace(uplands, follow_ups=(*uplands.follow_ups, rule))
    visit = walk(pack, until=c.Enter)
    visit.do(c.Cancel("parent asked to rearrange"))
    visit.do(c.Leave())
    assert "visit-1/rearrange" in visit.state.follow_ups
    before = walk(pack, until=c.SignOut)
    before.do(c.Cancel("child back in school"))
    assert before.state.phase is Phase.CANCELLED
    assert "visit-1/rearrange" in before.state.follow_ups


def test_office_check_in_after_leaving_where_the_policy_asks(uplands: Pack) -> None:
    pack = replace(uplands, sign_out=replace(uplands.sign_out, check_in_calls=True))
    visit = walk(pack, until=c.Leave)
    assert visit.do(c.Leave()).codes() == ("check_in_after_leaving",)


def test_back_at_school_lists_the_after_visit_steps(uplands: Pack) -> None:
    visit = walk(uplands, until=c.Return)
    decision = visit.do(c.Return())
    assert decision.codes() == ("hand_in_form", "confidentiality", "record_accident",
                                "accusation_of_abuse")
    assert "visit-1/actions" in visit.state.follow_ups


def test_phoning_in_instead_of_returning_adds_its_step(uplands: Pack) -> None:
    visit = walk(uplands, until=c.Return)
    decision = visit.do(c.Return(to_school=False))
    assert "phone_if_not_returning" in decision.codes()


def test_after_steps_follow_what_happened(uplands: Pack) -> None:
    visit = walk(uplands, until=c.Return, journey=child_at_door, refusals=1)
    codes = [f.code for f in after_steps(visit.state, uplands)]
    assert codes == ["hand_in_form", "discuss_concerns", "confidentiality", "record_accident",
                     "accusation_of_abuse"]
    pack = replace(uplands, after=tuple(
        replace(step, when=when) for step, when in zip(
            uplands.after, ("not_at_home", "cancelled", "entered", "always", "always", "always"),
            strict=True)))
    nobody = walk(pack, until=c.Return, journey=no_answer)
    assert [f.code for f in after_steps(nobody.state, pack)] == [
        "hand_in_form", "confidentiality", "record_accident", "accusation_of_abuse"]
    inside_visit = walk(pack, until=c.Return)
    assert [f.code for f in after_steps(inside_visit.state, pack)] == [
        "discuss_concerns", "confidentiality", "record_accident", "accusation_of_abuse"]


def test_a_visit_with_no_actions_creates_no_action_follow_up(uplands: Pack) -> None:
    visit = walk(uplands, until=c.RecordOutcome)
    visit.do(c.RecordOutcome(True, "all well"))
    visit.do(c.Leave())
    visit.do(c.Return())
    assert visit.state.follow_ups == {}


def test_debrief_lists_open_follow_ups(uplands: Pack) -> None:
    visit = walk(uplands, until=c.Debrief)
    with pytest.raises(c.CommandError, match="who the debrief was with"):
        visit.do(c.Debrief(" "))
    decision = visit.do(c.Debrief("DSL", "fine"))
    assert decision.codes() == ("open_follow_up",)
    assert visit.state.phase is Phase.DEBRIEFED


def test_follow_ups_can_be_added_and_completed_once(uplands: Pack) -> None:
    visit = walk(uplands)
    assert visit.do(c.CreateFollowUp("f-2", "letter", "Send reminder letter")).accepted
    with pytest.raises(c.CommandError, match="already exists"):
        visit.do(c.CreateFollowUp("f-2", "letter", "Again"))
    with pytest.raises(c.CommandError, match="required"):
        visit.do(c.CreateFollowUp("f-3", "letter", " "))
    assert visit.do(c.CompleteFollowUp("f-2")).accepted
    assert visit.state.follow_ups["f-2"].done_at == visit.now
    with pytest.raises(c.CommandError, match="already done"):
        visit.do(c.CompleteFollowUp("f-2"))
    with pytest.raises(c.CommandError, match="no such follow-up"):
        visit.do(c.CompleteFollowUp("f-9"))


def test_attendance_below_the_threshold_triggers_the_policys_follow_up(uplands: Pack) -> None:
    rule = FollowUpRule("authorities", "attendance_below", "Notify the authorities.", 70, 3, CITE)
    pack = replace(uplands, follow_ups=(*uplands.follow_ups, rule))
    found = attendance_findings(pack, AttendanceCheck(percent=65.5, months=3))
    assert [f.say for f in found] == ["Notify the authorities."]
    assert found[0].kind is Kind.STEP and found[0].because == "attendance 65.5% over 3 months"
    assert attendance_findings(pack, AttendanceCheck(percent=75, months=3)) == ()
    assert attendance_findings(pack, AttendanceCheck(percent=50, months=2)) == ()
    assert attendance_findings(uplands, AttendanceCheck(percent=10, months=12)) == ()


def test_an_optional_note_is_not_nagged_about_on_leaving(uplands: Pack) -> None:
    pack = replace(uplands, not_at_home=replace(uplands.not_at_home, note=NoteRule.OPTIONAL))
    visit = walk(pack, until=c.LeaveNote, journey=no_answer)
    assert visit.do(c.Leave()).codes() == ()


def test_a_broken_agreement_brings_the_policys_follow_ups(uplands: Pack) -> None:
    from fieldapp.domain.after import agreement_broken_findings

    rules = (FollowUpRule("letter", "agreement_broken", "Send a reminder letter.", None, None,
                          CITE),
             FollowUpRule("visit", "agreement_broken", "Arrange a follow-up visit.", None, None,
                          CITE))
    pack = replace(uplands, follow_ups=(*uplands.follow_ups, *rules))
    found = agreement_broken_findings(pack)
    assert [f.say for f in found] == ["Send a reminder letter.", "Arrange a follow-up visit."]
    assert found[0].because == "the agreement made on the visit was not kept"
    assert agreement_broken_findings(uplands) == ()


def test_a_visit_that_ran_past_the_most_allowed_is_recorded_for_the_dsl() -> None:
    """Hart Hill: "about 15 minutes, at most 30 unless agreed". The warnings while the visit
    runs are gone once it ends: leaving records how long it took and by how much it ran
    over, so the DSL sees it afterwards."""
    from fieldapp.domain.policy import load_pack

    pack = load_pack("hart-hill-nursery")
    late = walk(pack, until=c.Leave)
    late.wait(40 - 12)  # the journey records the outcome 12 minutes after going in
    decision = late.do(c.Leave())
    assert "visit_overran" in decision.codes()
    assert late.state.left is not None
    assert (late.state.left.detail["visit_minutes"], late.state.left.detail["overran_minutes"]) \
        == (40, 10)
    late_by_seconds = walk(pack, until=c.Leave)
    late_by_seconds.wait(30 - 12 + 0.25)  # 15 seconds over: one minute, rounded up
    late_by_seconds.do(c.Leave())
    assert late_by_seconds.state.left is not None
    assert late_by_seconds.state.left.detail["overran_minutes"] == 1
    on_time = walk(pack, until=c.Leave)
    assert "visit_overran" not in on_time.do(c.Leave()).codes()
    assert on_time.state.left is not None and on_time.state.left.detail["overran_minutes"] is None
    nobody = walk(pack, until=c.Leave, journey=no_answer)
    nobody.do(c.Leave())
    assert nobody.state.left is not None and nobody.state.left.detail["visit_minutes"] is None


def test_a_parent_leaving_the_room_is_recorded_and_where_staff_are_never_alone_they_are_told(
) -> None:
    """Holy Cross 6.3: "a parent will always be present": when the parent steps out, staff are
    told not to stay alone with the pupil; the return is recorded too."""
    from fieldapp.domain.policy import load_pack

    pack = load_pack("holy-cross-primary")
    visit = walk(pack, until=c.RecordOutcome)
    out = visit.do(c.AdultInRoom(present=False))
    assert out.codes() == ("never_alone_with_pupil",)
    assert out.findings[0].quote.startswith("Attendance officers will not be put in a situation")
    assert visit.state.adult_in_room is False
    with pytest.raises(c.CommandError, match="already recorded as out of the room"):
        visit.do(c.AdultInRoom(present=False))
    assert visit.do(c.AdultInRoom(present=True)).codes() == ()
    assert visit.state.adult_in_room is True


def test_where_the_policy_is_silent_the_parent_leaving_is_only_recorded(uplands: Pack) -> None:
    visit = walk(uplands, until=c.RecordOutcome)
    assert visit.do(c.AdultInRoom(present=False)).codes() == ()
    assert visit.state.adult_in_room is False
    with pytest.raises(IllegalTransition):  # only while staff are inside the home
        walk(uplands, until=c.Enter).do(c.AdultInRoom(present=False))
