"""The console through a database outage (PostgreSQL behind a relay that is cut, as in
test_operations.py): each screen says the database is not answering and that nothing changed,
the reception board says it is not up to date, and all of it carries on by itself once the
database is back."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from fieldapp.console import board as board_module
from fieldapp.console.shell import ConsoleShell
from fieldapp.hub.console import ConsoleService
from fieldapp.hub.errors import HubError
from fieldapp.hub.retention import Retention
from tests.app.fake_flet import run
from tests.hub.outage import Relay
from tests.hub.test_console_casework import visit_with_concern
from tests.hub.test_console_screens import service, signed_in, until, visit_opened
from tests.hub.world import COST, PASSWORD, World


def test_the_console_says_the_database_is_down_and_carries_on_when_it_is_back(
        relayed: tuple[Engine, Relay], monkeypatch: pytest.MonkeyPatch) -> None:
    engine, relay = relayed
    world = World(engine)
    uplands = world.schools["uplands"]
    held = visit_with_concern(world, uplands, "UPN-O", "Bruise on the arm", 2)
    console = service(world)
    for alert in uplands.alerts:  # in hand: the board shows its rows
        console.acknowledge(console.user(uplands.tokens["dsl"]), uplands.out, alert)
    monkeypatch.setattr(board_module, "RING_EVERY", 0.02)
    monkeypatch.setattr(board_module, "JUDGE_EVERY", 0.04)

    async def scenario() -> None:
        board = await signed_in(world, uplands, "reception")
        await until(board, f"row-{uplands.out}")
        dsl = await visit_opened(world, uplands, "dsl", held, "hold")
        admin = await signed_in(world, uplands, "admin")
        await until(admin, "nav-records")
        relay.cut()
        await admin.tap("nav-records")
        assert "database is not answering" in admin.words()
        await dsl.type("hold-reason", "Police inquiry")
        await dsl.tap("hold")
        assert "database is not answering" in dsl.words("hold-card")
        await until(board, "board-stale")
        assert "Not up to date" in board.words("board-stale")
        assert board.has(f"row-{uplands.out}"), "the board keeps what it last knew"
        relay.mend()
        await dsl.tap("hold-again")
        await dsl.type("hold-reason", "Police inquiry")
        await dsl.tap("hold")
        await until(dsl, "release-hold")
        await until(board, "board-stale", present=False)
        # A change the board was never told of (another worker's, as its listener reconnected)
        # is on it within a re-judging of the rows: the board reloads them all each time.
        Retention(engine).erase_child("uplands", "UPN-uplands-0", world.now, ("t", "dsl"))
        await until(board, f"row-{uplands.out}", present=False)

    run(scenario)
    assert held in Retention(world.engine).holds("uplands")


class Broken:
    """Accounts with a bug in them."""

    def sign_in(self, *_: object) -> None:
        raise LookupError("a bug, not an outage")


def test_signing_in_is_refused_503_while_the_database_is_down_and_a_bug_is_not_an_outage(
        relayed: tuple[Engine, Relay]) -> None:
    engine, relay = relayed
    world = World(engine)
    uplands = world.schools["uplands"]
    console = ConsoleService(engine, world.keys, clock=lambda: world.now, password_cost=COST)
    user = console.user(uplands.tokens["dsl"])
    relay.cut()
    with pytest.raises(HubError) as refused:
        console.sign_in(uplands.id, uplands.staff("dsl"), PASSWORD)
    assert refused.value.status == 503 and "not answering" in str(refused.value)
    with pytest.raises(OperationalError):  # no pack read yet: nothing to fall back on
        console.pack(user)
    relay.mend()
    pack = console.pack(user)
    relay.cut()
    assert console.pack(user) is pack, "the pack as last read, while the database is down"
    relay.mend()
    shell = ConsoleShell(console, uplands.tokens["dsl"])
    with pytest.raises(LookupError):
        shell.call(lambda _: Broken().sign_in())
    console.accounts = Broken()  # type: ignore[assignment]
    with pytest.raises(LookupError):
        console.sign_in(uplands.id, uplands.staff("dsl"), PASSWORD)
