"""The console's API (`/api/v1/console/...`): sign-in, the reception board and its alerts,
visits and their case content, authorising visits, sealed records, the audit log, devices.
Plus the phones' route for sealed records (`/api/v1/sealed`).

Routes are thin: each area is an `APIRouter` over the one console service
(fieldapp.hub.console), which holds who may do what and what is audit-logged; the console's
screens call the same service.
"""

from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Body, Depends, FastAPI, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from sqlalchemy import Engine

from fieldapp.crypto.sealing import HubKeyPair, SealedRecord, SealError, split_envelopes
from fieldapp.domain.events import Author
from fieldapp.hub.accounts import ConsoleUser
from fieldapp.hub.audit import AuditEntry
from fieldapp.hub.board import BoardRow
from fieldapp.hub.changes import Changes
from fieldapp.hub.console import (
    NEEDS_ATTENTION,
    ConsoleService,
    Recorded,
)
from fieldapp.hub.console import (
    VisitSummary as Summary,
)
from fieldapp.hub.directory import Device
from fieldapp.hub.errors import HubError
from fieldapp.hub.schemas import (
    NO_CONTROLS,
    VISIT,
    DocumentedAs,
    PushAnswer,
    refusals,
    then,
)
from fieldapp.sync.protocol import ProtocolError
from fieldapp.sync.records import MAX_RECORDS, parse_sealed_push

CONSOLE: Final = "/api/v1/console"
Id = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")]
__all__ = ["CONSOLE", "add_console_routes"]


class SignIn(BaseModel):
    school_id: str = Field(min_length=1, max_length=64, pattern=NO_CONTROLS)
    staff_id: str = Field(min_length=1, max_length=64, pattern=NO_CONTROLS)
    password: str = Field(min_length=1, max_length=200, repr=False)
    device: str = Field("", max_length=64, pattern=r"^[A-Za-z0-9_-]*$", description=(
        "the console device token an earlier sign-in to this account gave this browser: "
        "wrong passwords from elsewhere never lock it out"))


class User(BaseModel):
    school_id: str
    staff_id: str
    name: str
    role: str


class SignedIn(BaseModel):
    token: str = Field(repr=False)
    expires_at: datetime
    user: User
    device: str = Field(repr=False,
                        description="keep it in this browser, and send it with each sign-in")


class OverdueOut(BaseModel):
    since: datetime
    what: str
    escalation: list[str]


class VisitorOut(BaseModel):
    name: str
    mobile: str = Field(description="empty if neither the directory nor the plan has one")


class AcknowledgedOut(BaseModel):
    by: str = Field(description="who at school acknowledged the alert")
    role: str
    at: datetime


class AlertOut(BaseModel):
    id: str = Field(description="the alert's event id: acknowledge it with this")
    type: str = Field(description="safe_phrase_used, emergency_call or duress_alert")
    at: datetime
    by: VisitorOut
    position: list[float] | None = Field(
        default=None, description="[latitude, longitude], where the phone sent its position")
    acknowledged: AcknowledgedOut | None = Field(
        default=None, description="who at school has it in hand; null: it still sounds")


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
                       retired_keys: Sequence[HubKeyPair] = (),
                       changes: Changes | None = None) -> ConsoleService:
    """The console's routes, one router per area, over one console service (returned: the
    console's screens use the same one)."""
    console = ConsoleService(engine, keys, clock, password_cost, retired_keys, changes)

    def bearer(credentials: Annotated[HTTPAuthorizationCredentials | None,
                                      Depends(CONSOLE_SESSION)]) -> str:
        if credentials is None:
            raise HubError(401, "unauthenticated", "sign in to the console first")
        return credentials.credentials

    def signed_in(token: Annotated[str, Depends(bearer)]) -> ConsoleUser:
        return console.user(token)

    User_ = Annotated[ConsoleUser, Depends(signed_in)]
    for router in (_sessions(console, bearer, User_), _reception(console, User_),
                   _visits(console, User_), _admin(console, User_)):
        app.include_router(router, prefix=CONSOLE, tags=["console"])
    app.include_router(_sealed(console, device, device_refused), tags=["sync"])
    return console


