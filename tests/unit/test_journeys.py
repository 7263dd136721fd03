"""DESIGN.md's journeys 1-3 for each of the five schools, walked through the engine,
asserting what staff are told at each step."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from fieldapp.domain import commands as c
from fieldapp.domain.findings import Decision, Kind
from fieldapp.domain.journeys import JOURNEYS, Journey, child_at_door, let_in, no_answer
from fieldapp.domain.lifecycle import Phase
from fieldapp.domain.policy import load_pack, pack_ids
from fieldapp.domain.simulate import SimulatedVisit
from fieldapp.domain.timers import wait_findings
from tests.unit.support import T0, walk

SCHOOLS = ("uplands-junior", "hart-hill-nursery", "holy-cross-primary", "kings-academy-gomer",
           "blue-coat-secondary")


def record(pack_id: str, journey: Journey) -> tuple[SimulatedVisit, dict[str, Decision]]:
    visit = SimulatedVisit(load_pack(pack_id), T0)
    told: dict[str, Decision] = {}
    for label, minutes, command in journey(visit):
        told[label] = visit.do(command, after_minutes=minutes)
    return visit, told


def said(decision: Decision) -> str:
    return " | ".join(f.say for f in decision.findings)


def test_the_five_schools_ship_as_packs() -> None:
    assert set(SCHOOLS) == set(pack_ids())


@pytest.mark.parametrize("pack_id", SCHOOLS)
@pytest.mark.parametrize("journey", sorted(JOURNEYS))
def test_every_journey_ends_debriefed_with_nothing_set_aside(pack_id: str, journey: str) -> None:
    visit, told = record(pack_id, JOURNEYS[journey])
    assert visit.state.phase is Phase.DEBRIEFED
    assert visit.state.set_aside == ()
    refused = [label for label, decision in told.items() if not decision.accepted]
    assert refused == (["Tried to go in"] if journey == "child-at-door" else [])
    for decision in told.values():
        for found in decision.findings:
            assert found.policy.startswith(load_pack(pack_id).school)


# --- journey 1: let in ---------------------------------------------------------------------

LET_IN = {
    "uplands-junior": {
        "Authorised: Home Visit Form signed by the Safeguarding Lead or a member of the "
        "Safeguarding Team": "",
        "Went in": "Designated Safeguarding Team. | Explain that you may need to take notes "
                   "during the meeting.",
        "Back at school": "Hand the completed Home Visit Form to the safeguarding team",
    },
    "hart-hill-nursery": {
        "Went in": "This visit should take about 15 minutes, no more than 30.",
        "Back at school": "Put the visit on CPOMS: time spent, purpose, outcomes, and any "
                          "further actions and who will do them.",
    },
    "holy-cross-primary": {
        "Authorised: Visit on this week's list, approved and signed by the headteacher":
            "Still needed: Home Visit Permission and risk assessment signed by the Senior "
            "Manager on duty.",
        "Signed out": "Phone the office before you arrive at the property.",
        "Went in": "Never be alone with the pupil: a parent must be there throughout.",
        "Left the home": "Phone the office to say you have left the property.",
        "Back at school": "Record any agreements with the parents in the pupil's attendance "
                          "record",
    },
    "kings-academy-gomer": {
        "Went in": "Watch for signs of neglect, abuse or welfare concerns.",
        "Back at school": "Write up the visit promptly on CPOMS",
    },
    "blue-coat-secondary": {
        "Went in": "Do not stay too long: keep to the point.",
        "Back at school": "Sign back in on the inventory. | Tell the DSL/SLT and reception you "
                          "are back at school.",
    },
}


@pytest.mark.parametrize("pack_id", SCHOOLS)
def test_journey_1_planned_visit_let_in_tells_staff_their_schools_steps(pack_id: str) -> None:
    visit, told = record(pack_id, let_in)
    for label, expected in LET_IN[pack_id].items():
        assert expected in said(told[label]), (label, said(told[label]))
    assert visit.state.entered is not None and visit.state.outcome is not None
    assert visit.state.outcome.detail["actions"][0]["by_whom"] == "Ann Patel"
    assert list(visit.state.follow_ups) == [
        f"visit-1/{r.id}" for r in visit.pack.follow_ups if r.when == "actions"]


def test_holy_cross_needs_both_the_weekly_list_and_the_senior_managers_signature() -> None:
    visit = walk(load_pack("holy-cross-primary"), until=c.Authorise, skip=2)
    refused = visit.do(c.SignOut(expected_return=T0 + timedelta(hours=3), vehicles=("AB1",),
                                 checks=("lone_alert_device", "mobile_phone",
                                         "appointment_confirmed", "vehicle_insured",
                                         "not_unwell")))
    assert refused.codes() == ("not_authorised",)
    assert "Senior Manager on duty" in refused.refusals[0].say
    assert "prior to leaving" in refused.refusals[0].quote


def test_blue_coat_reminds_reception_of_the_red_folder_phrase_before_leaving() -> None:
    pack = load_pack("blue-coat-secondary")
    visit = SimulatedVisit(pack, T0)
    for _label, minutes, command in let_in(visit):
        if isinstance(command, c.SignOut):
            refused = visit.do(replace(command, safe_phrase_reminded=False), minutes)
            assert refused.codes() == ("remind_safe_phrase",)
            assert '"have I left the red folder with you?"' in refused.refusals[0].say
            break
        visit.do(command, after_minutes=minutes)
    assert visit.state.phase is Phase.AUTHORISED  # not signed out: still at school


def test_blue_coat_safe_phrase_call_shows_the_phrase_to_say() -> None:
    out = SimulatedVisit(load_pack("blue-coat-secondary"), T0)
    for _label, minutes, command in let_in(out):
        if isinstance(command, c.Arrive):
            break
        out.do(command, after_minutes=minutes)
    decision = out.do(c.UseSafePhrase())
    assert 'Say: "have I left the red folder with you?"' in decision.findings[0].say
    assert out.state.alerts[0].detail["phrase"] == "have I left the red folder with you?"


# --- journey 2: no answer ------------------------------------------------------------------

@pytest.mark.parametrize(("pack_id", "at_knock", "follow_up"), [
    ("uplands-junior", "Leave the Not-at-Home note before you go.", "visit-1/not_at_home"),
    ("hart-hill-nursery", "Do not phone the family from your own mobile: phone the school, "
                          "and the school will call the parents. | You may post a note",
     "visit-1/not_at_home"),
    ("holy-cross-primary", "Wait at most 20 minutes, then cancel the visit.", None),
    ("kings-academy-gomer", "", None),
    ("blue-coat-secondary", "", None),
])
def test_journey_2_no_answer_follows_each_schools_wait_and_note(
    pack_id: str, at_knock: str, follow_up: str | None
) -> None:
    visit, told = record(pack_id, no_answer)
    assert said(told["Knocked: no answer"]).startswith(at_knock)
    assert visit.state.answered_by is None and visit.state.entered is None
    if follow_up is not None:
        assert follow_up in visit.state.follow_ups


def test_uplands_note_carries_the_school_number() -> None:
    visit, _ = record("uplands-junior", no_answer)
    assert visit.state.note_left is not None
    assert "01902 558870" in visit.state.note_left.detail["text"]


def test_holy_cross_wait_runs_out_at_20_minutes_and_no_written_reason_is_asked() -> None:
    visit = walk(load_pack("holy-cross-primary"), until=c.Cancel, journey=no_answer)
    visit.wait(19)
    assert wait_findings(visit.state, visit.pack, visit.now) == ()
    visit.wait(1)
    (over,) = wait_findings(visit.state, visit.pack, visit.now)
    assert over.say == "The wait is over: cancel the visit and leave."
    assert "wait no longer than 20 minutes" in over.quote
    cancelled = visit.do(c.Cancel("nobody came"))
    # 4.5 asks no written reason: only safety (4.9) and animals (4.10) cancellations go to the
    # headteacher in writing, and those rules' own say tells staff so.
    assert cancelled.accepted and cancelled.codes() == ("leave",)
    assert visit.state.cancelled is not None
    assert visit.state.cancelled.detail["reason_to"] == ""


def test_hart_hill_and_holy_cross_wait_for_a_late_parent_as_their_policies_say() -> None:
    for pack_id, minutes in (("hart-hill-nursery", 10), ("holy-cross-primary", 30)):
        visit = walk(load_pack(pack_id), until=c.NoAnswer, journey=no_answer)
        late = visit.do(c.ParentRunningLate())
        assert f"Wait at most {minutes} minutes" in said(late), pack_id
        visit.wait(minutes)
        assert [f.code for f in wait_findings(visit.state, visit.pack, visit.now)] == [
            "wait_limit_reached"]


# --- journey 3: doorstep refusals ----------------------------------------------------------

@pytest.mark.parametrize("pack_id", SCHOOLS)
def test_journey_3_a_child_alone_at_the_door_means_do_not_enter_and_tell_the_dsl(
    pack_id: str,
) -> None:
    visit, told = record(pack_id, child_at_door)
    door = told["Door answered by a child on their own"]
    assert door.findings[0].kind is Kind.INSTRUCTION
    assert door.findings[0].code == "do_not_enter"
    refusal = told["Tried to go in"].refusals[0]
    cite = visit.pack.door["unsupervised_child"].cite  # a school setting where the policy is silent
    assert refusal.code == "do_not_enter" and cite is not None
    assert (refusal.policy, refusal.quote) == (f"{visit.pack.school}, {cite.section}", cite.quote)
    assert refusal.quote or cite.is_school_setting
    concern = told["Raised a concern: child home alone"]
    assert concern.findings[0].code == "contact_dsl"
    assert visit.state.entered is None


@pytest.mark.parametrize(("pack_id", "item", "then"), [
    ("hart-hill-nursery", "animals_separate", "cancel"),
    ("holy-cross-primary", "animals_separate", "cancel"),
    ("uplands-junior", "animals_out", "do_not_enter"),
    ("blue-coat-secondary", "pets_out", "do_not_enter"),
])
def test_animals_not_put_away_cancel_or_keep_to_the_doorstep_as_each_policy_says(
    pack_id: str, item: str, then: str
) -> None:
    pack = load_pack(pack_id)
    visit = SimulatedVisit(pack, T0)
    for _label, minutes, command in let_in(visit):
        if isinstance(command, c.Answer) and command.item == item:
            command = c.Answer(item, False)
        if isinstance(command, c.Enter):
            break
        visit.do(command, after_minutes=minutes)
    assert visit.state.checklist[item] == "no"
    assert pack.item(item).answers["no"].then[0].value == then
    assert visit.do(c.Enter()).codes() == ("do_not_enter",)
    doorstep = visit.do(c.DoorstepOnly("animals in the room"))
    if then == "cancel":
        assert doorstep.codes() == ("no_doorstep_visit",)
        assert visit.do(c.Cancel("dog not put in another room")).accepted
        assert visit.state.phase is Phase.CALLED_OFF
    else:
        assert doorstep.accepted and visit.state.phase is Phase.DOORSTEP


@pytest.mark.parametrize(("pack_id", "first"), [
    ("uplands-junior", "leave"), ("hart-hill-nursery", "leave"),
    ("holy-cross-primary", "cancel"), ("kings-academy-gomer", "doorstep_only"),
    ("blue-coat-secondary", "leave"),
])
def test_staff_who_feel_unsafe_are_told_what_their_policy_says(pack_id: str, first: str) -> None:
    pack = load_pack(pack_id)
    visit = SimulatedVisit(pack, T0)
    for _label, minutes, command in let_in(visit):
        if isinstance(command, c.Answer) and command.item.startswith("feel_safe"):
            decision = visit.do(c.Answer(command.item, False), minutes)
            assert decision.findings[0].code == first
            assert decision.findings[0].quote
            break
        visit.do(command, after_minutes=minutes)
    else:
        pytest.fail("no feel-safe check")
    assert visit.do(c.Enter()).codes() == ("do_not_enter",)
    assert visit.do(c.Leave()).accepted  # leaving is never refused


def test_blue_coat_goes_upstairs_only_as_a_pair_and_stops_at_the_bedroom_door() -> None:
    visit = walk(load_pack("blue-coat-secondary"), until=c.RecordOutcome)
    assert visit.do(c.GoUpstairs(True, both_staff=False, safe_and_necessary=True)).codes() == (
        "upstairs_in_pairs",)
    assert visit.do(c.GoUpstairs(True, True, True)).accepted
    assert visit.do(c.EnterBedroom(adult_goes_first=True, doorway_only=True,
                                   both_staff=True)).codes() == ("bedroom_doorway",)


def test_uplands_never_enters_a_childs_bedroom() -> None:
    visit = walk(load_pack("uplands-junior"), until=c.RecordOutcome)
    refusal = visit.do(c.EnterBedroom(True, True, True)).refusals[0]
    assert str(refusal) == ("Do not enter a child's bedroom. — the policy never allows it — "
                            "Uplands Junior School, During the Visit")
