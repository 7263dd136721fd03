"""The console's API (`/api/v1/console/...`): sign-in, the reception board, visits and their
case content, authorising visits, sealed records, the audit log, devices. Plus the phones'
route for sealed records (`/api/v1/sealed`).

Who may do what (a school's console users only ever see their own school; another school's
visit, record or device is answered 404, exactly as one that does not exist):

| route                     | reception | dsl | staff          | admin |
|---------------------------|-----------|-----|----------------|-------|
| board                     | yes       | yes |                |       |
| visits, visit             |           | yes | their own only |       |
| authorise                 |           | yes |                |       |
| record (sealed, opened)   |           | yes |                |       |
| audit log                 |           | yes |                | yes   |
| devices, revoke, codes    |           |     |                | yes   |

Every read of case content (a visit's details, the visit list, an opened sealed record) is
written to the audit log, durably, before the content is sent.
"""

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Final, Literal

from fastapi import Body, Depends, FastAPI, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from sqlalchemy import Engine

from fieldapp.crypto.sealing import HubKeyPair, SealedRecord, SealError, split_envelopes
from fieldapp.domain import commands as c
from fieldapp.domain.events import Author, Event
from fieldapp.domain.lifecycle import IllegalTransition
from fieldapp.domain.rules import decide, stamp
from fieldapp.domain.state import VisitState, fold
from fieldapp.hub.accounts import Accounts, Busy, ConsoleUser, SignInRefused
from fieldapp.hub.audit import AuditEntry, AuditLog
from fieldapp.hub.board import board
from fieldapp.hub.directory import CODE_LIFETIME, Device, Directory, DirectoryError
from fieldapp.hub.errors import HubError
from fieldapp.hub.events_store import EventStore, History
from fieldapp.hub.records import SealedStore
from fieldapp.hub.schemas import (
    NO_CONTROLS,
    VISIT,
    DocumentedAs,
    PushAnswer,
    refusals,
    then,
)
from fieldapp.sync.protocol import ProtocolError, Push
from fieldapp.sync.records import MAX_RECORDS, parse_sealed_push
from fieldapp.sync.slip import slip_code

CONSOLE: Final = "/api/v1/console"
CONSOLE_DEVICE: Final = "hub-console"  # the device id of events recorded at the console
NEEDS_ATTENTION: Final = "needs_attention"  # a visit that cannot be shown as usual
_log = logging.getLogger(__name__)
Id = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")]


class Role(StrEnum):
    RECEPTION = "reception"
    DSL = "dsl"
    STAFF = "staff"
    ADMIN = "admin"


class SignIn(BaseModel):
    school_id: str = Field(min_length=1, max_length=64, pattern=NO_CONTROLS)
    staff_id: str = Field(min_length=1, max_length=64, pattern=NO_CONTROLS)
    password: str = Field(min_length=1, max_length=200)
    device: str = Field("", max_length=64, pattern=r"^[A-Za-z0-9_-]*$", description=(
        "the console device token an earlier sign-in to this account gave this browser: "
        "wrong passwords from elsewhere never lock it out"))


class User(BaseModel):
    school_id: str
    staff_id: str
    name: str
    role: str


class SignedIn(BaseModel):
    token: str
    expires_at: datetime
    user: User
    device: str = Field(description="keep it in this browser, and send it with each sign-in")


class OverdueOut(BaseModel):
    since: datetime
    what: str
    escalation: list[str]


class VisitorOut(BaseModel):
    name: str
    mobile: str = Field(description="empty if neither the directory nor the plan has one")


class AlertOut(BaseModel):
    type: str = Field(description="safe_phrase_used, emergency_call or duress_alert")
    at: datetime
    by: VisitorOut
    position: list[float] | None = Field(
        default=None, description="[latitude, longitude], where the phone sent its position")


