"""Test support: a visit walked to any point of a journey, under any pack."""

from __future__ import annotations

from datetime import UTC, datetime

from fieldapp.domain.commands import Command
from fieldapp.domain.events import Author
from fieldapp.domain.journeys import Journey, let_in
from fieldapp.domain.policy import Pack
from fieldapp.domain.simulate import SimulatedVisit

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
PHONE = Author("staff-1", "phone-1")  # a SimulatedVisit's author


def walk(pack: Pack, until: type[Command] | None = None, journey: Journey = let_in,
         skip: int = 0, refusals: int = 0) -> SimulatedVisit:
    """A visit taken through `journey`, stopping before the first command of type `until`
    (after skipping `skip` of them). Exactly `refusals` steps on the way are refused."""
    visit = SimulatedVisit(pack, T0)
    for label, minutes, command in journey(visit):
        if until is not None and isinstance(command, until):
            if skip == 0:
                return visit
            skip -= 1
        decision = visit.do(command, after_minutes=minutes)
        if not decision.accepted:
            refusals -= 1
            assert refusals >= 0, (label, decision.findings)
    assert until is None, f"the journey never reached {until.__name__}"
    assert refusals == 0, "fewer refusals than expected"
    return visit
