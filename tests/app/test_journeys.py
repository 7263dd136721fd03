"""Journeys 2-4 of the design on the real screens, in Debian's Chromium at 360x740, at two
schools: a child opens the door (do not enter); nobody answers (the countdown, then the
Not-at-Home note); the visit called off on the doorstep. And Holy Cross, whose policy gives
no reception number: sign-out waits until the school sets one at its hub."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fieldapp.app.service import PhoneService
from fieldapp.domain.lifecycle import Phase
from fieldapp.hub.directory import Contacts
from tests.app.browser import Calls, Screen, answer, answer_all, fill_form, served
from tests.app.conftest import (
    HOLY_CROSS_PAIR,
    Clock,
    another_school,
    holy_cross,
    pair_at,
    plan_for,
    ready,
)
from tests.sync.hubs import Hub


def open_visit(browser: Any, name: str, url: str, visit_id: str) -> Screen:
    """A phone's screen at 360x740 (screenshots named `name`), on the visit."""
    screen = Screen(browser.new_page(viewport={"width": 360, "height": 740}), name).open(url)
    screen.by_id(f"open-{visit_id}").wait_for(timeout=30000)
    screen.tap(f"open-{visit_id}")
    return screen


def act(screen: Screen, phone: PhoneService, visit_id: str, name: str) -> None:
    """Tap the action and, if it has a form, fill it as its fields ask and send it."""
    action = phone.guide(visit_id).action(name)
    if action is None or not action.open:
        screen.shot(f"no-{name}")
    assert action is not None and action.open, (name, action, phone.state(visit_id).phase)
    recorded = len(phone.repository.events(visit_id))
    screen.tap(f"do-{name}")
    if any(f.kind not in ("value", "new_id") for f in action.fields) or name in (
            "leave", "cancel", "return"):
        screen.by_id("send").wait_for()
        fill_form(screen, action, phone.clock(), phone.pack().hours.zone)
        screen.tap("send")
    for _ in range(50):  # until the tap is stored
        if len(phone.repository.events(visit_id)) > recorded:
            return
        screen.page.wait_for_timeout(100)
    raise AssertionError(f"{name} was not recorded")


def test_a_child_opens_the_door_and_the_pair_do_not_go_in(ann: PhoneService,
                                                         browser: Any) -> None:
    phone = ann
    with served(phone, Calls(phone)) as url:
        screen = open_visit(browser, "journey-child-at-door", url, "visit-1")
        for name in ("sign_out", "arrive", "door_answered"):
            if name == "door_answered":
                screen.tap("do-door_answered")
                screen.tap("field-by-unsupervised_child")
                screen.shot("who-answered")
                screen.tap("send")
            else:
                act(screen, phone, "visit-1", name)
        screen.by_id("finding-do_not_enter").wait_for()
        screen.shot("do-not-enter")
        guide = phone.guide("visit-1")
        assert guide.question is None  # no door question after "do not enter"
        enter = guide.action("enter")
        assert enter is None or not enter.open
        if enter is not None:
            screen.by_id("refused-enter").wait_for()
        screen.by_id("finding-do_not_enter").locator("text=Why?").first.click()
        screen.shot("why")
        act(screen, phone, "visit-1", "leave")
        act(screen, phone, "visit-1", "return")
        screen.by_id("stage").wait_for()
    assert phone.state("visit-1").phase is Phase.RETURNED


def test_nobody_answers_and_the_not_at_home_note_goes_through_the_door(
        ann: PhoneService, browser: Any) -> None:
    phone = ann
    with served(phone, Calls(phone)) as url:
        screen = open_visit(browser, "journey-no-answer", url, "visit-1")
        act(screen, phone, "visit-1", "sign_out")
        act(screen, phone, "visit-1", "arrive")
        act(screen, phone, "visit-1", "no_answer")
        screen.by_id("timer-wait").wait_for()  # Uplands sets no limit: the note goes through
        screen.by_id("note-text").wait_for()
        assert "01902 558870" in phone.note_text()
        screen.tap("copy-note")
        screen.shot("waiting")
        act(screen, phone, "visit-1", "leave_note")
        assert phone.state("visit-1").phase is Phase.NOT_AT_HOME
        screen.shot("not-at-home")
        act(screen, phone, "visit-1", "leave")
        act(screen, phone, "visit-1", "return")
    assert phone.state("visit-1").phase is Phase.RETURNED


