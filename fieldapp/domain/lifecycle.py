"""The visit lifecycle: one transition table, read top to bottom.

A visit is in one phase at a time. Each event either moves it to another phase or keeps it
where it is; any pair not in the table is an illegal move. Policy (who may do what, and when)
is the rules engine's business: this table only says which facts can follow which.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Final

from fieldapp.domain.events import EventType as E


class Phase(StrEnum):
    NEW = "new"  # no events yet
    PLANNED = "planned"  # planned, awaiting risk assessment and authorisation
    AUTHORISED = "authorised"
    SIGNED_OUT = "signed_out"  # left school, on the way
    ARRIVED = "arrived"  # at the address, not yet knocked
    WAITING = "waiting"  # no answer, or the parent is running late: the wait timer runs
    AT_DOOR = "at_door"  # the door is open: the doorstep checklist
    INSIDE = "inside"
    DOORSTEP = "doorstep"  # the visit held on the doorstep
    NOT_AT_HOME = "not_at_home"  # nobody came; the Not-at-Home note is left
    CALLED_OFF = "called_off"  # cancelled after leaving school: still to get away safely
    LEFT = "left"  # away from the home, on the way back
    RETURNED = "returned"  # back at school, or phoned in
    DEBRIEFED = "debriefed"
    CANCELLED = "cancelled"  # cancelled before anyone left school


class IllegalTransition(ValueError):
    def __init__(self, event: E, phase: Phase) -> None:
        super().__init__(f"cannot record '{event.value}' while the visit is '{phase.value}'")
        self.event = event
        self.phase = phase


P = Phase

# Away from school and not yet back: the phases in which staff may need help.
OUT: Final = (P.SIGNED_OUT, P.ARRIVED, P.WAITING, P.AT_DOOR, P.INSIDE, P.DOORSTEP,
              P.NOT_AT_HOME, P.CALLED_OFF, P.LEFT)
# At the address, before leaving it.
ON_SITE: Final = (P.ARRIVED, P.WAITING, P.AT_DOOR, P.INSIDE, P.DOORSTEP, P.NOT_AT_HOME,
                  P.CALLED_OFF)
FINISHED: Final = (P.LEFT, P.RETURNED, P.DEBRIEFED, P.CANCELLED)

_MOVES: Final[dict[tuple[Phase, E], Phase]] = {
    # before leaving school
    (P.NEW, E.PLANNED): P.PLANNED,
    (P.PLANNED, E.RISK_ASSESSED): P.PLANNED,
    (P.PLANNED, E.AUTHORISED): P.AUTHORISED,
    (P.AUTHORISED, E.AUTHORISED): P.AUTHORISED,  # a second sign-off, where a policy wants two
    (P.AUTHORISED, E.RISK_ASSESSED): P.PLANNED,  # a new assessment needs a fresh authorisation
    (P.PLANNED, E.CANCELLED): P.CANCELLED,
    (P.AUTHORISED, E.CANCELLED): P.CANCELLED,
    (P.AUTHORISED, E.SIGNED_OUT): P.SIGNED_OUT,
    # on the way and at the address
    (P.SIGNED_OUT, E.ARRIVED): P.ARRIVED,
    (P.SIGNED_OUT, E.CANCELLED): P.CALLED_OFF,
    (P.ARRIVED, E.CHECKLIST_ANSWERED): P.ARRIVED,  # before knocking
    (P.ARRIVED, E.NO_ANSWER): P.WAITING,
    (P.ARRIVED, E.WAIT_STARTED): P.WAITING,
    (P.ARRIVED, E.DOOR_ANSWERED): P.AT_DOOR,
    (P.WAITING, E.NO_ANSWER): P.WAITING,
    (P.WAITING, E.WAIT_STARTED): P.WAITING,
    (P.WAITING, E.DOOR_ANSWERED): P.AT_DOOR,
    (P.WAITING, E.NOT_AT_HOME_NOTE_LEFT): P.NOT_AT_HOME,
    (P.AT_DOOR, E.DOOR_ANSWERED): P.AT_DOOR,  # someone else comes to the door
    (P.AT_DOOR, E.CHECKLIST_ANSWERED): P.AT_DOOR,
    (P.AT_DOOR, E.ENTERED): P.INSIDE,
    (P.AT_DOOR, E.DOORSTEP_ONLY): P.DOORSTEP,
    (P.INSIDE, E.CHECKLIST_ANSWERED): P.INSIDE,
    (P.INSIDE, E.UPSTAIRS): P.INSIDE,
    (P.INSIDE, E.ADULT_IN_ROOM): P.INSIDE,
    (P.INSIDE, E.DOORSTEP_ONLY): P.DOORSTEP,  # stepped back out to finish on the doorstep
    (P.INSIDE, E.OUTCOME_RECORDED): P.INSIDE,
    (P.DOORSTEP, E.CHECKLIST_ANSWERED): P.DOORSTEP,
    (P.DOORSTEP, E.OUTCOME_RECORDED): P.DOORSTEP,
    # after the visit
    (P.LEFT, E.OUTCOME_RECORDED): P.LEFT,
    (P.LEFT, E.RETURNED): P.RETURNED,
    (P.RETURNED, E.OUTCOME_RECORDED): P.RETURNED,
    (P.RETURNED, E.CONCERN_RAISED): P.RETURNED,
    (P.RETURNED, E.DEBRIEFED): P.DEBRIEFED,
    (P.DEBRIEFED, E.CONCERN_RAISED): P.DEBRIEFED,
}
# Calling it off is possible anywhere at the address; leaving is never blocked.
for _phase in (P.ARRIVED, P.WAITING, P.AT_DOOR, P.INSIDE, P.DOORSTEP):
    _MOVES[(_phase, E.CANCELLED)] = P.CALLED_OFF
for _phase in ON_SITE:
    _MOVES[(_phase, E.LEFT)] = P.LEFT
# Help, check-in calls and concerns, whenever staff are out.
for _phase in OUT:
    for _event in (E.CHECKED_IN, E.SAFE_PHRASE_USED, E.EMERGENCY_CALL, E.CONCERN_RAISED):
        _MOVES[(_phase, _event)] = _phase
# A duress unlock raises a silent alert on whatever the phone holds, in any phase; and an
# alert is acknowledged at school in whatever phase the visit has reached since.
for _phase in Phase:
    _MOVES[(_phase, E.DURESS_ALERT)] = _phase
    _MOVES[(_phase, E.ALERT_ACKNOWLEDGED)] = _phase
# Follow-ups, once the visit is over or called off.
for _phase in FINISHED:
    for _event in (E.FOLLOW_UP_CREATED, E.FOLLOW_UP_DONE):
        _MOVES[(_phase, _event)] = _phase

TRANSITIONS: Final[Mapping[tuple[Phase, E], Phase]] = _MOVES

# Facts from the other phone or the console that a merge may hold in an order no one phone
# recorded them in: the school re-assessed, signed off or cancelled while the pair, not yet
# synced, were setting out. The pair are where their own facts say (out, with help a tap
# away): a late assessment or sign-off is kept without calling them back, and a sign-out
# after one is never set aside. `fold` uses these; `decide` never does.
_LATE: dict[tuple[Phase, E], Phase] = {
    (P.PLANNED, E.SIGNED_OUT): P.SIGNED_OUT,
    (P.CANCELLED, E.SIGNED_OUT): P.SIGNED_OUT,
}
for _phase in (*OUT, P.RETURNED, P.DEBRIEFED):
    for _event in (E.RISK_ASSESSED, E.AUTHORISED):
        _LATE[(_phase, _event)] = _phase
assert not set(_LATE) & set(_MOVES)  # a late fact is never one staff may record now
LATE: Final[Mapping[tuple[Phase, E], Phase]] = _LATE


def next_phase(phase: Phase, event: E) -> Phase:
    """The phase after `event` in `phase`; IllegalTransition names both if the move is illegal."""
    try:
        return TRANSITIONS[(phase, event)]
    except KeyError:
        raise IllegalTransition(event, phase) from None


def merged_phase(phase: Phase, event: E) -> Phase:
    """Like `next_phase`, for a merge of two phones' and the console's events: late facts
    (LATE) are kept too."""
    late = LATE.get((phase, event))
    return late if late is not None else next_phase(phase, event)


def allowed(phase: Phase) -> frozenset[E]:
    """The events that may be recorded in `phase`."""
    return frozenset(event for (source, event) in TRANSITIONS if source is phase)
