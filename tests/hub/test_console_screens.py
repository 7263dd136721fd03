"""Reception's board and signing in, through the fake Flet client (tests/app/fake_flet.py) over
the hub's own console service, on SQLite (what PostgreSQL adds is the service's, tested on both
in test_console.py; several workers are tested here on PostgreSQL): an alert taking the board
over until someone acknowledges it, by name; a phone's push reaching the open board at once,
drawn without a reload; a visit turning red by the hub's clock with its escalation steps,
sounding once; and what reception never sees."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from fieldapp.console import board as board_module
from fieldapp.console.app import console_main, mount_console
from fieldapp.crypto.sealing import HubKeyPair
from fieldapp.domain import commands as c
from fieldapp.domain.events import Author, Event, EventType, new_event_id
from fieldapp.domain.policy import load_pack
from fieldapp.domain.rules import decide, stamp
from fieldapp.domain.state import fold
from fieldapp.hub.api import create_api
from fieldapp.hub.console import ConsoleService
from tests.app.fake_flet import Screen, open_app, run
from tests.hub.conftest import hub_database
from tests.hub.test_board import bad_row
from tests.hub.world import PASSWORD, SCHOOLS, School, World


@pytest.fixture(params=["sqlite"])
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Engine]:
    """SQLite, but where a test asks for PostgreSQL."""
    yield from hub_database(request, tmp_path_factory)


def service(world: World) -> ConsoleService:
    console: ConsoleService = world.client.app.state.console  # type: ignore[attr-defined]
    return console


async def signed_in(world: World, school: School, user: str,
                    console: ConsoleService | None = None) -> Screen:
    """The console (over `console`, else the world's hub's service), signed in as `user`."""
    screen = await open_app(console_main(console or service(world)), platform="linux")
    await screen.type("school", school.id)
    await screen.type("staff", school.staff(user))
    await screen.type("password", PASSWORD)
    await screen.tap("sign-in")
    return screen


async def visit_opened(world: World, school: School, user: str, visit_id: str,
                       ready: str) -> Screen:
    """The console signed in as `user`, on the visit's page (once `ready` is drawn on it)."""
    screen = await signed_in(world, school, user)
    await until(screen, "nav-visits")
    await screen.tap("nav-visits")
    await until(screen, f"visit-{visit_id}")
    await screen.tap(f"visit-{visit_id}")
    await until(screen, ready)
    return screen


async def until(screen: Screen, ident: str, present: bool = True) -> None:
    for _ in range(300):
        if screen.has(ident) is present:
            return
        await screen.settle()
    raise AssertionError(f"{ident!r} {'never came' if present else 'never went'}: "
                         f"{screen.ids()}")


def test_a_wrong_password_is_said_and_the_right_one_opens_the_board(
        world: World, uplands: School) -> None:
    async def scenario() -> None:
        screen = await open_app(console_main(service(world)), platform="linux")
        await screen.type("school", uplands.id)
        await screen.type("staff", uplands.staff("reception"))
        await screen.type("password", "not the password at all")
        await screen.tap("sign-in")
        assert screen.sees("wrong school, staff id or password")
        await screen.type("password", PASSWORD)
        await screen.tap("sign-in")
        await until(screen, "alert")
        assert screen.unlabelled() == []

    run(scenario)


def test_an_alert_takes_the_board_until_acknowledged_by_name(world: World,
                                                              uplands: School) -> None:
    async def scenario() -> None:
        screen = await signed_in(world, uplands, "reception")
        await until(screen, "alert")
        words = screen.words("alert")
        assert "SAFE PHRASE USED" in words and "0 Uplands Road" in words
        assert "Vehicle: AB12 CDE" in words and "They will say: “" in words
        assert screen.label("police") == "Police: 999" and "1 more alert" in words
        assert "Child 0" not in screen.words(), "no case content on the board"
        await screen.type("acknowledged-by", "Rita at the front desk")
        await screen.tap("acknowledge")
        assert "999 CALLED FROM A VISIT" in screen.words("alert")  # the next one, still red
        await screen.tap("acknowledge")  # by the same person, still at the desk
        await until(screen, "alert", present=False)
        row = screen.words(f"row-{uplands.out}")
        assert "ALERT IN HAND" in row and "in hand with Rita at the front desk" in row
        dsl = service(world).visit(service(world).user(uplands.tokens["dsl"]), uplands.out)
        assert [a["acknowledged"]["by"] for a in dsl.alerts] == [
            "Rita at the front desk"] * 2

    run(scenario)