def _sessions(console: ConsoleService, bearer: Callable[..., str], User_: Any) -> APIRouter:
    router = APIRouter()

    @router.post("/sign-in", responses=_errors(400, 503))
    def sign_in(body: SignIn) -> SignedIn:
        """A console session for a member of staff (a school day long); 503 with
        `Retry-After` while the hub is checking too many sign-ins at once."""
        session = console.sign_in(body.school_id, body.staff_id, body.password, body.device)
        return SignedIn(token=session.token, expires_at=session.expires_at,
                        user=User(**asdict(session.user)), device=session.device)

    @router.post("/sign-out", responses=_errors())
    def sign_out(token: Annotated[str, Depends(bearer)], _user: User_) -> dict[str, bool]:
        """End this session (a session that has already ended is refused like any other)."""
        console.sign_out(token)
        return {"signed_out": True}

    @router.get("/me", responses=_errors())
    def me(user: User_) -> User:
        return User(**asdict(user))

    return router


def _reception(console: ConsoleService, User_: Any) -> APIRouter:
    router = APIRouter()

    @router.get("/board", responses={**_errors(403), **then(
        Visit=(VISIT, {"path.visit_id": "$response.body#/rows/0/visit_id"}))})
    def reception_board(user: User_) -> BoardOut:
        """Who is out, where and until when; alerts first (those nobody has acknowledged
        before those in hand), then overdue visits, by the hub's clock."""
        now, rows = console.board(user)
        return BoardOut(now=now, rows=[_row_out(row) for row in rows])

    @router.post("/visits/{visit_id}/alerts/{alert_id}/acknowledge",
                 responses=_errors(400, 403, 404, 409))
    def acknowledge(visit_id: Id, alert_id: Id, user: User_) -> AuthorisedOut:
        """Someone at school has the alert in hand: recorded on the visit with who and
        when (the DSL sees it), audited; it stops sounding on every board."""
        return _recorded(console.acknowledge(user, visit_id, alert_id))

    return router


