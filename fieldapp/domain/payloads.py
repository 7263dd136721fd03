"""What each type of event carries: one table of payload schemas, checked before an event is
stored anywhere it will be read by someone else (a push or a sealed record at the hub).

The engine writes payloads of exactly these shapes (tests/unit/test_payloads.py walks every
journey of every school through `check_event`), so whatever passes here folds, shows on the
board and goes back out in a pull. Anything else is refused with the field and the reason:
a missing or unknown key, a value of the wrong kind, a time without its UTC offset, text with
control characters or too long for its field. The only numbers are whole minutes, up to a
week, so NaN, Infinity and 1e400 (which JSON decoders turn into floats) never pass, and no
field nests deeper than a plan's list of staff.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any, Final

from fieldapp.domain.events import Event, EventError, EventType
from fieldapp.domain.policy import CONCERN_KINDS, WHO_ANSWERS

E = EventType
# A check answers None for a good value, else what is wrong with it.
Check = Callable[[Any], str | None]

ID: Final = 64  # a staff id, a checklist item, a pack role
NAME: Final = 200  # a person's name, an address, a step's label
NOTE: Final = 4000  # what staff write: a summary, a reason, a note
LIST: Final = 50  # items in one list: staff, vehicles, actions, answers
WEEK: Final = 7 * 24 * 60  # minutes
# Free text may hold line breaks and tabs; no other control character (NUL included), and no
# lone surrogate (which no UTF-8 text can carry).
_NOT_TEXT: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]").search


def text(most: int) -> Check:
    """Free text of at most `most` characters: line breaks and tabs allowed."""
    def check(value: Any) -> str | None:
        if type(value) is not str:
            return "expected text"
        if len(value) > most:
            return f"at most {most} characters"
        if _NOT_TEXT(value):
            return "control characters are not allowed"
        return None
    return check


def word(most: int, least: int = 0) -> Check:
    """One line of `least` to `most` characters with no control characters (ids, names)."""
    def check(value: Any) -> str | None:
        if type(value) is not str:
            return "expected text"
        if not least <= len(value) <= most:
            return f"{least} to {most} characters"
        if value and not value.isprintable():
            return "control characters are not allowed"
        return None
    return check


def flag(value: Any) -> str | None:
    return None if type(value) is bool else "expected true or false"


def time(value: Any) -> str | None:
    """An ISO 8601 time with its UTC offset, within what UTC can hold."""
    if type(value) is not str or len(value) > 40:
        return "expected an ISO 8601 time"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return "expected an ISO 8601 time"
    if parsed.tzinfo is None:
        return "the time must carry its UTC offset"
    try:
        parsed.astimezone(UTC)
    except OverflowError:
        return "out of range in UTC"
    return None


def day(value: Any) -> str | None:
    """An ISO 8601 date: 2026-12-04."""
    if type(value) is not str or len(value) != 10:
        return "expected an ISO 8601 date"
    try:
        date.fromisoformat(value)
    except ValueError:
        return "expected an ISO 8601 date"
    return None


def degrees(most: int) -> Check:
    """A latitude or longitude: a finite number from -most to most."""
    def check(value: Any) -> str | None:
        if type(value) not in (int, float) or not math.isfinite(value) or abs(value) > most:
            return f"a number of degrees from -{most} to {most}"
        return None
    return check


def minutes(value: Any) -> str | None:
    """A whole number of minutes, up to a week."""
    if type(value) is not int or not 0 <= value <= WEEK:
        return f"a whole number of minutes from 0 to {WEEK}"
    return None


def maybe(check: Check) -> Check:
    """`check`, or null."""
    return lambda value: None if value is None else check(value)


def one_of(*choices: str) -> Check:
    allowed = frozenset(choices)
    return lambda value: None if type(value) is str and value in allowed else (
        f"one of {', '.join(choices)}")


def listed(check: Check, most: int = LIST) -> Check:
    def checker(value: Any) -> str | None:
        if type(value) is not list:
            return "expected a list"
        if len(value) > most:
            return f"at most {most} items"
        for index, item in enumerate(value):
            problem = check(item)
            if problem is not None:
                return f"[{index}]: {problem}"
        return None
    return checker


def keyed(key: Check, value: Check) -> Check:
    """An object of up to LIST entries, each key and value checked."""
    def checker(found: Any) -> str | None:
        if type(found) is not dict:
            return "expected an object"
        if len(found) > LIST:
            return f"at most {LIST} entries"
        for name, item in found.items():
            problem = key(name) or value(item)
            if problem is not None:
                return f"{str(name)[:ID]!r}: {problem}"
        return None
    return checker


Fields = Mapping[str, tuple[Check, bool]]  # name -> (check, required)


def record(fields: Fields) -> Check:
    """An object with exactly these fields: every required one, no unknown one."""
    required = frozenset(name for name, (_check, needed) in fields.items() if needed)

    def checker(found: Any) -> str | None:
        if type(found) is not dict:
            return "expected an object"
        missing = required.difference(found)
        if missing:
            return f"missing {', '.join(sorted(missing))}"
        for name, value in found.items():
            spec = fields.get(name)
            if spec is None:
                return f"unknown field {str(name)[:ID]!r}"
            problem = spec[0](value)
            if problem is not None:
                return f"{name}: {problem}"
        return None
    return checker


def needs(**checks: Check) -> Fields:
    return {name: (check, True) for name, check in checks.items()}


def may(**checks: Check) -> Fields:
    return {name: (check, False) for name, check in checks.items()}


STAFF: Final = record(needs(staff_id=word(ID, 1), name=word(NAME), safeguarding_trained=flag,
                            knows_family=flag, mobile=word(32)))
ACTION: Final = record({**needs(what=text(NOTE), by_whom=word(NAME)), **may(due=maybe(day))})
POSITION: Final = record(needs(lat=degrees(90), lon=degrees(180)))
NOTHING: Final = record({})

# The payload of each event type, as the engine writes it (fieldapp.domain.before, door,
# inside, after, facts; the duress alert in fieldapp.store.session).
PAYLOADS: Final[Mapping[EventType, Check]] = {
    E.PLANNED: record({**needs(
        pack_id=word(ID, 1), child_ref=word(ID), child_name=word(NAME), address=text(NAME),
        purpose=text(NOTE), scheduled_at=time, staff=listed(STAFF, 10), announced=flag,
        notice_exception=word(ID), first_visit=flag, lone_reason=text(NOTE), evening=flag,
        extended_duration_agreed_by=word(NAME), safe_phrase=word(NAME)),
        **may(telephone=word(32))}),
    E.RISK_ASSESSED: record({**needs(answers=keyed(word(ID, 1), flag), level=word(ID),
                                     mitigations=text(NOTE)),
                             **may(refused=listed(word(ID, 1)))}),
    E.AUTHORISED: record(needs(step=word(ID, 1), by=word(NAME), role=word(ID))),
    E.SIGNED_OUT: record(needs(
        expected_return=time, expected_leave=maybe(time), expected_arrival=maybe(time),
        vehicles=listed(word(NAME), 5), told=listed(word(ID), 10), safe_phrase_reminded=flag,
        checks=listed(word(ID)), emergency_number=word(32), mobile=word(32))),
    E.CHECKED_IN: record(needs(note=text(NOTE))),
    E.ARRIVED: NOTHING,
    E.NO_ANSWER: NOTHING,
    E.WAIT_STARTED: NOTHING,
    E.NOT_AT_HOME_NOTE_LEFT: record(needs(text=text(NOTE))),
    E.DOOR_ANSWERED: record(needs(by=one_of(*WHO_ANSWERS))),
    E.CHECKLIST_ANSWERED: record(needs(item=word(ID, 1), answer=one_of("yes", "no"))),
    E.ENTERED: NOTHING,
    E.DOORSTEP_ONLY: record(needs(reason=text(NOTE))),
    E.CANCELLED: record(needs(reason=text(NOTE), reason_to=word(NAME))),
    E.UPSTAIRS: record({**needs(room=one_of("upstairs", "bedroom", "bedroom_doorway"),
                                both_staff=flag),
                        **may(with_responsible_adult=flag, adult_goes_first=flag)}),
    E.ADULT_IN_ROOM: record(needs(present=flag)),
    E.CONCERN_RAISED: record(needs(kind=one_of(*CONCERN_KINDS), note=text(NOTE))),
    E.SAFE_PHRASE_USED: record({**needs(phrase=word(NAME), reception_phone=word(32)),
                                **may(position=POSITION)}),
    E.EMERGENCY_CALL: record({**needs(number=word(32)), **may(position=POSITION)}),
    E.DURESS_ALERT: record(needs(silent=flag)),
    E.ALERT_ACKNOWLEDGED: record(needs(alert=word(ID, 1), by=word(NAME), role=word(ID))),
    E.OUTCOME_RECORDED: record(needs(child_seen=flag, summary=text(NOTE),
                                     agreements=listed(text(NOTE)), actions=listed(ACTION))),
    E.LEFT: record(needs(returning_directly=flag, visit_minutes=maybe(minutes),
                         overran_minutes=maybe(minutes))),
    E.RETURNED: record(needs(to_school=flag)),
    E.DEBRIEFED: record(needs(with_whom=word(NAME), note=text(NOTE))),
    E.FOLLOW_UP_CREATED: record({**needs(follow_up_id=word(NAME, 1), kind=word(ID),
                                         text=text(NOTE)),
                                 **may(owner=word(NAME), due=day)}),
    E.FOLLOW_UP_DONE: record(needs(follow_up_id=word(NAME, 1))),
}


def payload_problem(event: Event) -> str | None:
    """What is wrong with the event's payload for its type, or None."""
    problem = PAYLOADS[event.type](event.payload)
    return None if problem is None else f"event.payload ({event.type.value}): {problem}"


def check_event(event: Event) -> Event:
    """The event, if its payload is what its type carries; an EventError saying what is wrong
    otherwise."""
    problem = payload_problem(event)
    if problem is not None:
        raise EventError(problem)
    return event
