"""Times going backwards: a phone may not record before its own last entry on a visit, but the
two phones of a pair may disagree by hours, and the one behind is never locked out."""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from fieldapp.domain import commands as c
from fieldapp.domain.events import Author, EventError, event_id_time, new_event_id
from fieldapp.domain.journeys import let_in, no_answer
from fieldapp.domain.lifecycle import Phase
from fieldapp.domain.policy import Pack, load_pack, pack_ids
from fieldapp.domain.rules import CLOCK_STEP_BACK, decide
from fieldapp.domain.simulate import SimulatedVisit
from fieldapp.domain.state import fold
from tests.unit.support import PHONE, T0, walk


def test_an_event_id_gives_back_the_millisecond_it_was_made_for() -> None:
    for moment in (T0, T0 + timedelta(milliseconds=1), datetime(1970, 1, 1, tzinfo=UTC),
                   datetime(2999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)):
        assert event_id_time(new_event_id(moment, os.urandom(10))) == moment
    with pytest.raises(EventError, match="not an event id"):
        event_id_time("not-an-id")


def test_a_backdated_entry_is_refused_with_the_times_it_clashes_with(uplands: Pack) -> None:
    visit = walk(uplands, until=c.NoAnswer, journey=no_answer)
    assert visit.state.phase is Phase.ARRIVED
    with pytest.raises(c.CommandError) as refused:
        decide(visit.state, c.NoAnswer(), uplands, visit.now - timedelta(minutes=30), by=PHONE)
    assert "this phone's clock reads" in str(refused.value)
    assert "Check this phone's date and time" in str(refused.value)
    # The school's own clock: 09:00 UTC in November is 09:00 in London.
    arrived = visit.state.device_clocks[PHONE.device_id]
    assert f"{arrived:%H:%M}" in str(refused.value)


def test_a_clock_stepped_back_a_little_is_still_taken(uplands: Pack) -> None:
    visit = walk(uplands, until=c.NoAnswer, journey=no_answer)
    little = visit.now - CLOCK_STEP_BACK
    assert decide(visit.state, c.NoAnswer(), uplands, little, by=PHONE).accepted
    with pytest.raises(c.CommandError):
        decide(visit.state, c.NoAnswer(), uplands, little - timedelta(seconds=1), by=PHONE)


@pytest.mark.parametrize("command", [c.UseSafePhrase(), c.EmergencyCall(), c.Leave()])
def test_getting_help_or_getting_away_is_never_refused_for_the_clock(
        uplands: Pack, command: c.Command) -> None:
    visit = walk(uplands, until=c.Enter)
    decision = decide(visit.state, command, uplands, visit.now - timedelta(days=2), by=PHONE)
    assert decision.accepted


def test_a_visit_cannot_be_planned_for_a_day_already_past(uplands: Pack) -> None:
    visit = SimulatedVisit(uplands, T0)
    plan = next(let_in(visit))[2]
    assert isinstance(plan, c.Plan)
    with pytest.raises(c.CommandError, match="has passed: plan it for today or later"):
        visit.do(replace(plan, scheduled_at=T0 - timedelta(days=3)))
    # Earlier today is fine: an emergency visit planned as the pair set off.
    assert visit.do(replace(plan, scheduled_at=T0 - timedelta(hours=1))).accepted


@pytest.mark.parametrize("pack_id", pack_ids())
@pytest.mark.parametrize("skew", [timedelta(minutes=-7), timedelta(hours=-3),
                                  timedelta(hours=5), timedelta(days=-1)])
def test_a_pair_whose_clocks_disagree_by_hours_finishes_the_visit_together(
        pack_id: str, skew: timedelta) -> None:
    """Ann's phone drives the visit; Ben's clock is `skew` off. At every step Ben pulls what
    Ann recorded and records a check-in call of his own: never refused, never out of order."""
    pack = load_pack(pack_id)
    ann = SimulatedVisit(pack, T0, author=Author("staff-ann", "phone-ann"), seed=1)
    ben_device = Author("staff-ben", "phone-ben")
    ben_events: list = []
    for _label, minutes, command in let_in(ann):
        ann.do(command, after_minutes=minutes)
        if ann.state.phase not in (Phase.SIGNED_OUT, Phase.ARRIVED, Phase.AT_DOOR, Phase.INSIDE,
                                   Phase.LEFT):
            continue
        ben = SimulatedVisit(pack, ann.now + skew, events=[*ann.events, *ben_events],
                             state=fold(ann.events, ben_events), author=ben_device, seed=9)
        assert ben.do(c.CheckIn("still with Ann")).accepted
        mine = ben.events[-1]
        assert mine.at == ann.now + skew  # his own clock is what he recorded
        seen = max(e.id for e in ann.events)
        assert mine.id > seen  # ordered after what he had seen, whatever his clock says
        if skew < timedelta(0):  # behind: the very next millisecond, not a slow catch-up
            assert event_id_time(mine.id) == event_id_time(seen) + timedelta(milliseconds=1)
        ben_events.append(mine)
        ann.events.append(mine)  # Ann pulls it: her own clock still rules her own entries
        ann.state = fold(ann.events)
    merged = fold(ann.events)
    assert merged.phase is Phase.DEBRIEFED and merged.set_aside == ()
    assert len(merged.check_ins) >= len(ben_events) > 0


def test_a_backdated_leave_is_taken_but_cannot_shorten_the_visit() -> None:
    """Leaving is never refused; but timed before the phone's own last entry, it counts from
    that entry: an overrun cannot be erased by winding the clock back."""
    hart_hill = load_pack("hart-hill-nursery")
    visit = walk(hart_hill, until=c.RecordOutcome)
    visit.wait(40)  # past the most (30 minutes)
    visit.do(c.CheckIn("still here"))
    decision = decide(visit.state, c.Leave(), hart_hill, visit.now - timedelta(minutes=35),
                      by=PHONE)
    assert decision.accepted
    left = decision.drafts[0].payload
    assert left["visit_minutes"] >= 40 and left["overran_minutes"] >= 10


def test_a_phone_whose_clock_is_behind_sees_what_it_may_do_and_when_it_may_record_again(
        uplands: Pack) -> None:
    from fieldapp.domain.guide import what_now

    visit = walk(uplands, until=c.RecordOutcome)
    last = visit.state.device_clocks[PHONE.device_id]
    corrected = last - timedelta(minutes=10)  # the clock was ten minutes fast, now put right
    guide = what_now(visit.state, uplands, corrected, by=PHONE)
    assert guide.standing[0].code == "clock_behind" and guide.question is None
    assert set(guide.open) == {"raise_concern", "leave", "use_safe_phrase", "emergency_call"}
    refused = guide.action("record_outcome")
    assert refused is not None and refused.refusals[0].code == "clock_behind"
    assert guide.next_change == last - CLOCK_STEP_BACK  # then it can record again
    for name in guide.open:  # what it offers, decide takes
        assert name != "raise_concern" or decide(visit.state, c.RaiseConcern("immediate_danger"),
                                                 uplands, corrected, by=PHONE).accepted
    partner = what_now(visit.state, uplands, corrected, by=Author("staff-2", "phone-2"))
    assert "record_outcome" in partner.open  # only its own entries hold a phone back
