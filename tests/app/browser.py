"""The field app served to Debian's Chromium, in this process (a thread), so a test can reach
the phone's service directly and coverage sees the screens run. Playwright drives Chromium at
360x740 with Flutter's semantics tree switched on (FLET.md)."""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import flet as ft
import uvicorn
from flet_web.fastapi import app as flet_app
from playwright.sync_api import Locator, Page, sync_playwright

from fieldapp.app.device import Device
from fieldapp.app.main import phone_main
from fieldapp.app.service import PhoneService
from fieldapp.domain.guide import Action
from tests.sync.hubs import free_port

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = Path(__file__).parents[2] / "tests" / "screenshots"


class Calls:
    """The phone itself, faked (fieldapp.screens.shell.Ports): records every address dialled
    and what was stored by then; gives `position` as the last known position."""

    def __init__(self, phone: PhoneService, works: bool = True,
                 position: tuple[float, float] | None = None,
                 battery: int | None = None) -> None:
        self.phone = phone
        self.works = works
        self.position = position
        self.battery = battery
        self.made: list[tuple[str, int]] = []  # (address, events stored when it was launched)
        self.asked: list[str] = []

    async def dial(self, url: str) -> bool:
        self.made.append((url, len(self.phone.repository.unsynced())))
        return self.works or url.startswith("sms:")

    async def locate(self) -> tuple[float, float] | None:
        return self.position

    async def battery_level(self) -> int | None:
        return self.battery

    async def allow_location(self) -> bool:
        self.asked.append("location")
        return self.position is not None

    async def battery_settings(self) -> None:
        self.asked.append("battery")


