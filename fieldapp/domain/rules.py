"""The rules engine: `decide(state, command, pack, now)` -> events to record, or refusals.

Each command is checked against the visit's state and the school's pack. What comes back is a
Decision: drafts of the events to append (stamped by `stamp`) and findings (refusals,
instructions, warnings, next steps), each citing the policy. A command the lifecycle does not
allow in the visit's phase raises IllegalTransition; a malformed one raises CommandError.
Leaving is never refused: staff safety comes before paperwork.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import fields
from datetime import datetime, timedelta
from typing import Any, Final

from fieldapp.domain import after, before, door, inside
from fieldapp.domain import commands as c
from fieldapp.domain.events import (
    Author,
    Event,
    EventError,
    EventType,
    event_id_time,
    new_event_id,
)
from fieldapp.domain.findings import Decision, Finding, Kind
from fieldapp.domain.lifecycle import next_phase
from fieldapp.domain.payloads import PAYLOADS
from fieldapp.domain.policy import Pack
from fieldapp.domain.state import VisitState

E = EventType


# A phone's clock may step back a little (a network time correction, a restart): up to this,
# a command timed before the phone's own last entry on the visit is still taken.
CLOCK_STEP_BACK: Final = timedelta(minutes=2)
# Getting help, raising a concern and getting away are never refused for the phone's clock.
ANY_TIME: Final = (c.UseSafePhrase, c.EmergencyCall, c.RaiseConcern, c.Leave)


def decide(
    state: VisitState, command: c.Command, pack: Pack, now: datetime, *, by: Author
) -> Decision:
    """What `command`, given by `by` (staff and device) at `now` by that device's clock,
    decides for the visit in `state` under its school's `pack`."""
    if now.tzinfo is None:
        raise c.CommandError("the time given to the engine must be timezone-aware")
    behind = clock_behind(state, pack, now, by)
    if behind is not None and not isinstance(command, ANY_TIME):
        raise c.CommandError(f"{behind.because}. {behind.say}")
    if behind is not None:  # taken, but it cannot make the visit shorter than it was
        now = state.device_clocks[by.device_id]
    planned_under = state.plan.get("pack_id")
    if planned_under and planned_under != pack.id:
        raise c.CommandError(f"this visit was planned under the policy pack '{planned_under}', "
                             f"not '{pack.id}': use its own school's pack")
    _yes_or_no(command)
    primary, handler = _HANDLERS[type(command)]
    next_phase(state.phase, primary)  # IllegalTransition names the event and the phase
    decision: Decision = handler(state, command, pack, now)
    phase = state.phase
    for draft in decision.drafts:
        phase = next_phase(phase, draft.type)
        # What staff typed must fit the event it becomes (the hub refuses any other): text
        # too long for its field, or with control characters, is refused here, not later.
        problem = PAYLOADS[draft.type](dict(draft.payload))
        if problem is not None:
            raise c.CommandError(f"{draft.type.value}: {problem}")
    return decision


def clock_behind(state: VisitState, pack: Pack, now: datetime, by: Author) -> Finding | None:
    """Why this device may not record now, if its clock reads more than CLOCK_STEP_BACK before
    its own last entry on the visit (a backdated entry, or a clock set back): None otherwise.
    Only the device's own entries count: the partner's phone may be hours ahead, and a phone
    that pulls its partner's later events is never locked out."""
    last = state.device_clocks.get(by.device_id)
    if last is None or now >= last - CLOCK_STEP_BACK:
        return None
    zone = pack.hours.zone
    return Finding(
        Kind.REFUSAL, "clock_behind",
        f"Check this phone's date and time: it can record again from "
        f"{last.astimezone(zone):%H:%M}. Leaving, the safe phrase, 999 and raising a concern "
        "work meanwhile.",
        f"this phone's clock reads {now.astimezone(zone):%d %b %H:%M}, before its own last "
        f"entry on this visit at {last.astimezone(zone):%d %b %H:%M}", pack.school, "")


