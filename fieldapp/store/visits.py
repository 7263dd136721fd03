"""Recording a tap: the imperative shell around the engine, as the app runs it.

gather (fold the visit's stored events) -> decide -> stamp -> append (durable before it
returns) -> the screen re-renders from the fold. The phone's screens and the headless phone
(`fieldapp-phone`) both record through here, so they run the same code.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from typing import Final

from fieldapp.domain.commands import AssessRisk, Authorise, Command, Plan
from fieldapp.domain.events import Author
from fieldapp.domain.findings import Decision
from fieldapp.domain.journeys import Journey
from fieldapp.domain.policy import Pack
from fieldapp.domain.rules import decide, stamp
from fieldapp.domain.state import VisitState, fold
from fieldapp.store.repository import Repository


def record(repository: Repository, visit_id: str, command: Command, pack: Pack, by: Author,
           now: datetime, entropy: Callable[[], bytes] = lambda: os.urandom(10)) -> Decision:
    """Decide on `command` for the visit as stored, and store what it decided to record
    (CommandError and IllegalTransition pass through, and nothing is stored)."""
    state = fold(repository.events(visit_id))
    decision = decide(state, command, pack, now, by=by)
    if decision.drafts:
        repository.append(stamp(state, decision, visit_id, by, now, entropy))
    return decision


# The school's part of a journey, done at the console before the pair sign out.
AT_SCHOOL: Final = (Plan, AssessRisk, Authorise)


class _Stored:
    """A stored visit as a journey sees it (fieldapp.domain.journeys.Visit)."""

    def __init__(self, repository: Repository, visit_id: str, pack: Pack,
                 clock: Callable[[], datetime]) -> None:
        self.repository, self.visit_id, self.pack, self._clock = repository, visit_id, pack, clock

    @property
    def now(self) -> datetime:
        return self._clock()

    @property
    def state(self) -> VisitState:
        return fold(self.repository.events(self.visit_id))


def walk_journey(repository: Repository, visit_id: str, journey: Journey, pack: Pack,
                 by: Author, clock: Callable[[], datetime],
                 ) -> list[tuple[str, Decision]]:
    """Record a journey (fieldapp.domain.journeys) for a visit the school has authorised, from
    sign-out on, one command at a time as the app's screens would, at the phone's clock."""
    stored = _Stored(repository, visit_id, pack, clock)
    return [(label, record(repository, visit_id, command, pack, by, clock()))
            for label, _minutes, command in journey(stored) if not isinstance(command, AT_SCHOOL)]
