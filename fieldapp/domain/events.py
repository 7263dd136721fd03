"""Events: the append-only facts a visit is made of, their ids, wire form and merging.

A visit's history is a list of events. Nothing here reads a clock or a random source: the
shell passes the time and the entropy in, so the same inputs always give the same events.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

FORMAT = 1  # version of an event's stored and wire form

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_ID_LENGTH = 26
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class EventType(StrEnum):
    PLANNED = "planned"
    RISK_ASSESSED = "risk_assessed"
    AUTHORISED = "authorised"
    SIGNED_OUT = "signed_out"
    CHECKED_IN = "checked_in"  # phoned the office, as some policies ask on arrival and leaving
    ARRIVED = "arrived"
    NO_ANSWER = "no_answer"
    WAIT_STARTED = "wait_started"  # the parent said they are running late
    NOT_AT_HOME_NOTE_LEFT = "not_at_home_note_left"
    DOOR_ANSWERED = "door_answered"
    CHECKLIST_ANSWERED = "checklist_answered"
    ENTERED = "entered"
    DOORSTEP_ONLY = "doorstep_only"
    CANCELLED = "cancelled"
    UPSTAIRS = "upstairs"
    CONCERN_RAISED = "concern_raised"
    SAFE_PHRASE_USED = "safe_phrase_used"
    EMERGENCY_CALL = "emergency_call"
    DURESS_ALERT = "duress_alert"  # the phone was opened with the duress PIN: a silent alert
    OUTCOME_RECORDED = "outcome_recorded"
    LEFT = "left"
    RETURNED = "returned"
    DEBRIEFED = "debriefed"
    FOLLOW_UP_CREATED = "follow_up_created"
    FOLLOW_UP_DONE = "follow_up_done"


class EventError(ValueError):
    """An event, or a list of them, is malformed or contradicts another."""


@dataclass(frozen=True, slots=True)
class Author:
    staff_id: str
    device_id: str


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    visit_id: str
    type: EventType
    at: datetime  # the recording device's time, timezone-aware
    author: Author
    payload: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": FORMAT,
            "id": self.id,
            "visit_id": self.visit_id,
            "type": self.type.value,
            "at": self.at.astimezone(UTC).isoformat(),
            "author": {"staff_id": self.author.staff_id, "device_id": self.author.device_id},
            "payload": dict(self.payload),
        }

    @classmethod
    def from_dict(cls, data: Any) -> Event:
        """Rebuild an event from its stored or wire form; anything malformed is an EventError."""
        if not isinstance(data, Mapping):
            raise EventError("event: expected an object")
        if type(data.get("v")) is not int or data.get("v") != FORMAT:
            raise EventError(f"event: unsupported format version {data.get('v')!r}")
        event_id = data.get("id")
        if not isinstance(event_id, str) or not is_event_id(event_id):
            raise EventError(f"event.id: expected a 26-character event id, got {event_id!r}")
        visit_id = data.get("visit_id")
        if not isinstance(visit_id, str) or not visit_id:
            raise EventError("event.visit_id: expected a non-empty string")
        try:
            event_type = EventType(str(data.get("type")))
        except ValueError:
            raise EventError(f"event.type: unknown event type {data.get('type')!r}") from None
        at = _parse_time(data.get("at"))
        author = data.get("author")
        if not (
            isinstance(author, Mapping)
            and isinstance(author.get("staff_id"), str)
            and isinstance(author.get("device_id"), str)
        ):
            raise EventError("event.author: expected {staff_id, device_id} strings")
        payload = data.get("payload")
        if not isinstance(payload, Mapping):
            raise EventError("event.payload: expected an object")
        return cls(
            id=event_id,
            visit_id=visit_id,
            type=event_type,
            at=at,
            author=Author(author["staff_id"], author["device_id"]),
            payload=dict(payload),
        )

    def canonical(self) -> str:
        """The event as canonical JSON: equal events give equal text, whatever their origin."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))


def _parse_time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise EventError("event.at: expected an ISO 8601 time")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise EventError(f"event.at: not an ISO 8601 time: {value!r}") from None
    if parsed.tzinfo is None:
        raise EventError("event.at: the time must carry its UTC offset")
    return parsed


def new_event_id(at: datetime, entropy: bytes) -> str:
    """A time-ordered, globally unique id (ULID layout): 48 bits of milliseconds, 80 of entropy.

    Ids sort by the device time they were made at; the entropy, which the shell draws from
    `os.urandom(10)`, keeps two phones' ids apart.
    """
    if at.tzinfo is None:
        raise EventError("event time must be timezone-aware")
    if len(entropy) != 10:
        raise EventError("an event id needs exactly 10 bytes of entropy")
    millis = (at - _EPOCH) // timedelta(milliseconds=1)  # exact: no float rounding
    if not 0 <= millis < 1 << 48:
        raise EventError("event time out of range")
    number = (millis << 80) | int.from_bytes(entropy, "big")
    chars = []
    for _ in range(_ID_LENGTH):
        number, digit = divmod(number, 32)
        chars.append(_CROCKFORD[digit])
    return "".join(reversed(chars))


def is_event_id(text: str) -> bool:
    return len(text) == _ID_LENGTH and text[0] in "01234567" and all(c in _CROCKFORD for c in text)


def merge(*histories: Iterable[Event]) -> tuple[Event, ...]:
    """Union of several devices' events for one visit, by id, in one deterministic order.

    Resending an event is harmless; the same id carrying different content is a conflict,
    never a silent overwrite.
    """
    by_id: dict[str, Event] = {}
    for history in histories:
        for event in history:
            known = by_id.get(event.id)
            if known is None:
                by_id[event.id] = event
            elif known.canonical() != event.canonical():
                raise EventError(f"event {event.id}: two different events share this id")
    return tuple(by_id[event_id] for event_id in sorted(by_id))
