"""What now? The engine tells a screen everything it shows, for every school and every stage;
whatever it offers as open, `decide` accepts; and it says the same after a restart."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, time, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fieldapp.domain import commands as c
from fieldapp.domain.events import Author
from fieldapp.domain.facts import is_evening
from fieldapp.domain.guide import COMMANDS, Action, Stage, WhatNow, what_now
from fieldapp.domain.journeys import PAIR, child_at_door, let_in, no_answer
from fieldapp.domain.lifecycle import IllegalTransition, Phase
from fieldapp.domain.policy import NoteRule, Pack, RiskEffect, load_pack, pack_ids
from fieldapp.domain.rules import decide
from fieldapp.domain.simulate import SimulatedVisit
from fieldapp.domain.state import Mark, fold
from tests.unit.support import PHONE, T0, walk
from tests.unit.test_properties import menu

PACKS = {pack_id: load_pack(pack_id) for pack_id in pack_ids()}


# --- filling in an action as a screen would ------------------------------------------------

def fill(action: Action, visit: SimulatedVisit) -> c.Command:
    """The command a screen sends for `action`, with every field filled as asked: required
    text typed, ticks ticked, the first choice chosen, times within what the field allows."""
    now = visit.now
    if action.name == "plan":
        when = now + timedelta(minutes=30)
        if is_evening(when, visit.pack):  # a time in the day, as a DSL would choose
            local = when.astimezone(visit.pack.hours.zone)
            when = datetime.combine(local.date() + timedelta(days=1), time(10),
                                    visit.pack.hours.zone)
        return c.Plan("UPN-1", "Sam", "1 Road", "attendance", when, PAIR,
                      safe_phrase="blue umbrella", first_visit=True)
    values: dict[str, Any] = {}
    told: list[str] = []
    checks: list[str] = []
    answers: dict[str, bool] = {}
    for field in action.fields:
        name, kind = field.name, field.kind
        if name.startswith("answers."):  # a risk question: an answer that lets the visit go
            ok = [choice.value == "yes" for choice in field.choices
                  if choice.then[0] == RiskEffect.OK.value]
            answers[name.removeprefix("answers.")] = ok[0]
        elif name.startswith("told."):
            told.append(field.choices[0].value)
        elif name.startswith("checks."):
            checks.append(name.removeprefix("checks."))
        elif kind == "text":
            values[name] = "Noted by Ann"
        elif kind in ("yes_no", "tick"):
            values[name] = True
        elif kind == "choice":
            values[name] = field.choices[-1].value if name == "level" else field.choices[0].value
        elif kind == "value":
            values[name] = field.value
        elif kind == "list":
            values[name] = ("AB12 CDE",) if name == "vehicles" else ()
        elif kind == "new_id":
            values[name] = f"f-{len(visit.state.follow_ups)}-{len(visit.events)}"
        elif kind == "actions":
            values[name] = (c.Action("Phone mum on Friday", "Ann Patel"),)
        elif kind == "day":
            values[name] = (now + timedelta(days=3)).date()
        else:
            assert kind == "time", field
            latest = min((f.latest for f in action.fields if f.latest), default=None)
            values[name] = _time(name, latest, now)
    if action.name == "assess_risk":
        values["answers"] = answers
    if action.name == "sign_out":
        values.update(told=tuple(told), checks=tuple(checks))
    if action.name == "authorise":
        step = action.fields[0].choices[0]
        values["role"] = step.then[0]  # a role that step names
    return COMMANDS[action.name](**values)  # type: ignore[no-any-return]


def _time(name: str, latest: datetime | None, now: datetime) -> datetime:
    room = min(timedelta(hours=2), (latest - now) if latest else timedelta(hours=2))
    share = {"expected_arrival": 0.25, "expected_leave": 0.75, "expected_return": 0.9}[name]
    return now + room * share


def check_offers(visit: SimulatedVisit, guide: WhatNow) -> None:
    """Whatever is offered as open, decide takes; whatever is refused, decide refuses for the
    same reasons; each answer to the question is taken."""
    for action in guide.actions:
        command = fill(action, visit)
        decision = decide(visit.state, command, visit.pack, visit.now, by=visit.author)
        if action.open:
            assert decision.accepted, (action.name, decision.codes())
        else:
            assert not decision.accepted, action.name
            assert {f.code for f in action.refusals} <= set(decision.codes()), action.name
            assert all(f.say and f.because and f.policy for f in action.refusals)
    if guide.question is not None:
        for choice in guide.question.choices:
            command = c.Answer(guide.question.item, choice.value == "yes")
            assert decide(visit.state, command, visit.pack, visit.now, by=visit.author).accepted
            assert choice.label and choice.label.casefold() not in ("yes", "no")
    for answer in guide.given:  # an answer may be changed until the visit moves on
        command = c.Answer(answer.item, answer.change_to.value == "yes")
        assert decide(visit.state, command, visit.pack, visit.now, by=visit.author).accepted
        assert answer.answer.value != answer.change_to.value


# The steps that take a visit on from each stage, the way a pair mostly goes.
FORWARD = {
    Stage.PLAN: {"plan"}, Stage.ASSESS_RISK: {"assess_risk"}, Stage.AUTHORISE: {"authorise"},
    Stage.SIGN_OUT: {"sign_out"}, Stage.TRAVELLING: {"arrive"},
    Stage.KNOCK: {"door_answered", "no_answer"},
    Stage.WAITING: {"door_answered", "leave_note", "leave"},
    Stage.AT_DOOR: {"enter", "doorstep_only"},
    Stage.INSIDE: {"record_outcome", "adult_in_room", "go_upstairs", "leave"},
    Stage.DOORSTEP: {"record_outcome", "leave"}, Stage.NOT_AT_HOME: {"leave"},
    Stage.CALLED_OFF: {"leave"}, Stage.LEFT: {"return"}, Stage.RETURNED: {"debrief"},
}


# --- the property, over any sequence of commands -------------------------------------------

@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pack_id=st.sampled_from(sorted(PACKS)), data=st.data())
def test_whatever_is_offered_as_open_is_accepted_by_decide(
        pack_id: str, data: st.DataObject) -> None:
    start = T0 + timedelta(minutes=data.draw(st.integers(0, 24 * 60 - 1)))  # any time of day
    visit = SimulatedVisit(PACKS[pack_id], start)
    for _ in range(data.draw(st.integers(5, 60))):
        guide = what_now(visit.state, visit.pack, visit.now, by=PHONE)
        check_offers(visit, guide)
        if guide.stage in (Stage.CANCELLED, Stage.DEBRIEFED):
            break
        # Mostly as a screen would, on the way forward: the question, else an open step;
        # sometimes any open action at all; sometimes anything a pair might tap.
        roll = data.draw(st.integers(0, 9))
        open_now = [a for a in guide.actions if a.open]
        steps: list[c.Command] = []
        if roll >= 3 and guide.question:
            steps = [c.Answer(guide.question.item, yes) for yes in (True, True, True, False)]
        elif roll >= 3:
            steps = [fill(a, visit) for a in open_now if a.name in FORWARD[guide.stage]]
        elif roll >= 1:
            steps = [fill(a, visit) for a in open_now]
        steps = steps or menu(visit.pack, visit.state, visit.now)
        command = data.draw(st.sampled_from(steps))
        try:
            visit.do(command, after_minutes=data.draw(st.sampled_from([0, 1, 5, 20, 90, 600])))
        except (c.CommandError, IllegalTransition):
            continue


# --- every school, every stage -------------------------------------------------------------

def to_stage(pack: Pack, stage: Stage) -> SimulatedVisit:
    """A visit brought to `stage` the way a pair would."""
    steps: dict[Stage, Any] = {
        Stage.PLAN: lambda: SimulatedVisit(pack, T0),
        Stage.ASSESS_RISK: lambda: walk(pack, until=c.AssessRisk),
        Stage.AUTHORISE: lambda: walk(pack, until=c.Authorise),
        Stage.SIGN_OUT: lambda: walk(pack, until=c.SignOut),
        Stage.TRAVELLING: lambda: walk(pack, until=c.Arrive),
        Stage.BEFORE_KNOCKING: lambda: walk(pack, until=c.Answer),
        Stage.KNOCK: lambda: walk(pack, until=c.DoorAnswered),
        Stage.WAITING: lambda: then(walk(pack, until=c.DoorAnswered), c.NoAnswer()),
        Stage.AT_DOOR: lambda: walk(pack, until=c.Enter),
        Stage.INSIDE: lambda: walk(pack, until=c.RecordOutcome),
        Stage.DOORSTEP: lambda: then(walk(pack, until=c.Enter), c.DoorstepOnly("preferred")),
        Stage.NOT_AT_HOME: lambda: then(then(walk(pack, until=c.DoorAnswered), c.NoAnswer()),
                                        c.LeaveNote()),
        Stage.CALLED_OFF: lambda: then(walk(pack, until=c.Enter), c.Cancel("dog loose")),
        Stage.LEFT: lambda: walk(pack, until=c.Return),
        Stage.RETURNED: lambda: walk(pack, until=c.Debrief),
        Stage.DEBRIEFED: lambda: walk(pack),
        Stage.CANCELLED: lambda: then(walk(pack, until=c.Authorise), c.Cancel("family moved")),
    }
    return steps[stage]()  # type: ignore[no-any-return]


def has_stage(pack: Pack, stage: Stage) -> bool:
    """Whether a visit under the pack can be at `stage`: not every school asks questions
    before knocking or leaves a Not-at-Home note."""
    if stage is Stage.BEFORE_KNOCKING:
        return any(i.stage == "arrival" and i.applies_if == "always" for i in pack.checklist)
    return stage is not Stage.NOT_AT_HOME or pack.not_at_home.note is not NoteRule.NONE


def then(visit: SimulatedVisit, command: c.Command) -> SimulatedVisit:
    assert visit.do(command, after_minutes=1).accepted
    return visit


STAGES = [(pack_id, stage) for pack_id in sorted(PACKS) for stage in Stage
          if has_stage(PACKS[pack_id], stage)]


@pytest.mark.parametrize(("pack_id", "stage"), STAGES)
def test_every_school_at_every_stage(pack_id: str, stage: Stage) -> None:
    pack = PACKS[pack_id]
    visit = to_stage(pack, stage)
    guide = what_now(visit.state, pack, visit.now, by=PHONE)
    assert guide.stage is stage
    check_offers(visit, guide)
    # The same after a restart: everything is rebuilt from the stored events.
    assert what_now(fold(list(reversed(visit.events))), pack, visit.now, by=PHONE) == guide
    out = visit.state.phase in (Phase.SIGNED_OUT, Phase.ARRIVED, Phase.WAITING, Phase.AT_DOOR,
                                Phase.INSIDE, Phase.DOORSTEP, Phase.NOT_AT_HOME,
                                Phase.CALLED_OFF, Phase.LEFT)
    help_open = {"use_safe_phrase", "emergency_call"} <= set(guide.open)
    assert help_open == out, "help is one tap away whenever staff are out, and only then"
    if stage in (Stage.BEFORE_KNOCKING, Stage.KNOCK, Stage.WAITING, Stage.AT_DOOR,
                 Stage.INSIDE, Stage.DOORSTEP, Stage.NOT_AT_HOME, Stage.CALLED_OFF):
        assert "leave" in guide.open, "leaving is never refused at the address"


def test_every_stage_is_reached_under_some_school() -> None:
    assert {stage for _pack_id, stage in STAGES} == set(Stage)
    assert len(STAGES) >= len(Stage) * len(PACKS) - 5


def test_the_stages_of_journey_one_in_order(uplands: Pack) -> None:
    visit = SimulatedVisit(uplands, T0)
    stages = []
    for _label, minutes, command in let_in(visit):
        visit.do(command, after_minutes=minutes)
        stage = what_now(visit.state, uplands, visit.now, by=PHONE).stage
        if not stages or stages[-1] is not stage:
            stages.append(stage)
    assert stages == [Stage.ASSESS_RISK, Stage.AUTHORISE, Stage.SIGN_OUT, Stage.TRAVELLING,
                      Stage.KNOCK, Stage.AT_DOOR, Stage.INSIDE, Stage.LEFT, Stage.RETURNED,
                      Stage.DEBRIEFED]


# --- the doorstep: one question at a time, and what each answer leads to -------------------

def at_door(pack: Pack, by: str = "parent") -> SimulatedVisit:
    return then(walk(pack, until=c.DoorAnswered), c.DoorAnswered(by))


def test_questions_come_one_at_a_time_with_answers_that_say_what_they_mean(
        uplands: Pack) -> None:
    visit = at_door(uplands)
    asked = []
    while (question := what_now(visit.state, uplands, visit.now, by=PHONE).question) is not None:
        asked.append((question.number, question.of, question.choices[0].label,
                      question.choices[1].label))
        visit.do(c.Answer(question.item, True))
    assert asked == [(1, 4, "Introduced, ID shown", "Not introduced yet"),
                     (2, 4, "Invited in by an adult", "Not invited in by an adult"),
                     (3, 4, "No animals in the room", "Animals in the room"),
                     (4, 4, "We both feel safe", "Not safe")]
    assert "enter" in what_now(visit.state, uplands, visit.now, by=PHONE).open


def test_every_consequence_of_an_answer_is_a_code(uplands: Pack) -> None:
    hart_hill = PACKS["hart-hill-nursery"]
    visit = at_door(hart_hill)
    question = what_now(visit.state, hart_hill, visit.now, by=PHONE).question
    assert question is not None and question.item == "animals_separate"
    no = question.choices[1]
    assert no.then == ("cancel", "inform_agencies") and no.say and no.quote
    assert no.policy.startswith("Hart Hill")
    visit.do(c.Answer("animals_separate", False))
    guide = what_now(visit.state, hart_hill, visit.now, by=PHONE)
    assert guide.question is None  # the visit is over: nothing more is asked
    (stop,) = guide.standing
    assert stop.then == ("cancel", "inform_agencies") and stop.quote
    assert not guide.action("enter").open  # type: ignore[union-attr]


@pytest.mark.parametrize("pack_id", sorted(PACKS))
def test_after_a_child_opens_the_door_no_door_question_is_offered(pack_id: str) -> None:
    pack = PACKS[pack_id]
    visit = at_door(pack, "unsupervised_child")
    guide = what_now(visit.state, pack, visit.now, by=PHONE)
    assert guide.question is None
    assert [f.code for f in guide.standing] == ["do_not_enter"]
    assert "contact_dsl" in guide.standing[0].then
    enter = guide.action("enter")
    assert enter is not None and not enter.open and enter.refusals[0].policy
    assert "door_answered" in guide.open  # a parent may still come to the door
    # After a restart it is all still there.
    assert what_now(fold(visit.events), pack, visit.now, by=PHONE).standing == guide.standing
    decision = visit.do(c.DoorAnswered("unsupervised_child"))
    assert not [f for f in decision.findings if f.code.startswith("ask_")]


def test_once_going_in_is_ruled_out_only_what_a_doorstep_visit_needs_is_asked(
        uplands: Pack) -> None:
    visit = at_door(uplands)
    visit.do(c.Answer("id_shown", True))
    visit.do(c.Answer("invited_in", False))
    guide = what_now(visit.state, uplands, visit.now, by=PHONE)
    assert [f.code for f in guide.standing] == ["do_not_enter"]
    assert guide.question is not None and guide.question.item == "feel_safe"  # not animals
    assert not guide.action("enter").open  # type: ignore[union-attr]
    visit.do(c.Answer("feel_safe", True))
    guide = what_now(visit.state, uplands, visit.now, by=PHONE)
    assert guide.question is None and "doorstep_only" in guide.open


def test_an_answer_to_put_right_is_asked_again(uplands: Pack) -> None:
    visit = at_door(uplands)
    visit.do(c.Answer("id_shown", False))
    guide = what_now(visit.state, uplands, visit.now, by=PHONE)
    assert guide.question is not None and guide.question.item == "id_shown"
    assert guide.question.again and [f.code for f in guide.standing] == ["show_id"]
    visit.do(c.Answer("id_shown", True))
    guide = what_now(visit.state, uplands, visit.now, by=PHONE)
    assert guide.question is not None and guide.question.item == "invited_in"
    assert guide.standing == ()


def test_an_answer_can_be_changed_until_the_visit_moves_on(uplands: Pack) -> None:
    visit = at_door(uplands)
    visit.do(c.Answer("id_shown", True))
    visit.do(c.Answer("feel_safe", False))  # a slip of the thumb: "Not safe"
    guide = what_now(visit.state, uplands, visit.now, by=PHONE)
    assert guide.question is None and guide.standing[0].then == ("leave",)
    assert [(g.item, g.answer.value, g.change_to.value) for g in guide.given] == [
        ("id_shown", "yes", "no"), ("feel_safe", "no", "yes")]
    assert guide.given[1].change_to.label == uplands.item("feel_safe").answers["yes"].label
    visit.do(c.Answer("feel_safe", True))  # put right: the questions go on
    guide = what_now(visit.state, uplands, visit.now, by=PHONE)
    assert guide.question is not None and guide.standing == ()
    assert [g.answer.value for g in guide.given] == ["yes", "yes"]
    assert [e.type.value for e in visit.events[-2:]] == ["checklist_answered"] * 2
    visit.do(c.DoorstepOnly("preferred"))  # the next step: the answers are now the record
    assert what_now(visit.state, uplands, visit.now, by=PHONE).given == ()


def test_only_this_phones_answers_are_offered_to_change(uplands: Pack) -> None:
    visit = at_door(uplands)
    visit.do(c.Answer("id_shown", True))
    partner = Author("staff-ben", "phone-ben")
    assert what_now(visit.state, uplands, visit.now, by=partner).given == ()


def test_feeling_unsafe_ends_the_questions_and_says_leave(uplands: Pack) -> None:
    visit = at_door(uplands)
    visit.do(c.Answer("feel_safe", False))
    guide = what_now(visit.state, uplands, visit.now, by=PHONE)
    assert guide.question is None and guide.standing[0].then == ("leave",)
    assert "leave" in guide.open and not guide.action("doorstep_only").open  # type: ignore


# --- standing instructions that outlive a restart ------------------------------------------

def test_never_alone_with_the_pupil_stands_until_the_parent_is_back() -> None:
    holy_cross = PACKS["holy-cross-primary"]
    visit = walk(holy_cross, until=c.RecordOutcome)
    adult = what_now(visit.state, holy_cross, visit.now, by=PHONE).action("adult_in_room")
    assert adult is not None and adult.fields[0].value is False  # the parent has left
    visit.do(fill(adult, visit))
    after_restart = what_now(fold(visit.events), holy_cross, visit.now, by=PHONE)
    assert [f.code for f in after_restart.standing] == ["never_alone_with_pupil"]
    assert "6.3" in after_restart.standing[0].policy or after_restart.standing[0].quote
    back = after_restart.action("adult_in_room")
    assert back is not None and back.fields[0].value is True
    visit.do(fill(back, visit))
    assert what_now(visit.state, holy_cross, visit.now, by=PHONE).standing == ()


def test_a_concern_raised_stands_with_every_consequence(uplands: Pack) -> None:
    visit = walk(uplands, until=c.RecordOutcome)
    visit.do(c.RaiseConcern("threatened", "raised voice"))
    (threat,) = what_now(fold(visit.events), uplands, visit.now, by=PHONE).standing
    assert threat.then == ("leave", "call_999") and threat.quote


def test_a_refused_assessment_sends_the_visit_back_to_assessment() -> None:
    hart_hill = PACKS["hart-hill-nursery"]
    visit = walk(hart_hill, until=c.SignOut)
    assert what_now(visit.state, hart_hill, visit.now, by=PHONE).stage is Stage.SIGN_OUT
    answers = {**visit.state.risk["answers"], "on_prohibited_list": True}  # type: ignore[index]
    visit.do(c.AssessRisk(answers, level=visit.state.risk["level"]))  # type: ignore[index]
    guide = what_now(visit.state, hart_hill, visit.now, by=PHONE)
    assert guide.stage is Stage.ASSESS_RISK and "sign_out" not in guide.open
    authorise = guide.action("authorise")
    assert authorise is not None and not authorise.open
    assert authorise.refusals[0].code == "visit_must_not_happen"
    assert "prohibited" in authorise.refusals[0].because


# --- clocks: timers, reminders and the next change -----------------------------------------

def test_the_wait_counts_down_to_the_limit_and_then_says_go() -> None:
    holy_cross = PACKS["holy-cross-primary"]
    visit = walk(holy_cross, until=c.Cancel, journey=no_answer)
    knocked = visit.state.wait.at  # type: ignore[union-attr]
    guide = what_now(visit.state, holy_cross, knocked + timedelta(minutes=5), by=PHONE)
    (wait,) = [t for t in guide.timers if t.name == "wait"]
    assert wait.ends == knocked + timedelta(minutes=20)
    assert wait.elapsed == timedelta(minutes=5) and guide.next_change == wait.ends
    assert "wait_limit_reached" not in [f.code for f in guide.reminders]
    over = what_now(visit.state, holy_cross, wait.ends, by=PHONE)
    (reached,) = [f for f in over.reminders if f.code == "wait_limit_reached"]
    assert reached.then == ("cancel", "leave") and reached.quote
    assert over.next_change is not None and over.next_change > wait.ends


def test_the_visit_timer_warns_at_the_usual_length_then_the_most() -> None:
    hart_hill = PACKS["hart-hill-nursery"]
    visit = walk(hart_hill, until=c.RecordOutcome)
    went_in = visit.state.entered.at  # type: ignore[union-attr]
    guide = what_now(visit.state, hart_hill, went_in, by=PHONE)
    (timer,) = [t for t in guide.timers if t.name == "visit"]
    assert (timer.normal, timer.limit) == (timedelta(minutes=15), timedelta(minutes=30))
    assert guide.next_change == went_in + timedelta(minutes=15)
    codes = [f.code for f in what_now(visit.state, hart_hill,
                                      went_in + timedelta(minutes=16), by=PHONE).reminders]
    assert "duration_normal_passed" in codes
    late = what_now(visit.state, hart_hill, went_in + timedelta(minutes=30), by=PHONE)
    assert "duration_max_passed" in [f.code for f in late.reminders]


def test_time_to_leave_then_overdue(uplands: Pack) -> None:
    visit = walk(uplands, until=c.RecordOutcome)
    leave_by = datetime.fromisoformat(visit.state.sign_out.detail["expected_leave"])  # type: ignore
    early = what_now(visit.state, uplands, leave_by - timedelta(minutes=1), by=PHONE)
    assert early.next_change == leave_by
    due = what_now(visit.state, uplands, leave_by, by=PHONE)
    assert "time_to_leave" in [f.code for f in due.reminders]
    grace = timedelta(minutes=uplands.overdue.grace_minutes)
    assert due.next_change == leave_by + grace
    late = what_now(visit.state, uplands, leave_by + grace, by=PHONE)
    (overdue,) = [f for f in late.reminders if f.code == "overdue"]
    expected = f"{leave_by.astimezone(uplands.hours.zone):%H:%M}"
    assert overdue.then == ("call_school",) and f"leave the home by {expected}" in overdue.because


def test_sign_out_closes_at_the_evening_and_says_when(uplands: Pack) -> None:
    visit = walk(uplands, until=c.SignOut)
    evening = datetime(2026, 11, 23, 18, 0, tzinfo=uplands.hours.zone)
    before = what_now(visit.state, uplands, evening - timedelta(minutes=30), by=PHONE)
    sign_out = before.action("sign_out")
    assert sign_out is not None and sign_out.open and before.next_change == evening
    assert sign_out.fields[0].latest == evening
    check_offers(replace(visit, now=evening - timedelta(minutes=30)), before)
    after = what_now(visit.state, uplands, evening, by=PHONE)
    refused = after.action("sign_out")
    assert refused is not None and [f.code for f in refused.refusals] == ["no_evening_visits"]


def test_timers_never_run_backwards_when_the_partners_clock_is_ahead(uplands: Pack) -> None:
    visit = walk(uplands, until=c.RecordOutcome)
    went_in = visit.state.entered.at  # type: ignore[union-attr]
    guide = what_now(visit.state, uplands, went_in - timedelta(hours=2), by=PHONE)
    assert {timer.name: timer.elapsed for timer in guide.timers} == {
        "visit": timedelta(0), "back": timedelta(0)}  # held at nought, not below


def test_all_journeys_walk_with_what_now_at_every_step() -> None:
    for pack in PACKS.values():
        for journey in (let_in, no_answer, child_at_door):
            visit = SimulatedVisit(pack, T0)
            steps: Iterator[Any] = journey(visit)
            for _label, minutes, command in steps:
                visit.do(command, after_minutes=minutes)
                check_offers(visit, what_now(visit.state, pack, visit.now, by=PHONE))


def test_the_engine_benchmark_prints_every_figure() -> None:
    """Speed is judged from the benchmark's output (bench/engine_bench.py), not here."""
    import subprocess
    import sys
    from pathlib import Path

    result = subprocess.run([sys.executable, "bench/engine_bench.py", "--quick"],
                            cwd=Path(__file__).parents[2], capture_output=True, text=True,
                            timeout=300, check=True)
    for pack_id in PACKS:
        assert pack_id in result.stdout
    assert "loading all five packs" in result.stdout and "worst what_now median" in result.stdout