def test_a_phones_push_reaches_the_open_board_at_once(world: World, uplands: School) -> None:
    for alert in uplands.alerts:
        service(world).acknowledge(service(world).user(uplands.tokens["dsl"]), uplands.out,
                                   alert)

    async def scenario() -> None:
        screen = await signed_in(world, uplands, "reception")
        await until(screen, f"row-{uplands.out}")
        assert "Last called in" not in screen.words(f"row-{uplands.out}")
        at = world.now + timedelta(minutes=4)
        call = Event(new_event_id(at, b"\x05" * 10), uplands.out, EventType.CHECKED_IN, at,
                     Author(uplands.staff("ann"), uplands.device["device_id"]),
                     {"note": "nearly there"})
        pushed = world.client.post("/api/v1/push", headers=uplands.phone(),
                                   json={"protocol": 1, "events": [call.to_dict()]})
        assert pushed.status_code == 200
        for _ in range(300):
            if "Last called in 09:04" in screen.words(f"row-{uplands.out}"):
                break
            await screen.settle()
        assert "Last called in 09:04" in screen.words(f"row-{uplands.out}")

    run(scenario)


def test_a_visit_past_its_time_turns_red_with_its_steps_and_sounds_once(
        world: World, uplands: School, monkeypatch: pytest.MonkeyPatch) -> None:
    for alert in uplands.alerts:
        service(world).acknowledge(service(world).user(uplands.tokens["dsl"]), uplands.out,
                                   alert)
    monkeypatch.setattr(board_module, "RING_EVERY", 0.02)
    monkeypatch.setattr(board_module, "JUDGE_EVERY", 0.04)

    async def scenario() -> None:
        screen = await signed_in(world, uplands, "reception")
        await until(screen, f"row-{uplands.out}")
        assert screen.label(f"row-{uplands.out}").startswith("ON THE WAY")
        world.now += timedelta(hours=3)  # and the phone has said nothing since
        await until(screen, f"step-{uplands.out}-1")
        assert screen.label(f"row-{uplands.out}").startswith("OVERDUE")
        await screen.tap(f"step-{uplands.out}-1")
        assert screen.find(f"step-{uplands.out}-1").checked  # type: ignore[union-attr]
        for _ in range(20):
            await screen.settle()
        rings = [call for call in screen.client.calls if call[:2] == ("Audio", "play")]
        assert len(rings) == 1, "an overdue visit sounds once"

    run(scenario)


