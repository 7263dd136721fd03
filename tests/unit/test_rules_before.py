"""Before leaving school: planning, risk assessment, authorisation and sign-out."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from fieldapp.domain import commands as c
from fieldapp.domain.before import assessment_refusals
from fieldapp.domain.events import Author
from fieldapp.domain.findings import Kind
from fieldapp.domain.journeys import PAIR
from fieldapp.domain.lifecycle import IllegalTransition, Phase
from fieldapp.domain.policy import Cite, Exception_, Hours, Pack, Question, RiskEffect
from fieldapp.domain.rules import decide
from fieldapp.domain.simulate import SimulatedVisit
from fieldapp.domain.state import Staff, fold
from tests.unit.support import PHONE, T0, walk

CITE = Cite("Test section", "the policy's words")


def plan(**changes: object) -> c.Plan:
    base = c.Plan(child_ref="UPN-1", child_name="Sam", address="1 Road", purpose="attendance",
                  scheduled_at=T0 + timedelta(hours=1), staff=PAIR, safe_phrase="blue umbrella")
    return replace(base, **changes)  # type: ignore[arg-type]


def test_a_planned_visit_records_what_reception_and_the_dsl_need(uplands: Pack) -> None:
    visit = SimulatedVisit(uplands, T0)
    decision = visit.do(plan())
    assert decision.accepted and decision.codes() == ("assess_risk",)
    assert visit.state.phase is Phase.PLANNED
    assert visit.state.plan["address"] == "1 Road"
    assert visit.state.plan["pack_id"] == "uplands-junior"
    assert [s.name for s in visit.state.staff] == ["Ann Patel", "Ben Okafor"]


@pytest.mark.parametrize("field", ["child_ref", "address", "purpose"])
def test_a_plan_without_essentials_is_an_error(uplands: Pack, field: str) -> None:
    with pytest.raises(c.CommandError, match="required"):
        decide(SimulatedVisit(uplands, T0).state, plan(**{field: "  "}), uplands, T0, by=PHONE)


@pytest.mark.parametrize("staff", [(), (PAIR[0], PAIR[0]), (Staff("", "Nobody"),)])
def test_the_visiting_staff_must_be_listed_each_once(uplands: Pack, staff: tuple[Staff]) -> None:
    with pytest.raises(c.CommandError, match="each once"):
        decide(SimulatedVisit(uplands, T0).state, plan(staff=staff), uplands, T0, by=PHONE)


def test_times_without_an_offset_are_errors(uplands: Pack) -> None:
    state = SimulatedVisit(uplands, T0).state
    with pytest.raises(c.CommandError, match="UTC offset"):
        decide(state, plan(scheduled_at=T0.replace(tzinfo=None)), uplands, T0, by=PHONE)
    with pytest.raises(c.CommandError, match="timezone-aware"):
        decide(state, plan(), uplands, T0.replace(tzinfo=None), by=PHONE)


def test_a_lone_visit_is_refused_where_pairs_are_required(uplands: Pack) -> None:
    decision = decide(SimulatedVisit(uplands, T0).state, plan(staff=PAIR[:1]), uplands, T0,
                      by=PHONE)
    assert decision.codes() == ("pair_required",)
    assert decision.drafts == ()
    assert "conducted in pairs" in decision.refusals[0].quote


def test_pairs_wherever_possible_allow_one_with_a_recorded_reason(uplands: Pack) -> None:
    pack = replace(uplands, pair=replace(uplands.pair, strict=False))
    state = SimulatedVisit(pack, T0).state
    assert decide(state, plan(staff=PAIR[:1]), pack, T0, by=PHONE).codes() == ("pair_required",)
    decision = decide(state, plan(staff=PAIR[:1], lone_reason="colleague off sick"), pack, T0,
                      by=PHONE)
    assert decision.accepted
    assert decision.findings[0].code == "fewer_staff"
    assert "colleague off sick" in decision.findings[0].say


def test_a_safeguarding_trained_visitor_is_required_where_the_policy_says(uplands: Pack) -> None:
    pack = replace(uplands, pair=replace(uplands.pair, safeguarding_trained=CITE))
    untrained = (Staff("a", "A"), Staff("b", "B"))
    state = SimulatedVisit(pack, T0).state
    assert decide(state, plan(staff=untrained), pack, T0, by=PHONE).codes() == (
        "safeguarding_trained_required",)
    assert decide(state, plan(), pack, T0, by=PHONE).accepted


def test_someone_who_knows_the_family_is_required_where_the_policy_says(uplands: Pack) -> None:
    pack = replace(uplands, pair=replace(uplands.pair, knows_family=CITE))
    strangers = (Staff("a", "A"), Staff("b", "B"))
    decision = decide(SimulatedVisit(pack, T0).state, plan(staff=strangers), pack, T0, by=PHONE)
    assert decision.codes() == ("knows_family_required",)


def test_an_unannounced_visit_must_be_one_of_the_policys_exceptions(uplands: Pack) -> None:
    state = SimulatedVisit(uplands, T0).state
    refused = decide(state, plan(announced=False), uplands, T0, by=PHONE)
    assert refused.codes() == ("notice_required",)
    assert "Emergency safeguarding visit" in refused.refusals[0].say
    accepted = decide(state, plan(announced=False, notice_exception="emergency_safeguarding"),
                      uplands, T0, by=PHONE)
    assert accepted.accepted


def test_a_school_without_exceptions_visits_only_by_appointment(uplands: Pack) -> None:
    pack = replace(uplands, notice=replace(uplands.notice, exceptions=(),
                                           entry_requires_appointment=CITE))
    decision = decide(SimulatedVisit(pack, T0).state, plan(announced=False), pack, T0, by=PHONE)
    assert decision.codes() == ("appointment_required",)
    assert decision.refusals[0].quote == CITE.quote


def test_evening_visits_are_refused_where_the_policy_says_never(uplands: Pack) -> None:
    state = SimulatedVisit(uplands, T0).state
    for hour in (18, 21, 6):
        evening = T0.replace(hour=hour)
        decision = decide(state, plan(scheduled_at=evening), uplands, T0, by=PHONE)
        assert decision.codes() == ("no_evening_visits",), hour
        assert "No home visits should take place during the evening" in decision.findings[0].quote


def test_evening_visits_needing_approval_add_a_sign_off(uplands: Pack) -> None:
    pack = replace(uplands, hours=replace(uplands.hours, evening=Hours.NEEDS_APPROVAL,
                                          approval_roles=("associate_head",)))
    visit = SimulatedVisit(pack, T0)
    decision = visit.do(plan(scheduled_at=T0.replace(hour=19)))
    assert "evening_needs_approval" in decision.codes()
    answers = {q.id: q.id != "concerns_about_visiting" for q in pack.risk.questions}
    steps = visit.do(c.AssessRisk(answers))
    assert [f.say for f in steps.findings][-1].endswith(
        "Approval for a visit outside working hours.")
    assert not visit.do(c.Authorise("evening_approval", "Head", "teacher")).accepted
    assert visit.do(c.Authorise("evening_approval", "Head", "associate_head")).accepted


def test_evening_visits_advised_against_are_warned_not_refused(uplands: Pack) -> None:
    pack = replace(uplands, hours=replace(uplands.hours, evening=Hours.ADVISED_AGAINST))
    decision = decide(SimulatedVisit(pack, T0).state, plan(scheduled_at=T0.replace(hour=19)),
                      pack, T0, by=PHONE)
    assert decision.accepted
    assert decision.findings[0].kind is Kind.WARNING


def test_a_school_with_no_evening_rule_says_nothing(uplands: Pack) -> None:
    pack = replace(uplands, hours=replace(uplands.hours, evening=Hours.NO_RULE, cite=None))
    decision = decide(SimulatedVisit(pack, T0).state, plan(scheduled_at=T0.replace(hour=19)),
                      pack, T0, by=PHONE)
    assert decision.codes() == ("assess_risk",)


def test_a_pair_must_agree_a_safe_word_where_the_policy_asks(uplands: Pack) -> None:
    decision = decide(SimulatedVisit(uplands, T0).state, plan(safe_phrase=""), uplands, T0,
                      by=PHONE)
    assert decision.codes() == ("safe_phrase_required",)


def test_a_school_phrase_is_used_when_the_pair_gives_none(uplands: Pack) -> None:
    pack = replace(uplands, safe_phrase=replace(uplands.safe_phrase, phrase="red folder"))
    visit = SimulatedVisit(pack, T0)
    visit.do(plan(safe_phrase=""))
    assert visit.state.plan["safe_phrase"] == "red folder"


# --- risk assessment -----------------------------------------------------------------------

def assessed_pack(uplands: Pack) -> Pack:
    questions = (
        Question("violence", "History of violence?", RiskEffect.MITIGATE, RiskEffect.OK, CITE),
        Question("cpoms", "CPOMS checked?", RiskEffect.OK, RiskEffect.REFUSE, CITE),
        Question("banned", "On the prohibited list?", RiskEffect.BLOCK, RiskEffect.OK, CITE),
    )
    return replace(uplands, risk=replace(uplands.risk, questions=questions,
                                         levels=("LOW", "MEDIUM", "HIGH"),
                                         first_visit_min="MEDIUM", mitigations_cite=CITE,
                                         levels_cite=CITE))


def good(**answers: bool) -> dict[str, bool]:
    return {"violence": False, "cpoms": True, "banned": False, **answers}


def test_every_risk_question_must_be_answered(uplands: Pack) -> None:
    pack = assessed_pack(uplands)
    visit = SimulatedVisit(pack, T0)
    visit.do(plan())
    with pytest.raises(c.CommandError, match="CPOMS checked"):
        visit.do(c.AssessRisk({"violence": False}, level="LOW"))
    with pytest.raises(c.CommandError, match="unknown risk questions: nonsense"):
        visit.do(c.AssessRisk({**good(), "nonsense": True}, level="LOW"))


def test_a_yes_to_a_risk_question_needs_mitigations(uplands: Pack) -> None:
    visit = SimulatedVisit(assessed_pack(uplands), T0)
    visit.do(plan())
    assert visit.do(c.AssessRisk(good(violence=True), level="HIGH")).codes() == (
        "mitigations_required",)
    assert visit.do(c.AssessRisk(good(violence=True), level="HIGH",
                                 mitigations="Meet at the door; police aware")).accepted
    assert visit.state.risk is not None and visit.state.risk["level"] == "HIGH"


def test_an_answer_that_must_be_put_right_refuses_the_assessment(uplands: Pack) -> None:
    visit = SimulatedVisit(assessed_pack(uplands), T0)
    visit.do(plan())
    decision = visit.do(c.AssessRisk(good(cpoms=False), level="LOW"))
    assert decision.codes() == ("risk_assessment_incomplete",)
    assert "'CPOMS checked?' answered no" in decision.refusals[0].because


def test_a_blocking_answer_means_the_visit_must_not_happen(uplands: Pack) -> None:
    visit = SimulatedVisit(assessed_pack(uplands), T0)
    visit.do(plan())
    decision = visit.do(c.AssessRisk(good(banned=True), level="LOW"))
    assert decision.codes() == ("visit_must_not_happen",) and not decision.accepted
    assert visit.state.risk is not None  # recorded as answered, for the DSL to see
    assert visit.state.risk["refused"] == ["visit_must_not_happen"]
    refused = visit.do(c.Authorise("safeguarding_lead", "Mrs W", "safeguarding_lead"))
    assert refused.codes() == ("visit_must_not_happen",) and refused.refusals[0].quote


@pytest.mark.parametrize("answers", [{"banned": True}, {"cpoms": False}])
def test_a_refused_reassessment_blocks_sign_out_until_a_new_one_is_signed_off(
        uplands: Pack, answers: dict[str, bool]) -> None:
    """The earlier, clean assessment does not stay in force: the address found on the
    prohibited list after sign-off stops the visit, whatever was authorised before."""
    pack = assessed_pack(uplands)
    visit = SimulatedVisit(pack, T0)
    visit.do(plan())
    assert visit.do(c.AssessRisk(good(), level="LOW")).accepted
    assert visit.do(c.Authorise("safeguarding_lead", "Mrs W", "safeguarding_lead")).accepted
    assert visit.state.phase is Phase.AUTHORISED
    assert not visit.do(c.AssessRisk(good(**answers), level="LOW")).accepted
    assert visit.state.phase is Phase.PLANNED and visit.state.authorisations == ()
    with pytest.raises(IllegalTransition):
        visit.do(c.SignOut(T0 + timedelta(hours=3), ("AB12 CDE",)))
    assert not visit.do(c.Authorise("safeguarding_lead", "Mrs W", "safeguarding_lead")).accepted
    assert visit.do(c.AssessRisk(good(), level="LOW")).accepted
    assert visit.do(c.Authorise("safeguarding_lead", "Mrs W", "safeguarding_lead")).accepted
    assert visit.state.phase is Phase.AUTHORISED


def test_a_sign_off_merged_after_a_refused_assessment_does_not_let_the_pair_leave(
        uplands: Pack) -> None:
    """The DSL signs off at the console before the hub has the phone's refused assessment:
    once the two merge, the refusal still stands in the way of sign-out."""
    pack = assessed_pack(uplands)
    visit = SimulatedVisit(pack, T0)
    visit.do(plan())
    visit.do(c.AssessRisk(good(), level="LOW"))
    visit.do(c.AssessRisk(good(banned=True), level="LOW"), after_minutes=1)
    sign_off = SimulatedVisit(pack, visit.now, events=list(visit.events[:2]),
                              state=fold(visit.events[:2]), seed=7,
                              author=Author("dsl", "console"))
    sign_off.do(c.Authorise("safeguarding_lead", "Mrs W", "safeguarding_lead"), 1)
    merged = fold(visit.events, sign_off.events)
    assert merged.phase is Phase.AUTHORISED and merged.risk and merged.risk["refused"]
    decision = decide(merged, c.SignOut(visit.now + timedelta(hours=3), ("AB12 CDE",),
                                        checks=tuple(k.id for k in pack.sign_out.checks)),
                      pack, visit.now + timedelta(minutes=5), by=PHONE)
    assert "visit_must_not_happen" in decision.codes() and not decision.accepted


def test_a_risk_level_must_be_one_of_the_packs_levels(uplands: Pack) -> None:
    visit = SimulatedVisit(assessed_pack(uplands), T0)
    visit.do(plan())
    with pytest.raises(c.CommandError, match="LOW, MEDIUM, HIGH"):
        visit.do(c.AssessRisk(good(), level="SEVERE"))


def test_a_first_visit_is_at_least_medium_risk(uplands: Pack) -> None:
    visit = SimulatedVisit(assessed_pack(uplands), T0)
    visit.do(plan(first_visit=True))
    assert visit.do(c.AssessRisk(good(), level="LOW")).codes() == ("first_visit_risk_level",)
    assert visit.do(c.AssessRisk(good(), level="MEDIUM")).accepted
    other = SimulatedVisit(assessed_pack(uplands), T0)
    other.do(plan(first_visit=False))
    assert other.do(c.AssessRisk(good(), level="LOW")).accepted


def test_a_new_risk_assessment_after_authorisation_needs_a_fresh_sign_off(uplands: Pack) -> None:
    visit = walk(uplands, until=c.SignOut)
    assert visit.state.phase is Phase.AUTHORISED
    answers = visit.state.risk["answers"] if visit.state.risk else {}
    decision = visit.do(c.AssessRisk(answers))
    assert decision.codes()[0] == "authorise_again"
    assert visit.state.phase is Phase.PLANNED and visit.state.authorisations == ()


# --- authorisation -------------------------------------------------------------------------

def test_authorisation_needs_a_risk_assessment_first(uplands: Pack) -> None:
    visit = SimulatedVisit(uplands, T0)
    visit.do(plan())
    decision = visit.do(c.Authorise("safeguarding_lead", "Mrs W", "safeguarding_lead"))
    assert decision.codes() == ("risk_assessment_first",)


def test_only_the_roles_the_policy_names_may_authorise(uplands: Pack) -> None:
    visit = walk(uplands, until=c.Authorise)
    decision = visit.do(c.Authorise("safeguarding_lead", "Mr T", "class_teacher"))
    assert decision.codes() == ("may_not_authorise",)
    assert "safeguarding_lead, safeguarding_team" in decision.refusals[0].say
    assert "MUST BE AUTHORISED" in decision.refusals[0].quote
    assert visit.do(c.Authorise("safeguarding_lead", "Mrs R", "safeguarding_team")).accepted
    assert visit.state.authorisations[0].by == "Mrs R"


def test_authorising_an_unknown_or_repeated_step_is_an_error(uplands: Pack) -> None:
    visit = walk(uplands, until=c.Authorise)
    with pytest.raises(c.CommandError, match="needs safeguarding_lead"):
        visit.do(c.Authorise("weekly_list", "Head", "headteacher"))
    with pytest.raises(c.CommandError, match="required"):
        visit.do(c.Authorise("safeguarding_lead", " ", "safeguarding_lead"))
    visit.do(c.Authorise("safeguarding_lead", "Mrs W", "safeguarding_lead"))
    with pytest.raises(c.CommandError, match="already signed off"):
        visit.do(c.Authorise("safeguarding_lead", "Mrs W", "safeguarding_lead"))


def test_two_step_authorisation_says_what_is_still_needed(uplands: Pack) -> None:
    second = replace(uplands.authorisation.steps[0], id="permission", label="Permission signed",
                     roles=("senior_manager",))
    pack = replace(uplands, authorisation=replace(
        uplands.authorisation, steps=(*uplands.authorisation.steps, second)))
    visit = walk(pack, until=c.Authorise)
    decision = visit.do(c.Authorise("permission", "Mr S", "senior_manager"))
    assert [f.say for f in decision.findings] == [
        f"Still needed: {uplands.authorisation.steps[0].label}."]


def test_unannounced_visits_follow_their_own_sign_off(uplands: Pack) -> None:
    informed = replace(uplands.authorisation.steps[0], id="head_informed",
                       label="Head told purpose, address and time back", roles=("visiting_lead",))
    pack = replace(uplands, authorisation=replace(uplands.authorisation,
                                                  unannounced_steps=(informed,)))
    visit = SimulatedVisit(pack, T0)
    visit.do(plan(announced=False, notice_exception="emergency_safeguarding"))
    answers = {q.id: q.id != "concerns_about_visiting" for q in pack.risk.questions}
    decision = visit.do(c.AssessRisk(answers))
    assert decision.findings[0].say == "Get this visit signed off: Head told purpose, address " \
                                       "and time back."


# --- sign-out ------------------------------------------------------------------------------

def sign_out(**changes: object) -> c.SignOut:
    base = c.SignOut(expected_return=T0 + timedelta(hours=3), vehicles=("AB12 CDE",),
                     told=("safeguarding_team",),
                     checks=("roles_clarified", "mobile_phone", "money"))
    return replace(base, **changes)  # type: ignore[arg-type]


def test_no_sign_out_before_authorisation(uplands: Pack) -> None:
    visit = walk(uplands, until=c.Authorise)
    with pytest.raises(IllegalTransition, match="'signed_out' while the visit is 'planned'"):
        visit.do(sign_out())


def test_sign_out_waits_for_every_sign_off(uplands: Pack) -> None:
    second = replace(uplands.authorisation.steps[0], id="permission", label="Permission signed",
                     roles=("senior_manager",))
    pack = replace(uplands, authorisation=replace(
        uplands.authorisation, steps=(*uplands.authorisation.steps, second)))
    visit = walk(pack, until=c.Authorise, skip=1)
    decision = visit.do(sign_out())
    assert decision.codes() == ("not_authorised",)
    assert decision.refusals[0].say == "Do not leave yet: Permission signed."


def test_sign_out_records_the_expected_return_and_vehicle(uplands: Pack) -> None:
    visit = walk(uplands, until=c.SignOut)
    visit.do(sign_out())
    assert visit.state.phase is Phase.SIGNED_OUT
    assert visit.state.sign_out is not None
    assert visit.state.sign_out.detail["vehicles"] == ["AB12 CDE"]
    assert visit.state.sign_out.detail["expected_return"] == (T0 + timedelta(hours=3)).isoformat()


def test_sign_out_times_must_make_sense(uplands: Pack) -> None:
    visit = walk(uplands, until=c.SignOut)
    with pytest.raises(c.CommandError, match="UTC offset"):
        visit.do(sign_out(expected_return=(T0 + timedelta(hours=3)).replace(tzinfo=None)))
    with pytest.raises(c.CommandError, match="in the future"):
        visit.do(sign_out(expected_return=T0))
    with pytest.raises(c.CommandError, match="before your return"):
        visit.do(sign_out(expected_leave=T0 + timedelta(hours=4)))
    assert visit.do(sign_out(expected_leave=T0 + timedelta(hours=2))).accepted


def test_sign_out_insists_on_everything_the_policy_asks(uplands: Pack) -> None:
    pack = replace(
        uplands,
        pair=replace(uplands.pair, same_car=CITE),
        sign_out=replace(uplands.sign_out, tell=("reception", "dsl"),
                         record=("vehicle",), remind_safe_phrase=True),
    )
    visit = walk(pack, until=c.SignOut)
    decision = visit.do(c.SignOut(expected_return=T0 + timedelta(hours=3),
                                  vehicles=("AB12 CDE", "XY34 ZZZ"), told=("reception",)))
    assert set(decision.codes()) == {"tell_before_leaving", "same_car", "check_roles_clarified",
                                     "check_mobile_phone", "check_money", "remind_safe_phrase"}
    assert "Tell dsl" in decision.refusals[0].say
    no_vehicle = visit.do(c.SignOut(expected_return=T0 + timedelta(hours=3),
                                    told=("reception", "dsl"), safe_phrase_reminded=True,
                                    checks=("roles_clarified", "mobile_phone", "money")))
    assert no_vehicle.codes() == ("vehicle_required",)


def test_the_office_gets_the_emergency_number_and_lead_mobile_where_the_policy_asks() -> None:
    """Hart Hill: the office must have "an emergency contact number" and the lead's mobile
    before the pair sets out; the lead's mobile may come with the plan."""
    from fieldapp.domain.policy import load_pack

    pack = load_pack("hart-hill-nursery")
    ready = {"expected_return": T0 + timedelta(hours=3), "vehicles": ("AB12 CDE",),
             "told": ("reception", "office"), "safe_phrase_reminded": True,
             "checks": tuple(check.id for check in pack.sign_out.checks)}
    visit = walk(pack, until=c.SignOut)  # the plan lists Ann first, with her mobile
    assert visit.do(c.SignOut(**ready)).codes() == ("emergency_number_required",)
    decision = visit.do(c.SignOut(**ready, emergency_number=" 0121 496 0000 "))
    assert decision.accepted
    assert visit.state.sign_out is not None and visit.state.sign_out.detail["mobile"] == ""
    assert visit.state.sign_out.detail["emergency_number"] == "0121 496 0000"

    no_mobile = walk_without_mobiles(pack)
    refused = no_mobile.do(c.SignOut(**ready, emergency_number="0121 496 0000"))
    assert refused.codes() == ("mobile_required",)
    assert no_mobile.do(c.SignOut(**ready, emergency_number="0121 496 0000",
                                  mobile="07700 900009")).accepted
    assert no_mobile.state.sign_out is not None
    assert no_mobile.state.sign_out.detail["mobile"] == "07700 900009"


