"""Two phones and the console record the same visit without seeing each other's events until
they sync. Whatever order the merge puts them in, and whatever the phones' clocks say, the pair
are where their own facts put them, with help a tap away, and a stop recorded on either phone
stands."""

from __future__ import annotations

import os
from datetime import datetime, timedelta

import pytest

from fieldapp.domain import commands as c
from fieldapp.domain.events import Author, Event, EventError
from fieldapp.domain.guide import Stage, what_now
from fieldapp.domain.lifecycle import Phase
from fieldapp.domain.policy import Pack, load_pack
from fieldapp.domain.rules import decide, stamp
from fieldapp.domain.simulate import SimulatedVisit
from fieldapp.domain.state import fold
from tests.unit.support import PHONE, walk

HART_HILL = load_pack("hart-hill-nursery")
CONSOLE = Author("dsl", "console")
BEN = Author("staff-ben", "phone-ben")


def console_records(visit: SimulatedVisit, command: c.Command, at: datetime) -> tuple[Event, ...]:
    """What the DSL records at the console, from the events the hub had before the pair's
    phone synced (those of `visit` so far)."""
    state = fold(visit.events)
    decision = decide(state, command, visit.pack, at, by=CONSOLE)
    return stamp(state, decision, visit.visit_id, CONSOLE, at, lambda: os.urandom(10))


def sign_out(visit: SimulatedVisit) -> c.SignOut:
    pack = visit.pack
    return c.SignOut(visit.now + timedelta(hours=2), ("AB12 CDE",),
                     told=tuple(who.split("|")[0] for who in pack.sign_out.tell),
                     expected_leave=visit.now + timedelta(hours=1),
                     expected_arrival=visit.now + timedelta(minutes=20),
                     safe_phrase_reminded=True,
                     checks=tuple(check.id for check in pack.sign_out.checks),
                     emergency_number="0121 496 0000")


def refused_assessment(visit: SimulatedVisit) -> c.AssessRisk:
    risk = visit.state.risk
    assert risk is not None
    return c.AssessRisk({**risk["answers"], "on_prohibited_list": True}, level=risk["level"])


@pytest.mark.parametrize("phone_clock", [timedelta(0), timedelta(hours=-3)])
def test_a_refusal_at_school_while_the_pair_set_out_calls_them_back_not_off_the_board(
        phone_clock: timedelta) -> None:
    """The DSL refuses a re-assessment (the address is on the prohibited list) while the pair,
    not yet synced, sign out and arrive. Merged, in either order: they are out (the board
    tracks them, help is a tap away) and told to come away, with the policy's words."""
    planned = walk(HART_HILL, until=c.SignOut)
    school = console_records(planned, refused_assessment(planned), planned.now)
    ben = SimulatedVisit(HART_HILL, planned.now + phone_clock, events=list(planned.events),
                         state=planned.state, author=BEN, seed=5)
    ben.do(sign_out(ben), after_minutes=1)
    ben.do(c.Arrive(), after_minutes=20)
    merged = fold(ben.events, school)
    assert merged.set_aside == () and merged.phase is Phase.ARRIVED
    assert merged.sign_out is not None and merged.risk and merged.risk["refused"]
    guide = what_now(merged, HART_HILL, ben.now, by=BEN)
    assert {"use_safe_phrase", "emergency_call", "leave"} <= set(guide.open)
    (come_away,) = [f for f in guide.standing if f.code == "come_away"]
    assert come_away.then == ("do_not_enter", "leave", "call_school")
    assert "prohibited" in come_away.because and come_away.quote
    for help_ in (c.UseSafePhrase(), c.EmergencyCall(), c.Leave()):
        assert decide(merged, help_, HART_HILL, ben.now, by=BEN).accepted


def test_a_visit_cancelled_at_school_while_the_pair_set_out_keeps_them_on_the_board() -> None:
    visit = walk(HART_HILL, until=c.SignOut)
    school = console_records(visit, c.Cancel("the family moved away"), visit.now)
    visit.do(sign_out(visit), after_minutes=1)
    merged = fold(visit.events, school)
    assert merged.phase is Phase.SIGNED_OUT and merged.set_aside == ()
    guide = what_now(merged, HART_HILL, visit.now, by=PHONE)
    (come_away,) = [f for f in guide.standing if f.code == "come_away"]
    assert "cancelled at school: the family moved away" in come_away.because
    assert "use_safe_phrase" in guide.open