def test_an_alert_sounds_again_until_someone_acknowledges_it(
        world: World, uplands: School, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(board_module, "RING_EVERY", 0.02)

    async def scenario() -> None:
        screen = await signed_in(world, uplands, "dsl")
        await until(screen, "alert")
        for _ in range(30):
            await screen.settle()
        assert len([c for c in screen.client.calls if c[:2] == ("Audio", "play")]) >= 3

    run(scenario)


def test_staff_see_their_own_visits_read_only_and_signing_out_ends_the_session(
        world: World, uplands: School) -> None:
    async def scenario() -> None:
        screen = await signed_in(world, uplands, "cat")  # on no visit
        assert [i for i in screen.ids() if i.startswith("nav-")] == ["nav-visits"]
        assert not screen.has("alert") and screen.sees("No visits yet.")
        await screen.tap("sign-out")
        await until(screen, "sign-in")
        screen = await signed_in(world, uplands, "ann")  # on both
        await until(screen, f"visit-{uplands.out}")
        assert {i for i in screen.ids() if i.startswith("visit-")} == {
            f"visit-{uplands.out}", f"visit-{uplands.waiting}"}
        await screen.tap(f"visit-{uplands.out}")
        await until(screen, "alert-0")
        assert not screen.has("pdf-visit")
        assert not [i for i in screen.ids() if i.startswith("open-")], "nothing to record"

    run(scenario)


def phone_does(world: World, school: School, *commands: c.Command) -> None:
    """Ann's phone records `commands` on the visit out and pushes them, as the app does."""
    ann = Author(school.staff("ann"), school.device["device_id"])
    for command in commands:
        world.now += timedelta(minutes=1)
        state = fold(world.store.visit_events(school.id, school.out))
        decision = decide(state, command, load_pack(SCHOOLS[school.id]), world.now, by=ann)
        assert decision.accepted, decision.findings
        events = stamp(state, decision, school.out, ann, world.now, lambda: os.urandom(10))
        assert world.client.post("/api/v1/push", headers=school.phone(), json={
            "protocol": 1, "events": [e.to_dict() for e in events]}).status_code == 200


def in_hand(world: World, school: School) -> None:
    dsl = service(world).user(school.tokens["dsl"])
    for alert in school.alerts:
        service(world).acknowledge(dsl, school.out, alert)


def test_a_visit_back_at_school_leaves_the_board(world: World, uplands: School) -> None:
    in_hand(world, uplands)

    async def scenario() -> None:
        screen = await signed_in(world, uplands, "reception")
        await until(screen, f"row-{uplands.out}")
        phone_does(world, uplands, c.Arrive(), c.NoAnswer(), c.Leave(),
                   c.Return(to_school=True))
        await until(screen, f"row-{uplands.out}", present=False)
        assert screen.sees("Nobody is out on a visit.") and screen.sees("Out now · 0 visits")

    run(scenario)


def test_999_with_the_phones_position_and_one_acknowledged_elsewhere(
        world: World, uplands: School) -> None:
    in_hand(world, uplands)
    phone_does(world, uplands, c.EmergencyCall((52.58612, -2.12803)))
    elsewhere = ConsoleService(world.engine, world.keys, lambda: world.now, 4)  # another worker

    async def scenario() -> None:
        screen = await signed_in(world, uplands, "reception")
        await until(screen, "alert")
        assert "The phone's last position: 52.58612, -2.12803" in screen.words("alert")
        alert = service(world).board(service(world).user(uplands.tokens["dsl"]))[1][0].alerts[-1]
        elsewhere.acknowledge(elsewhere.user(uplands.tokens["dsl"]), uplands.out, alert.id,
                              "Dee on the other desk")
        await screen.tap("acknowledge")  # this board was not told: the hub says who has it
        assert screen.sees("acknowledged already by Dee on the other desk")

    run(scenario)


@pytest.mark.parametrize("gone", ["closed", "dropped"])
def test_a_board_whose_browser_went_is_not_drawn_again(world: World, uplands: School,
                                                       gone: str) -> None:
    in_hand(world, uplands)

    async def scenario() -> None:
        screen = await signed_in(world, uplands, "reception")
        await until(screen, f"row-{uplands.out}")
        if gone == "closed":  # the browser tab closed for good
            await screen.fire(screen.page, "close")
        else:  # the connection dropped, not yet expired
            await screen.session.disconnect(60)
        phone_does(world, uplands, c.CheckIn("nearly there"))
        for _ in range(20):
            await screen.settle()
        assert "Last called in" not in screen.words(f"row-{uplands.out}")

    run(scenario)


def test_a_visit_the_hub_cannot_read_is_on_the_board_to_check(world: World,
                                                               uplands: School) -> None:
    in_hand(world, uplands)
    bad_row(world.engine, "visit-broken", {"expected_return": "soon"})

    async def scenario() -> None:
        screen = await signed_in(world, uplands, "reception")
        await until(screen, "row-visit-broken")
        assert screen.label("row-visit-broken") == "CHECK"
        assert "cannot be read: tell the DSL" in screen.words("row-visit-broken")

    run(scenario)


def test_the_hub_serves_the_console_with_its_sessions_looked_after(engine: Engine) -> None:
    app = create_api(engine, HubKeyPair.generate(), password_cost=4)
    mount_console(app)
    with TestClient(app) as client:  # the lifespan starts and stops Flet's session manager
        page = client.get("/console/")
        assert page.status_code == 200 and "<base href=\"/console/\"" in page.text


def test_a_duress_alert_with_no_visit_out_takes_the_board(world: World, uplands: School) -> None:
    in_hand(world, uplands)
    at = world.now + timedelta(minutes=3)
    duress = Event(new_event_id(at, b"\x09" * 10), f"device-{uplands.device['device_id']}",
                   EventType.DURESS_ALERT, at,
                   Author(uplands.staff("ann"), uplands.device["device_id"]), {"silent": True})
    assert world.client.post("/api/v1/push", headers=uplands.phone(), json={
        "protocol": 1, "events": [duress.to_dict()]}).status_code == 200

    async def scenario() -> None:
        screen = await signed_in(world, uplands, "reception")
        await until(screen, "alert")
        words = screen.words("alert")
        assert "SILENT ALERT: PHONE OPENED UNDER DURESS" in words
        assert "Where: no visit out: ask them" in words and "Vehicle" not in words

    run(scenario)


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_an_alert_pushed_to_one_worker_reaches_a_board_served_by_another(
        world: World, uplands: School) -> None:
    in_hand(world, uplands)
    other_worker = create_api(world.engine, world.keys, clock=lambda: world.now,
                              password_cost=4)
    board_service: ConsoleService = other_worker.state.console

    async def scenario() -> None:
        screen = await signed_in(world, uplands, "reception", board_service)
        await until(screen, f"row-{uplands.out}")
        await asyncio.sleep(0.5)  # the other worker is listening
        phone_does(world, uplands, c.UseSafePhrase())  # pushed to the first worker
        await until(screen, "alert")
        assert "SAFE PHRASE USED" in screen.words("alert")

    run(scenario)


def test_a_row_lists_its_latest_alerts_in_hand_and_counts_the_rest(world: World,
                                                                   uplands: School) -> None:
    phone_does(world, uplands, c.UseSafePhrase())  # a third alert on the visit out
    console = service(world)
    dsl = console.user(uplands.tokens["dsl"])
    for alert in console.visit(dsl, uplands.out).alerts:
        console.acknowledge(dsl, uplands.out, alert["id"])

    async def scenario() -> None:
        screen = await signed_in(world, uplands, "reception")
        await until(screen, f"row-{uplands.out}")
        row = screen.words(f"row-{uplands.out}")
        assert row.count("in hand with") == board_module.IN_HAND_SHOWN
        assert "and 1 earlier alerts, in hand" in row

    run(scenario)