def walk_without_mobiles(pack: Pack) -> SimulatedVisit:
    """The let-in journey up to sign-out, with a plan whose staff have no mobiles."""
    from fieldapp.domain.journeys import let_in

    visit = SimulatedVisit(pack, T0)
    for _label, minutes, command in let_in(visit):
        if isinstance(command, c.SignOut):
            return visit
        if isinstance(command, c.Plan):
            command = replace(command, staff=tuple(replace(m, mobile="") for m in PAIR))
        assert visit.do(command, after_minutes=minutes).accepted
    raise AssertionError("the journey never reached sign-out")


def test_no_setting_out_into_the_evening_where_evening_visits_are_never_allowed(
    uplands: Pack,
) -> None:
    visit = walk(uplands, until=c.SignOut)
    decision = visit.do(sign_out(expected_return=T0.replace(hour=19)))
    assert decision.codes() == ("no_evening_visits",)


def test_the_evening_is_the_schools_evening_whatever_offset_a_time_carries(
    uplands: Pack,
) -> None:
    """17:30 UTC in July is 18:30 in England: evening at Uplands, which never visits then; a
    phone whose clock is in UTC cannot slip past the cut-off. 17:30 in January is not."""
    from datetime import UTC, datetime

    summer = datetime(2027, 7, 6, 14, 0, tzinfo=UTC)
    visit = SimulatedVisit(uplands, summer)
    refused = visit.do(plan(scheduled_at=summer.replace(hour=17, minute=30)))
    assert refused.codes() == ("no_evening_visits",)
    visit = SimulatedVisit(uplands, summer.replace(month=1, day=12))
    assert visit.do(plan(scheduled_at=visit.now.replace(hour=17, minute=30))).accepted
    tokyo = replace(uplands, hours=replace(uplands.hours, zone=ZoneInfo("Asia/Tokyo")))
    assert not SimulatedVisit(tokyo, summer).do(plan(scheduled_at=summer)).accepted  # 23:00


