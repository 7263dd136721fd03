"""Two browsers side by side, as at a school: the pair's phone (the field app in web mode, at
360x740) and reception's board (the console at /console, on a wide screen). The phone taps
"Call the office"; the alert takes the board over at once; reception acknowledges by name;
the DSL sees who did and when."""

from __future__ import annotations

from typing import Any

from fieldapp.app.service import PhoneService
from fieldapp.hub.accounts import Accounts
from tests.app.browser import Calls, Screen, served
from tests.app.browser import board as console_board
from tests.app.conftest import SIGN_OUT
from tests.sync.hubs import Hub

PASSWORD = "correct horse battery staple"


def test_the_safe_phrase_on_the_phone_takes_over_the_board_until_reception_acknowledges(
        ann: PhoneService, hub: Hub, browser: Any) -> None:
    accounts = Accounts(hub.engine, 4)
    for staff_id in ("office-jones", "dsl-webster"):
        accounts.set_password("uplands", staff_id, PASSWORD)
    ann.act("visit-1", "sign_out", SIGN_OUT)
    ann.sync()
    board = console_board(browser, hub.url, "office-jones", PASSWORD, "console-board")
    board.by_id("row-visit-1").wait_for(timeout=20000)
    board.shot("out")
    with served(ann, Calls(ann)) as url:
        phone = Screen(browser.new_context(viewport={"width": 360, "height": 740}).new_page(),
                       "console-phone").open(url)
        phone.tap("open-visit-1")
        phone.tap("call-office")
        phone.by_id("phrase").wait_for()
        board.by_id("alert").wait_for(timeout=20000)  # pushed, not polled
        board.words("alert", "SAFE PHRASE USED", "1 Sentinel Street", "red folder")
        board.shot("alert")
        phone.shot("calling")
    board.type("acknowledged-by", "Mr Jones at the desk")
    board.tap("acknowledge")
    board.words("row-visit-1", "ALERT IN HAND")
    board.shot("in-hand")
    service = hub_console(hub)
    dsl = service.user(service.sign_in("uplands", "dsl-webster", PASSWORD).token)
    (alert,) = service.visit(dsl, "visit-1").alerts
    assert alert["acknowledged"]["by"] == "Mr Jones at the desk"


def hub_console(hub: Hub) -> Any:
    assert hub.server is not None
    return hub.server.config.app.state.console