def test_a_sign_off_merged_after_a_refusal_leaves_the_visit_at_assessment() -> None:
    visit = walk(HART_HILL, until=c.Authorise)
    hub_sign_off = console_records(visit, c.Authorise(
        "slt_noted", "Mrs SLT", HART_HILL.authorisation.steps[0].roles[0]), visit.now)
    visit.do(c.AssessRisk({**visit.state.risk["answers"],  # type: ignore[index]
                           "on_prohibited_list": True}, level="medium"), after_minutes=1)
    merged = fold(visit.events, hub_sign_off)
    guide = what_now(merged, HART_HILL, visit.now, by=PHONE)
    assert guide.stage is Stage.ASSESS_RISK and "sign_out" not in guide.open


def test_a_stop_on_one_phone_stands_whatever_the_other_phones_clock_says(uplands: Pack) -> None:
    """Ben's phone (an hour fast) answers "we both feel safe"; two minutes later Ann answers
    "Not safe". Ben's answer sorts later, but Ann's stop stands until Ann changes it."""
    ann = walk(uplands, until=c.DoorAnswered)  # at the address, knocking
    base = list(ann.events)
    ben = SimulatedVisit(uplands, ann.now + timedelta(hours=1), events=list(base),
                         state=fold(base), author=BEN, seed=5)
    ben.do(c.DoorAnswered("parent"))
    ben.do(c.Answer("feel_safe", True))
    ann.do(c.DoorAnswered("unsupervised_child"), after_minutes=2)
    ann.do(c.Answer("feel_safe", False))
    merged = fold(ann.events, ben.events)
    assert merged.checklist["feel_safe"] == "no" and merged.answered_by == "unsupervised_child"
    guide = what_now(merged, uplands, ann.now, by=PHONE)
    assert "enter" not in guide.open and "leave" in {t for f in guide.standing for t in f.then}
    # Ann sees the parent come to the door and finds it safe after all: her word changes it.
    ann.events.extend(e for e in ben.events if e not in ann.events)
    ann.state = fold(ann.events)
    ann.do(c.DoorAnswered("parent"), after_minutes=1)
    ann.do(c.Answer("feel_safe", True))
    assert ann.state.checklist["feel_safe"] == "yes" and ann.state.answered_by == "parent"


def test_one_phone_saying_the_parent_left_the_room_stands() -> None:
    holy_cross = load_pack("holy-cross-primary")
    ann = walk(holy_cross, until=c.RecordOutcome)
    ben = SimulatedVisit(holy_cross, ann.now + timedelta(hours=1), events=list(ann.events),
                         state=ann.state, author=BEN, seed=5)
    ben.do(c.AdultInRoom(False))
    ben.do(c.AdultInRoom(True), after_minutes=1)
    ann.do(c.AdultInRoom(False), after_minutes=2)
    merged = fold(ann.events, ben.events)
    assert not merged.adult_in_room
    assert [f.code for f in what_now(merged, holy_cross, ann.now, by=PHONE).standing] == [
        "never_alone_with_pupil"]


def test_a_partner_phone_with_an_absurd_clock_never_blocks_help(uplands: Pack) -> None:
    ann = walk(uplands, until=c.RecordOutcome)
    year_9999 = datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=ann.now.tzinfo)
    wild = SimulatedVisit(uplands, year_9999, events=list(ann.events), state=ann.state,
                          author=BEN, seed=9)
    wild.do(c.CheckIn("clock gone wrong"))
    ann.events.append(wild.events[-1])
    ann.state = fold(ann.events)
    for help_ in (c.EmergencyCall(), c.Leave()):
        assert ann.do(help_).accepted  # recorded, whatever the partner's clock said
    with pytest.raises(EventError, match="not between 2000 and 2200"):
        Event.from_dict(wild.events[-1].to_dict())  # and the hub never takes such a time
