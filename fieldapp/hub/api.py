"""The hub's sync API, version 1 (`/api/v1`), with its OpenAPI document at `/openapi.json`.

Thin: each route reads the request, calls the directory or the event store, and answers.
Every request from a phone carries `Authorization: Bearer <device token>`; an unknown token
gets 401, a revoked device 401 with `"wipe": true`. Bodies over 1 MiB get 413; a body that is
not what the route expects gets 400 or 422, and changes nothing. Every refusal has one shape,
`{"error": ..., "message": ..., ...}`; the bodies are the models in fieldapp.hub.schemas.
"""

import base64
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Final

from fastapi import Body, Depends, FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from fieldapp.crypto.sealing import HubKeyPair
from fieldapp.domain.events import Author
from fieldapp.hub.access_log import AccessLog
from fieldapp.hub.audit import AuditLog
from fieldapp.hub.body_limit import BodyLimit
from fieldapp.hub.changes import Changes
from fieldapp.hub.console_api import add_console_routes
from fieldapp.hub.directory import Device, Directory, DirectoryError, NotAuthenticated
from fieldapp.hub.errors import HubError, database_unavailable
from fieldapp.hub.events_store import EventStore
from fieldapp.hub.schemas import (
    VISIT,
    DocumentedAs,
    Enrolled,
    EnrolRequest,
    ErrorBody,
    Health,
    PullAnswer,
    PushAnswer,
    PushRequest,
    Unauthenticated,
    refusals,
    then,
)
from fieldapp.hub.urgency import Turns, UrgentFirst, is_urgent
from fieldapp.sync.protocol import PROTOCOL, ProtocolError, parse_push, unlock_events

MAX_BODY: Final = 1024 * 1024
Clock = Callable[[], datetime]
HTTP_ERRORS: Final = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}
DEVICE_TOKEN: Final = HTTPBearer(scheme_name="DeviceToken", auto_error=False,
                                 description="the device token the phone got at enrolment")
REFUSED_DEVICE: Final[dict[int | str, dict[str, Any]]] = {401: {
    "model": Unauthenticated, "description": (
        "Unknown device token (`unauthenticated`), or a revoked device (`revoked`, with "
        "`wipe: true`: the phone must wipe its store)")}}


