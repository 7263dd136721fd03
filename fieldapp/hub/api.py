"""The hub's sync API, version 1 (`/api/v1`), with its OpenAPI document at `/openapi.json`.

Thin: each route reads the request, calls the directory or the event store, and answers.
Every request from a phone carries `Authorization: Bearer <device token>`; an unknown token
gets 401, a revoked device 401 with `"wipe": true`. Bodies over 1 MiB get 413; a body that is
not what the route expects gets 400 or 422, and changes nothing.
"""

import base64
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Final

from fastapi import Body, Depends, FastAPI, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import Engine

from fieldapp.crypto.sealing import HubKeyPair
from fieldapp.domain.policy import pack_text
from fieldapp.hub.directory import Device, Directory, DirectoryError, NotAuthenticated
from fieldapp.hub.events_store import EventStore
from fieldapp.sync.protocol import PROTOCOL, ProtocolError, parse_push

MAX_BODY: Final = 1024 * 1024
Clock = Callable[[], datetime]


class HubError(Exception):
    def __init__(self, status: int, error: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.error, self.extra = status, error, extra


def create_api(engine: Engine, hub_keys: HubKeyPair,
               clock: Clock = lambda: datetime.now(UTC)) -> FastAPI:
    directory = Directory(engine)
    store = EventStore(engine)
    app = FastAPI(title="Home Visits hub", version="1", openapi_url="/openapi.json",
                  docs_url=None, redoc_url=None)

    @app.middleware("http")
    async def limit_body(request: Request,
                         call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
            return JSONResponse({"error": "too_large", "message": "at most 1 MiB per request"},
                                status_code=413)
        return await call_next(request)

    @app.exception_handler(HubError)
    async def hub_error(_request: Request, error: HubError) -> JSONResponse:
        return JSONResponse({"error": error.error, "message": str(error), **error.extra},
                            status_code=error.status)

    def device(authorization: Annotated[str, Header()] = "") -> Device:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise HubError(401, "unauthenticated", "send the device token as a Bearer token",
                           wipe=False)
        try:
            return directory.authenticate(token.strip())
        except NotAuthenticated as refused:
            raise HubError(401, "revoked" if refused.wipe else "unauthenticated", str(refused),
                           wipe=refused.wipe) from None

    @app.get("/api/v1/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "protocol": PROTOCOL}

    @app.post("/api/v1/enrol")
    def enrol(code: Annotated[str, Body(max_length=40)],
              device_name: Annotated[str, Body(max_length=100)] = "phone") -> dict[str, Any]:
        """Trade a one-time enrolment code for a device token, the school's policy pack and
        the hub's public key for sealing records."""
        try:
            enrolment = directory.enrol(code, device_name, clock())
        except DirectoryError as refused:
            raise HubError(403, "enrolment_refused", str(refused)) from None
        school_name, pack_id = directory.school(enrolment.device.school_id)
        return {
            "protocol": PROTOCOL, "device_id": enrolment.device.id, "token": enrolment.token,
            "school_id": enrolment.device.school_id, "school_name": school_name,
            "staff_id": enrolment.device.staff_id, "pack_id": pack_id,
            "pack": pack_text(pack_id),
            "hub_public_key": base64.b64encode(hub_keys.public_bytes()).decode(),
            "hub_key_fingerprint": hub_keys.fingerprint(),
        }

    @app.post("/api/v1/push")
    def push(response: Response, body: Annotated[dict[str, Any], Body()],
             me: Annotated[Device, Depends(device)]) -> dict[str, Any]:
        """Store a batch of events; a resend is a no-op answered the same; the same id with
        other content is a conflict (409). The answer lists exactly what is durably stored."""
        try:
            parsed = parse_push(body, me.id)
        except ProtocolError as refused:
            raise HubError(400, "bad_push", str(refused)) from None
        result = store.ingest(me.school_id, me.id, parsed)
        if result.conflicts:
            response.status_code = 409
        return result.to_json()

    @app.get("/api/v1/pull")
    def pull(me: Annotated[Device, Depends(device)],
             cursor: Annotated[int, Query(ge=0, le=2**62)] = 0,
             limit: Annotated[int, Query(ge=1, le=500)] = 500) -> dict[str, Any]:
        """The events of the visits this device's staff member is on, after `cursor`."""
        found, next_cursor = store.since_for_staff(me.school_id, me.staff_id, cursor, limit)
        return {"protocol": PROTOCOL, "events": [e.to_dict() for e in found],
                "cursor": next_cursor, "more": len(found) == limit}

    return app