class BoardRowOut(BaseModel):
    visit_id: str
    phase: str = Field(description=f"the visit's phase, or `{NEEDS_ATTENTION}`")
    address: str
    staff: list[VisitorOut]
    vehicles: list[str]
    expected_return: str
    emergency_number: str = Field(description="the emergency contact the pair gave the office "
                                  "at sign-out, where the school's policy asks for one")
    last_check_in: datetime | None = Field(description="the last call to the office")
    last_heard: datetime | None = Field(description="the latest event recorded on the visit")
    overdue: OverdueOut | None
    alerts: list[AlertOut]
    attention: str | None = Field(description="why the visit cannot be shown as usual")


class BoardOut(BaseModel):
    now: datetime
    rows: list[BoardRowOut]


class VisitSummary(BaseModel):
    visit_id: str
    phase: str
    child_ref: str
    child_name: str
    address: str
    scheduled_at: str
    staff: list[str]


class VisitsOut(BaseModel):
    visits: list[VisitSummary]


class RecordRef(BaseModel):
    record_id: str
    received_at: datetime
    unreadable: str | None = Field(description="why it cannot be opened now (sealed to a "
                                   "hub key this hub no longer holds); else null")


class VisitOut(BaseModel):
    visit: VisitSummary
    authorised_steps: list[str]
    outcome: dict[str, Any] | None
    concerns: list[dict[str, Any]]
    alerts: list[dict[str, Any]]
    set_aside: list[list[str]] = Field(description=(
        "[event or record id, why] for what could not be read or could not follow the rest"))
    records: list[RecordRef]
    events: list[dict[str, Any]]


class AuthoriseIn(BaseModel):
    step: str = Field(min_length=1, max_length=64)
    role: str = Field(min_length=1, max_length=64, description="the pack role signed as, "
                      "e.g. safeguarding_lead")


class FindingOut(BaseModel):
    code: str
    say: str
    because: str
    policy: str
    quote: str


class AuthorisedOut(BaseModel):
    events: list[str]
    findings: list[FindingOut]


class RecordOut(BaseModel):
    record_id: str
    visit_id: str
    events: list[dict[str, Any]]


class AuditOut(BaseModel):
    entries: list[AuditEntry]


class DeviceOut(BaseModel):
    device_id: str
    staff_id: str
    name: str
    enrolled_at: datetime
    revoked_at: datetime | None


class DevicesOut(BaseModel):
    devices: list[DeviceOut]


class EnrolCodeIn(BaseModel):
    staff_id: str = Field(min_length=1, max_length=64, pattern=NO_CONTROLS)


class EnrolCodeOut(BaseModel):
    code: str = Field(description="the slip code: the one-time code and the 128-bit check of "
                      "the hub's key the phone verifies (fieldapp.sync.slip); type all of it")
    expires_at: datetime
    hub_key_fingerprint: str = Field(description="for the enrolment slip: the phone shows the "
                                     "fingerprint it pinned, to be compared with this")


class SealedRecordWire(BaseModel):
    format: Literal["home-visits sealed record"]
    version: Literal[1]
    school_id: str
    record_id: str
    hub_key: str = Field(description="the fingerprint of the hub key it was sealed to")
    envelope: str = Field(description="the envelope, base64")


class SealedPushRequest(BaseModel):
    protocol: Literal[1]
    records: list[SealedRecordWire] = Field(max_length=MAX_RECORDS, description=(
        "a record the hub cannot read is rejected on its own (`rejected` in the answer)"))


CONSOLE_SESSION: Final = HTTPBearer(scheme_name="ConsoleSession", auto_error=False,
                                    description="the token a console sign-in answers")


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return refusals(401, *statuses)


