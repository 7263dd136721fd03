"""The bodies of the hub's sync API as pydantic models: what `/openapi.json` promises.

Every answer is checked against its model on the way out. A push is documented more strictly
than it is read, on purpose: it is checked only for being a JSON object before `parse_push`
reads it, so a bad event is rejected on its own and never holds up the rest of its batch; the
schema still tells a client what a good event looks like (`DocumentedAs`).

Every refusal has one shape, `ErrorBody`: `{"error": <code>, "message": <for a person>, ...}`;
a refused device token adds `wipe`, a request that does not match the schema adds `detail`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from fieldapp.crypto.sealing import TOKEN_SIZE
from fieldapp.domain.events import EventType
from fieldapp.sync.protocol import MAX_BATCH, MAX_UNLOCKS

# Text the hub keeps or looks up: no control characters (PostgreSQL refuses a NUL in text).
NO_CONTROLS: Final = r"^[^\u0000-\u001f\u007f-\u009f]*$"


class DocumentedAs:
    """`Annotated[dict[str, Any], DocumentedAs(Model)]`: read as the first type, documented as
    the model."""

    def __init__(self, model: type[BaseModel]) -> None:
        self.model = model

    def __get_pydantic_json_schema__(self, _core: CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return handler(self.model.__pydantic_core_schema__)


class Health(BaseModel):
    status: Literal["ok", "degraded"] = Field(description=(
        "`ok`; or `degraded` (with status 503) when the database does not answer"))
    protocol: int = Field(description="the sync protocol version this hub speaks")
    database: Literal["ok", "unavailable"]


class EnrolRequest(BaseModel):
    code: str = Field(max_length=40, pattern=NO_CONTROLS, description=(
        "the one-time enrolment code (any case, spaces and dashes ignored)"))
    device_name: str = Field("phone", max_length=100, pattern=NO_CONTROLS)
    request_id: str = Field("", max_length=64, pattern=r"^([A-Za-z0-9_-]{16,64})?$", description=(
        "the phone's own random id for this enrolment: if the answer is lost on the way, the "
        "same code with the same id (within the code's lifetime from its first use) enrols the "
        "same device again with a new token"))
    previous_device_id: str = Field("", max_length=64, pattern=r"^(dev-[0-9a-f]{16})?$",
                                    description=(
        "the device id this phone had, enrolling again: kept if no device has it (the hub "
        "lost the phone: a restored backup), or if `previous_token` is that device's live "
        "token (enrolled again after a key rotation), so what the phone recorded before goes "
        "on being its own"))
    previous_token: str = Field("", max_length=100, pattern=r"^[A-Za-z0-9_-]*$", repr=False,
                                description=(
        "the device token this phone holds, proving it is `previous_device_id`: that device "
        "gets the new token and the old one stops working"))


class Enrolled(BaseModel):
    protocol: int
    device_id: str
    token: str = Field(repr=False,
                       description="the device token: shown once, send it as a Bearer token")
    school_id: str
    school_name: str
    staff_id: str
    pack_id: str
    pack: str = Field(description="the school's policy pack (TOML)")
    pack_version: str = Field(description="send it with each pull: a new pack comes back "
                              "when the school's changes")
    hub_public_key: str = Field(description="the hub's X25519 sealing key, 32 bytes, base64")
    hub_key_fingerprint: str = Field(pattern=r"^[0-9a-f]{16}$", description=(
        "the first 16 hex digits of SHA-256(raw key): the phone pins it, and refuses any "
        "other key afterwards"))


class EventAuthor(BaseModel):
    staff_id: str
    device_id: str = Field(description="in a push, the pushing device's own id")


class EventWire(BaseModel):
    """An event in its wire and stored form (fieldapp.domain.events)."""

    v: Literal[1] = Field(description="the event format version")
    id: str = Field(pattern=r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$",
                    description="time-ordered, globally unique (ULID layout)")
    visit_id: str = Field(min_length=1, max_length=128, pattern=NO_CONTROLS,
                          description="no control characters")
    type: EventType
    at: datetime = Field(description="the recording device's time, with its UTC offset")
    author: EventAuthor
    payload: dict[str, Any]


class PushRequest(BaseModel):
    protocol: Literal[1]
    events: list[EventWire] = Field(max_length=MAX_BATCH, description=(
        "a bad event is rejected on its own (`rejected` in the answer); the others go on"))
    unlocks: list[str] = Field([], max_length=MAX_UNLOCKS, description=(
        f"unlock tokens, one per unlock of the phone, each base64 of exactly {TOKEN_SIZE} "
        "bytes (anything else is refused, 400 `bad_push`): the hub opens those sealed to it "
        "(a duress unlock's silent alert, whose events it takes as pushed) and counts the "
        "rest"))


class RejectedEvent(BaseModel):
    ref: str = Field(description='the event id if it had a readable one, else "events[<i>]"')
    reason: str


class PushAnswer(BaseModel):
    """What became of each event of a push. A phone drops from its outbox exactly what is
    `stored` or `already`."""

    protocol: int
    stored: list[str] = Field(description="durably stored now")
    already: list[str] = Field(description="stored before with the same content: a resend")
    conflicts: list[str] = Field(description="another event is stored with this id: kept as "
                                 "it was (the answer is then 409)")
    rejected: list[RejectedEvent]
    unlocks: int = Field(0, description="how many of the push's unlock tokens the hub took")


class SchoolContacts(BaseModel):
    """What the school's phones dial and show: the safe-phrase call goes to reception."""

    reception_phone: str
    school_phone: str
    dsl_mobile: str
    office_hours: str


