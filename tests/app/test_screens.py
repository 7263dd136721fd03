"""The phone's other screens and what goes wrong, clicked through in Chromium: settings, the
offline banner, problems from the hub, wrong PINs to the wipe, the idle lock, a form put
right field by field, a risk assessment's yes/no answers, a storage error on a help call,
and the phone's real services in a browser (the dialler, and a position that is refused)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from fieldapp.app.service import PhoneService, Setup
from fieldapp.crypto.vault import WrongPin
from fieldapp.domain import commands as c
from fieldapp.domain.events import EventType
from fieldapp.domain.journeys import PAIR
from fieldapp.domain.lifecycle import Phase
from fieldapp.domain.simulate import SimulatedVisit
from fieldapp.hub.directory import Contacts
from fieldapp.screens import app as app_module
from fieldapp.screens import settings as settings_module
from fieldapp.sync.protocol import Push
from tests.app.browser import Calls, Screen, fill_form, served
from tests.app.conftest import (
    DURESS,
    HOLY_CROSS_PAIR,
    PIN,
    SIGN_OUT,
    Clock,
    another_school,
    holy_cross,
    new_phone,
    pair_at,
    plan_for,
    ready,
)
from tests.sync.hubs import DSL, MORNING, UPLANDS, Hub


@pytest.fixture
def phone(ann: PhoneService) -> PhoneService:
    return ann


def hold_999(screen: Screen, milliseconds: int) -> None:
    """Press the 999 button and hold it (then let go)."""
    box = screen.by_id("hold-999").bounding_box()
    assert box is not None
    screen.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    screen.page.mouse.down()
    screen.page.wait_for_timeout(milliseconds)
    screen.page.mouse.up()


def page_of(browser: Any, name: str, url: str) -> Screen:
    return Screen(browser.new_page(viewport={"width": 360, "height": 740}), name).open(url)


def test_settings_show_the_school_and_reception_and_lock_the_phone(
        phone: PhoneService, browser: Any) -> None:
    calls = Calls(phone, position=(52.586, -2.128))
    with served(phone, calls) as url:
        screen = page_of(browser, "settings", url)
        screen.tap("settings")
        screen.by_id("reception-number").wait_for()
        screen.words("reception-number", "01902 558870")
        screen.tap("allow-location")
        screen.sees("Your position will go with alerts")
        assert calls.asked == ["location"]
        screen.tap("theme")
        screen.shot("dark")
        screen.tap("settings-sync")
        screen.sees("Synced")
        screen.tap("lock")
        screen.by_id("unlock-pin").wait_for()
        assert phone.setup() is Setup.LOCKED
        screen.shot("locked")


def test_the_pin_is_changed_from_the_settings(phone: PhoneService, browser: Any) -> None:
    new = "40617283"
    with served(phone, Calls(phone)) as url:
        screen = page_of(browser, "change-pin", url)
        screen.tap("settings")
        screen.tap("settings-pin")
        screen.type("pin-now", "13572469")
        screen.type("pin-new", new)
        screen.type("pin-again", new)
        screen.tap("change-pin")
        screen.sees("9 attempts left")
        screen.shot("wrong-pin")
        screen.type("pin-now", PIN)
        screen.type("pin-again", "40617284")
        screen.tap("change-pin")
        screen.sees("its repeat differ")
        screen.type("pin-again", new)
        screen.tap("change-pin")
        screen.sees("PIN changed")
        screen.by_id("settings-pin").wait_for()  # back in the settings
        screen.tap("lock")
        screen.type("unlock-pin", new)
        screen.tap("unlock")
        screen.by_id("settings").wait_for()
    assert phone.setup() is Setup.READY


def test_the_last_wrong_pin_in_a_pin_change_wipes_the_phone(phone: PhoneService,
                                                            browser: Any) -> None:
    for _ in range(9):  # nine wrong already, at unlocks or changes
        with pytest.raises(WrongPin):
            phone.change_pin("13572469", "40617283", "40617283")
    with served(phone, Calls(phone)) as url:
        screen = page_of(browser, "change-pin-wipe", url)
        screen.tap("settings")
        screen.tap("settings-pin")
        for ident in ("pin-now", "pin-new", "pin-again"):
            screen.type(ident, "13572469" if ident == "pin-now" else "40617283")
        screen.tap("change-pin")
        screen.by_id("new-pin").wait_for()  # wiped: set up again
    assert phone.setup() is Setup.NEW


def test_offline_is_a_banner_with_the_count_waiting_and_problems_are_said(
        phone: PhoneService, hub: Hub, browser: Any) -> None:
    phone.act("visit-1", "sign_out", SIGN_OUT)
    phone.repository.set("problems", ["the school's new pack cannot be used: line 3"])
    hub.stop()
    time.sleep(0.3)
    with served(phone, Calls(phone)) as url:
        screen = page_of(browser, "offline", url)
        screen.tap("sync-now")
        screen.by_id("offline").wait_for(timeout=20000)
        screen.words("offline", "1 waiting")
        screen.sees("the school's new pack cannot be used")
        screen.shot("offline")
    assert phone.state("visit-1").phase is Phase.SIGNED_OUT


def test_wrong_pins_say_how_many_are_left_and_the_tenth_wipes(
        phone: PhoneService, browser: Any) -> None:
    phone.lock()
    with served(phone, Calls(phone)) as url:
        screen = page_of(browser, "wrong-pin", url)
        for left in range(9, 0, -1):
            screen.type("unlock-pin", "13572469")
            screen.tap("unlock")
            screen.sees(f"{left} attempt{'s' if left > 1 else ''} left")
            if left == 9:
                screen.shot("wrong-pin")
        screen.type("unlock-pin", "13572469")
        screen.tap("unlock")
        screen.by_id("new-pin").wait_for()  # wiped: set up again
        screen.shot("wiped")
    assert phone.setup() is Setup.NEW


def idle(screen: Screen, phone: PhoneService, clock: Clock) -> None:
    """Nobody touches the phone for the school's idle time: it locks; the PIN opens it on the
    same screen."""
    clock.advance(phone.lock_after() + 1)
    screen.by_id("unlock-pin").wait_for(timeout=10000)
    assert phone.setup() is Setup.LOCKED
    screen.type("unlock-pin", PIN)
    screen.tap("unlock")


def test_the_phone_locks_itself_after_the_schools_idle_time_on_any_screen(
        phone: PhoneService, clock: Clock, browser: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app_module, "CHECK_EVERY", 0.2)
    with served(phone, Calls(phone)) as url:
        screen = page_of(browser, "idle", url)
        screen.by_id("open-visit-1").wait_for()
        idle(screen, phone, clock)  # on Today
        screen.tap("open-visit-1")
        screen.by_id("do-sign_out").wait_for()
        idle(screen, phone, clock)  # on the visit
        screen.tap("do-sign_out")
        screen.by_id("send").wait_for()
        idle(screen, phone, clock)  # in a form
        screen.type("field-expected-return", "11:40")
        for check in ("roles-clarified", "mobile-phone", "money"):
            screen.tap(f"field-checks-{check}")
        screen.tap("send")
        screen.tap("call-office")
        screen.by_id("phrase").wait_for()
        idle(screen, phone, clock)  # during a call
        screen.by_id("phrase").wait_for()
        screen.tap("back-to-visit")
        screen.tap("back")
        screen.tap("settings")
        screen.by_id("reception-number").wait_for()
        idle(screen, phone, clock)  # in settings
        screen.by_id("reception-number").wait_for()


def test_a_form_is_put_right_field_by_field(phone: PhoneService, browser: Any) -> None:
    with served(phone, Calls(phone)) as url:
        screen = page_of(browser, "form", url)
        screen.tap("open-visit-1")
        screen.tap("do-sign_out")
        screen.tap("send")
        screen.sees("Fill this in: Back at school by")
        screen.type("field-expected-return", "half past")  # the button waits for a time
        screen.words("send", "Sign out")
        screen.tap("send")
        screen.sees("half past is not a time")
        screen.type("field-expected-return", "19:30")
        screen.tap("send")
        screen.sees("the latest the policy allows is 18:00")
        screen.type("field-expected-return", "11:40")
        screen.tap("send")
        screen.sees("Tick this before going on")
        screen.shot("put-right")
        for check in ("roles-clarified", "mobile-phone", "money"):
            screen.tap(f"field-checks-{check}")
        screen.by_id("send").wait_for()
        screen.words("send", "reception will expect you back by 11:40")
        screen.tap("send")
        screen.by_id("call-office").wait_for()
        screen.page.goto(f"{url}/visit/visit-1/do/enter")  # not offered now
        screen.page.locator("flt-semantics-placeholder").dispatch_event("click")
        screen.sees("no longer possible")
    assert phone.state("visit-1").phase is Phase.SIGNED_OUT


def test_the_risk_assessment_asks_yes_or_no_for_each_question(
        phone: PhoneService, hub: Hub, browser: Any) -> None:
    visit = SimulatedVisit(UPLANDS, MORNING, visit_id="visit-2", author=DSL, seed=9)
    visit.do(c.Plan("UPN-2", "Kit Sample", "2 Sample Road", "Welfare", MORNING, PAIR,
                    safe_phrase="red folder"))
    hub.store.ingest("uplands", DSL.device_id, Push(events=tuple(visit.events)))
    phone.sync()
    assess = phone.guide("visit-2").action("assess_risk")
    assert assess is not None
    with served(phone, Calls(phone)) as url:
        screen = page_of(browser, "risk", url)
        screen.tap("open-visit-2")
        screen.tap("do-assess_risk")
        for field in assess.fields:
            if field.name.startswith("answers."):  # the answer that lets the visit go ahead
                ident = "field-" + field.name.replace(".", "-").replace("_", "-")
                go_ahead = next(ch for ch in field.choices if ch.then == ("ok",))
                screen.tap(f"{ident}-{go_ahead.value}")
        screen.shot("risk-assessment")
        screen.tap("send")
        screen.by_id("waiting-sign-off").wait_for()
        screen.shot("waiting-sign-off")
    assert phone.state("visit-2").risk is not None


def disk_full(*_: object, **__: object) -> None:
    raise OSError(28, "No space left on device")


def test_a_tap_that_cannot_be_saved_says_so_and_loses_nothing(
        phone: PhoneService, browser: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    phone.act("visit-1", "sign_out", SIGN_OUT)
    before = phone.repository.events("visit-1")
    with served(phone, Calls(phone)) as url:
        screen = page_of(browser, "tap-error", url)
        screen.tap("open-visit-1")
        screen.tap("do-check_in")
        screen.by_id("send").wait_for()
        monkeypatch.setattr(phone.repository, "append", disk_full)
        screen.tap("send")
        screen.words("error", "could not be saved on the phone", "nothing saved before it is lost")
        screen.shot("tap-error")
        screen.tap("back")
        screen.tap("do-arrive")
        screen.words("error", "could not be saved on the phone")
        monkeypatch.undo()
    assert phone.repository.events("visit-1") == before


def test_a_help_call_that_cannot_be_saved_says_so(
        phone: PhoneService, browser: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    phone.act("visit-1", "sign_out", SIGN_OUT)
    calls = Calls(phone)
    with served(phone, calls) as url:
        screen = page_of(browser, "help-error", url)
        screen.tap("open-visit-1")
        screen.by_id("call-office").wait_for()
        monkeypatch.setattr(phone.repository, "append", disk_full)
        screen.tap("call-office")
        screen.sees("could not be saved on the phone")
        screen.shot("help-error")
        hold_999(screen, 2600)
        screen.page.wait_for_timeout(300)
        assert calls.made == []  # nothing dialled for an alert that is not saved
        monkeypatch.undo()


def test_the_phones_own_services_in_a_browser_dial_and_find_no_position(
        phone: PhoneService, browser: Any) -> None:
    phone.act("visit-1", "sign_out", SIGN_OUT)
    with served(phone, None) as url:
        page_of(browser, "device-tab", url).by_id("open-visit-1").wait_for()  # a 2nd tab
        screen = page_of(browser, "device", url)  # the same phone
        screen.tap("open-visit-1")
        screen.tap("call-office")
        screen.by_id("phrase").wait_for()
    alert = phone.repository.events("visit-1")[-1]
    assert alert.type is EventType.SAFE_PHRASE_USED
    assert "position" not in alert.payload  # location refused in the browser: no position


def test_overdue_says_phone_the_school_now(phone: PhoneService, clock: Clock,
                                           browser: Any) -> None:
    phone.act("visit-1", "sign_out", SIGN_OUT)  # back by 11:40
    with served(phone, Calls(phone)) as url:
        screen = page_of(browser, "overdue", url)
        screen.tap("open-visit-1")
        screen.by_id("timer-back").wait_for()
        back_by = phone.state("visit-1").sign_out
        assert back_by is not None
        for _ in range(50):  # out all morning, glancing at the phone
            clock.advance(4)
            assert phone.touch()
        screen.reveal("reminder-overdue")
        screen.words("timer-back", "Out 3 h 20 min", "back at school by 11:40")
        screen.shot("overdue")


def test_a_screen_overtaken_by_the_visit_says_so_and_records_nothing(
        phone: PhoneService, browser: Any) -> None:
    with served(phone, Calls(phone)) as url:
        screen = page_of(browser, "stale", url)
        screen.tap("open-visit-1")
        screen.tap("do-sign_out")
        screen.by_id("send").wait_for()
        phone.act("visit-1", "sign_out", SIGN_OUT)  # signed out meanwhile (another tab)
        screen.tap("send")
        screen.sees("no longer possible")
        screen.tap("back-to-visit")
        screen.by_id("do-arrive").wait_for()
        phone.act("visit-1", "arrive", {})
        phone.act("visit-1", "door_answered", {"by": "parent"})
        screen.tap("back")
        screen.tap("open-visit-1")
        screen.by_id("question").wait_for()
        phone.act("visit-1", "leave", {})
        screen.tap("answer-yes")
        screen.words("error", "cannot record")
        screen.shot("overtaken")
    assert phone.state("visit-1").phase is Phase.LEFT


def test_a_refused_form_shows_the_engines_reasons(tmp_path: Path, hub: Hub, clock: Clock,
                                                  browser: Any) -> None:
    phone = new_phone(tmp_path, clock, "amy")
    phone.create(PIN, DURESS)
    phone.enrol(hub.url, holy_cross(hub), "Amy's phone")
    plan_for(hub, "holy-cross", "hc-visit", HOLY_CROSS_PAIR)
    phone.sync()
    sign_out = phone.guide("hc-visit").action("sign_out")
    assert sign_out is not None and not sign_out.open
    with served(phone, Calls(phone)) as url:
        screen = page_of(browser, "refused", f"{url}/visit/hc-visit/do/sign_out")
        screen.by_id("send").wait_for()
        fill_form(screen, sign_out, phone.clock(), phone.pack().hours.zone)
        screen.tap("send")
        screen.by_id("refusal-no_reception_number").wait_for()
        screen.shot("refused")
    assert phone.state("hc-visit").phase is Phase.AUTHORISED


def test_on_android_settings_offer_the_battery_setting(
        phone: PhoneService, browser: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings_module, "on_android", lambda page: True)
    calls = Calls(phone)
    with served(phone, calls) as url:
        screen = page_of(browser, "android", url)
        screen.tap("settings")
        screen.tap("battery")
        screen.page.wait_for_timeout(300)
        screen.shot("battery")
    assert calls.asked == ["battery"]


def test_a_revoked_phone_is_wiped_even_as_it_raises_an_alert(
        phone: PhoneService, hub: Hub, browser: Any) -> None:
    phone.act("visit-1", "sign_out", SIGN_OUT)
    with served(phone, Calls(phone)) as url:
        screen = page_of(browser, "revoked", url)
        screen.tap("open-visit-1")
        hub.directory.revoke("uplands", phone.me().device_id, datetime.now(UTC))
        screen.tap("call-office")
        screen.by_id("new-pin").wait_for(timeout=20000)  # wiped: set up again
    assert phone.setup() is Setup.NEW
    # a revoked phone is a lost or stolen one: the hub takes nothing from it
    assert not any(e.type is EventType.SAFE_PHRASE_USED for e in hub.events("visit-1"))


@pytest.mark.parametrize(("level", "says"), [(82, "Battery: 82%"),
                                             (None, "Battery: not known on this device")])
def test_where_the_policy_asks_for_a_charged_phone_sign_out_shows_the_battery(
        tmp_path: Path, hub: Hub, clock: Clock, browser: Any, level: int | None,
        says: str) -> None:
    phone = ready(tmp_path, hub, clock, another_school(hub, "kings", "Kings Academy"))
    hub.directory.set_contacts("kings", Contacts("01632 960100", "01632 960101", "", ""),
                               clock.now)
    plan_for(hub, "kings", "k-visit", pair_at("kings"))
    phone.sync()
    with served(phone, Calls(phone, battery=level)) as url:
        screen = page_of(browser, "battery", f"{url}/visit/k-visit/do/sign_out")
        screen.words("battery-level", says)
        screen.reveal("battery-level")
        screen.shot(f"battery-{level}")