@contextmanager
def served(phone: PhoneService, calls: Calls | None) -> Iterator[str]:
    """The app for `phone`, with the phone's services faked by `calls` (None: Flet's real
    ones, which in a browser dial through the browser and find no position)."""
    main: Callable[[ft.Page], Awaitable[None]] = phone_main(
        lambda _: phone, (lambda page: calls) if calls is not None else Device)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(flet_app(main, no_cdn=True), host="127.0.0.1",
                                           port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="field-app", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def chromium() -> Iterator[Any]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Screen:
    """One phone's screen in the browser: find, tap, type, look."""

    def __init__(self, page: Page, name: str) -> None:
        self.page = page
        self.name = name
        self.shots: list[Path] = []

    def open(self, url: str) -> Screen:
        self.page.goto(url)
        self.page.locator("flt-semantics-placeholder").wait_for(state="attached", timeout=30000)
        self.page.locator("flt-semantics-placeholder").dispatch_event("click")
        return self

    def by_id(self, ident: str) -> Locator:
        return self.page.locator(f'[flt-semantics-identifier="{ident}"]').first

    def reveal(self, ident: str) -> Locator:
        """The control, scrolled into the screen by a thumb's swipe (Flutter scrolls its own
        view: the page's DOM scrolling does not move it)."""
        found = self.by_id(ident)
        found.wait_for(state="attached", timeout=10000)
        height = (self.page.viewport_size or {"height": 740})["height"]
        for _ in range(12):
            box = found.bounding_box()
            if box is not None and box["y"] >= 0 and box["y"] + box["height"] <= height - 80:
                break
            middle = box["y"] + box["height"] / 2 if box is not None else height
            self.page.mouse.move(180, height / 2)
            self.page.mouse.wheel(0, middle - height / 2)
            self.settle(found)
        return found

    def settle(self, found: Locator) -> None:
        """Wait until the control stops moving (the scroll has ended)."""
        last = None
        for _ in range(20):
            self.page.wait_for_timeout(100)
            box = found.bounding_box()
            if box == last:
                return
            last = box

    def tap(self, ident: str) -> None:
        self.reveal(ident).click()
        self.page.wait_for_timeout(250)  # the redraw it causes lands before the next touch

    def type(self, ident: str, value: str) -> None:
        self.reveal(ident).click()
        self.page.wait_for_timeout(150)
        assert self.editing(), f"{ident} does not take typing"
        self.page.keyboard.press("Control+A")
        self.page.keyboard.type(value)
        self.page.keyboard.press("Tab")  # leave the box, as a thumb does: the form redraws
        self.page.wait_for_timeout(200)

    def words(self, ident: str, *needles: str, timeout: float = 5.0) -> str:
        """What the control `ident` says (its label, else its text), once it says every one
        of `needles` (AssertionError with what it said if it never does)."""
        deadline = time.monotonic() + timeout
        said = ""
        while time.monotonic() < deadline:
            found = self.by_id(ident)
            said = " ".join(filter(None, (found.get_attribute("aria-label"),
                                          found.text_content())))
            if all(needle in said for needle in needles):
                return said
            self.page.wait_for_timeout(100)
        raise AssertionError(f"{ident} said {said!r}, not {needles!r}")

    def editing(self) -> bool:
        tag = self.page.evaluate("document.activeElement && document.activeElement.tagName")
        return tag in ("INPUT", "TEXTAREA")

    def sees(self, words: str, timeout: float = 10000) -> Locator:
        found = self.page.get_by_text(words, exact=False).first
        found.wait_for(timeout=timeout)
        return found

    def shot(self, label: str) -> Path:
        self.page.wait_for_timeout(400)  # the frame lags the semantics tree
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{self.name}-{len(self.shots) + 1:02d}-{label}.png"
        self.page.screenshot(path=str(path))
        self.shots.append(path)
        return path


def console(browser: Any, hub_url: str, staff_id: str, password: str, name: str) -> Screen:
    """The school's console in a browser context of its own (a wide screen), signed in as
    `staff_id` of Uplands (reception gets the board)."""
    screen = Screen(browser.new_context(viewport={"width": 1280, "height": 800},
                                        accept_downloads=True).new_page(),
                    name).open(f"{hub_url}/console/")
    screen.type("school", "uplands")
    screen.type("staff", staff_id)
    screen.type("password", password)
    screen.tap("sign-in")
    return screen


def answer(screen: Screen, phone: PhoneService, visit_id: str, value: str = "yes") -> None:
    """Tap an answer and wait until the engine has moved to the next question."""
    before = phone.guide(visit_id).question
    assert before is not None
    screen.tap(f"answer-{value}")
    for _ in range(50):
        now = phone.guide(visit_id).question
        if now is None or (now.item, now.again) != (before.item, before.again):
            return
        screen.page.wait_for_timeout(100)
    raise AssertionError(f"the answer to {before.item} was not taken")


def answer_all(screen: Screen, phone: PhoneService, visit_id: str) -> None:
    while phone.guide(visit_id).question is not None:
        answer(screen, phone, visit_id)


# What a person types for each time field, from the phone's clock.
TIMES = {"expected_return": 120, "expected_arrival": 30, "expected_leave": 90}


def fill_form(screen: Screen, action: Action, now: datetime, zone: Any) -> None:
    """Fill an action's form as its fields ask, typing and tapping on the real screen:
    required text typed, times within the policy, then ticks ticked and the first choice
    chosen. (Boxes first: in a browser, Flutter does not give a box the keyboard back once a
    tap elsewhere redrew the form while it held the focus. A phone's own keyboard does.)"""
    for field in action.fields:
        ident = "field-" + field.name.replace(".", "-").replace("_", "-")
        if field.kind == "time" and (field.required or field.name in TIMES):
            at = (now + timedelta(minutes=TIMES.get(field.name, 60))).astimezone(zone)
            screen.type(ident, f"{at:%H:%M}")
        elif field.kind in ("text", "list") and field.required:
            screen.type(ident, "AB12 CDE" if field.name == "vehicles" else "Noted by Ann")
    screen.page.keyboard.press("Escape")
    for field in action.fields:
        ident = "field-" + field.name.replace(".", "-").replace("_", "-")
        if field.kind == "tick" and field.required and not field.choices[1:]:
            screen.tap(ident)
        elif (field.kind == "choice" or field.choices[1:]) and field.required:
            screen.tap(f"{ident}-{field.choices[0].value}")