def add_console_routes(app: FastAPI, engine: Engine, keys: HubKeyPair,
                       clock: Callable[[], datetime],
                       device: Callable[..., Device],
                       device_refused: dict[int | str, dict[str, Any]], *,
                       password_cost: int = 17,
                       retired_keys: Sequence[HubKeyPair] = ()) -> None:
    accounts = Accounts(engine, password_cost)
    directory, store, audit = Directory(engine), EventStore(engine), AuditLog(engine)
    sealed = SealedStore(engine, keys, retired_keys)

    def bearer(credentials: Annotated[HTTPAuthorizationCredentials | None,
                                      Depends(CONSOLE_SESSION)]) -> str:
        if credentials is None:
            raise HubError(401, "unauthenticated", "sign in to the console first")
        return credentials.credentials

    def signed_in(token: Annotated[str, Depends(bearer)]) -> ConsoleUser:
        try:
            return accounts.user(token, clock())
        except SignInRefused as refused:
            raise HubError(401, "unauthenticated", str(refused)) from None

    def allowed(*roles: Role) -> Callable[..., ConsoleUser]:
        def check(user: Annotated[ConsoleUser, Depends(signed_in)]) -> ConsoleUser:
            if user.role not in roles:
                raise HubError(403, "forbidden", f"a {user.role} cannot do this: ask "
                               f"{' or '.join(r.value for r in roles)}")
            return user
        return check

    def history_of(user: ConsoleUser, visit_id: str) -> History:
        """The visit's history if this user may see it; 404 otherwise, whatever the reason."""
        found = store.history(user.school_id, visit_id)
        mine = user.role != Role.STAFF or visit_id in store.staff_visits(user.school_id,
                                                                        user.staff_id)
        if not (found.events or found.unreadable) or not mine:
            raise HubError(404, "not_found", "no such visit")
        return found

    def read(user: ConsoleUser, action: str, subject: str) -> None:
        audit.record(user.school_id, clock(), user.staff_id, user.role, action, subject)

    @app.post(f"{CONSOLE}/sign-in", responses=_errors(400, 503), tags=["console"])
    def sign_in(body: SignIn) -> SignedIn:
        """A console session for a member of staff (a school day long); 503 with
        `Retry-After` while the hub is checking too many sign-ins at once."""
        try:
            session = accounts.sign_in(body.school_id, body.staff_id, body.password, clock(),
                                       body.device)
        except SignInRefused as refused:
            raise HubError(401, "unauthenticated", str(refused)) from None
        except Busy as busy:
            raise HubError(503, "busy", str(busy), headers={"Retry-After": "2"}) from None
        return SignedIn(token=session.token, expires_at=session.expires_at,
                        user=User(**asdict(session.user)), device=session.device)

    @app.post(f"{CONSOLE}/sign-out", responses=_errors(), tags=["console"])
    def sign_out(token: Annotated[str, Depends(bearer)],
                 _user: Annotated[ConsoleUser, Depends(signed_in)]) -> dict[str, bool]:
        """End this session (a session that has already ended is refused like any other)."""
        accounts.sign_out(token)
        return {"signed_out": True}

    @app.get(f"{CONSOLE}/me", responses=_errors(), tags=["console"])
    def me(user: Annotated[ConsoleUser, Depends(signed_in)]) -> User:
        return User(**asdict(user))

    @app.get(f"{CONSOLE}/board", responses={**_errors(403), **then(
        Visit=(VISIT, {"path.visit_id": "$response.body#/rows/0/visit_id"}))}, tags=["console"])
    def reception_board(user: Annotated[ConsoleUser, Depends(allowed(Role.RECEPTION,
                                                                     Role.DSL))]) -> BoardOut:
        """Who is out, where and until when; overdue visits first, by the hub's clock."""
        now = clock()
        rows = board(store, user.school_id, directory.pack(user.school_id).pack, now,
                     directory.contacts(user.school_id))
        return BoardOut(now=now, rows=[BoardRowOut(
            visit_id=row.visit_id, address=row.address,
            phase=NEEDS_ATTENTION if row.phase is None else row.phase.value,
            staff=[VisitorOut(name=v.name, mobile=v.mobile) for v in row.staff],
            vehicles=list(row.vehicles), expected_return=row.expected_return,
            emergency_number=row.emergency_number,
            last_check_in=row.last_check_in, last_heard=row.last_heard,
            alerts=[AlertOut(type=a.type, at=a.at, by=VisitorOut(name=a.by.name,
                                                                 mobile=a.by.mobile),
                             position=list(a.position) if a.position else None)
                    for a in row.alerts],
            overdue=None if row.overdue is None else OverdueOut(
                since=row.overdue.since, what=row.overdue.what,
                escalation=list(row.overdue.escalation)),
            attention=row.attention or None)
            for row in rows])

    @app.get(f"{CONSOLE}/visits", responses={**_errors(403), **then(
        Visit=(VISIT, {"path.visit_id": "$response.body#/visits/0/visit_id"}))},
        tags=["console"])
    def visits(user: Annotated[ConsoleUser, Depends(allowed(Role.DSL, Role.STAFF))]
               ) -> VisitsOut:
        """The school's visits (a member of staff: their own), newest plan first."""
        ids = (store.visit_ids(user.school_id) if user.role == Role.DSL
               else store.staff_visits(user.school_id, user.staff_id))
        read(user, "list_visits", "*")
        summaries = [_summary_of(visit_id, store.history(user.school_id, visit_id))
                     for visit_id in ids]
        return VisitsOut(visits=sorted(summaries, key=lambda v: v.scheduled_at, reverse=True))

    @app.get(f"{CONSOLE}/visits/{{visit_id}}", responses=_errors(403, 404), tags=["console"])
    def visit(visit_id: Id,
              user: Annotated[ConsoleUser, Depends(allowed(Role.DSL, Role.STAFF))]) -> VisitOut:
        """A visit's case content; for the DSL, with its sealed records opened."""
        history = history_of(user, visit_id)
        records = sealed.for_visit(user.school_id, visit_id) if user.role == Role.DSL else ()
        read(user, "read_visit", visit_id)
        refs, opened = [], []
        for stored in records:
            try:
                opened.append((stored.record_id, sealed.open(user.school_id, stored).events))
                problem = None
            except SealError as error:
                problem = str(error)
            refs.append(RecordRef(record_id=stored.record_id, received_at=stored.received_at,
                                  unreadable=problem))
        events, clashes = _with_records(history.events, opened)
        problems = [[r.ref, r.reason] for r in history.unreadable] + clashes
        try:
            state = fold(events)
        except Exception as error:  # a bug: the DSL still sees the events as they are
            _log.exception("visit %s cannot be folded", visit_id)
            return VisitOut(visit=_attention(visit_id), authorised_steps=[], outcome=None,
                            concerns=[], alerts=[], records=refs,
                            set_aside=[*problems, ["*", f"cannot be folded: "
                                                   f"{type(error).__name__}"]],
                            events=[event.to_dict() for event in events])
        return VisitOut(
            visit=_summary(state) if not problems else _attention(visit_id, state),
            authorised_steps=sorted(state.authorised_steps()),
            outcome=None if state.outcome is None else dict(state.outcome.detail),
            concerns=[dict(m.detail) for m in state.concerns],
            alerts=[dict(m.detail) for m in state.alerts],
            set_aside=problems + [list(pair) for pair in state.set_aside],
            records=refs,
            events=[event.to_dict() for event in events])

    @app.post(f"{CONSOLE}/visits/{{visit_id}}/authorise", responses=_errors(400, 403, 404, 409),
              tags=["console"])
    def authorise(visit_id: Id, body: AuthoriseIn,
                  user: Annotated[ConsoleUser, Depends(allowed(Role.DSL))]) -> AuthorisedOut:
        """Sign off one of the visit's authorisation steps, as the signed-in DSL."""
        history = history_of(user, visit_id)
        if history.unreadable:
            raise HubError(409, "needs_attention", f"{len(history.unreadable)} of this "
                           "visit's events cannot be read: it cannot be signed off until "
                           "they are put right")
        state = fold(history.events)
        if body.role not in directory.pack_roles(user.staff_id):
            raise HubError(403, "forbidden", f"you do not hold the role {body.role!r} in this "
                           "school's policy: an admin records who holds which")
        now = clock()
        author = Author(user.staff_id, CONSOLE_DEVICE)
        try:
            decision = decide(state, c.Authorise(body.step, user.name, body.role),
                              directory.pack(user.school_id).pack, now, by=author)
        except IllegalTransition as wrong:
            raise HubError(409, "wrong_phase", str(wrong)) from None
        except c.CommandError as error:
            raise HubError(400, "bad_command", str(error)) from None
        findings = [FindingOut(code=f.code, say=f.say, because=f.because, policy=f.policy,
                               quote=f.quote) for f in decision.findings]
        if not decision.accepted:
            raise HubError(422, "refused", "; ".join(f.say for f in decision.refusals),
                           findings=[f.model_dump() for f in findings])
        events = stamp(state, decision, visit_id, author, now,
                       lambda: os.urandom(10))
        store.ingest(user.school_id, CONSOLE_DEVICE, Push(events=events))
        return AuthorisedOut(events=[e.id for e in events], findings=findings)

    @app.get(f"{CONSOLE}/records/{{record_id}}", responses=_errors(403, 404, 409),
             tags=["console"])
    def record(record_id: Id,
               user: Annotated[ConsoleUser, Depends(allowed(Role.DSL))]) -> RecordOut:
        """A sealed visit record, opened with the hub's key."""
        stored = sealed.get(user.school_id, record_id)
        if stored is None:
            raise HubError(404, "not_found", "no such record")
        read(user, "open_record", record_id)
        try:
            opened = sealed.open(user.school_id, stored)
        except SealError as error:
            raise HubError(409, "unreadable", str(error)) from None
        return RecordOut(record_id=record_id, visit_id=opened.visit_id,
                         events=[event.to_dict() for event in opened.events])

    @app.get(f"{CONSOLE}/audit", responses=_errors(403), tags=["console"])
    def audit_log(user: Annotated[ConsoleUser, Depends(allowed(Role.DSL, Role.ADMIN))],
                  before: Annotated[int | None, Query(ge=1, le=2**62)] = None,
                  limit: Annotated[int, Query(ge=1, le=500)] = 200) -> AuditOut:
        """Who read which case content, newest first."""
        return AuditOut(entries=list(audit.entries(user.school_id, before, limit)))

    @app.get(f"{CONSOLE}/devices", responses=_errors(403), tags=["console"])
    def devices(user: Annotated[ConsoleUser, Depends(allowed(Role.ADMIN))]) -> DevicesOut:
        return DevicesOut(devices=[DeviceOut(**d) for d in directory.devices(user.school_id)])

    @app.post(f"{CONSOLE}/devices/{{device_id}}/revoke", responses=_errors(403, 404),
              tags=["console"])
    def revoke(device_id: Id,
               user: Annotated[ConsoleUser, Depends(allowed(Role.ADMIN))]) -> dict[str, bool]:
        """A lost phone: refused from now on, and told to wipe itself when it next syncs."""
        try:
            directory.revoke(user.school_id, device_id, clock())
        except DirectoryError:
            raise HubError(404, "not_found", "no such device") from None
        return {"revoked": True}

    @app.post(f"{CONSOLE}/enrol-codes", responses=_errors(400, 403, 404), tags=["console"])
    def enrol_code(body: EnrolCodeIn,
                   user: Annotated[ConsoleUser, Depends(allowed(Role.ADMIN))]) -> EnrolCodeOut:
        """A one-time code to enrol a phone for a member of staff (valid 15 minutes)."""
        now = clock()
        try:
            code = directory.enrol_code(user.school_id, body.staff_id, now)
        except DirectoryError:
            raise HubError(404, "not_found", "no such member of staff") from None
        return EnrolCodeOut(code=slip_code(code, keys.public_bytes()),
                            expires_at=now + CODE_LIFETIME,
                            hub_key_fingerprint=keys.fingerprint())

    @app.post("/api/v1/sealed", response_model=PushAnswer, tags=["sync"], responses={
        **refusals(400, 413), **device_refused, 409: {"model": PushAnswer, "description": (
            "Some record ids are held with another envelope (`conflicts`); the rest of the "
            "answer as for 200")}})
    def push_sealed(response: Response,
                    body: Annotated[dict[str, Any], Body(), DocumentedAs(SealedPushRequest)],
                    me: Annotated[Device, Depends(device)]) -> dict[str, Any]:
        """Store sealed visit records (kept sealed); answered like an event push."""
        try:
            parsed = parse_sealed_push(body)
        except ProtocolError as refused:
            raise HubError(400, "bad_push", str(refused)) from None
        result = sealed.ingest(me.school_id, Author(me.staff_id, me.id), parsed.records,
                               parsed.rejected, clock(),
                               store.staff_visits(me.school_id, me.staff_id))
        if result.conflicts:
            response.status_code = 409
        return result.to_json()

    @app.post("/api/v1/sealed/envelopes", response_model=PushAnswer, tags=["sync"],
              responses={**refusals(400, 413), **device_refused, 409: {
                  "model": PushAnswer, "description": "as for `/api/v1/sealed`"}},
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/octet-stream": {"schema": {"type": "string",
                                                          "format": "binary"}}}}})
    async def push_envelopes(request: Request, response: Response,
                             me: Annotated[Device, Depends(device)]) -> dict[str, Any]:
        """The same as `/api/v1/sealed`, without the JSON: up to 50 envelopes back to back, as
        sealed (ciphertext does not compress, and base64 would add a third)."""
        blob = await request.body()
        if not blob:
            raise HubError(400, "bad_push", "no sealed records in the body")
        try:
            records = [SealedRecord.from_envelope(envelope)
                       for envelope in split_envelopes(blob, MAX_RECORDS)]
        except SealError as refused:
            raise HubError(400, "bad_push", str(refused)) from None
        result = await run_in_threadpool(
            sealed.ingest, me.school_id, Author(me.staff_id, me.id), records, (), clock(),
            store.staff_visits(me.school_id, me.staff_id))
        if result.conflicts:
            response.status_code = 409
        return result.to_json()


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
    return summary.model_copy(update={"visit_id": visit_id, "phase": NEEDS_ATTENTION})


def _with_records(held: tuple[Event, ...], records: list[tuple[str, tuple[Event, ...]]]
                  ) -> tuple[tuple[Event, ...], list[list[str]]]:
    """The visit's events with its sealed records' in one order. An event a record carries
    with an id the hub holds with other content (the hub refuses such a record; this is for
    one kept before it did) is left out and listed, never allowed to take the view down."""
    by_id = {event.id: event for event in held}
    clashes: list[list[str]] = []
    for record_id, events in records:
        for event in events:
            known = by_id.setdefault(event.id, event)
            if known is not event and known.canonical() != event.canonical():
                clashes.append([record_id, f"event {event.id} differs from the one held"])
    return tuple(by_id[event_id] for event_id in sorted(by_id)), clashes


def _summary(state: VisitState) -> VisitSummary:
    plan = state.plan
    return VisitSummary(visit_id=state.visit_id, phase=state.phase.value,
                        child_ref=str(plan.get("child_ref", "")),
                        child_name=str(plan.get("child_name", "")),
                        address=str(plan.get("address", "")),
                        scheduled_at=str(plan.get("scheduled_at", "")),
                        staff=[member.name for member in state.staff])
