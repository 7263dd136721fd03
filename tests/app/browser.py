"""The field app served to Debian's Chromium, in this process (a thread), so a test can reach
the phone's service directly and coverage sees the screens run. Playwright drives Chromium at
360x740 with Flutter's semantics tree switched on (FLET.md)."""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import flet as ft
import uvicorn
from flet_web.fastapi import app as flet_app
from playwright.sync_api import Locator, Page, sync_playwright

from fieldapp.app.main import phone_main
from fieldapp.app.service import PhoneService
from fieldapp.screens.shell import Dialer
from tests.sync.hubs import free_port

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = Path(__file__).parents[2] / "tests" / "screenshots"


class Calls:
    """The phone's dialler: records every address launched, and what was stored by then."""

    def __init__(self, phone: PhoneService, works: bool = True) -> None:
        self.phone = phone
        self.works = works
        self.made: list[tuple[str, int]] = []  # (address, events stored when it was launched)

    def dialer(self, page: ft.Page) -> Dialer:
        async def dial(url: str) -> bool:
            self.made.append((url, len(self.phone.repository.unsynced())))
            return self.works or url.startswith("sms:")

        return dial


@contextmanager
def served(phone: PhoneService, calls: Calls) -> Iterator[str]:
    main: Callable[[ft.Page], Awaitable[None]] = phone_main(lambda _: phone, calls.dialer)
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

    def tap(self, ident: str) -> None:
        self.by_id(ident).click()

    def type(self, ident: str, value: str) -> None:
        self.by_id(ident).click()
        self.page.wait_for_timeout(150)
        self.page.keyboard.press("Control+A")
        self.page.keyboard.type(value)

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
