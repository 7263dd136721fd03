"""The console's rules, written once: who may do what, what is audit-logged, and what each
console action reads or records. The console's API (fieldapp.hub.console_api) and its
screens both call this service; neither reaches the stores on its own.

Who may do what (a school's console users only ever see their own school; another school's
visit, record or device is answered "not found", exactly as one that does not exist):

| action                      | reception | dsl | staff          | admin |
|-----------------------------|-----------|-----|----------------|-------|
| board, acknowledge an alert | yes       | yes |                |       |
| visits, visit               |           | yes | their own only |       |
| authorise                   |           | yes |                |       |
| record (sealed, opened)     |           | yes |                |       |
| plan, risk, cancel, debrief, follow-ups | | yes |              |       |
| export (PDF forms, CSV)     |           | yes |                |       |
| audit log                   |           | yes |                | yes   |
| devices, revoke, codes      |           |     |                | yes   |
| staff, sign-offs, contacts  |           |     |                | yes   |
| retention rules, what is due |          | yes |                | yes   |
| hold, erase a child, subject access | | yes |                |       |

Reception never sees case content: the board holds no child's name, no concern and no
outcome. Every read of case content (a visit's details, the visit list, an opened sealed
record), and every change made at the console (a sign-off, an acknowledgement, a revocation,
an enrolment code), is written to the audit log, durably, before the answer is given.
Refusals are `HubError`s: the API answers them as they are, the screens show their message.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from sqlalchemy import Engine

from fieldapp.crypto.sealing import HubKeyPair, SealError
from fieldapp.domain import commands as c
from fieldapp.domain.events import Author, Event
from fieldapp.domain.findings import Finding
from fieldapp.domain.forms import FormError, command_for
from fieldapp.domain.guide import Action, Choice, WhatNow, what_now
from fieldapp.domain.lifecycle import IllegalTransition
from fieldapp.domain.policy import Pack
from fieldapp.domain.rules import decide, stamp
from fieldapp.domain.state import Staff, VisitState, fold
from fieldapp.hub import exports
from fieldapp.hub.accounts import Accounts, Busy, ConsoleUser, Session, SignInRefused
from fieldapp.hub.audit import AuditEntry, AuditLog
from fieldapp.hub.board import BoardRow, board, row_for
from fieldapp.hub.changes import Changes
from fieldapp.hub.directory import (
    CODE_LIFETIME,
    Contacts,
    Directory,
    DirectoryError,
    StaffMember,
)
from fieldapp.hub.errors import HubError, database_unavailable
from fieldapp.hub.events_store import EventStore, History
from fieldapp.hub.records import SealedStore
from fieldapp.hub.retention import Due, Held, Retention, RetentionError, Rule
from fieldapp.sync.protocol import Push
from fieldapp.sync.slip import slip_code

CONSOLE_DEVICE: Final = "hub-console"  # the device id of events recorded at the console
NEEDS_ATTENTION: Final = "needs_attention"  # a visit that cannot be shown as usual
_log = logging.getLogger(__name__)


class Role(StrEnum):
    RECEPTION = "reception"
    DSL = "dsl"
    STAFF = "staff"
    ADMIN = "admin"


R = Role
MAY: Final[dict[str, frozenset[Role]]] = {  # the table above
    "board": frozenset({R.RECEPTION, R.DSL}),
    "acknowledge": frozenset({R.RECEPTION, R.DSL}),
    "visits": frozenset({R.DSL, R.STAFF}),
    "authorise": frozenset({R.DSL}),
    "record": frozenset({R.DSL}),
    "plan": frozenset({R.DSL}),  # plan, risk-assess, cancel, debrief, follow-ups
    "export": frozenset({R.DSL}),
    "audit": frozenset({R.DSL, R.ADMIN}),
    "devices": frozenset({R.ADMIN}),  # devices, revocation, enrolment codes
    "staff": frozenset({R.ADMIN}),  # staff, their sign-offs, the school's contacts
    "retention": frozenset({R.DSL, R.ADMIN}),  # how long records are kept, what is due
    "erase": frozenset({R.DSL}),  # holds, erasure on request, subject access
}
# What the DSL records on a visit at the console (the rest is the pair's, on their phones).
CASEWORK: Final = ("assess_risk", "authorise", "cancel", "debrief", "create_follow_up",
                   "complete_follow_up")


@dataclass(frozen=True, slots=True)
class VisitSummary:
    visit_id: str
    phase: str  # the visit's phase, or NEEDS_ATTENTION
    child_ref: str = ""
    child_name: str = ""
    address: str = ""
    scheduled_at: str = ""
    staff: tuple[str, ...] = ()
    concerns: int = 0  # concerns raised on the visit
    outcome: bool = False  # an outcome is recorded
    open_follow_ups: int = 0


def concerns_first(visits: Iterable[VisitSummary]) -> list[VisitSummary]:
    """The DSL's reading order: visits that cannot be shown as usual, then those with
    concerns, then the rest; newest plan first within each."""
    newest = sorted(visits, key=lambda v: v.scheduled_at, reverse=True)
    return sorted(newest, key=lambda v: (v.phase != NEEDS_ATTENTION, v.concerns == 0))


@dataclass(frozen=True, slots=True)
class RecordRef:
    record_id: str
    received_at: datetime
    unreadable: str | None  # why it cannot be opened now; None: it can


@dataclass(frozen=True, slots=True)
class VisitView:
    """A visit's case content, as the DSL reads it."""

    summary: VisitSummary
    authorised_steps: tuple[str, ...] = ()
    outcome: dict[str, Any] | None = None
    concerns: tuple[dict[str, Any], ...] = ()
    alerts: tuple[dict[str, Any], ...] = ()
    set_aside: tuple[tuple[str, str], ...] = ()  # (event or record id, why)
    records: tuple[RecordRef, ...] = ()
    events: tuple[Event, ...] = ()