class PullAnswer(BaseModel):
    protocol: int
    events: list[Annotated[dict[str, Any], DocumentedAs(EventWire)]] = Field(
        description="in the order they reached the hub")
    withheld: list[RejectedEvent] = Field(description=(
        "stored events of this page the hub cannot serve as events of their type (kept from "
        "before it checked them, or a bug): the cursor moves past them, and the reception "
        "board shows their visit as needing attention"))
    cursor: int = Field(ge=0, description="ask with this cursor next")
    more: bool = Field(description="a full page: pull again at once")
    pack_version: str = Field(description="the version of the school's policy pack now")
    pack: str | None = Field(description="the school's policy pack (TOML), when it is not "
                             "the version the phone said it holds")
    baseline: int = Field(ge=0, description=(
        "send it with every later pull: visits already over by then are not sent"))
    head: int = Field(ge=0, description=(
        "the school's newest event position: a phone whose cursor is past it meets a hub "
        "restored from an older backup, and starts again"))
    database_id: str = Field(description=(
        "the hub's database: another one than the phone met (a restored backup) means pulling "
        "from the start and pushing again everything the phone holds"))
    contacts: SchoolContacts


class ErrorBody(BaseModel):
    """Every refusal: a stable `error` code for programs and a `message` for people."""

    model_config = ConfigDict(extra="allow")
    error: str
    message: str


class Unauthenticated(ErrorBody):
    error: Literal["unauthenticated", "revoked"]
    wipe: bool = Field(description="true for a revoked device: wipe the phone's store")


class Issue(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class InvalidRequest(ErrorBody):
    error: Literal["invalid_request"]
    detail: list[Issue]


_REFUSALS: Final[dict[int, tuple[type[BaseModel], str]]] = {
    400: (ErrorBody, "Refused as a whole: nothing in it was stored"),
    401: (ErrorBody, "No valid token"),
    403: (ErrorBody, "Not allowed"),
    404: (ErrorBody, "Not found, or not yours to see"),
    409: (ErrorBody, "Conflicts with what is stored, which stays as it was"),
    413: (ErrorBody, "Over 1 MiB (error `too_large`): nothing was read"),
    422: (InvalidRequest, "Not what this route reads (error `invalid_request`): nothing "
                          "changed"),
    503: (ErrorBody, "Busy (error `busy`), or the hub's database is not answering (error "
                     "`database_unavailable`): nothing changed; try again after `Retry-After` "
                     "seconds"),
}


# How the operations follow one another (OpenAPI links): a client reads them as "what to do
# next", and schemathesis walks them as a phone and the school's console would
# (tests/hub/test_openapi_fuzz.py): enrol, push, pull, then the board and the visit.
VISIT: Final = "visit_api_v1_console_visits__visit_id__get"


def then(**links: tuple[str, dict[str, str]]) -> dict[int | str, dict[str, Any]]:
    """`responses=` entry for a 200 whose answer leads on: name -> (operation id, the target's
    parameters as runtime expressions)."""
    return {200: {"links": {name: {"operationId": operation, "parameters": parameters}
                            for name, (operation, parameters) in links.items()}}}


def refusals(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route that may refuse with these statuses (422 and 503 always
    included: any route may meet a database that is not answering)."""
    return {status: {"model": _REFUSALS[status][0], "description": _REFUSALS[status][1]}
            for status in sorted({*statuses, 422, 503})}