def test_schools_that_phone_the_office_are_reminded_on_sign_out(uplands: Pack) -> None:
    pack = replace(uplands, sign_out=replace(uplands.sign_out, check_in_calls=True))
    visit = walk(pack, until=c.SignOut)
    decision = visit.do(sign_out())
    assert decision.codes() == ("check_in_before_arriving",)


def test_every_visit_phase_refuses_commands_that_do_not_fit(uplands: Pack) -> None:
    visit = walk(uplands, until=c.Arrive)
    with pytest.raises(IllegalTransition):
        visit.do(plan())
    with pytest.raises(IllegalTransition):
        visit.do(c.Enter())
    assert visit.state.phase is Phase.SIGNED_OUT


def test_a_notice_exception_label_is_shown_to_staff(uplands: Pack) -> None:
    extra = Exception_("cme", "Child missing education", CITE)
    pack = replace(uplands, notice=replace(uplands.notice, exceptions=(extra,)))
    decision = decide(SimulatedVisit(pack, T0).state, plan(announced=False), pack, T0, by=PHONE)
    assert "Child missing education" in decision.refusals[0].say


def test_a_school_without_risk_questions_authorises_straight_from_the_plan(
    uplands: Pack,
) -> None:
    pack = replace(uplands, risk=replace(uplands.risk, questions=()))
    visit = SimulatedVisit(pack, T0)
    assert visit.do(plan()).findings == ()
    decision = visit.do(c.Authorise("safeguarding_lead", "Mrs W", "safeguarding_lead"))
    assert decision.codes() == ("check_roles_clarified", "check_mobile_phone", "check_money")
    assert decision.findings[0].say == "Clarify each person's role before you go."