@dataclass(frozen=True, slots=True)
class Recorded:
    """What a change made at the console stored, and what the engine said about it."""

    events: tuple[str, ...]
    findings: tuple[Finding, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class OpenedRecord:
    record_id: str
    visit_id: str
    events: tuple[Event, ...]


@dataclass(frozen=True, slots=True)
class EnrolmentSlip:
    code: str  # the one-time code and the check of the hub's key, to type on the phone
    expires_at: datetime
    hub_key_fingerprint: str


@contextmanager
def _refused() -> Iterator[None]:
    """A refusal about children's data, answered 409 with its reason; nothing changed."""
    try:
        yield
    except RetentionError as refused:
        raise HubError(409, "refused", str(refused)) from None


class ConsoleService:
    def __init__(self, engine: Engine, keys: HubKeyPair, clock: Callable[[], datetime],
                 password_cost: int = 17, retired_keys: Sequence[HubKeyPair] = (),
                 changes: Changes | None = None) -> None:
        self.engine, self.keys, self.clock = engine, keys, clock
        self._packs: dict[str, Pack] = {}  # each school's, as last read (see `pack`)
        self.changes = changes or Changes()  # what the open boards hear of
        self.accounts = Accounts(engine, password_cost)
        self.directory, self.store = Directory(engine), EventStore(engine)
        self.audit = AuditLog(engine)
        self.sealed = SealedStore(engine, keys, retired_keys)
        self.kept = Retention(engine)
        self._keys = (keys, *retired_keys)

    # --- sessions -----------------------------------------------------------------------

    def sign_in(self, school_id: str, staff_id: str, password: str, device: str = "") -> Session:
        try:
            return self.accounts.sign_in(school_id, staff_id, password, self.clock(), device)
        except SignInRefused as refused:
            raise HubError(401, "unauthenticated", str(refused)) from None
        except Busy as busy:
            raise HubError(503, "busy", str(busy), headers={"Retry-After": "2"}) from None
        except Exception as error:
            if (down := self.unavailable(error)) is None:
                raise
            raise down from None

    def user(self, token: str) -> ConsoleUser:
        try:
            return self.accounts.user(token, self.clock())
        except SignInRefused as refused:
            raise HubError(401, "unauthenticated", str(refused)) from None

    def sign_out(self, token: str) -> None:
        self.accounts.sign_out(token)

    # --- who may -------------------------------------------------------------------------

    @staticmethod
    def may(user: ConsoleUser, action: str) -> bool:
        return user.role in MAY[action]

    def _allowed(self, user: ConsoleUser, action: str) -> None:
        if not self.may(user, action):
            roles = " or ".join(sorted(r.value for r in MAY[action]))
            raise HubError(403, "forbidden", f"a {user.role} cannot do this: ask {roles}")

    def _audited(self, user: ConsoleUser, action: str, subject: str) -> None:
        """Committed before the caller answers."""
        self.audit.record(user.school_id, self.clock(), user.staff_id, user.role, action,
                          subject)

    def _history(self, user: ConsoleUser, visit_id: str) -> History:
        """The visit's history if this user may see it; not found otherwise, whatever the
        reason."""
        found = self.store.history(user.school_id, visit_id)
        mine = user.role != Role.STAFF or visit_id in self.store.staff_visits(
            user.school_id, user.staff_id)
        if not (found.events or found.unreadable) or not mine:
            raise HubError(404, "not_found", "no such visit")
        return found

    # --- reception -----------------------------------------------------------------------

    def board(self, user: ConsoleUser) -> tuple[datetime, tuple[BoardRow, ...]]:
        """Who is out, where and until when; alerts first, then overdue visits."""
        self._allowed(user, "board")
        now = self.clock()
        return now, board(self.store, user.school_id,
                          self.directory.pack(user.school_id).pack, now,
                          self.directory.contacts(user.school_id))

    def board_rows(self, user: ConsoleUser, visit_ids: Iterable[str]
                   ) -> dict[str, BoardRow | None]:
        """Only these visits' rows (None: no longer on the board), for a board that was told
        they changed: it never folds the whole school again."""
        self._allowed(user, "board")
        now, school = self.clock(), user.school_id
        pack, contacts = self.directory.pack(school).pack, self.directory.contacts(school)
        return {visit_id: row_for(self.store, school, visit_id, pack, now, contacts)
                for visit_id in visit_ids}

    def watch(self, user: ConsoleUser, changed: Callable[[frozenset[str]], None]
              ) -> Callable[[], None]:
        """`changed` hears which visits of the school changed (on the thread that stored
        them); the function returned stops it."""
        self._allowed(user, "board")
        return self.changes.subscribe(user.school_id, changed)

    def pack(self, user: ConsoleUser) -> Pack:
        """The school's policy (not case content: any signed-in user may read it); while the
        database is not answering, as last read, so the screens can still say so."""
        try:
            self._packs[user.school_id] = self.directory.pack(user.school_id).pack
        except Exception as error:
            if user.school_id not in self._packs or self.unavailable(error) is None:
                raise
        return self._packs[user.school_id]

    def unavailable(self, error: BaseException) -> HubError | None:
        """The refusal to show for `error` if it is the database not answering, else None."""
        return database_unavailable(self.engine, error)

    def acknowledge(self, user: ConsoleUser, visit_id: str, alert_id: str,
                    by: str = "") -> Recorded:
        """Someone at school has the alert in hand: recorded on the visit with who (`by`,
        as they gave their name at a shared reception desk; else the signed-in user's) and
        when, for the DSL to see; audited; and it stops sounding on every board."""
        self._allowed(user, "acknowledge")

        def check(state: VisitState) -> None:
            alert = next((a for a in state.alerts if a.detail.get("id") == alert_id), None)
            if alert is None:
                raise HubError(404, "not_found", "no such alert on this visit")
            if alert.detail.get("acknowledged"):
                raise HubError(409, "acknowledged", "this alert was acknowledged already by "
                               f"{alert.detail['acknowledged']['by']}")

        command = c.AcknowledgeAlert(alert_id, by.strip()[:200] or user.name, user.role)
        return self._record(user, visit_id, command, "acknowledge_alert", check)

    # --- the DSL ---------------------------------------------------------------------------

    def visits(self, user: ConsoleUser) -> list[VisitSummary]:
        """The school's visits (a member of staff: their own), newest plan first."""
        self._allowed(user, "visits")
        ids = (self.store.visit_ids(user.school_id) if user.role == Role.DSL
               else self.store.staff_visits(user.school_id, user.staff_id))
        self._audited(user, "list_visits", "*")
        summaries = [_summary_of(visit_id, self.store.history(user.school_id, visit_id))
                     for visit_id in ids]
        return sorted(summaries, key=lambda v: v.scheduled_at, reverse=True)

    def visit(self, user: ConsoleUser, visit_id: str) -> VisitView:
        """A visit's case content; for the DSL, with its sealed records opened."""
        self._allowed(user, "visits")
        view = self._view(user, visit_id)
        self._audited(user, "read_visit", visit_id)
        return view

    def _view(self, user: ConsoleUser, visit_id: str) -> VisitView:
        history = self._history(user, visit_id)
        records = (self.sealed.for_visit(user.school_id, visit_id) if user.role == Role.DSL
                   else ())
        refs, opened = [], []
        for stored in records:
            try:
                opened.append((stored.record_id,
                               self.sealed.open(user.school_id, stored).events))
                problem = None
            except SealError as error:
                problem = str(error)
            refs.append(RecordRef(stored.record_id, stored.received_at, problem))
        events, clashes = _with_records(history.events, opened)
        problems = [(r.ref, r.reason) for r in history.unreadable] + clashes
        try:
            state = fold(events)
        except Exception as error:  # a bug: the DSL still sees the events as they are
            _log.exception("visit %s cannot be folded", visit_id)
            return VisitView(summary=_attention(visit_id), records=tuple(refs), events=events,
                             set_aside=(*problems, ("*", f"cannot be folded: "
                                                         f"{type(error).__name__}")))
        return VisitView(
            summary=_summary(state) if not problems else _attention(visit_id, state),
            authorised_steps=tuple(sorted(state.authorised_steps())),
            outcome=None if state.outcome is None else dict(state.outcome.detail),
            concerns=tuple(dict(m.detail) for m in state.concerns),
            alerts=tuple(dict(m.detail) for m in state.alerts),
            set_aside=(*problems, *state.set_aside), records=tuple(refs), events=events)

    def authorise(self, user: ConsoleUser, visit_id: str, step: str, role: str) -> Recorded:
        """Sign off one of the visit's authorisation steps, as the signed-in DSL."""
        self._allowed(user, "authorise")

        def check(_state: VisitState) -> None:
            if role not in self.directory.pack_roles(user.staff_id):
                raise HubError(403, "forbidden", f"you do not hold the role {role!r} in this "
                               "school's policy: an admin records who holds which")

        return self._record(user, visit_id, c.Authorise(step, user.name, role), "authorise",
                            check)

    # --- the DSL: planning and the visit's record ------------------------------------------

    def plan_form(self, user: ConsoleUser) -> Action:
        """What planning a visit asks for, in the school's policy."""
        self._allowed(user, "plan")
        action = self._guide(user, VisitState()).action("plan")
        assert action is not None, "a new visit can always be planned"
        return action

    def plan(self, user: ConsoleUser, values: Mapping[str, Any]) -> tuple[str, Recorded]:
        """A new visit, planned by the DSL: `values` by the plan form's field names, with
        `staff` the staff ids of the pair (the hub fills in their names, training and
        mobiles). Its id is made here; the pair's phones get it on their next sync."""
        form = self.plan_form(user)
        chosen = values.get("staff") or ()
        ids = [chosen] if isinstance(chosen, str) else [str(i) for i in chosen]
        members = {m.staff_id: m for m in self.directory.staff(user.school_id)}
        unknown = [i for i in ids if i not in members]
        if unknown:
            raise HubError(400, "bad_command", f"no such member of staff at this school: "
                           f"{', '.join(unknown)}")
        staff = tuple(Staff(i, members[i].name, members[i].safeguarding_trained,
                            mobile=members[i].mobile) for i in ids)
        command = self._command(user, form, {**values, "staff": staff})
        visit_id = f"v-{self.clock():%Y%m%d}-{os.urandom(5).hex()}"
        return visit_id, self._decided(user, VisitState(), visit_id, command, "plan_visit")

    def casework(self, user: ConsoleUser, visit_id: str) -> tuple[Action, ...]:
        """What the DSL may record on this visit now (risk assessment, sign-offs, cancel,
        debrief, follow-ups), open or refused with the policy's reasons."""
        self._allowed(user, "plan")
        state = fold(self._history(user, visit_id).events)
        return tuple(a for a in self._guide(user, state).actions if a.name in CASEWORK)

    def act(self, user: ConsoleUser, visit_id: str, name: str,
            values: Mapping[str, Any]) -> Recorded:
        """Record one of `casework`'s actions with what was typed (`values`, by field name).
        A sign-off is always given in the signed-in DSL's own name."""
        if name == "authorise":
            return self.authorise(user, visit_id, str(values.get("step", "")),
                                  str(values.get("role", "")))
        self._allowed(user, "plan")
        action = next((a for a in self.casework(user, visit_id) if a.name == name), None)
        if action is None:
            raise HubError(409, "wrong_phase", f"{name.replace('_', ' ')} cannot be recorded "
                           "on this visit now")
        command = self._command(user, action, values)
        return self._record(user, visit_id, command, name, lambda _state: None)

    def authorise_all(self, user: ConsoleUser, visit_ids: Iterable[str]
                      ) -> dict[str, Recorded | HubError]:
        """A week's list signed off in one go: each visit's next sign-off that this DSL may
        give. Each visit stands alone: one refused does not hold up the others."""
        self._allowed(user, "authorise")
        mine = self.directory.pack_roles(user.staff_id)
        done: dict[str, Recorded | HubError] = {}
        for visit_id in visit_ids:
            try:
                step = next((s for s in self._steps(user, visit_id) if s.then
                             and set(s.then) & mine), None)
                if step is None:
                    raise HubError(409, "nothing_to_sign", "no sign-off that you may give is "
                                   "waiting on this visit")
                role = next(r for r in step.then if r in mine)
                done[visit_id] = self.authorise(user, visit_id, step.value, role)
            except HubError as refused:
                done[visit_id] = refused
        return done

    def _steps(self, user: ConsoleUser, visit_id: str) -> tuple[Choice, ...]:
        action = next((a for a in self.casework(user, visit_id) if a.name == "authorise"),
                      None)
        if action is None or not action.open:
            return ()
        return next(f.choices for f in action.fields if f.name == "step")

    def chronology(self, user: ConsoleUser, child_ref: str) -> tuple[VisitView, ...]:
        """Every visit to one child (by the school's reference), oldest first, each as the
        DSL reads it; audited as one read."""
        self._allowed(user, "record")
        self._audited(user, "read_chronology", child_ref)
        theirs = [visit_id for visit_id in self.store.visit_ids(user.school_id)
                  if _summary_of(visit_id, self.store.history(user.school_id, visit_id))
                  .child_ref == child_ref]  # only these have their sealed records opened
        return tuple(sorted((self._view(user, visit_id) for visit_id in theirs),
                            key=lambda v: v.summary.scheduled_at))

    # --- children's data: how long it is kept, holds, erasure, subject access -------------

    def retention(self, user: ConsoleUser) -> tuple[dict[str, Rule], dict[str, Held], Due]:
        """The school's rules, the DSL's holds, and what a retention run would delete now."""
        self._allowed(user, "retention")
        return (self.kept.rules(user.school_id), self.kept.holds(user.school_id),
                self.kept.due(user.school_id, self.clock()))

    def expire(self, user: ConsoleUser) -> Due:
        """Delete now what the school's rules say has been kept long enough (as the daily
        `fieldapp-hub retention run` does); audited."""
        self._allowed(user, "retention")
        due = self.kept.expire(user.school_id, self.clock(), (user.staff_id, user.role))
        self.changes.publish(user.school_id, {facts.visit_id for facts in due.expired})
        return due

    def set_retention(self, user: ConsoleUser, rule: Rule) -> None:
        self._allowed(user, "retention")
        with _refused():
            self.kept.set_rule(user.school_id, rule, self.clock(), (user.staff_id, user.role))

    def hold(self, user: ConsoleUser, visit_id: str, reason: str) -> None:
        """Keep a visit whatever the rules say, and from erasure ("" reason: let it go)."""
        self._allowed(user, "erase")
        self._history(user, visit_id)
        with _refused():
            if reason:
                self.kept.hold(user.school_id, visit_id, reason, self.clock(),
                               (user.staff_id, user.role))
            else:
                self.kept.release(user.school_id, visit_id, self.clock(),
                                  (user.staff_id, user.role))

    def held(self, user: ConsoleUser, visit_id: str) -> Held | None:
        self._allowed(user, "erase")
        return self.kept.holds(user.school_id).get(visit_id)

    def erase_child(self, user: ConsoleUser, child_ref: str) -> tuple[list[str], list[str]]:
        """Erase every visit to this child on request, but those on hold: (erased, held)."""
        self._allowed(user, "erase")
        with _refused():
            erased = self.kept.erase_child(user.school_id, child_ref, self.clock(),
                                           (user.staff_id, user.role))
        self.changes.publish(user.school_id, set(erased[0]))
        return erased

    def subject_access(self, user: ConsoleUser, child_ref: str, form: str) -> bytes:
        """Everything held about one child, as "json" or "pdf"; audited."""
        self._allowed(user, "erase")
        with _refused():
            found = self.kept.subject_access(user.school_id, child_ref, self._keys,
                                             self.clock(), (user.staff_id, user.role))
        if form == "pdf":
            return exports.subject_access_pdf(found, self.directory.pack(user.school_id).pack)
        return json.dumps(found, indent=2).encode()

    def export(self, user: ConsoleUser, visit_id: str, form: str) -> bytes:
        """The visit's Home Visit Form ("visit") or Not-at-Home form ("not_at_home"), as
        PDF for CPOMS; audited."""
        self._allowed(user, "export")
        if form not in ("visit", "not_at_home"):
            raise HubError(404, "not_found", "no such form: visit or not_at_home")
        view = self._view(user, visit_id)
        state, pack = fold(view.events), self.directory.pack(user.school_id).pack
        try:
            pdf = (exports.visit_form(state, view.events, pack) if form == "visit" else
                   exports.not_at_home_form(state, pack,
                                            self.directory.school_contacts(user.school_id)))
        except exports.ExportError as error:
            raise HubError(409, "no_such_record", str(error)) from None
        self._audited(user, f"export_{form}_pdf", visit_id)
        return pdf

    def export_csv(self, user: ConsoleUser, what: str) -> str:
        """The school's visits ("visits") or their actions and follow-ups ("actions"), as
        CSV for the school's tracker; audited."""
        self._allowed(user, "export")
        if what not in ("visits", "actions"):
            raise HubError(404, "not_found", "no such export: visits or actions")
        states = [fold(self.store.history(user.school_id, visit_id).events)
                  for visit_id in self.store.visit_ids(user.school_id)]
        self._audited(user, f"export_{what}_csv", "*")
        pack = self.directory.pack(user.school_id).pack
        return (exports.visits_csv(states, pack) if what == "visits"
                else exports.actions_csv(states))

    def _guide(self, user: ConsoleUser, state: VisitState) -> WhatNow:
        return what_now(state, self.directory.pack(user.school_id).pack, self.clock(),
                        by=Author(user.staff_id, CONSOLE_DEVICE))

    def _command(self, user: ConsoleUser, action: Action, values: Mapping[str, Any]
                 ) -> c.Command:
        try:
            return command_for(action, values, self.clock(),
                               self.directory.pack(user.school_id).pack.hours.zone)
        except FormError as wrong:
            raise HubError(400, "bad_command", str(wrong),
                           findings=[{"code": "field", "say": str(wrong), "because": wrong.field,
                                      "policy": "", "quote": ""}]) from None

    def record(self, user: ConsoleUser, record_id: str) -> OpenedRecord:
        """A sealed visit record, opened with the hub's key."""
        self._allowed(user, "record")
        stored = self.sealed.get(user.school_id, record_id)
        if stored is None:
            raise HubError(404, "not_found", "no such record")
        self._audited(user, "open_record", record_id)
        try:
            opened = self.sealed.open(user.school_id, stored)
        except SealError as error:
            raise HubError(409, "unreadable", str(error)) from None
        return OpenedRecord(record_id, opened.visit_id, opened.events)

    def _record(self, user: ConsoleUser, visit_id: str, command: c.Command, action: str,
                check: Callable[[VisitState], None]) -> Recorded:
        """Decide on a command made at the console and store what it records, audited.
        `check` refuses it first, given the visit as it stands."""
        history = self._history(user, visit_id)
        if history.unreadable:
            raise HubError(409, "needs_attention", f"{len(history.unreadable)} of this "
                           "visit's events cannot be read: nothing can be recorded on it "
                           "until they are put right")
        state = fold(history.events)
        check(state)
        return self._decided(user, state, visit_id, command, action)

    def _decided(self, user: ConsoleUser, state: VisitState, visit_id: str,
                 command: c.Command, action: str) -> Recorded:
        now = self.clock()
        author = Author(user.staff_id, CONSOLE_DEVICE)
        try:
            decision = decide(state, command, self.directory.pack(user.school_id).pack, now,
                              by=author)
        except IllegalTransition as wrong:
            raise HubError(409, "wrong_phase", str(wrong)) from None
        except c.CommandError as error:
            raise HubError(400, "bad_command", str(error)) from None
        if not decision.accepted:
            raise HubError(422, "refused", "; ".join(f.say for f in decision.refusals),
                           findings=[_finding(f) for f in decision.findings])
        events = stamp(state, decision, visit_id, author, now, lambda: os.urandom(10))
        self._audited(user, action, visit_id)
        self.store.ingest(user.school_id, CONSOLE_DEVICE, Push(events=events))
        self.changes.publish(user.school_id, {visit_id})
        return Recorded(tuple(e.id for e in events), decision.findings)

    # --- audit, devices --------------------------------------------------------------------

    def audit_log(self, user: ConsoleUser, before: int | None = None,
                  limit: int = 200) -> tuple[AuditEntry, ...]:
        """Who read which case content and who changed what, newest first."""
        self._allowed(user, "audit")
        return self.audit.entries(user.school_id, before, limit)

    def devices(self, user: ConsoleUser) -> list[dict[str, Any]]:
        self._allowed(user, "devices")
        return list(self.directory.devices(user.school_id))

    def revoke(self, user: ConsoleUser, device_id: str) -> None:
        """A lost phone: refused from now on, and told to wipe itself when it next syncs."""
        self._allowed(user, "devices")
        try:
            self.directory.revoke(user.school_id, device_id, self.clock())
        except DirectoryError:
            raise HubError(404, "not_found", "no such device") from None
        self._audited(user, "revoke_device", device_id)

    # --- staff and the school's contacts -----------------------------------------------------

    def staff(self, user: ConsoleUser) -> list[StaffMember]:
        """The school's staff: for an admin to keep, and for the DSL to choose a pair from."""
        if not self.may(user, "plan"):
            self._allowed(user, "staff")
        return self.directory.staff(user.school_id)

    def sign_off_roles(self, user: ConsoleUser) -> tuple[str, ...]:
        """The roles the school's policy names for its sign-offs."""
        auth = self.pack(user).authorisation
        return tuple(dict.fromkeys(role for step in (*auth.steps, *(auth.unannounced_steps or ()))
                                   for role in step.roles))

    def remove_staff(self, user: ConsoleUser, staff_id: str) -> int:
        """A member of staff who has left (fieldapp.hub.directory.remove_staff); audited.
        Answers how many phones were revoked."""
        self._allowed(user, "staff")
        if staff_id == user.staff_id:
            raise HubError(409, "refused", "you cannot remove yourself: ask another admin")
        try:
            revoked = self.directory.remove_staff(user.school_id, staff_id, self.clock())
        except DirectoryError as error:
            raise HubError(404, "not_found", str(error)) from None
        self._audited(user, "remove_staff", staff_id)
        return revoked

    def update_staff(self, user: ConsoleUser, staff_id: str, *, mobile: str,
                     safeguarding_trained: bool, pack_roles: Iterable[str]) -> None:
        """A member of staff's mobile, safeguarding training and the sign-offs they may
        give; audited."""
        self._allowed(user, "staff")
        try:
            self.directory.update_staff(user.school_id, staff_id, mobile=mobile,
                                        safeguarding_trained=safeguarding_trained)
            self.directory.set_pack_roles(user.school_id, staff_id, pack_roles)
        except DirectoryError as error:
            status = 404 if "no such member" in str(error) else 400
            raise HubError(status, "not_found" if status == 404 else "bad_request",
                           str(error)) from None
        self._audited(user, "update_staff", staff_id)

    def contacts(self, user: ConsoleUser) -> Contacts:
        self._allowed(user, "staff")
        return self.directory.school_contacts(user.school_id)

    def set_contacts(self, user: ConsoleUser, contacts: Contacts) -> None:
        """The numbers the school's phones dial and show (the safe-phrase call goes to
        reception); the phones get them on their next sync. Audited."""
        self._allowed(user, "staff")
        try:
            self.directory.set_contacts(user.school_id, contacts, self.clock())
        except DirectoryError as error:
            raise HubError(400, "bad_request", str(error)) from None
        self._audited(user, "set_contacts", user.school_id)

    def enrol_code(self, user: ConsoleUser, staff_id: str) -> EnrolmentSlip:
        """A one-time code to enrol a phone for a member of staff (valid 15 minutes)."""
        self._allowed(user, "devices")
        now = self.clock()
        try:
            code = self.directory.enrol_code(user.school_id, staff_id, now)
        except DirectoryError:
            raise HubError(404, "not_found", "no such member of staff") from None
        self._audited(user, "enrol_code", staff_id)
        return EnrolmentSlip(slip_code(code, self.keys.public_bytes()), now + CODE_LIFETIME,
                             self.keys.fingerprint())

    def slip_pdf(self, user: ConsoleUser, name: str, slip: EnrolmentSlip) -> bytes:
        """An enrolment slip to print for `name`."""
        self._allowed(user, "devices")
        pack = self.pack(user)
        return exports.enrolment_slip(pack.school, name, slip.code, slip.expires_at,
                                      slip.hub_key_fingerprint, pack.hours.zone)


def _finding(finding: Finding) -> dict[str, str]:
    return {"code": finding.code, "say": finding.say, "because": finding.because,
            "policy": finding.policy, "quote": finding.quote}


def _summary_of(visit_id: str, history: History) -> VisitSummary:
    """A visit for the DSL's list: its summary, or needing attention if it has events that
    cannot be read, or cannot be folded."""
    try:
        state = fold(history.events)
    except Exception:  # a bug: one visit must not take the list down
        _log.exception("visit %s cannot be folded", visit_id)
        return _attention(visit_id)
    return _attention(visit_id, state) if history.unreadable else _summary(state)


def _attention(visit_id: str, state: VisitState | None = None) -> VisitSummary:
    summary = _summary(state if state is not None else VisitState(visit_id=visit_id))
    return VisitSummary(visit_id, NEEDS_ATTENTION, summary.child_ref, summary.child_name,
                        summary.address, summary.scheduled_at, summary.staff)


def _with_records(held: tuple[Event, ...], records: list[tuple[str, tuple[Event, ...]]]
                  ) -> tuple[tuple[Event, ...], list[tuple[str, str]]]:
    """The visit's events with its sealed records' in one order. An event a record carries
    with an id the hub holds with other content (the hub refuses such a record; this is for
    one kept before it did) is left out and listed, never allowed to take the view down."""
    by_id = {event.id: event for event in held}
    clashes: list[tuple[str, str]] = []
    for record_id, events in records:
        for event in events:
            known = by_id.setdefault(event.id, event)
            if known is not event and known.canonical() != event.canonical():
                clashes.append((record_id, f"event {event.id} differs from the one held"))
    return tuple(by_id[event_id] for event_id in sorted(by_id)), clashes


def _summary(state: VisitState) -> VisitSummary:
    plan = state.plan
    return VisitSummary(visit_id=state.visit_id, phase=state.phase.value,
                        child_ref=str(plan.get("child_ref", "")),
                        child_name=str(plan.get("child_name", "")),
                        address=str(plan.get("address", "")),
                        scheduled_at=str(plan.get("scheduled_at", "")),
                        staff=tuple(member.name for member in state.staff),
                        concerns=len(state.concerns), outcome=state.outcome is not None,
                        open_follow_ups=sum(1 for f in state.follow_ups.values()
                                            if f.done_at is None))
