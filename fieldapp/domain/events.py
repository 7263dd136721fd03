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
from json.encoder import encode_basestring_ascii
from typing import Any, Final

FORMAT = 1  # version of an event's stored and wire form

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_ID_LENGTH = 26
MAX_VISIT_ID = 128
MAX_AUTHOR_ID = 64  # a staff id, a device id
_CROCKFORD_SET = frozenset(_CROCKFORD)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EARLIEST: Final = datetime(2000, 1, 1, tzinfo=UTC)  # an event's time is within these
LATEST: Final = datetime(2200, 1, 1, tzinfo=UTC)
# Canonical JSON: sorted keys, no spaces, ASCII. `canonical` writes the event's fixed keys in
# sorted order itself and leaves each value, the payload included, to this encoder.
_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode
_JSON_TEXT = encode_basestring_ascii  # what _JSON does with a string, without its Python call


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
    ADULT_IN_ROOM = "adult_in_room"  # the parent or responsible adult left the room, or is back
    CONCERN_RAISED = "concern_raised"
    SAFE_PHRASE_USED = "safe_phrase_used"
    EMERGENCY_CALL = "emergency_call"
    DURESS_ALERT = "duress_alert"  # the phone was opened with the duress PIN: a silent alert
    ALERT_ACKNOWLEDGED = "alert_acknowledged"  # at the console: someone at school is on it
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
        # `type(x) is dict or ...`: the same test, without an ABC check for the usual dict.
        if not (type(data) is dict or isinstance(data, Mapping)):
            raise EventError("event: expected an object")
        version = data.get("v")
        if type(version) is not int or version != FORMAT:
            raise EventError(f"event: unsupported format version {version!r}")
        event_id = data.get("id")
        if not isinstance(event_id, str) or not is_event_id(event_id):
            raise EventError(f"event.id: expected a 26-character event id, got {event_id!r}")
        visit_id = data.get("visit_id")
        if not isinstance(visit_id, str) or not is_printable_id(visit_id, MAX_VISIT_ID):
            raise EventError(f"event.visit_id: expected 1 to {MAX_VISIT_ID} printable "
                             "characters")
        event_type = _EVENT_TYPES.get(str(data.get("type")))
        if event_type is None:
            raise EventError(f"event.type: unknown event type {data.get('type')!r}")
        at = _parse_time(data.get("at"))
        author = data.get("author")
        if not (
            (type(author) is dict or isinstance(author, Mapping))
            and isinstance(author.get("staff_id"), str)
            and isinstance(author.get("device_id"), str)
            and is_printable_id(author["staff_id"], MAX_AUTHOR_ID)
            and is_printable_id(author["device_id"], MAX_AUTHOR_ID)
        ):
            raise EventError(f"event.author: expected {{staff_id, device_id}}, each 1 to "
                             f"{MAX_AUTHOR_ID} printable characters")
        payload = data.get("payload")
        if not (type(payload) is dict or isinstance(payload, Mapping)):
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
        """The event as canonical JSON: equal events give equal text, whatever their origin.

        The same text as `json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))`,
        written without building the dictionary first (the hub does this for every event)."""
        author, text = self.author, _JSON_TEXT
        return (f'{{"at":{text(self.at.astimezone(UTC).isoformat())},'
                f'"author":{{"device_id":{text(author.device_id)},'
                f'"staff_id":{text(author.staff_id)}}},'
                f'"id":{text(self.id)},"payload":{_JSON(dict(self.payload))},'
                f'"type":{text(self.type.value)},"v":{_FORMAT_JSON},'
                f'"visit_id":{text(self.visit_id)}}}')


_EVENT_TYPES = {kind.value: kind for kind in EventType}
# Alerts: staff need help now. Reception's board shows them first.
ALERTS = frozenset({EventType.SAFE_PHRASE_USED, EventType.EMERGENCY_CALL,
                    EventType.DURESS_ALERT})


def device_visit_id(device_id: str) -> str:
    """The visit a phone raises a duress alert on when no visit is out: its own."""
    return f"device-{device_id}"
_FORMAT_JSON = _JSON(FORMAT)


def _parse_time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise EventError("event.at: expected an ISO 8601 time")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise EventError(f"event.at: not an ISO 8601 time: {value!r}") from None
    if parsed.tzinfo is None:
        raise EventError("event.at: the time must carry its UTC offset")
    try:
        utc = parsed.astimezone(UTC)
    except OverflowError:
        raise EventError(f"event.at: {value!r} is out of range in UTC") from None
    if not EARLIEST <= utc < LATEST:  # a phone's clock gone wrong: no visit was then
        raise EventError(f"event.at: {value!r} is not between {EARLIEST:%Y} and {LATEST:%Y}")
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


def event_id_time(event_id: str) -> datetime:
    """The time an event id was made for (its first 48 bits), to the millisecond."""
    if not is_event_id(event_id):
        raise EventError(f"not an event id: {event_id[:_ID_LENGTH]!r}")
    millis = 0
    for char in event_id[:10]:  # 10 characters of 5 bits: the id's top 50 of 130 bits
        millis = millis * 32 + _CROCKFORD.index(char)
    return _EPOCH + timedelta(milliseconds=millis)


def is_event_id(text: str) -> bool:
    return len(text) == _ID_LENGTH and text[0] in "01234567" and _CROCKFORD_SET.issuperset(text)


def is_printable_id(text: str, most: int) -> bool:
    """An id that can be kept and shown: 1 to `most` characters, none of them control
    characters (a visit id, a record id, a staff id)."""
    return 0 < len(text) <= most and text.isprintable()


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