def test_holy_cross_waits_for_receptions_number_then_calls_it_off_on_the_doorstep(
        tmp_path: Path, hub: Hub, clock: Clock, browser: Any) -> None:
    phone = ready(tmp_path, hub, clock, holy_cross(hub))
    plan_for(hub, "holy-cross", "hc-visit", HOLY_CROSS_PAIR)
    phone.sync()
    with served(phone, Calls(phone)) as url:
        screen = open_visit(browser, "journey-holy-cross", url, "hc-visit")
        screen.by_id("refusal-sign_out-no_reception_number").wait_for()
        screen.shot("no-reception-number")
        hub.directory.set_contacts("holy-cross", Contacts("0161 496 0000", "0161 496 0001",
                                                          "", ""), clock.now)
        screen.tap("back")
        screen.by_id("sync-now").wait_for()
        screen.tap("sync-now")
        screen.page.wait_for_timeout(1000)
        screen.tap("open-hc-visit")
        act(screen, phone, "hc-visit", "sign_out")
        assert phone.state("hc-visit").phase is Phase.SIGNED_OUT
        for name in [a.name for a in phone.guide("hc-visit").actions if a.name == "check_in"]:
            act(screen, phone, "hc-visit", name)
        act(screen, phone, "hc-visit", "arrive")
        answer_all(screen, phone, "hc-visit")  # the checks before knocking
        screen.tap("do-door_answered")
        screen.tap("field-by-parent")
        screen.tap("send")
        screen.by_id("do-cancel").wait_for()
        act(screen, phone, "hc-visit", "cancel")
        assert phone.state("hc-visit").phase is Phase.CALLED_OFF
        screen.by_id("stage").wait_for()
        screen.shot("called-off")
        act(screen, phone, "hc-visit", "leave")
    assert phone.state("hc-visit").phase is Phase.LEFT


def test_at_holy_cross_the_wait_counts_down_to_twenty_minutes_then_says_go(
        tmp_path: Path, hub: Hub, clock: Clock, browser: Any) -> None:
    phone = ready(tmp_path, hub, clock, holy_cross(hub))
    hub.directory.set_contacts("holy-cross", Contacts("0161 496 0000", "0161 496 0001", "", ""),
                               clock.now)
    plan_for(hub, "holy-cross", "hc-visit", HOLY_CROSS_PAIR)
    phone.sync()
    with served(phone, Calls(phone)) as url:
        screen = open_visit(browser, "journey-holy-cross-wait", url, "hc-visit")
        act(screen, phone, "hc-visit", "sign_out")
        act(screen, phone, "hc-visit", "arrive")
        answer_all(screen, phone, "hc-visit")  # the checks before knocking
        act(screen, phone, "hc-visit", "no_answer")
        screen.by_id("timer-wait").wait_for()
        clock.advance(4)
        assert phone.touch()
        clock.advance(1)
        assert phone.touch()
        screen.words("timer-wait", "most 20 min", "15:00 left")
        screen.shot("countdown")
        for _ in range(4):  # waiting, glancing at the phone now and then (it stays unlocked)
            clock.advance(4)
            assert phone.touch()
        screen.by_id("reminder-wait_limit_reached").wait_for(timeout=5000)
        screen.shot("wait-over")
        act(screen, phone, "hc-visit", "cancel")
        assert phone.state("hc-visit").phase is Phase.CALLED_OFF
        act(screen, phone, "hc-visit", "leave")
    assert phone.state("hc-visit").phase is Phase.LEFT


