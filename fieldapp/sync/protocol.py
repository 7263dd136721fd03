"""The sync wire protocol, version 1: what a phone pushes and what the hub answers. Pure.

A push is `{"protocol": 1, "events": [<event>, ...]}` (events in their stored form, see
fieldapp.domain.events). The answer lists, per event id, what happened to it:

- `stored`: durably stored now;
- `already`: stored before with the same content (a resend: a no-op, answered the same);
- `conflicts`: an event with this id but other content is stored (never overwritten: 409);
- `rejected`: malformed (its payload does not fit its type), or not this device's to send;
  set aside with its reason, without holding up the rest of the batch.

A phone drops from its outbox exactly what is `stored` or `already` (`acknowledged`).

A phone is one person's: it sends only events its own member of staff recorded on it
(`own_event`), for visits they are on, and never a sign-off. It sends a push that carries an
alert (safe phrase, 999, duress) on its own, with the HTTP header `Priority: u=0`, so that the
hub stores it before bulk sync (fieldapp.hub.urgency). A pull answers `withheld`: stored
events the hub cannot serve as events of their type, which the cursor moves past.

A push may also carry `unlocks`: the unlock tokens the phone's store holds (base64; one per
unlock, fieldapp.crypto.sealing), sent first and alone. The hub opens those sealed to it (a
duress unlock's silent alert: its events are taken as if pushed with the others) and counts
the rest (decoys); the answer's `unlocks` says how many it took.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from fieldapp.crypto.sealing import TOKEN_SIZE, HubKeyPair, open_token
from fieldapp.domain.events import Author, Event, EventError, EventType
from fieldapp.domain.payloads import check_event

PROTOCOL: Final = 1
MAX_BATCH: Final = 500
MAX_UNLOCKS: Final = 20


class ProtocolError(ValueError):
    """The request as a whole cannot be read: nothing in it was looked at or stored."""


@dataclass(frozen=True, slots=True)
class Rejected:
    ref: str  # the event id if it had a readable one, else "events[<index>]"
    reason: str


@dataclass(frozen=True, slots=True)
class Push:
    events: tuple[Event, ...]
    rejected: tuple[Rejected, ...] = ()


@dataclass(frozen=True, slots=True)
class PushResult:
    stored: tuple[str, ...] = ()
    already: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()
    rejected: tuple[Rejected, ...] = ()

    @property
    def acknowledged(self) -> tuple[str, ...]:
        return tuple(sorted(self.stored + self.already))

    def to_json(self) -> dict[str, Any]:
        return {
            "protocol": PROTOCOL,
            "stored": list(self.stored),
            "already": list(self.already),
            "conflicts": list(self.conflicts),
            "rejected": [{"ref": r.ref, "reason": r.reason} for r in self.rejected],
        }


def parse_push(body: Any, sender: Author) -> Push:
    """Read a push from the phone enrolled as `sender` (its device id, and the member of staff
    it is enrolled for). Whole-request problems raise ProtocolError; a bad event is rejected
    on its own, and the others go on."""
    items = batch(body, "events", MAX_BATCH)
    events: list[Event] = []
    rejected: list[Rejected] = []
    for index, item in enumerate(items):
        try:
            event = own_event(Event.from_dict(item), sender)
        except EventError as error:
            rejected.append(Rejected(_ref(item, index), str(error)))
            continue
        events.append(event)
    return Push(events=tuple(events), rejected=tuple(rejected))


def own_event(event: Event, sender: Author) -> Event:
    """The event, if `sender` may have recorded it: its payload fits its type, it was written
    on this phone by the member of staff the phone is enrolled for (a phone is one person's:
    a pair carries two), and it is not a sign-off or an alert's acknowledgement, which only
    the school's console records. An EventError says which rule it breaks."""
    if event.author.device_id != sender.device_id:
        raise EventError("recorded on another device: each phone sends its own")
    if event.author.staff_id != sender.staff_id:
        raise EventError("recorded by another member of staff than this phone is enrolled "
                         "for")
    if event.type is EventType.AUTHORISED:
        raise EventError("a sign-off is recorded at the school's console, not on a phone")
    if event.type is EventType.ALERT_ACKNOWLEDGED:
        raise EventError("an alert is acknowledged at the school's console, not on a phone")
    return check_event(event)


def batch(body: Any, key: str, most: int) -> list[Any]:
    """The list of items a push carries under `key`, once the push as a whole is readable."""
    if not isinstance(body, Mapping):
        raise ProtocolError("a push is a JSON object")
    if body.get("protocol") != PROTOCOL or isinstance(body.get("protocol"), bool):
        raise ProtocolError(f"unsupported protocol {body.get('protocol')!r}; this hub speaks "
                            f"{PROTOCOL}")
    items = body.get(key)
    if not isinstance(items, list):
        raise ProtocolError(f"{key}: expected a list")
    if len(items) > most:
        raise ProtocolError(f"{key}: at most {most} in one push, got {len(items)}")
    return items


def unlock_events(body: Any, keys: Sequence[HubKeyPair]) -> tuple[int, list[Any]]:
    """(how many unlock tokens the push carries, the events those sealed to one of `keys`
    hold). A token that is not one (not base64, the wrong size) is a ProtocolError."""
    tokens = body.get("unlocks", []) if isinstance(body, Mapping) else []
    if not isinstance(tokens, list) or len(tokens) > MAX_UNLOCKS:
        raise ProtocolError(f"unlocks: expected a list of at most {MAX_UNLOCKS} tokens")
    events: list[Any] = []
    for index, text in enumerate(tokens):
        try:
            token = base64.b64decode(str(text), validate=True)
        except ValueError:
            raise ProtocolError(f"unlocks[{index}]: not base64") from None
        if len(token) != TOKEN_SIZE:
            raise ProtocolError(f"unlocks[{index}]: an unlock token is {TOKEN_SIZE} bytes")
        for key in keys:
            opened = open_token(key, token)
            if opened is not None:
                try:
                    carried = json.loads(opened).get("events", [])
                except (ValueError, AttributeError):
                    raise ProtocolError(f"unlocks[{index}]: not an unlock's alert") from None
                events += carried if isinstance(carried, list) else []
                break
    return len(tokens), events


def _ref(item: Any, index: int) -> str:
    if isinstance(item, Mapping) and isinstance(item.get("id"), str) and len(item["id"]) <= 40:
        return str(item["id"])
    return f"events[{index}]"


@dataclass(frozen=True, slots=True)
class IngestPlan:
    new: tuple[Event, ...] = ()
    already: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = field(default=())


def plan_ingest(incoming: Sequence[Event], stored: Mapping[str, str]) -> IngestPlan:
    """What to insert, given the canonical form of those of `incoming`'s ids already stored.

    The same event twice in one batch is stored once; the same id with different content,
    whether against what is stored or within the batch, is a conflict and nothing is stored
    for it."""
    new: dict[str, Event] = {}
    already: list[str] = []
    conflicts: list[str] = []
    for event in incoming:  # the canonical text is written only where it is compared
        if event.id in stored:
            (already if stored[event.id] == event.canonical() else conflicts).append(event.id)
        elif event.id in new:
            if new[event.id].canonical() != event.canonical():
                conflicts.append(event.id)
        else:
            new[event.id] = event
    for event_id in conflicts:
        new.pop(event_id, None)
    return IngestPlan(new=tuple(new.values()), already=tuple(dict.fromkeys(already)),
                      conflicts=tuple(dict.fromkeys(conflicts)))