def _visits(console: ConsoleService, User_: Any) -> APIRouter:
    router = APIRouter()

    @router.get("/visits", responses={**_errors(403), **then(
        Visit=(VISIT, {"path.visit_id": "$response.body#/visits/0/visit_id"}))})
    def visits(user: User_) -> VisitsOut:
        """The school's visits (a member of staff: their own), newest plan first."""
        return VisitsOut(visits=[_summary_out(v) for v in console.visits(user)])

    @router.get("/visits/{visit_id}", responses=_errors(403, 404))
    def visit(visit_id: Id, user: User_) -> VisitOut:
        """A visit's case content; for the DSL, with its sealed records opened."""
        view = console.visit(user, visit_id)
        return VisitOut(
            visit=_summary_out(view.summary), authorised_steps=list(view.authorised_steps),
            outcome=view.outcome, concerns=list(view.concerns), alerts=list(view.alerts),
            set_aside=[list(pair) for pair in view.set_aside],
            records=[RecordRef(**asdict(ref)) for ref in view.records],
            events=[event.to_dict() for event in view.events])

    @router.post("/visits/{visit_id}/authorise", responses=_errors(400, 403, 404, 409))
    def authorise(visit_id: Id, body: AuthoriseIn, user: User_) -> AuthorisedOut:
        """Sign off one of the visit's authorisation steps, as the signed-in DSL."""
        return _recorded(console.authorise(user, visit_id, body.step, body.role))

    @router.get("/visits/{visit_id}/forms/{form}", response_class=Response, responses={
        200: {"content": {"application/pdf": {}}, "description": "the form, as PDF"},
        **_errors(403, 404, 409)})
    def form_pdf(visit_id: Id, form: Literal["visit", "not_at_home"], user: User_) -> Response:
        """The visit's Home Visit Form or Not-at-Home form as PDF, laid out like the forms in
        the school's policy, for CPOMS (409: no such record on this visit, as a Not-at-Home
        form where someone answered). Audited."""
        return Response(console.export(user, visit_id, form), media_type="application/pdf",
                        headers={"Content-Disposition":
                                 f'attachment; filename="{form}-form-{visit_id}.pdf"'})

    @router.get("/exports/{what}", response_class=Response, responses={
        200: {"content": {"text/csv": {}}, "description": "one row each, with a header row"},
        **_errors(403)})
    def export_csv(what: Literal["visits", "actions"], user: User_) -> Response:
        """The school's visits, or the actions and follow-ups they left, as CSV for the
        school's tracker. Audited."""
        return Response(console.export_csv(user, what), media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{what}.csv"'})

    @router.get("/records/{record_id}", responses=_errors(403, 404, 409))
    def record(record_id: Id, user: User_) -> RecordOut:
        """A sealed visit record, opened with the hub's key."""
        opened = console.record(user, record_id)
        return RecordOut(record_id=opened.record_id, visit_id=opened.visit_id,
                         events=[event.to_dict() for event in opened.events])

    return router


def _admin(console: ConsoleService, User_: Any) -> APIRouter:
    router = APIRouter()

    @router.get("/audit", responses=_errors(403))
    def audit_log(user: User_, before: Annotated[int | None, Query(ge=1, le=2**62)] = None,
                  limit: Annotated[int, Query(ge=1, le=500)] = 200) -> AuditOut:
        """Who read which case content and who changed what, newest first."""
        return AuditOut(entries=list(console.audit_log(user, before, limit)))

    @router.get("/devices", responses=_errors(403))
    def devices(user: User_) -> DevicesOut:
        return DevicesOut(devices=[DeviceOut(**d) for d in console.devices(user)])

    @router.post("/devices/{device_id}/revoke", responses=_errors(403, 404))
    def revoke(device_id: Id, user: User_) -> dict[str, bool]:
        """A lost phone: refused from now on, and told to wipe itself when it next syncs."""
        console.revoke(user, device_id)
        return {"revoked": True}

    @router.post("/enrol-codes", responses=_errors(400, 403, 404))
    def enrol_code(body: EnrolCodeIn, user: User_) -> EnrolCodeOut:
        """A one-time code to enrol a phone for a member of staff (valid 15 minutes)."""
        slip = console.enrol_code(user, body.staff_id)
        return EnrolCodeOut(code=slip.code, expires_at=slip.expires_at,
                            hub_key_fingerprint=slip.hub_key_fingerprint)

    return router


def _sealed(console: ConsoleService, device: Callable[..., Device],
            device_refused: dict[int | str, dict[str, Any]]) -> APIRouter:
    """The phones' route for sealed visit records."""
    router = APIRouter()
    sealed, store, clock = console.sealed, console.store, console.clock

    @router.post("/api/v1/sealed", response_model=PushAnswer, responses={
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

    @router.post("/api/v1/sealed/envelopes", response_model=PushAnswer,
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

    return router


def _recorded(recorded: Recorded) -> AuthorisedOut:
    return AuthorisedOut(events=list(recorded.events), findings=[FindingOut(
        code=f.code, say=f.say, because=f.because, policy=f.policy, quote=f.quote)
        for f in recorded.findings])


def _summary_out(summary: Summary) -> VisitSummary:
    return VisitSummary(**{**asdict(summary), "staff": list(summary.staff)})


def _row_out(row: BoardRow) -> BoardRowOut:
    return BoardRowOut(
        visit_id=row.visit_id, address=row.address,
        phase=NEEDS_ATTENTION if row.phase is None else row.phase.value,
        staff=[VisitorOut(name=v.name, mobile=v.mobile) for v in row.staff],
        vehicles=list(row.vehicles), expected_return=row.expected_return,
        emergency_number=row.emergency_number,
        last_check_in=row.last_check_in, last_heard=row.last_heard,
        alerts=[AlertOut(id=a.id, type=a.type, at=a.at,
                         by=VisitorOut(name=a.by.name, mobile=a.by.mobile),
                         position=list(a.position) if a.position else None,
                         acknowledged=None if a.acknowledged is None else AcknowledgedOut(
                             by=a.acknowledged.by, role=a.acknowledged.role,
                             at=a.acknowledged.at))
                for a in row.alerts],
        overdue=None if row.overdue is None else OverdueOut(
            since=row.overdue.since, what=row.overdue.what,
            escalation=list(row.overdue.escalation)),
        attention=row.attention or None)