def _yes_or_no(command: c.Command) -> None:
    """A yes-or-no in a command is True or False, never a value read by its truthiness (the
    text "no" is truthy): anything else is a malformed command."""
    flags = [(f.name, getattr(command, f.name)) for f in fields(command)
             if f.type in ("bool", bool)]
    if isinstance(command, c.AssessRisk):
        flags += [(f"answers[{key!r}]", value) for key, value in command.answers.items()]
    for name, value in flags:
        if type(value) is not bool:
            raise c.CommandError(f"{name}: answer yes or no (true or false), not {value!r}")


def stamp(
    state: VisitState, decision: Decision, visit_id: str, author: Author, now: datetime,
    entropy: Callable[[], bytes],
) -> tuple[Event, ...]:
    """Turn a decision's drafts into events whose ids sort after everything the visit holds."""
    last = max(state.event_ids, default="")
    events = []
    for draft in decision.drafts:
        event_id = new_event_id(now, entropy())
        if event_id <= last:  # the same millisecond as the last event, or a clock behind a
            # partner's (by hours, perhaps): the id takes the next millisecond after the last
            with contextlib.suppress(OverflowError, EventError):  # past the last id there is
                event_id = new_event_id(  # no time: the event keeps its own (it is recorded)
                    event_id_time(last) + timedelta(milliseconds=1), entropy())
        events.append(Event(id=event_id, visit_id=visit_id, type=draft.type, at=now,
                            author=author, payload=dict(draft.payload)))
        last = event_id
    return tuple(events)


_Handler = Callable[[VisitState, Any, Pack, datetime], Decision]


_HANDLERS: dict[type, tuple[EventType, _Handler]] = {
    c.Plan: (E.PLANNED, before.plan),
    c.AssessRisk: (E.RISK_ASSESSED, before.assess_risk),
    c.Authorise: (E.AUTHORISED, before.authorise),
    c.SignOut: (E.SIGNED_OUT, before.sign_out),
    c.CheckIn: (E.CHECKED_IN, door.check_in),
    c.Arrive: (E.ARRIVED, door.arrive),
    c.NoAnswer: (E.NO_ANSWER, door.no_answer),
    c.ParentRunningLate: (E.WAIT_STARTED, door.running_late),
    c.LeaveNote: (E.NOT_AT_HOME_NOTE_LEFT, door.leave_note),
    c.DoorAnswered: (E.DOOR_ANSWERED, door.door_answered),
    c.Answer: (E.CHECKLIST_ANSWERED, door.answer),
    c.Enter: (E.ENTERED, door.enter),
    c.DoorstepOnly: (E.DOORSTEP_ONLY, door.doorstep_only),
    c.Cancel: (E.CANCELLED, door.cancel),
    c.GoUpstairs: (E.UPSTAIRS, inside.go_upstairs),
    c.EnterBedroom: (E.UPSTAIRS, inside.enter_bedroom),
    c.AdultInRoom: (E.ADULT_IN_ROOM, inside.adult_in_room),
    c.RaiseConcern: (E.CONCERN_RAISED, inside.raise_concern),
    c.UseSafePhrase: (E.SAFE_PHRASE_USED, inside.use_safe_phrase),
    c.EmergencyCall: (E.EMERGENCY_CALL, inside.emergency_call),
    c.AcknowledgeAlert: (E.ALERT_ACKNOWLEDGED, inside.acknowledge_alert),
    c.RecordOutcome: (E.OUTCOME_RECORDED, inside.record_outcome),
    c.Leave: (E.LEFT, after.leave),
    c.Return: (E.RETURNED, after.return_to_school),
    c.Debrief: (E.DEBRIEFED, after.debrief),
    c.CreateFollowUp: (E.FOLLOW_UP_CREATED, after.create_follow_up),
    c.CompleteFollowUp: (E.FOLLOW_UP_DONE, after.complete_follow_up),
}