class AsciiJSON(JSONResponse):
    """JSON with every non-ASCII character escaped, so any text a phone sent can be answered,
    even a lone UTF-16 surrogate (which UTF-8 cannot carry, and an escape can)."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, allow_nan=False, separators=(",", ":")).encode("ascii")


def database_answers(engine: Engine) -> bool:
    """Whether the database answers a trivial query, on a fresh connection if a pooled one
    has gone stale."""
    for _attempt in range(2):
        try:
            with engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1").scalar_one()
            return True
        except DBAPIError:
            engine.dispose()
    return False


def create_api(engine: Engine, hub_keys: HubKeyPair,
               clock: Clock = lambda: datetime.now(UTC), password_cost: int = 17,
               retired_keys: Sequence[HubKeyPair] = (), access_log: bool = False) -> FastAPI:
    """The hub's API. `password_cost` is scrypt's log2(N) for new console passwords;
    `retired_keys` open records sealed before the hub's key was rotated; `access_log` logs a
    line per request with nobody in it (fieldapp.hub.access_log)."""
    directory = Directory(engine)
    store = EventStore(engine)
    audit = AuditLog(engine)
    # No OpenTelemetry: spans and logs would carry request details out of the hub (and
    # looking for a configured provider cost every request a little).
    app = FastAPI(title="Home Visits hub", version="1", openapi_url="/openapi.json",
                  docs_url=None, redoc_url=None, default_response_class=AsciiJSON,
                  telemetry={"tracing": False, "metrics": False, "logs": False})

    changes = Changes(engine)  # what the reception boards open, on any worker, hear of
    turns = Turns()
    app.add_middleware(UrgentFirst, turns=turns, paths=("/api/v1/push",))
    app.add_middleware(BodyLimit, limit=MAX_BODY)
    # Answers over slow networks: a pull of a visit's plan compresses about fivefold.
    app.add_middleware(GZipMiddleware, minimum_size=1000)
    if access_log:  # outermost: it times and sees every answer, refusals included
        app.add_middleware(AccessLog)

    def answer(error: HubError) -> JSONResponse:
        return AsciiJSON({"error": error.error, "message": str(error), **error.extra},
                         status_code=error.status, headers=error.headers or None)

    @app.exception_handler(HubError)
    async def hub_error(_request: Request, error: HubError) -> JSONResponse:
        return answer(error)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, error: StarletteHTTPException) -> JSONResponse:
        """The framework's own refusals (an unknown path or method, a body that cannot be
        decoded), in the one error shape, with their headers (`Allow`)."""
        code = HTTP_ERRORS.get(error.status_code, f"http_{error.status_code}")
        return AsciiJSON({"error": code, "message": str(error.detail)},
                         status_code=error.status_code, headers=error.headers)

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, error: Exception) -> JSONResponse:
        """Anything else, in the one error shape: the database not answering is a 503 to try
        again after (`database_unavailable`); a bug is a 500 that says nothing of it (the log
        has it)."""
        if isinstance(error, ClientDisconnect):  # gone before its body was read: no answer
            return AsciiJSON({"error": "client_closed", "message": "the client went away "
                              "before its request was read"}, status_code=499)
        if (down := database_unavailable(engine, error)) is not None:
            return answer(down)
        return AsciiJSON({"error": "internal", "message": "the hub failed on this request: "
                          "nothing more is said here, and the hub's log has it"},
                         status_code=500)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, error: RequestValidationError) -> JSONResponse:
        """A request that does not match the schema, in the one error shape (no input echoed)."""
        detail = [{"loc": list(issue["loc"]), "msg": issue["msg"], "type": issue["type"]}
                  for issue in error.errors()]
        message = "; ".join(f"{'.'.join(map(str, issue['loc']))}: {issue['msg']}"
                            for issue in detail[:3])
        return AsciiJSON({"error": "invalid_request", "message": message, "detail": detail},
                         status_code=422)

    def device(credentials: Annotated[HTTPAuthorizationCredentials | None,
                                      Depends(DEVICE_TOKEN)]) -> Device:
        """The enrolled, unrevoked device whose token this is (401 otherwise)."""
        if credentials is None:
            raise HubError(401, "unauthenticated", "send the device token as a Bearer token",
                           wipe=False)
        try:
            return directory.authenticate(credentials.credentials)
        except NotAuthenticated as refused:
            raise HubError(401, "revoked" if refused.wipe else "unauthenticated", str(refused),
                           wipe=refused.wipe) from None

    @app.get("/api/v1/health", response_model=Health, tags=["sync"], responses={
        503: {"model": Health, "description": "`degraded`: the database does not answer"}})
    def health() -> Response:
        """Whether the hub can serve: it asks its database (once more on a fresh connection
        if the first fails), and answers 503 `degraded` if the database does not answer."""
        answering = database_answers(engine)
        return AsciiJSON({"status": "ok" if answering else "degraded", "protocol": PROTOCOL,
                          "database": "ok" if answering else "unavailable"},
                         status_code=200 if answering else 503)

    @app.post("/api/v1/enrol", response_model=Enrolled, tags=["sync"], responses={
        **refusals(400, 403, 413), 403: {"model": ErrorBody, "description": (
            "`enrolment_refused`: the code is unknown, used or expired")},
        **then(Push=("push_api_v1_push_post", {}), Pull=("pull_api_v1_pull_get", {}))})
    def enrol(body: EnrolRequest) -> dict[str, Any]:
        """Trade a one-time enrolment code for a device token, the school's policy pack and
        the hub's public key for sealing records."""
        try:
            enrolment = directory.enrol(body.code, body.device_name, clock(), body.request_id,
                                        body.previous_device_id, body.previous_token)
        except DirectoryError as refused:
            raise HubError(403, "enrolment_refused", str(refused)) from None
        school_name, _shipped = directory.school(enrolment.device.school_id)
        pack = directory.pack(enrolment.device.school_id)
        return {
            "protocol": PROTOCOL, "device_id": enrolment.device.id, "token": enrolment.token,
            "school_id": enrolment.device.school_id, "school_name": school_name,
            "staff_id": enrolment.device.staff_id, "pack_id": pack.pack.id,
            "pack": pack.text, "pack_version": pack.version,
            "hub_public_key": base64.b64encode(hub_keys.public_bytes()).decode(),
            "hub_key_fingerprint": hub_keys.fingerprint(),
        }

    @app.post("/api/v1/push", response_model=PushAnswer, tags=["sync"], responses={
        **refusals(400, 413), **REFUSED_DEVICE, 409: {"model": PushAnswer, "description": (
            "Some event ids are stored with other content (`conflicts`); the rest of the "
            "answer as for 200")},
        **then(Pull=("pull_api_v1_pull_get", {}),
               Board=("reception_board_api_v1_console_board_get", {}),
               Visit=(VISIT, {"path.visit_id": "$request.body#/events/0/visit_id"}))})
    async def push(request: Request,
                   body: Annotated[dict[str, Any], Body(), DocumentedAs(PushRequest)],
                   credentials: Annotated[HTTPAuthorizationCredentials | None,
                                          Depends(DEVICE_TOKEN)]) -> Response:
        """Store a batch of events; a resend is a no-op answered the same; the same id with
        other content is a conflict (409). The answer lists exactly what is durably stored.
        Send a push that carries an alert with `Priority: u=0`: it goes before bulk sync."""
        # Stored right here, on the event loop, one push at a time in the order they came.
        # In the thread pool, pushes ran side by side only to contend for the GIL and for
        # SQLite's one writer: on this machine that cost 1-2 ms more CPU per push of 100
        # events (about a third more), and later pushes overtook earlier ones. A request that
        # arrives meanwhile waits for this push: about 5 ms for 100 events.
        me = device(credentials)
        if not is_urgent(request.headers):
            await turns.bulk()  # alerts first (fieldapp.hub.urgency)
        try:
            unlocks, alerts = unlock_events(body, (hub_keys, *retired_keys))
            if alerts and isinstance(body.get("events"), list):  # a duress unlock's alert:
                body = {**body, "events": [*alerts, *body["events"]]}  # as pushed
            parsed = parse_push(body, Author(me.staff_id, me.id))
        except ProtocolError as refused:
            raise HubError(400, "bad_push", str(refused)) from None
        result = store.ingest(me.school_id, me.id, parsed, staff_id=me.staff_id)
        stored = set(result.stored)
        changes.publish(me.school_id, {e.visit_id for e in parsed.events if e.id in stored})
        return AsciiJSON({**result.to_json(), "unlocks": unlocks},
                         status_code=409 if result.conflicts else 200)

    @app.get("/api/v1/pull", response_model=PullAnswer, tags=["sync"],
             responses={**refusals(), **REFUSED_DEVICE, **then(
                 Push=("push_api_v1_push_post", {}),
                 Visits=("visits_api_v1_console_visits_get", {}),
                 Visit=(VISIT, {"path.visit_id": "$response.body#/events/0/visit_id"}))})
    def pull(me: Annotated[Device, Depends(device)],
             cursor: Annotated[int, Query(ge=0, le=2**62)] = 0,
             limit: Annotated[int, Query(ge=1, le=500)] = 500,
             pack_version: Annotated[str, Query(max_length=16, description=(
                 "the version of the pack the phone holds"))] = "",
             baseline: Annotated[int | None, Query(ge=0, le=2**62, description=(
                 "the `baseline` the first pull answered: leave it out on a first pull (a "
                 "new phone, or a database the phone has not met)"))] = None,
             ) -> dict[str, Any]:
        """The events of the visits this device's staff member is on, after `cursor` (but not
        those this device pushed: it has them), and not of
        visits that were already over at `baseline` (a first pull brings the live visits, not
        the whole history); the school's contacts; its policy pack when it is not the version
        the phone holds; and the name of the hub's database, which a phone keeps with its
        cursor: a database it has not met (a restored backup) means pulling from the start and
        pushing again all it holds."""
        if baseline is None:
            baseline = store.head(me.school_id)
        page = store.since_for_staff(me.school_id, me.staff_id, cursor, limit, baseline,
                                     device_id=me.id)
        if page.events:  # visit plans name a child and an address: a read of case content
            audit.record(me.school_id, clock(), me.staff_id, "device", "pull", me.id)
        pack = directory.pack(me.school_id)
        return {"protocol": PROTOCOL, "events": [e.to_dict() for e in page.events],
                "withheld": [{"ref": r.ref, "reason": r.reason} for r in page.unreadable],
                "cursor": page.cursor, "more": page.full, "pack_version": pack.version,
                "pack": pack.text if pack_version != pack.version else None,
                "baseline": baseline, "head": store.head(me.school_id),
                "database_id": directory.database_id(),
                "contacts": directory.school_contacts(me.school_id).to_dict()}

    app.state.console = add_console_routes(  # the console's screens use the same service
        app, engine, hub_keys, clock, device, REFUSED_DEVICE, password_cost=password_cost,
        retired_keys=retired_keys, changes=changes)
    return app
