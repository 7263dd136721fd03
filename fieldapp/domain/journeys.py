"""DESIGN.md's journeys 1-3 as command scripts generated from any pack.

A script is what a careful pair would tap, following the school's own pack: the sign-offs
it names, the answers its risk questions want, every doorstep check. Scripts are generators
over a SimulatedVisit, so each step can look at the state the earlier steps produced.
The walkthrough prints them; tests walk them for every pack.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Protocol

from fieldapp.domain import commands as c
from fieldapp.domain.facts import checklist_items, required_steps
from fieldapp.domain.policy import NoteRule, Pack, RiskEffect
from fieldapp.domain.state import Staff, VisitState


class Visit(Protocol):
    """What a journey looks at as it goes: a SimulatedVisit, or a phone's stored visit."""

    @property
    def pack(self) -> Pack: ...
    @property
    def now(self) -> datetime: ...
    @property
    def state(self) -> VisitState: ...


# A step: what the pair did, minutes since the previous step, and the command.
Step = tuple[str, float, c.Command]
Journey = Callable[[Visit], Iterator[Step]]

PAIR = (
    Staff("staff-ann", "Ann Patel", safeguarding_trained=True, knows_family=True,
          mobile="07700 900001"),
    Staff("staff-ben", "Ben Okafor", mobile="07700 900002"),
)


def _before_leaving(visit: Visit, announced: bool = True) -> Iterator[Step]:
    pack = visit.pack
    exception = "" if announced or not pack.notice.exceptions else pack.notice.exceptions[0].id
    yield "Planned the visit", 0, c.Plan(
        child_ref="UPN-0001", child_name="Sam Example", address="1 Example Street",
        purpose="Attendance: absent three days, no contact",
        scheduled_at=visit.now + timedelta(hours=1), staff=PAIR, announced=announced,
        notice_exception=exception, first_visit=True,
        safe_phrase="" if pack.safe_phrase.phrase else "blue umbrella",
    )
    yield "Risk assessed", 5, go_ahead_assessment(pack)
    for step in required_steps(visit.state, pack):
        yield f"Authorised: {step.label}", 5, c.Authorise(step.id, "A. Senior", step.roles[0])
    yield "Signed out", 10, c.SignOut(
        expected_return=visit.now + timedelta(hours=2),
        expected_arrival=visit.now + timedelta(minutes=30),
        expected_leave=visit.now + timedelta(hours=1, minutes=30), vehicles=("AB12 CDE",),
        told=tuple(who.split("|")[0] for who in pack.sign_out.tell), safe_phrase_reminded=True,
        checks=tuple(check.id for check in pack.sign_out.checks),
        emergency_number="0121 496 0000" if "emergency_number" in pack.sign_out.record else "",
    )
    if pack.sign_out.check_in_calls:
        yield "Phoned the office on the way", 15, c.CheckIn("nearly there")
    yield "Arrived at the address", 5, c.Arrive()
    for item in checklist_items(visit.state, pack, "arrival"):
        yield f"{item.ask} {item.answers['yes'].label}", 1, c.Answer(item.id, True)


def go_ahead_assessment(pack: Pack) -> c.AssessRisk:
    """The risk assessment under which the visit may go ahead: each question answered the way
    its pack allows, at the lowest level a first visit may have."""
    answers = {q.id: q.if_yes is RiskEffect.OK and q.if_no is not RiskEffect.OK
               for q in pack.risk.questions}
    level = pack.risk.first_visit_min or (pack.risk.levels[0] if pack.risk.levels else "")
    return c.AssessRisk(answers=answers, level=level)


def _home_again(visit: Visit) -> Iterator[Step]:
    if visit.pack.sign_out.check_in_calls:
        yield "Phoned the office on leaving", 1, c.CheckIn("left the property")
    yield "Back at school", 15, c.Return(to_school=True)
    yield "Debriefed", 30, c.Debrief("Line manager", "Went as planned")


def let_in(visit: Visit) -> Iterator[Step]:
    """Journey 1: planned visit, let in by a parent, outcome recorded, back at school."""
    yield from _before_leaving(visit)
    yield "Door answered by a parent", 1, c.DoorAnswered("parent")
    for item in checklist_items(visit.state, visit.pack, "door"):
        yield f"{item.ask} {item.answers['yes'].label}", 0.5, c.Answer(item.id, True)
    yield "Went in", 0.5, c.Enter()
    yield "Recorded the outcome", 12, c.RecordOutcome(
        child_seen=True, summary="Sam seen, well; mum agreed a plan for mornings",
        agreements=("Sam in school by 8:45 every day",),
        actions=(c.Action("Phone mum on Friday", "Ann Patel"),),
    )
    yield "Left the home", 1, c.Leave()
    yield from _home_again(visit)


def no_answer(visit: Visit) -> Iterator[Step]:
    """Journey 2: nobody answers; wait, leave the note where the policy has one, go."""
    yield from _before_leaving(visit)
    yield "Knocked: no answer", 1, c.NoAnswer()
    limit = visit.pack.wait.no_answer_minutes
    if limit is not None:  # the school's wait limit runs out: the visit is cancelled
        yield f"Waited {limit} minutes: cancelled", limit, c.Cancel("nobody came to the door")
    elif visit.pack.not_at_home.note is not NoteRule.NONE:
        yield "Posted the Not-at-Home note", 5, c.LeaveNote()
    yield "Left the home", 1, c.Leave()
    yield from _home_again(visit)


def child_at_door(visit: Visit) -> Iterator[Step]:
    """Journey 3: a child alone opens the door; staff do not go in and contact the DSL."""
    yield from _before_leaving(visit)
    yield "Door answered by a child on their own", 1, c.DoorAnswered("unsupervised_child")
    yield "Tried to go in", 0.5, c.Enter()
    yield "Raised a concern: child home alone", 1, c.RaiseConcern("child_alone", "age about 7")
    yield "Left the home", 2, c.Leave()
    yield from _home_again(visit)


JOURNEYS: dict[str, Journey] = {
    "let-in": let_in, "no-answer": no_answer, "child-at-door": child_at_door,
}
