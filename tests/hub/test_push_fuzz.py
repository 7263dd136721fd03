"""Whatever a phone pushes, every reader goes on answering (hypothesis, SQLite and PostgreSQL).

Events of every type with payloads drawn to be wrong in every way a phone could get them
wrong (keys missing, unknown or of the wrong type; deep nesting; NaN, Infinity, numbers
beyond any float; NUL and control characters; lone surrogates), or right (a good payload
with drawn text), are pushed one batch after another into one hub; after each push the
board, a pull, the DSL's list and the visit each answer 200, and a pull gives back exactly
what was pushed, for everything the hub stored.
"""

from __future__ import annotations

import json
import math
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fieldapp.domain.events import Author, Event, EventError, EventType, new_event_id
from fieldapp.domain.payloads import check_event
from tests.hub.world import NOW, School, World
from tests.samples import SAMPLES

TEXT = st.text(st.characters(codec=None), max_size=30) | st.sampled_from(
    ["", "a\x00b", "\ud800", "x" * 5000, "2026-11-23T12:00:00", "2026-11-23T12:00:00+00:00",
     "soon", "parent", "yes"])
SCALARS = (st.none() | st.booleans() | st.integers() | st.sampled_from(
    [math.nan, math.inf, -math.inf, 10**400, 1e308, -0.0]) | st.floats() | TEXT)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    TEXT, inner, max_size=4), max_leaves=12) | st.integers(1, 300).map(
    lambda depth: json.loads("[" * depth + "]" * depth))


@st.composite
def payloads(draw: st.DrawFn, kind: EventType) -> Any:
    payload: dict[str, Any] = dict(SAMPLES[kind])
    for _ in range(draw(st.integers(0, 3))):
        change = draw(st.sampled_from(["drop", "set", "add", "text"]))
        keys = sorted(payload)
        if change == "drop" and keys:
            payload.pop(draw(st.sampled_from(keys)))
        elif change == "set" and keys:
            payload[draw(st.sampled_from(keys))] = draw(VALUES)
        elif change == "add":
            payload[draw(TEXT)] = draw(VALUES)
        elif keys:  # a good-looking value: text where text goes
            key = draw(st.sampled_from(keys))
            if isinstance(payload[key], str):
                payload[key] = draw(TEXT)
    return draw(st.sampled_from([payload, payload, payload, draw(VALUES)]))


@st.composite
def batches(draw: st.DrawFn, school: School, visits: list[str]) -> list[dict[str, Any]]:
    author = Author(school.staff("ann"), school.device["device_id"])
    items = []
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(list(EventType)))
        at = NOW + timedelta(seconds=draw(st.integers(0, 10**6)))
        items.append(Event(new_event_id(at, draw(st.binary(min_size=10, max_size=10))),
                           draw(st.sampled_from(visits)), kind, at, author,
                           {}).to_dict() | {"payload": draw(payloads(kind))})
    return items


@settings(max_examples=40, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_whatever_a_phone_pushes_every_reader_still_answers(world: World,
                                                            data: st.DataObject) -> None:
    school = world.schools["uplands"]
    visits = [school.out, school.waiting, f"device-{school.device['device_id']}"]
    pushed = data.draw(batches(school, visits))
    client = TestClient(world.client.app, raise_server_exceptions=False)
    answer = client.post("/api/v1/push", headers={**school.phone(),
                                                  "Content-Type": "application/json"},
                         content=json.dumps({"protocol": 1, "events": pushed}))
    assert answer.status_code in (200, 409), answer.text
    stored = set(answer.json()["stored"])
    for path, user in (("/api/v1/console/board", "reception"), ("/api/v1/console/visits", "dsl"),
                       *((f"/api/v1/console/visits/{v}", "dsl") for v in visits[:2])):
        read = client.get(path, headers=school.auth(user))
        assert read.status_code == 200, (path, read.text)
    code = world.directory.enrol_code("uplands", school.staff("dsl"), world.now)
    partner = client.post("/api/v1/enrol", json={"code": code}).json()  # ann's pair's phone
    pulled = client.get("/api/v1/pull", headers={"Authorization": f"Bearer {partner['token']}"},
                        params={"limit": 500, "baseline": 0})  # all of these visits
    assert pulled.status_code == 200 and pulled.json()["withheld"] == []
    back = {event["id"]: event for event in pulled.json()["events"]}
    for event_id, event in first_valid(pushed).items():
        if event_id in stored and event.visit_id in visits[:2]:  # ann's visits
            assert back[event_id] == event.to_dict()  # what was pushed is what is pulled


def first_valid(pushed: list[dict[str, Any]]) -> dict[str, Event]:
    """What the hub keeps of a push, by id: the first event with that id that is well formed
    (a malformed twin before or after it is rejected on its own)."""
    kept: dict[str, Event] = {}
    for raw in pushed:
        try:
            event = check_event(Event.from_dict(raw))
        except EventError:
            continue
        kept.setdefault(event.id, event)
    return kept
