"""Reception's board, computed at the hub: who is out, where, until when, how to reach them,
and which visits are overdue or have raised an alert. It folds each visit's events with the
same domain code as the phones, and judges overdue by the hub's clock, so a visit turns red
even while the phone has no signal.

The board is the last thing that may fail. A visit whose stored events cannot all be read
(kept from before the hub checked payloads), or that trips a bug, is shown as needing
attention, with its id, and the board goes on with the other visits.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Final

from fieldapp.domain.events import ALERTS, Event
from fieldapp.domain.lifecycle import OUT, Phase
from fieldapp.domain.policy import Pack
from fieldapp.domain.state import fold
from fieldapp.domain.timers import Overdue, overdue
from fieldapp.hub.events_store import EventStore, History

BACK: Final = (Phase.RETURNED, Phase.DEBRIEFED, Phase.CANCELLED)
_log = logging.getLogger(__name__)

Contacts = Mapping[str, tuple[str, str]]  # staff id -> (name, mobile), from the directory


@dataclass(frozen=True, slots=True)
class Visitor:
    staff_id: str
    name: str
    mobile: str  # the lead's as given at sign-out; else the directory's, else the plan's


@dataclass(frozen=True, slots=True)
class Acknowledged:
    by: str  # who at school has the alert in hand, by name
    role: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Alert:
    id: str  # its event id
    type: str  # safe_phrase_used | emergency_call | duress_alert
    at: datetime
    by: Visitor
    position: tuple[float, float] | None = None  # where the phone last was, if allowed
    acknowledged: Acknowledged | None = None  # None: nobody at school has it in hand yet
    phrase: str = ""  # the safe phrase the caller will say


@dataclass(frozen=True, slots=True)
class BoardRow:
    visit_id: str
    phase: Phase | None  # None: the visit needs attention (`attention` says why)
    address: str = ""
    staff: tuple[Visitor, ...] = ()
    vehicles: tuple[str, ...] = ()
    expected_return: str = ""
    emergency_number: str = ""  # the contact the pair gave the office at sign-out
    last_check_in: datetime | None = None  # the last call to the office
    last_heard: datetime | None = None  # the latest event recorded on the visit
    overdue: Overdue | None = None
    alerts: tuple[Alert, ...] = ()
    attention: str = ""

    @property
    def sounding(self) -> tuple[Alert, ...]:
        """The alerts nobody at school has acknowledged yet: they take the board over."""
        return tuple(alert for alert in self.alerts if alert.acknowledged is None)


def board(store: EventStore, school_id: str, pack: Pack, now: datetime,
          contacts: Contacts) -> tuple[BoardRow, ...]:
    """Every visit of the school with staff out, or with an alert nobody has acknowledged
    (unless the pair are back), or that needs attention: alerts nobody has acknowledged
    first, then those in hand, then overdue visits, then by expected return."""
    rows = (row_for(store, school_id, visit_id, pack, now, contacts)
            for visit_id in store.visit_ids(school_id))
    return ordered(row for row in rows if row is not None)


def row_for(store: EventStore, school_id: str, visit_id: str, pack: Pack, now: datetime,
            contacts: Contacts) -> BoardRow | None:
    """One visit's row, or None when it is not on the board (a board open in the console
    draws again only the visits that changed)."""
    try:
        return _row(visit_id, store.history(school_id, visit_id), pack, now, contacts)
    except Exception as error:  # a bug: it must not take the board down with it
        _log.exception("board: visit %s cannot be shown", visit_id)
        return BoardRow(visit_id, None, attention=(
            f"this visit cannot be shown ({type(error).__name__}): tell the DSL, and phone "
            "the staff on it"))


def ordered(rows: Iterable[BoardRow]) -> tuple[BoardRow, ...]:
    """Alerts nobody has acknowledged first, then those in hand, then overdue visits, then
    those needing attention, then by expected return."""
    return tuple(sorted(rows, key=lambda row: (not row.sounding, not row.alerts,
                                               row.overdue is None, not row.attention,
                                               row.expected_return)))


def _row(visit_id: str, history: History, pack: Pack, now: datetime,
         contacts: Contacts) -> BoardRow | None:
    events = history.events
    state = fold(events)
    handled = {str(a.detail.get("id")): a.detail["acknowledged"] for a in state.alerts
               if a.detail.get("acknowledged")}
    alerts = tuple(Alert(e.id, e.type.value, e.at, _visitor(e.author.staff_id, "", contacts),
                         _position(e.payload.get("position")), _acknowledged(handled.get(e.id)),
                         str(e.payload.get("phrase", "")))
                   for e in events if e.type in ALERTS)
    # an alert on a visit that is not out (a duress PIN used while no visit was out) stays
    # on the board until someone at school acknowledges it
    sounding = any(alert.acknowledged is None for alert in alerts)
    out = state.phase in OUT and state.sign_out is not None
    if not (out or history.unreadable or (sounding and state.phase not in BACK)):
        return None
    detail = state.sign_out.detail if state.sign_out is not None else {}
    staff = tuple(_visitor(m.staff_id, m.mobile, contacts, m.name) for m in state.staff) or \
        tuple(dict.fromkeys(alert.by for alert in alerts))
    if staff and detail.get("mobile"):  # the lead's number, as given to the office today
        staff = (replace(staff[0], mobile=str(detail["mobile"])), *staff[1:])
    return BoardRow(
        visit_id=visit_id, phase=state.phase, address=str(state.plan.get("address", "")),
        staff=staff, vehicles=tuple(detail.get("vehicles", ())),
        expected_return=str(detail.get("expected_return", "")),
        emergency_number=str(detail.get("emergency_number", "")),
        last_check_in=state.check_ins[-1].at if state.check_ins else None,
        last_heard=_latest(events), overdue=overdue(state, pack, now), alerts=alerts,
        attention=(f"{len(history.unreadable)} of this visit's events cannot be read: tell "
                   "the DSL" if history.unreadable else ""))


def _acknowledged(said: Mapping[str, str] | None) -> Acknowledged | None:
    if said is None:
        return None
    return Acknowledged(said["by"], said["role"], datetime.fromisoformat(said["at"]))


def _position(found: object) -> tuple[float, float] | None:
    """The alert's position (checked on ingest: `lat` and `lon` in range), if it has one."""
    if not isinstance(found, dict):
        return None
    return float(found["lat"]), float(found["lon"])


def _visitor(staff_id: str, mobile: str, contacts: Contacts, name: str = "") -> Visitor:
    known_name, known_mobile = contacts.get(staff_id, (name or staff_id, ""))
    return Visitor(staff_id, known_name, known_mobile or mobile)


def _latest(events: tuple[Event, ...]) -> datetime | None:
    return max((event.at for event in events), default=None)