def test_a_concern_of_a_kind_the_pack_does_not_know_adds_no_instruction(uplands: Pack) -> None:
    visit = walk(uplands, until=c.RecordOutcome)
    unknown = Mark(at=visit.now, detail={"kind": "from_a_newer_app"})
    state = replace(visit.state, concerns=(unknown,))
    assert what_now(state, uplands, visit.now, by=PHONE).standing == ()


def test_sign_out_opens_in_the_morning_and_says_when(uplands: Pack) -> None:
    visit = walk(uplands, until=c.SignOut)
    morning = datetime(2026, 11, 24, 6, 30, tzinfo=uplands.hours.zone)
    early = what_now(visit.state, uplands, morning, by=PHONE)
    refused = early.action("sign_out")
    assert refused is not None and not refused.open
    assert "in the day (07:00 to 18:00)" in refused.refusals[0].say
    assert early.next_change == morning.replace(hour=7, minute=0)


def test_a_visit_may_not_run_into_the_evening_even_if_back_the_next_morning(
        uplands: Pack) -> None:
    visit = walk(uplands, until=c.SignOut)
    five = datetime(2026, 11, 23, 17, 0, tzinfo=uplands.hours.zone)
    guide = what_now(visit.state, uplands, five, by=PHONE)
    sign_out = guide.action("sign_out")
    assert sign_out is not None and sign_out.open
    (back,) = [f for f in sign_out.fields if f.name == "expected_return"]
    assert back.latest == five.replace(hour=18) and back.between == (time(7), time(18))
    at = replace(visit, now=five)
    command = fill(sign_out, at)
    assert decide(visit.state, replace(command, expected_return=back.latest), uplands, five,
                  by=PHONE).accepted  # back by the evening's first minute is in time
    overnight = replace(command, expected_leave=five.replace(hour=22),
                        expected_return=five.replace(hour=10) + timedelta(days=1))
    decision = decide(visit.state, overnight, uplands, five, by=PHONE)
    assert decision.codes() == ("no_evening_visits",)
    assert "Be back by 18:00" in decision.refusals[0].say
    (when,) = [f for f in what_now(SimulatedVisit(uplands, T0).state, uplands, T0,
                                   by=PHONE).action("plan").fields  # type: ignore[union-attr]
               if f.name == "scheduled_at"]
    assert when.between == (time(7), time(18))


def test_the_policys_conditions_for_upstairs_and_bedrooms_are_ticks(uplands: Pack) -> None:
    visit = walk(uplands, until=c.RecordOutcome)
    upstairs = what_now(visit.state, uplands, visit.now, by=PHONE).action("go_upstairs")
    assert upstairs is not None
    kinds = {f.name: (f.kind, f.required) for f in upstairs.fields}
    assert kinds["with_responsible_adult"] == ("tick", True)  # Uplands: only with an adult
    assert kinds["both_staff"] == ("yes_no", False)


def test_a_threat_stands_while_the_pair_get_away(uplands: Pack) -> None:
    visit = walk(uplands, until=c.RecordOutcome)
    visit.do(c.RaiseConcern("threatened"))
    visit.do(c.Cancel("threatened by a visitor"))
    codes = {t for f in what_now(visit.state, uplands, visit.now, by=PHONE).standing
             for t in f.then}
    assert {"leave", "call_999"} <= codes