def test_arrival_and_departure_estimates_where_the_office_needs_them(uplands: Pack) -> None:
    pack = replace(uplands, sign_out=replace(
        uplands.sign_out, record=("arrival_estimate", "departure_estimate")))
    visit = walk(pack, until=c.SignOut)
    missing = visit.do(sign_out())
    assert missing.codes() == ("arrival_estimate_required", "departure_estimate_required")
    assert missing.refusals[0].say == "Give the office the time you expect to arrive at the home."
    with pytest.raises(c.CommandError, match="arrive must come before you leave"):
        visit.do(sign_out(expected_arrival=T0 + timedelta(hours=2),
                          expected_leave=T0 + timedelta(hours=1)))
    assert visit.do(sign_out(expected_arrival=T0 + timedelta(minutes=30),
                             expected_leave=T0 + timedelta(hours=1))).accepted
    assert visit.state.sign_out is not None
    assert visit.state.sign_out.detail["expected_arrival"] == (
        T0 + timedelta(minutes=30)).isoformat()


def test_either_of_two_people_may_be_told_where_the_policy_says_either(uplands: Pack) -> None:
    pack = replace(uplands, sign_out=replace(uplands.sign_out, tell=("dsl|slt", "reception")))
    visit = walk(pack, until=c.SignOut)
    refused = visit.do(sign_out(told=("reception",)))
    assert refused.refusals[0].say.startswith("Tell dsl or slt who you are visiting")
    assert visit.do(sign_out(told=("slt", "reception"))).accepted


