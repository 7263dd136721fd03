"""The phone app in Debian's Chromium at 360x740: a person sets it up, enrols, and walks a
visit from sign-out to back at school, tapping real screens; the safe phrase is stored before
the call to reception is launched; 999 needs a 2-second hold. A screenshot per screen."""

from __future__ import annotations

from pathlib import Path

from fieldapp.app.service import PhoneService
from fieldapp.domain.events import EventType
from fieldapp.domain.lifecycle import Phase
from tests.app.browser import Calls, Screen, answer, served
from tests.app.conftest import DURESS, PIN, Clock, new_phone
from tests.sync.hubs import Hub


def sign_out(screen: Screen) -> None:
    screen.tap("open-visit-1")
    screen.tap("do-sign_out")
    screen.type("field-expected-return", "11:40")
    for check in ("roles-clarified", "mobile-phone", "money"):
        screen.tap(f"field-checks-{check}")
    screen.shot("sign-out-form")
    screen.tap("send")
    screen.by_id("call-office").wait_for()


def test_a_visit_from_first_run_to_back_at_school(tmp_path: Path, hub: Hub, clock: Clock,
                                                  browser: object) -> None:
    phone = new_phone(tmp_path, clock)
    calls = Calls(phone)
    hub.plan("visit-1")
    with served(phone, calls) as url:
        page = browser.new_page(viewport={"width": 360, "height": 740})  # type: ignore[attr-defined]
        screen = Screen(page, "journey-let-in").open(url)
        screen.by_id("new-pin").wait_for(timeout=30000)
        screen.shot("first-run")
        screen.type("new-pin", "482916")  # too short: refused, and why
        screen.type("new-duress", DURESS)
        screen.tap("save-pins")
        screen.sees("at least 8 digits")
        screen.type("new-pin", PIN)
        screen.shot("pin-again")
        screen.tap("save-pins")
        screen.by_id("slip-code").wait_for()
        screen.type("hub-address", hub.url)
        screen.type("slip-code", "WRONG-CODE")
        screen.tap("enrol")
        screen.sees("code is not right")
        screen.shot("enrol-refused")
        screen.type("slip-code", hub.slip("staff-ann"))
        screen.tap("enrol")
        screen.by_id("sync-now").wait_for(timeout=20000)
        screen.tap("sync-now")
        screen.by_id("open-visit-1").wait_for(timeout=20000)
        screen.shot("today")
        sign_out(screen)
        assert phone.state("visit-1").phase is Phase.SIGNED_OUT
        screen.shot("travelling")
        screen.tap("do-arrive")
        screen.by_id("do-door_answered").wait_for()
        screen.shot("knock")
        screen.tap("do-door_answered")
        screen.tap("field-by-parent")
        screen.tap("send")
        screen.by_id("question").wait_for()
        screen.by_id("question").wait_for()
        screen.shot("doorstep-question")
        asked = 0
        while phone.guide("visit-1").question is not None:
            answer(screen, phone, "visit-1")
            asked += 1
        assert asked >= 2
        screen.tap("do-enter")
        screen.by_id("timer-visit").wait_for()
        screen.shot("inside")
        screen.tap("do-record_outcome")
        screen.tap("field-child-seen")
        screen.type("field-summary", "Sam was well; mum will call on Friday.")
        screen.shot("outcome")
        screen.tap("send")
        screen.tap("do-leave")
        screen.tap("send")
        screen.by_id("do-return").wait_for()
        screen.tap("do-return")
        screen.tap("send")
        screen.by_id("stage").wait_for()
        screen.shot("back-at-school")
    assert phone.state("visit-1").phase is Phase.RETURNED


def test_the_safe_phrase_is_stored_before_reception_is_dialled_and_999_needs_a_hold(
        ann: PhoneService, browser: object) -> None:
    phone = ann
    phone.lock()
    calls = Calls(phone, works=False)  # the call cannot be placed: a text message instead
    with served(phone, calls) as url:
        page = browser.new_page(viewport={"width": 360, "height": 740})  # type: ignore[attr-defined]
        screen = Screen(page, "help").open(url)
        screen.type("unlock-pin", PIN)
        screen.tap("unlock")
        screen.by_id("open-visit-1").wait_for(timeout=20000)
        sign_out(screen)
        stored = len(phone.repository.unsynced())
        screen.tap("call-office")
        screen.by_id("phrase").wait_for()
        screen.shot("safe-phrase")
        page.wait_for_timeout(300)
        assert [url for url, _ in calls.made] == [
            "tel:01902558870", "sms:01902558870?body=Help%20needed%20on%20home%20visit%20"
            "visit-1.%20Please%20call%20back."]
        assert calls.made[0][1] == stored + 1  # the alert was on the phone before the call
        assert phone.repository.events("visit-1")[-1].type is EventType.SAFE_PHRASE_USED
        screen.tap("back-to-visit")
        ring = screen.by_id("hold-999")
        box = ring.bounding_box()
        assert box is not None
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.wait_for_timeout(800)
        page.mouse.up()  # let go early: nothing happens
        page.wait_for_timeout(1800)
        assert not any(url.startswith("tel:999") for url, _ in calls.made)
        page.mouse.down()
        page.wait_for_timeout(2600)
        page.mouse.up()
        page.wait_for_timeout(500)
        screen.shot("999")
        assert any(url == "tel:999" for url, _ in calls.made), calls.made
        assert phone.repository.events("visit-1")[-1].type is EventType.EMERGENCY_CALL
