"""A visit's state: a fold over its events.

`apply` is strict (an illegal move raises IllegalTransition) and is what the engine uses for
the events it is about to record. `fold` is what every reader uses: it merges, orders by event
id and applies, setting aside (never dropping silently) an event that cannot follow the others,
as happens when both phones of a pair record the same step. Phone and hub fold the same events
with this code, so both always agree on a visit's state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Final

from fieldapp.domain.events import ALERTS, Event, EventError, EventType, merge
from fieldapp.domain.lifecycle import IllegalTransition, Phase, merged_phase, next_phase


@dataclass(frozen=True, slots=True)
class Staff:
    staff_id: str
    name: str
    safeguarding_trained: bool = False
    knows_family: bool = False  # works with the child or family regularly
    mobile: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "staff_id": self.staff_id,
            "name": self.name,
            "safeguarding_trained": self.safeguarding_trained,
            "knows_family": self.knows_family,
            "mobile": self.mobile,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Staff:
        return cls(
            staff_id=str(data.get("staff_id", "")),
            name=str(data.get("name", "")),
            safeguarding_trained=data.get("safeguarding_trained") is True,
            knows_family=data.get("knows_family") is True,
            mobile=str(data.get("mobile", "")),
        )


@dataclass(frozen=True, slots=True)
class Authorisation:
    step: str
    by: str
    role: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Mark:
    """Something that happened at a time, with what was said about it."""

    at: datetime
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FollowUp:
    follow_up_id: str
    kind: str
    text: str
    created_at: datetime
    done_at: datetime | None = None
    owner: str = ""  # who is to do it
    due: str = ""  # by when: an ISO date, or "" for none given


@dataclass(frozen=True, slots=True)
class VisitState:
    visit_id: str = ""
    phase: Phase = Phase.NEW
    plan: Mapping[str, Any] = field(default_factory=dict)
    staff: tuple[Staff, ...] = ()
    risk: Mapping[str, Any] | None = None
    authorisations: tuple[Authorisation, ...] = ()
    sign_out: Mark | None = None
    check_ins: tuple[Mark, ...] = ()
    arrived: Mark | None = None
    wait: Mark | None = None  # detail: reason ("no_answer" | "running_late")
    note_left: Mark | None = None
    # Who opened the door, and the checklist's answers, as the pair's phones merge: each
    # phone's latest word, and where they differ the cautious one (a stop recorded on either
    # phone stands until that phone changes it, whatever their clocks say).
    answered_by: str | None = None
    checklist: Mapping[str, str] = field(default_factory=dict)  # item id -> answer
    answered_by_device: Mapping[str, str] = field(default_factory=dict)
    checklist_by_device: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    adult_by_device: Mapping[str, bool] = field(default_factory=dict)
    entered: Mark | None = None
    doorstep: Mark | None = None
    upstairs: tuple[Mark, ...] = ()
    adult_in_room: bool = True  # inside: the parent or responsible adult is with staff
    concerns: tuple[Mark, ...] = ()
    alerts: tuple[Mark, ...] = ()  # safe phrase, 999, duress unlock: detail["type"]
    outcome: Mark | None = None
    cancelled: Mark | None = None
    left: Mark | None = None
    returned: Mark | None = None
    debriefed: Mark | None = None
    follow_ups: Mapping[str, FollowUp] = field(default_factory=dict)
    set_aside: tuple[tuple[str, str], ...] = ()  # (event id, why) for events that could not apply
    event_ids: frozenset[str] = frozenset()
    # Each device's latest clock reading on this visit: a phone may not record before its own.
    device_clocks: Mapping[str, datetime] = field(default_factory=dict)

    @property
    def visit_started(self) -> Mark | None:
        """When the conversation began: on entering, or on the doorstep."""
        return self.entered or self.doorstep

    def authorised_steps(self) -> frozenset[str]:
        return frozenset(a.step for a in self.authorisations)


def apply(state: VisitState, event: Event,
          move: Callable[[Phase, EventType], Phase] = next_phase) -> VisitState:
    """The state after `event`; raises IllegalTransition when the table forbids the move."""
    if state.visit_id and event.visit_id != state.visit_id:
        raise EventError(f"event {event.id} belongs to another visit")
    if event.id in state.event_ids:
        return state
    phase = move(state.phase, event.type)
    updated = _FACTS[event.type](state, event)
    return replace(updated, visit_id=event.visit_id, phase=phase, **_seen(state, event))


def fold(*histories: Iterable[Event]) -> VisitState:
    """Merge one or more event lists for a visit and fold them, in event-id order. The late
    facts a merge may hold (lifecycle.LATE) are kept: the pair are where their facts say."""
    state = VisitState()
    for event in merge(*histories):
        try:
            state = apply(state, event, merged_phase)
        except IllegalTransition as error:
            state = replace(state, set_aside=(*state.set_aside, (event.id, str(error))),
                            **_seen(state, event))
    return state


def _seen(state: VisitState, event: Event) -> dict[str, Any]:
    """What every event adds, whether it applies or is set aside: its id, and its device's
    clock reading if that is the latest the visit has from the device."""
    device = event.author.device_id
    known = state.device_clocks.get(device)
    clocks = state.device_clocks
    if known is None or event.at > known:
        clocks = {**clocks, device: event.at}
    return {"event_ids": state.event_ids | {event.id}, "device_clocks": clocks}


def _mark(event: Event) -> Mark:
    return Mark(at=event.at, detail=dict(event.payload))


def _planned(state: VisitState, event: Event) -> VisitState:
    listed = event.payload.get("staff")
    staff = tuple(
        Staff.from_dict(member)
        for member in (listed if isinstance(listed, list | tuple) else ())
        if isinstance(member, Mapping)
    )
    return replace(state, plan=dict(event.payload), staff=staff)


def _risk_assessed(state: VisitState, event: Event) -> VisitState:
    # A new assessment voids earlier sign-offs: the lifecycle sends the visit back to PLANNED.
    return replace(state, risk=dict(event.payload), authorisations=())


def _authorised(state: VisitState, event: Event) -> VisitState:
    p = event.payload
    record = Authorisation(
        step=str(p.get("step", "")), by=str(p.get("by", "")), role=str(p.get("role", "")),
        at=event.at,
    )
    return replace(state, authorisations=(*state.authorisations, record))


# Who opened the door, most cautious first: where the pair's phones differ, the first stands.
CAUTION: Final = ("unsupervised_child", "unknown", "sibling", "delegated_adult", "parent")


def _door_answered(state: VisitState, event: Event) -> VisitState:
    by = {**state.answered_by_device, event.author.device_id: str(event.payload.get("by", ""))}
    rank = {who: n for n, who in enumerate(CAUTION)}
    return replace(state, answered_by_device=by,
                   answered_by=min(by.values(), key=lambda who: rank.get(who, -1)))


def _checklist_answered(state: VisitState, event: Event) -> VisitState:
    item = str(event.payload.get("item", ""))
    mine = {**state.checklist_by_device.get(item, {}),
            event.author.device_id: str(event.payload.get("answer", ""))}
    answer = "no" if "no" in mine.values() else "yes"  # the packs' "no" is the stopping one
    return replace(state, checklist={**state.checklist, item: answer},
                   checklist_by_device={**state.checklist_by_device, item: mine})


def _adult_in_room(state: VisitState, event: Event) -> VisitState:
    present = {**state.adult_by_device,
               event.author.device_id: event.payload.get("present") is not False}
    return replace(state, adult_by_device=present, adult_in_room=all(present.values()))


def _follow_up_created(state: VisitState, event: Event) -> VisitState:
    p = event.payload
    follow_up = FollowUp(
        follow_up_id=str(p.get("follow_up_id", event.id)), kind=str(p.get("kind", "")),
        text=str(p.get("text", "")), created_at=event.at, owner=str(p.get("owner") or ""),
        due=str(p.get("due") or ""),
    )
    return replace(state, follow_ups={**state.follow_ups, follow_up.follow_up_id: follow_up})


def _follow_up_done(state: VisitState, event: Event) -> VisitState:
    follow_up_id = str(event.payload.get("follow_up_id", ""))
    known = state.follow_ups.get(follow_up_id)
    if known is None or known.done_at is not None:
        return state
    done = replace(known, done_at=event.at)
    return replace(state, follow_ups={**state.follow_ups, follow_up_id: done})


_Fact = Callable[[VisitState, Event], VisitState]


def _set(name: str) -> _Fact:
    def setter(state: VisitState, event: Event) -> VisitState:
        changes: dict[str, Any] = {name: _mark(event)}
        return replace(state, **changes)

    return setter


def _append(name: str) -> _Fact:
    def appender(state: VisitState, event: Event) -> VisitState:
        changes: dict[str, Any] = {name: (*getattr(state, name), _mark(event))}
        return replace(state, **changes)

    return appender


def _alert(state: VisitState, event: Event) -> VisitState:
    alert = Mark(at=event.at, detail={**event.payload, "type": event.type.value, "id": event.id})
    return replace(state, alerts=(*state.alerts, alert))


def _acknowledged(state: VisitState, event: Event) -> VisitState:
    """The alert, marked with who at school acknowledged it and when (the first to do it)."""
    said = {"by": str(event.payload.get("by", "")), "role": str(event.payload.get("role", "")),
            "staff_id": event.author.staff_id, "at": event.at.isoformat()}
    alerts = tuple(
        replace(alert, detail={**alert.detail, "acknowledged": said})
        if alert.detail.get("id") == event.payload.get("alert")
        and not alert.detail.get("acknowledged") else alert
        for alert in state.alerts)
    return replace(state, alerts=alerts)


def _wait(state: VisitState, event: Event) -> VisitState:
    """The wait runs from the first knock: knocking again, or hearing that the parent is late,
    does not restart it (the limit is the late parent's once they said so)."""
    reason = "no_answer" if event.type is EventType.NO_ANSWER else "running_late"
    if state.wait is not None and "running_late" in (reason, state.wait.detail.get("reason")):
        reason = "running_late"
    started = state.wait.at if state.wait is not None else event.at
    return replace(state, wait=Mark(at=started, detail={**event.payload, "reason": reason}))


_FACTS: dict[EventType, _Fact] = {
    EventType.PLANNED: _planned,
    EventType.RISK_ASSESSED: _risk_assessed,
    EventType.AUTHORISED: _authorised,
    EventType.SIGNED_OUT: _set("sign_out"),
    EventType.CHECKED_IN: _append("check_ins"),
    EventType.ARRIVED: _set("arrived"),
    EventType.NO_ANSWER: _wait,
    EventType.WAIT_STARTED: _wait,
    EventType.NOT_AT_HOME_NOTE_LEFT: _set("note_left"),
    EventType.DOOR_ANSWERED: _door_answered,
    EventType.CHECKLIST_ANSWERED: _checklist_answered,
    EventType.ENTERED: _set("entered"),
    EventType.DOORSTEP_ONLY: _set("doorstep"),
    EventType.CANCELLED: _set("cancelled"),
    EventType.UPSTAIRS: _append("upstairs"),
    EventType.ADULT_IN_ROOM: _adult_in_room,
    EventType.CONCERN_RAISED: _append("concerns"),
    **dict.fromkeys(ALERTS, _alert),
    EventType.ALERT_ACKNOWLEDGED: _acknowledged,
    EventType.OUTCOME_RECORDED: _set("outcome"),
    EventType.LEFT: _set("left"),
    EventType.RETURNED: _set("returned"),
    EventType.DEBRIEFED: _set("debriefed"),
    EventType.FOLLOW_UP_CREATED: _follow_up_created,
    EventType.FOLLOW_UP_DONE: _follow_up_done,
}