def test_events_recorded_in_the_same_millisecond_still_sort_in_order(uplands: Pack) -> None:
    from fieldapp.domain.events import Author
    from fieldapp.domain.rules import stamp

    visit = walk(uplands, until=c.Leave)
    decision = decide(visit.state, c.Leave(), uplands, visit.now, by=PHONE)
    last = max(visit.state.event_ids)
    same = bytes(10)  # an entropy source that repeats itself
    events = stamp(visit.state, decision, "visit-1", Author("s", "d"), T0, lambda: same)
    assert events[0].id > last and events[0].at == T0


def test_a_refused_assessment_still_stands_after_the_pack_gains_a_question(
        uplands: Pack) -> None:
    """The school adds a risk question after the pair's refused assessment: the refusal and
    its reasons stand (the new question is for the next assessment)."""
    pack = assessed_pack(uplands)
    visit = SimulatedVisit(pack, T0)
    visit.do(plan())
    visit.do(c.AssessRisk(good(banned=True), level="LOW"))
    extra = Question("weapons", "Weapons in the home?", RiskEffect.BLOCK, RiskEffect.OK, CITE)
    grown = replace(pack, risk=replace(pack.risk, questions=(*pack.risk.questions, extra)))
    assert [f.code for f in assessment_refusals(visit.state, grown)] == ["visit_must_not_happen"]
    shrunk = replace(pack, risk=replace(pack.risk, questions=(extra,)))
    (left,) = assessment_refusals(visit.state, shrunk)  # its reasons gone from the pack
    assert left.code == "risk_assessment_refused" and "new risk assessment" in left.say
