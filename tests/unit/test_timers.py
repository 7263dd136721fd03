"""The clocks: the wait at the door, the length of the visit, and overdue."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from fieldapp.domain import commands as c
from fieldapp.domain.journeys import no_answer
from fieldapp.domain.policy import Cite, Duration, Pack
from fieldapp.domain.timers import (
    duration_findings,
    guidance,
    overdue,
    visit_clock,
    wait_clock,
    wait_findings,
)
from tests.unit.support import T0, walk

CITE = Cite("Test section", "the policy's words")


def timed(pack: Pack, normal: int | None = 15, maximum: int | None = 30) -> Pack:
    return replace(pack, duration=Duration(normal, maximum, "agreed by the Head", CITE))


def test_the_visit_clock_runs_from_entering_to_leaving(uplands: Pack) -> None:
    pack = timed(uplands)
    visit = walk(pack, until=c.RecordOutcome)
    assert visit_clock(visit.state, pack, visit.now) is not None
    visit.wait(14)
    assert duration_findings(visit.state, pack, visit.now) == ()
    visit.wait(1)
    assert [f.code for f in guidance(visit.state, pack, visit.now)] == ["duration_normal_passed"]
    visit.wait(15)
    found = duration_findings(visit.state, pack, visit.now)
    assert [f.code for f in found] == ["duration_max_passed"]
    assert found[0].because == "the visit has taken 30 minutes"
    visit.do(c.Leave())
    clock = visit_clock(visit.state, pack, visit.now + timedelta(hours=1))
    assert clock is not None and clock.elapsed == timedelta(minutes=30)
    assert duration_findings(visit.state, pack, visit.now) == ()


def test_a_longer_visit_agreed_before_booking_has_no_maximum(uplands: Pack) -> None:
    pack = timed(uplands)
    visit = walk(pack, until=c.RecordOutcome)
    visit.state = replace(visit.state, plan={**visit.state.plan,
                                             "extended_duration_agreed_by": "Head"})
    visit.wait(45)
    clock = visit_clock(visit.state, pack, visit.now)
    assert clock is not None and clock.limit is None and clock.remaining is None
    assert [f.code for f in duration_findings(visit.state, pack, visit.now)] == [
        "duration_normal_passed"]


def test_no_duration_rule_means_no_duration_warnings(uplands: Pack) -> None:
    visit = walk(uplands, until=c.RecordOutcome)
    visit.wait(600)
    assert duration_findings(visit.state, uplands, visit.now) == ()
    only_advice = timed(uplands, None, None)
    assert duration_findings(visit.state, only_advice, visit.now) == ()
    assert visit_clock(walk(uplands, until=c.Enter).state, uplands, visit.now) is None


def test_the_wait_clock_runs_only_while_waiting(uplands: Pack) -> None:
    visit = walk(uplands, until=c.NoAnswer, journey=no_answer)
    assert wait_clock(visit.state, uplands, visit.now) is None
    visit.do(c.NoAnswer())
    visit.wait(40)
    clock = wait_clock(visit.state, uplands, visit.now)
    assert clock is not None and clock.limit is None  # Uplands sets no wait limit
    assert clock.elapsed == timedelta(minutes=40)
    assert wait_findings(visit.state, uplands, visit.now) == ()


def test_overdue_when_not_away_from_the_home_by_the_expected_time_plus_grace(
    uplands: Pack,
) -> None:
    visit = walk(uplands, until=c.SignOut)
    due = visit.now + timedelta(hours=2)
    visit.do(c.SignOut(expected_return=due, vehicles=("AB12 CDE",), told=("safeguarding_team",),
                       checks=("roles_clarified", "mobile_phone", "money")))
    deadline = due + timedelta(minutes=uplands.overdue.grace_minutes)
    assert overdue(visit.state, uplands, deadline - timedelta(seconds=1)) is None
    late = overdue(visit.state, uplands, deadline)
    assert late is not None and late.what == "not_left" and late.since == deadline
    assert late.escalation == uplands.overdue.escalation


def test_overdue_uses_the_leave_time_when_one_was_given(uplands: Pack) -> None:
    visit = walk(uplands, until=c.SignOut)
    leave_by = visit.now + timedelta(minutes=45)
    visit.do(c.SignOut(expected_return=visit.now + timedelta(hours=2), expected_leave=leave_by,
                       vehicles=("AB12 CDE",), told=("safeguarding_team",),
                       checks=("roles_clarified", "mobile_phone", "money")))
    grace = timedelta(minutes=uplands.overdue.grace_minutes)
    late = overdue(visit.state, uplands, leave_by + grace)
    assert late is not None and late.what == "not_left"


def test_overdue_after_leaving_when_not_back_by_the_expected_return(uplands: Pack) -> None:
    visit = walk(uplands, until=c.Return)
    assert visit.state.sign_out is not None

    due = datetime.fromisoformat(visit.state.sign_out.detail["expected_return"])
    late = overdue(visit.state, uplands, due + timedelta(hours=1))
    assert late is not None and late.what == "not_back"
    visit.do(c.Return())
    assert overdue(visit.state, uplands, due + timedelta(hours=1)) is None


def test_a_visit_not_yet_signed_out_is_never_overdue(uplands: Pack) -> None:
    visit = walk(uplands, until=c.SignOut)
    assert overdue(visit.state, uplands, T0 + timedelta(days=1)) is None