def test_inside_at_hart_hill_the_timer_runs_against_fifteen_and_thirty_minutes(
        tmp_path: Path, hub: Hub, clock: Clock, browser: Any) -> None:
    phone = ready(tmp_path, hub, clock, another_school(hub, "hart-hill", "Hart Hill Nursery"))
    hub.directory.set_contacts("hart-hill", Contacts("01632 960000", "01632 960001", "", ""),
                               clock.now)
    plan_for(hub, "hart-hill", "hh-visit", pair_at("hart-hill"))
    phone.sync()
    with served(phone, Calls(phone)) as url:
        screen = open_visit(browser, "journey-hart-hill-inside", url, "hh-visit")
        act(screen, phone, "hh-visit", "sign_out")
        act(screen, phone, "hh-visit", "arrive")
        answer_all(screen, phone, "hh-visit")
        screen.tap("do-door_answered")
        screen.tap("field-by-parent")
        screen.tap("send")
        answer_all(screen, phone, "hh-visit")
        act(screen, phone, "hh-visit", "enter")
        screen.words("timer-visit", "usual 15 min", "most 30 min")
        first = phone.guide("hh-visit").reminders[0].code
        screen.tap(f"dismiss-{first}")  # a reminder put away stays away
        put_away = screen.page.locator(f'[flt-semantics-identifier="reminder-{first}"]')
        put_away.first.wait_for(state="detached", timeout=10000)  # however busy the machine
        assert put_away.count() == 0
        act(screen, phone, "hh-visit", "adult_in_room")  # the parent left the room
        screen.words("do-adult_in_room", "The parent is back in the room")
        act(screen, phone, "hh-visit", "adult_in_room")
        assert phone.state("hh-visit").adult_in_room
        for minutes in (4, 4, 4, 4):  # past the usual 15 minutes: amber
            clock.advance(minutes)
            phone.touch()
        screen.words("timer-visit", "Visit 16:00")
        screen.shot("past-usual")
        for minutes in (4, 4, 4, 3):  # past the most: red, and a warning
            clock.advance(minutes)
            phone.touch()
        screen.words("timer-visit", "Visit 31:00")
        screen.shot("past-most")
        screen.tap("do-record_outcome")
        screen.tap("field-child-seen")
        screen.type("field-summary", "Met mum and Kit; settling in well.")
        screen.type("action-1-what", "Send the starter pack")
        screen.type("action-1-who", "Office")
        screen.type("action-1-by-when", "4/12")
        screen.shot("outcome-actions")
        screen.tap("send")
        screen.by_id("do-leave").wait_for()
        outcome = phone.state("hh-visit").outcome
        assert outcome is not None and outcome.detail["actions"][0]["due"].endswith("-12-04")
        act(screen, phone, "hh-visit", "leave")
        act(screen, phone, "hh-visit", "return")
        screen.tap("do-create_follow_up")
        screen.type("field-text", "Check Kit has settled")
        screen.tap("send")
        screen.by_id("do-complete_follow_up").wait_for()
        screen.shot("back-with-follow-up")
    assert len(phone.state("hh-visit").follow_ups) >= 1


def test_not_feeling_safe_at_the_door_takes_the_screen_with_leave(
        ann: PhoneService, browser: Any) -> None:
    phone = ann
    with served(phone, Calls(phone)) as url:
        screen = open_visit(browser, "journey-not-safe", url, "visit-1")
        act(screen, phone, "visit-1", "sign_out")
        act(screen, phone, "visit-1", "arrive")
        screen.tap("do-door_answered")
        screen.tap("field-by-parent")
        screen.tap("send")
        question = phone.guide("visit-1").question
        while question is not None and question.item != "feel_safe":
            answer(screen, phone, "visit-1")
            question = phone.guide("visit-1").question
        answer(screen, phone, "visit-1", "no")  # "Not safe"
        screen.page.locator('[flt-semantics-identifier^="told-"]').first.wait_for()
        screen.by_id("do-leave").wait_for()
        assert screen.page.locator('[flt-semantics-identifier="do-enter"]').count() == 0
        screen.by_id("change-feel_safe").wait_for()  # a slip of the thumb can be put right
        screen.shot("not-safe")
        act(screen, phone, "visit-1", "leave")
    assert phone.state("visit-1").phase is Phase.LEFT
