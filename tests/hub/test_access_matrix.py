"""Every console route x every role x both schools, on SQLite and PostgreSQL: a role gets only
what the design gives it, a refused request changes nothing, and nobody ever reaches another
school: another school's visit, record, device or member of staff is answered 404, as if it
did not exist, and no list carries anything of another school's."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from fieldapp.hub.console import MAY
from fieldapp.hub.events_store import metadata
from tests.hub.world import USERS, School, World

# route -> (method, path, body, roles allowed); {names} are filled from the target school.
ROUTES: dict[str, tuple[str, str, dict[str, Any] | None, set[str]]] = {
    "me": ("GET", "/api/v1/console/me", None, {"reception", "dsl", "staff", "admin"}),
    "board": ("GET", "/api/v1/console/board", None, {"reception", "dsl"}),
    "visits": ("GET", "/api/v1/console/visits", None, {"dsl", "staff"}),
    "visit": ("GET", "/api/v1/console/visits/{out}", None, {"dsl", "staff"}),
    "record": ("GET", "/api/v1/console/records/{record}", None, {"dsl"}),
    "form": ("GET", "/api/v1/console/visits/{out}/forms/visit", None, {"dsl"}),
    "csv": ("GET", "/api/v1/console/exports/visits", None, {"dsl"}),
    "audit": ("GET", "/api/v1/console/audit", None, {"dsl", "admin"}),
    "devices": ("GET", "/api/v1/console/devices", None, {"admin"}),
    "authorise": ("POST", "/api/v1/console/visits/{waiting}/authorise",
                  {"step": "{step}", "role": "{role}"}, {"dsl"}),
    "enrol-code": ("POST", "/api/v1/console/enrol-codes", {"staff_id": "{cat}"}, {"admin"}),
    "revoke": ("POST", "/api/v1/console/devices/{device}/revoke", None, {"admin"}),
    "acknowledge": ("POST", "/api/v1/console/visits/{out}/alerts/{alert}/acknowledge", None,
                    {"reception", "dsl"}),
}
LISTS = {"me", "board", "visits", "audit", "devices", "csv"}  # no target: scoped to the caller
CHANGES = {"authorise", "enrol-code", "revoke", "acknowledge"}
STEPS = {"uplands": ("safeguarding_lead", "safeguarding_lead"), "hart-hill": ("slt_noted", "dsl")}
CALLERS = [*USERS, "phone", "nobody"]


def names(school: School, caller: str) -> dict[str, str]:
    step, role = STEPS[school.id]
    return {"out": school.out, "waiting": school.waiting, "record": school.record,
            "device": school.device["device_id"], "cat": school.staff("cat"), "step": step,
            "role": role,  # reception and the DSL each acknowledge an alert of their own
            "alert": school.alerts[0] if caller == "reception" else school.alerts[1]}


def expected(route: str, caller: str, own: bool) -> int:
    if caller in ("phone", "nobody"):
        return 401
    if USERS[caller] not in ROUTES[route][3]:
        return 403
    if not own or (route == "visit" and caller == "cat"):  # cat is not on that visit
        return 404
    return 200


def rows(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {table.name: connection.execute(select(func.count()).select_from(table))
                .scalar_one() for table in metadata.sorted_tables if table.name != "audit_log"}


def call(world: World, route: str, caller: str, caller_school: School,
         target: School) -> Any:
    method, path, body, _roles = ROUTES[route]
    fill = names(target, caller)
    headers = ({} if caller == "nobody" else caller_school.phone() if caller == "phone"
               else caller_school.auth(caller))
    json = {k: v.format(**fill) for k, v in body.items()} if body else None
    return world.client.request(method, path.format(**fill), headers=headers, json=json)


@pytest.fixture
def world(engine: Engine) -> World:
    return World(engine)


def test_every_route_role_and_school(world: World) -> None:
    wrong: list[str] = []
    schools = list(world.schools.values())
    allowed_changes = []
    for route in ROUTES:
        for caller in CALLERS:
            for caller_school in schools:
                for target in schools:
                    own = target is caller_school
                    if route in LISTS and not own:
                        continue
                    want = expected(route, caller, own)
                    if route in CHANGES and want == 200:
                        allowed_changes.append((route, caller, caller_school))
                        continue  # done last, once: they change what they act on
                    before = rows(world.engine)
                    answer = call(world, route, caller, caller_school, target)
                    if answer.status_code != want:
                        wrong.append(f"{route} by {caller} of {caller_school.id} on "
                                     f"{target.id}'s: {answer.status_code}, want {want}")
                    if want != 200 and rows(world.engine) != before:
                        wrong.append(f"{route} by {caller} of {caller_school.id} on "
                                     f"{target.id}'s was refused but changed rows")
                    if want == 200:
                        other = next(s for s in schools if s is not caller_school)
                        if other.id in answer.text or other.out in answer.text:
                            wrong.append(f"{route} by {caller} of {caller_school.id} shows "
                                         f"{other.id}'s data")
    for route, caller, school in allowed_changes:
        answer = call(world, route, caller, school, school)
        if answer.status_code != 200:
            wrong.append(f"{route} by {caller} of {school.id}: {answer.status_code}, "
                         f"want 200: {answer.text}")
    assert not wrong, "\n".join(wrong)


def test_phones_and_console_sessions_do_not_open_each_others_routes(world: World) -> None:
    school = world.schools["uplands"]
    assert world.client.get("/api/v1/pull", headers=school.auth("dsl")).status_code == 401
    assert world.client.post("/api/v1/push", headers=school.auth("admin"),
                             json={"protocol": 1, "events": []}).status_code == 401
    assert world.client.post("/api/v1/sealed", headers=school.auth("dsl"),
                             json={"protocol": 1, "records": []}).status_code == 401
    assert world.client.get("/api/v1/console/me", headers=school.phone()).status_code == 401


def test_the_chronology_and_a_visits_casework_are_the_dsls_as_holds_and_erasure_are() -> None:
    # The file shows the hold card, and the chronology the child's records, without asking:
    # whoever may read them may hold and erase.
    assert MAY["erase"] == MAY["record"] == MAY["plan"]
