"""Commands: what staff ask the app to do. The engine turns each into events or refusals.

Commands carry only what staff said or tapped. Time, the policy pack and the visit's state
are the engine's other inputs. A command that is malformed in itself (an unknown checklist
item, a cancellation without a reason) raises CommandError; one the policy forbids is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from fieldapp.domain.state import Staff


class CommandError(ValueError):
    """The command itself is malformed: nothing to do with policy."""


@dataclass(frozen=True, slots=True)
class Plan:
    child_ref: str  # the school's reference for the pupil, not a name
    child_name: str
    address: str
    purpose: str
    scheduled_at: datetime  # local wall-clock time with its UTC offset
    staff: tuple[Staff, ...]
    announced: bool = True  # parents told in advance
    notice_exception: str = ""  # why not, for an unannounced visit: an exception id from the pack
    first_visit: bool = False
    lone_reason: str = ""  # why fewer staff than the pack wants, where it allows that
    extended_duration_agreed_by: str = ""  # a longer visit agreed before booking
    safe_phrase: str = ""  # the pair's own safe word, where the policy has them agree one
    telephone: str = ""  # the family's number, for the Home Visit Form


@dataclass(frozen=True, slots=True)
class AssessRisk:
    answers: Mapping[str, bool]  # question id -> yes?
    level: str = ""
    mitigations: str = ""


@dataclass(frozen=True, slots=True)
class Authorise:
    step: str
    by: str
    role: str


@dataclass(frozen=True, slots=True)
class SignOut:
    expected_return: datetime
    vehicles: tuple[str, ...] = ()  # registrations, or "on foot"
    told: tuple[str, ...] = ()  # who was told: "reception", "dsl", ...
    expected_leave: datetime | None = None  # when they expect to leave the home
    expected_arrival: datetime | None = None  # when they expect to arrive there
    safe_phrase_reminded: bool = False
    checks: tuple[str, ...] = ()  # the pack's sign-out checks that staff ticked
    emergency_number: str = ""  # whom the office calls in an emergency, where the pack asks
    mobile: str = ""  # the lead visitor's mobile, where the plan does not carry it


@dataclass(frozen=True, slots=True)
class CheckIn:
    note: str = ""


@dataclass(frozen=True, slots=True)
class Arrive:
    pass


@dataclass(frozen=True, slots=True)
class NoAnswer:
    pass


@dataclass(frozen=True, slots=True)
class ParentRunningLate:
    pass


@dataclass(frozen=True, slots=True)
class LeaveNote:
    pass


@dataclass(frozen=True, slots=True)
class DoorAnswered:
    by: str  # parent | delegated_adult | unsupervised_child | sibling | unknown


@dataclass(frozen=True, slots=True)
class Answer:
    item: str
    yes: bool


@dataclass(frozen=True, slots=True)
class Enter:
    pass


@dataclass(frozen=True, slots=True)
class DoorstepOnly:
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Cancel:
    reason: str


@dataclass(frozen=True, slots=True)
class GoUpstairs:
    with_responsible_adult: bool
    both_staff: bool
    safe_and_necessary: bool


@dataclass(frozen=True, slots=True)
class EnterBedroom:
    adult_goes_first: bool
    doorway_only: bool
    both_staff: bool


@dataclass(frozen=True, slots=True)
class AdultInRoom:
    present: bool  # False: the parent or responsible adult has left the room; True: is back


@dataclass(frozen=True, slots=True)
class RaiseConcern:
    kind: str  # child_alone | immediate_danger | disclosure | staff_unsafe | threatened | other
    note: str = ""


# Where the phone last knew it was, where the person allowed location: (latitude, longitude).
Position = tuple[float, float]


@dataclass(frozen=True, slots=True)
class UseSafePhrase:
    position: Position | None = None


@dataclass(frozen=True, slots=True)
class EmergencyCall:
    position: Position | None = None


@dataclass(frozen=True, slots=True)
class AcknowledgeAlert:
    """At the console: someone at school has seen the alert and is acting on it."""

    alert_id: str  # the alert's event id
    by: str  # who acknowledged, by name
    role: str  # as what: reception, dsl


@dataclass(frozen=True, slots=True)
class Action:
    what: str
    by_whom: str = ""
    due: date | None = None  # by when


@dataclass(frozen=True, slots=True)
class RecordOutcome:
    child_seen: bool
    summary: str
    agreements: tuple[str, ...] = ()
    actions: tuple[Action, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Leave:
    returning_directly: bool = True


@dataclass(frozen=True, slots=True)
class Return:
    to_school: bool = True  # False: not returning, phoned the school instead


@dataclass(frozen=True, slots=True)
class Debrief:
    with_whom: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class CreateFollowUp:
    follow_up_id: str
    kind: str
    text: str
    owner: str = ""  # who is to do it
    due: date | None = None  # by when


@dataclass(frozen=True, slots=True)
class CompleteFollowUp:
    follow_up_id: str


Command = (
    Plan | AssessRisk | Authorise | SignOut | CheckIn | Arrive | NoAnswer | ParentRunningLate
    | LeaveNote | DoorAnswered | Answer | Enter | DoorstepOnly | Cancel | GoUpstairs
    | EnterBedroom | AdultInRoom | RaiseConcern | UseSafePhrase | EmergencyCall | RecordOutcome
    | Leave | Return | Debrief | CreateFollowUp | CompleteFollowUp | AcknowledgeAlert
)
