"""Two browsers side by side, as at a school: the pair's phone (the field app in web mode, at
360x740) and reception's board (the console at /console, on a wide screen). The phone taps
"Call the office"; the alert takes the board over at once; reception acknowledges by name;
the DSL sees who did and when. And each of the DSL's and the admin's screens, looked at, with
an exported form downloaded as the browser saves it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fieldapp.app.service import PhoneService
from fieldapp.hub.accounts import Accounts
from tests.app.browser import Calls, Screen, console, served
from tests.app.conftest import SIGN_OUT
from tests.sync.hubs import Hub

PASSWORD = "correct horse battery staple"


def test_the_safe_phrase_on_the_phone_takes_over_the_board_until_reception_acknowledges(
        ann: PhoneService, hub: Hub, browser: Any) -> None:
    out_with_logins(ann, hub, "office-jones", "dsl-webster")
    board = console(browser, hub.url, "office-jones", PASSWORD, "console-board")
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


def out_with_logins(ann: PhoneService, hub: Hub, *staff_ids: str) -> None:
    """Ann's visit out and at the hub, and console passwords for `staff_ids` of Uplands."""
    accounts = Accounts(hub.engine, 4)
    for staff_id in staff_ids:
        accounts.set_password("uplands", staff_id, PASSWORD)
    ann.act("visit-1", "sign_out", SIGN_OUT)
    ann.sync()


def hub_console(hub: Hub) -> Any:
    assert hub.server is not None
    return hub.server.config.app.state.console


def test_each_screen_of_the_dsl_and_the_admin_and_a_form_downloaded(
        ann: PhoneService, hub: Hub, browser: Any) -> None:
    out_with_logins(ann, hub, "dsl-webster", "it-admin")
    dsl = console(browser, hub.url, "dsl-webster", PASSWORD, "console-dsl")
    dsl.by_id("nav-visits").wait_for(timeout=20000)
    dsl.tap("nav-visits")
    dsl.words("visit-visit-1", "Out: on the way")
    dsl.shot("visits")
    dsl.tap("visit-visit-1")
    dsl.by_id("pdf-visit").wait_for()
    dsl.shot("visit-file")
    with dsl.page.expect_download() as downloading:
        dsl.tap("pdf-visit")
    saved = downloading.value
    assert saved.suggested_filename.endswith(".pdf")
    assert Path(saved.path()).read_bytes()[:5] == b"%PDF-"
    dsl.tap("nav-plan")
    dsl.by_id("field-child-ref").wait_for()
    dsl.shot("plan")
    dsl.tap("nav-audit")
    dsl.sees("export visit pdf")
    dsl.shot("audit")
    admin = console(browser, hub.url, "it-admin", PASSWORD, "console-admin")
    admin.by_id("save-staff-ann").wait_for(timeout=20000)
    admin.shot("staff")
    admin.tap("nav-phones")
    admin.by_id("nav-phones").wait_for()
    admin.sees("Lost or stolen: revoke")
    admin.shot("phones")
    admin.tap("nav-contacts")
    admin.by_id("contact-reception-phone").wait_for()
    admin.shot("contacts")
