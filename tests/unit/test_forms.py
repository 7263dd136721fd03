"""From what staff typed to the command an action sends: every field kind, every mistake named
by its field; and where the safe-phrase call goes."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from fieldapp.domain import commands as c
from fieldapp.domain.findings import Kind
from fieldapp.domain.forms import (
    ActionRow,
    FormError,
    call_addresses,
    command_for,
    parse_day,
    parse_time,
    parse_when,
    reception_refusal,
    with_contacts,
    with_reception,
)
from fieldapp.domain.guide import Action, Choice, Field, Stage, what_now
from fieldapp.domain.policy import load_pack
from tests.unit.test_guide import PACKS, to_stage

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 12, 1, 9, 30, tzinfo=LONDON)
MORNING = to_stage(PACKS["uplands-junior"], Stage.SIGN_OUT).now  # when the sign-out is offered
UPLANDS = load_pack("uplands-junior")


def sign_out_action(pack_id: str = "uplands-junior") -> Action:
    visit = to_stage(PACKS[pack_id], Stage.SIGN_OUT)
    action = what_now(visit.state, visit.pack, visit.now, by=visit.author).action("sign_out")
    assert action is not None
    return action


@pytest.mark.parametrize(("typed", "expected"), [
    ("11:40", time(11, 40)), ("1140", time(11, 40)), ("9.05", time(9, 5)),
    (" 23:59 ", time(23, 59)), ("0:00", time(0, 0)),
])
def test_times_are_the_schools_clock_today(typed: str, expected: time) -> None:
    at = parse_time(typed, NOW, LONDON)
    assert at.timetz().replace(tzinfo=None) == expected and at.tzinfo is LONDON


def test_a_time_long_past_is_tomorrows() -> None:
    late = NOW.replace(hour=23)
    assert parse_time("08:00", late, LONDON).date() == date(2026, 12, 2)
    assert parse_time("12:00", late, LONDON).date() == date(2026, 12, 1)


@pytest.mark.parametrize("typed", ["", "24:00", "11:60", "eleven", "11:4", "1:2:3"])
def test_a_time_that_is_not_one_says_how_to_write_it(typed: str) -> None:
    with pytest.raises(ValueError, match="write it as 11:40"):
        parse_time(typed, NOW, LONDON)


@pytest.mark.parametrize(("typed", "expected"), [
    ("2026-12-04", date(2026, 12, 4)), ("4/12", date(2026, 12, 4)),
    ("4/12/2027", date(2027, 12, 4)), ("04.12.26", date(2026, 12, 4)),
    ("1/11", date(2027, 11, 1)),  # already past this year: next year's
])
def test_days_are_written_day_first(typed: str, expected: date) -> None:
    assert parse_day(typed, NOW.date()) == expected


@pytest.mark.parametrize("typed", ["", "Friday", "31/2", "4/13", "2026-13-01"])
def test_a_day_that_is_not_one_says_how_to_write_it(typed: str) -> None:
    with pytest.raises(ValueError, match="write it as 4/12"):
        parse_day(typed, NOW.date())


@pytest.mark.parametrize(("typed", "expected"), [
    ("4/12 10:30", datetime(2026, 12, 4, 10, 30, tzinfo=LONDON)),
    ("2026-12-04 9.05", datetime(2026, 12, 4, 9, 5, tzinfo=LONDON)),
    ("11:40", datetime(2026, 12, 1, 11, 40, tzinfo=LONDON)),  # a time alone: today's
    ("1/7 10:00", datetime(2027, 7, 1, 10, 0, tzinfo=LONDON)),  # summer time, next year
])
def test_a_visit_is_planned_for_a_day_and_a_time(typed: str, expected: datetime) -> None:
    at = parse_when(typed, NOW, LONDON)
    assert at == expected and at.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize(("typed", "says"), [
    ("4/12 half past", "write it as 4/12 10:30"), ("Friday 10:30", "write it as 4/12"),
    ("", "write it as 11:40"),
])
def test_a_day_and_time_that_is_not_one_says_how_to_write_it(typed: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_when(typed, NOW, LONDON)
    plan = Action("plan", True, fields=(Field("scheduled_at", "When", "when"),))
    with pytest.raises(FormError, match=says) as caught:
        command_for(plan, {"scheduled_at": typed or "nonsense"}, NOW, LONDON)
    assert caught.value.field == "scheduled_at"


def test_sign_out_is_built_from_what_was_typed_and_ticked() -> None:
    action = sign_out_action()
    values = {"expected_return": "11:40", "vehicles": "AB12 CDE\n\n on foot ",
              "checks.roles_clarified": True, "checks.mobile_phone": True,
              "checks.money": True, "emergency_number": " 999 ", "mobile": ""}
    command = command_for(action, values, MORNING, LONDON)
    assert isinstance(command, c.SignOut)
    assert command.expected_return == datetime.combine(MORNING.date(), time(11, 40), LONDON)
    assert command.vehicles == ("AB12 CDE", "on foot")
    assert command.checks == ("roles_clarified", "mobile_phone", "money")
    assert command.emergency_number == "999" and command.mobile == ""


@pytest.mark.parametrize(("field", "value", "says"), [
    ("expected_return", "", "Fill this in: Back at school by"),
    ("expected_return", "half past", "not a time"),
    ("expected_return", "19:30", "the latest the policy allows is 18:00"),
    ("checks.money", False, "Tick this before going on"),
])
def test_a_mistake_is_named_by_its_field(field: str, value: object, says: str) -> None:
    action = sign_out_action()
    values = {"expected_return": "11:40", "checks.roles_clarified": True,
              "checks.mobile_phone": True, "checks.money": True, field: value}
    with pytest.raises(FormError, match=says) as wrong:
        command_for(action, values, MORNING, LONDON)
    assert wrong.value.field == field


def test_told_one_of_several_is_the_one_chosen() -> None:
    told = Field("told.dsl", "Told the DSL or the head", "tick",
                 choices=(Choice("dsl", "dsl"), Choice("head", "head")))
    action = Action("sign_out", True, fields=(
        Field("expected_return", "Back at school by", "time"), told))
    command = command_for(action, {"expected_return": "11:00", "told.dsl": "head"}, NOW,
                          LONDON)
    assert isinstance(command, c.SignOut) and command.told == ("head",)
    plain = replace(told, choices=())
    command = command_for(replace(action, fields=(action.fields[0], plain)),
                          {"expected_return": "11:00", "told.dsl": True}, NOW, LONDON)
    assert isinstance(command, c.SignOut) and command.told == ("dsl",)


def test_a_risk_assessment_needs_every_question_answered_yes_or_no() -> None:
    visit = to_stage(PACKS["holy-cross-primary"], Stage.ASSESS_RISK)
    action = what_now(visit.state, visit.pack, visit.now, by=visit.author).action("assess_risk")
    assert action is not None
    questions = [f.name for f in action.fields if f.name.startswith("answers.")]
    values: dict[str, object] = {name: False for name in questions}
    values["level"] = "LOW"
    command = command_for(action, values, NOW, LONDON)
    assert isinstance(command, c.AssessRisk) and set(command.answers) == {
        name.removeprefix("answers.") for name in questions}
    del values[questions[0]]
    with pytest.raises(FormError, match="Answer yes or no") as wrong:
        command_for(action, values, NOW, LONDON)
    assert wrong.value.field == questions[0]
    values[questions[0]] = False
    with pytest.raises(FormError, match="Choose one of the answers") as wrong:
        command_for(action, {**values, "level": "extreme"}, NOW, LONDON)
    assert wrong.value.field == "level"


def test_the_outcome_carries_actions_with_who_and_by_when() -> None:
    action = Action("record_outcome", True, fields=(
        Field("child_seen", "The child was seen", "yes_no", required=False),
        Field("summary", "What happened", "text"),
        Field("agreements", "What was agreed", "list", required=False),
        Field("actions", "Actions", "actions", required=False)))
    rows = (ActionRow("Phone mum", "Ann Patel", "4/12"), ActionRow("  "),
            ActionRow("Send the letter", "Office"))
    command = command_for(action, {"child_seen": True, "summary": " Sam was well ",
                                   "actions": rows}, NOW, LONDON)
    assert isinstance(command, c.RecordOutcome)
    assert command.summary == "Sam was well" and command.agreements == ()
    assert command.actions == (c.Action("Phone mum", "Ann Patel", date(2026, 12, 4)),
                               c.Action("Send the letter", "Office", None))
    with pytest.raises(FormError, match="Phone mum: Friday is not a date") as wrong:
        command_for(action, {"summary": "x", "actions": (ActionRow("Phone mum", "Ann",
                                                                     "Friday"),)}, NOW, LONDON)
    assert wrong.value.field == "actions"


def test_values_the_engine_gives_and_ids_the_phone_makes() -> None:
    adult = Action("adult_in_room", True, fields=(Field("present", "back", "value",
                                                        value=False),))
    assert command_for(adult, {}, NOW, LONDON) == c.AdultInRoom(False)
    follow = Action("create_follow_up", True, fields=(
        Field("follow_up_id", "id", "new_id"), Field("kind", "Kind", "text", required=False),
        Field("text", "What", "text")))
    made = command_for(follow, {"text": "Call back"}, NOW, LONDON)
    assert isinstance(made, c.CreateFollowUp) and len(made.follow_up_id) == 12
    assert made.kind == ""  # an optional text left empty is sent empty
    given = command_for(follow, {"text": "Call back", "follow_up_id": "f-1", "kind": "call"},
                        NOW, LONDON)
    assert given == c.CreateFollowUp("f-1", "call", "Call back")


def test_a_required_tick_and_list_must_be_filled_and_an_optional_check_may_be_left() -> None:
    upstairs = Action("go_upstairs", True, fields=(
        Field("with_responsible_adult", "A responsible adult is going with you", "tick"),
        Field("both_staff", "Both of you are going", "yes_no", required=False),
        Field("safe_and_necessary", "It is completely safe and necessary", "tick")))
    with pytest.raises(FormError, match="Tick this before going on: A responsible") as wrong:
        command_for(upstairs, {"safe_and_necessary": True}, NOW, LONDON)
    assert wrong.value.field == "with_responsible_adult"
    out = Action("sign_out", True, fields=(
        Field("expected_return", "Back at school by", "time"),
        Field("vehicles", "Vehicle registration", "list"),
        Field("checks.spare", "An optional check", "tick", required=False)))
    with pytest.raises(FormError, match="Fill this in: Vehicle registration") as wrong:
        command_for(out, {"expected_return": "11:00", "vehicles": "\n  \n"}, NOW, LONDON)
    assert wrong.value.field == "vehicles"
    command = command_for(out, {"expected_return": "11:00", "vehicles": ("AB12 CDE",)}, NOW,
                          LONDON)
    assert isinstance(command, c.SignOut) and command.checks == ()


def test_an_optional_tick_left_alone_is_not_sent() -> None:
    leave = Action("leave", True, fields=(Field("returning_directly", "Straight back",
                                                "yes_no", required=False),))
    assert command_for(leave, {}, NOW, LONDON) == c.Leave()
    assert command_for(leave, {"returning_directly": False}, NOW, LONDON) == c.Leave(False)


def test_a_field_the_command_does_not_take_is_said_plainly() -> None:
    odd = Action("arrive", True, fields=(Field("note", "Note", "text"),))
    with pytest.raises(FormError, match="this cannot be recorded") as wrong:
        command_for(odd, {"note": "here"}, NOW, LONDON)
    assert wrong.value.field == "arrive"


def test_sign_out_waits_for_receptions_number_which_the_hub_may_give() -> None:
    holy_cross = PACKS["holy-cross-primary"]
    assert holy_cross.contacts.reception_phone == ""
    refusal = reception_refusal(holy_cross)
    assert refusal is not None and refusal.kind is Kind.REFUSAL
    assert refusal.code == "no_reception_number" and "Sync with the school" in refusal.say
    visit = to_stage(holy_cross, Stage.SIGN_OUT)
    guide = what_now(visit.state, holy_cross, visit.now, by=visit.author)
    blocked = with_reception(guide, holy_cross).action("sign_out")
    assert blocked is not None and not blocked.open and blocked.refusals[-1] == refusal
    assert [a for a in with_reception(guide, holy_cross).actions if a.name != "sign_out"] == \
        [a for a in guide.actions if a.name != "sign_out"]
    numbered = with_contacts(holy_cross, {"reception_phone": " 0161 496 0000 ",
                                          "school_phone": "", "dsl_mobile": "07700 900123"})
    assert numbered.contacts.reception_phone == "0161 496 0000"
    assert numbered.contacts.school_phone == holy_cross.contacts.school_phone
    assert reception_refusal(numbered) is None
    assert with_reception(guide, numbered) is guide
    assert with_contacts(holy_cross, None) is holy_cross and with_contacts(holy_cross, {}) is \
        holy_cross
    assert reception_refusal(with_contacts(holy_cross, {"reception_phone": "call Jo"})) \
        is not None


def test_the_call_dials_digits_and_the_text_carries_the_visit() -> None:
    tel, sms = call_addresses("+44 1902 558870", "visit-7")
    assert tel == "tel:+441902558870"
    assert sms == "sms:+441902558870?body=Help%20needed%20on%20home%20visit%20visit-7.%20" \
                  "Please%20call%20back."
