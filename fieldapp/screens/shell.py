"""What every screen shares: the phone's service, a way to say "something changed, draw again",
and the ports to the phone itself (dialling, position). Screens reach the vault, the store,
the engine and the hub only through `Shell.phone` (fieldapp.app.service)."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

import flet as ft

from fieldapp.app.service import PhoneService

# Dial `tel:`/`sms:` addresses: True when the phone took it. Position: the last known
# (latitude, longitude) where the person allowed location, else None.
Dialer = Callable[[str], Awaitable[bool]]
Locator = Callable[[], Awaitable[tuple[float, float] | None]]


async def no_position() -> tuple[float, float] | None:
    return None


async def no_settings() -> None:
    return None


@ft.observable
@dataclass
class Shell:
    phone: PhoneService
    dial: Dialer
    locate: Locator = no_position
    battery_settings: Callable[[], Awaitable[None]] = no_settings
    revision: int = 0  # bumped after every change: the screens read the service again
    flash: str = ""  # one line to show once: "Synced", "Saved"
    offline: bool = False  # the last sync could not reach the hub
    dark: bool = False
    last_call: dict[str, str] = field(default_factory=dict)  # visit id -> the call made

    def changed(self, flash: str = "") -> None:
        """Something changed (a tap was saved, a sync finished): draw again. A tap also
        keeps the phone from locking."""
        self.phone.touch()
        self.flash = flash
        self.revision += 1

    def sync_soon(self) -> None:
        """Sync in the background (an alert was raised, the app came back): the screen
        stays usable, and is drawn again when it finishes."""
        def run() -> None:
            status = self.phone.sync()
            self.offline = bool(status.last_failure)
            self.revision += 1

        threading.Thread(target=run, name="sync", daemon=True).start()

    def now(self) -> datetime:
        return self.phone.clock()


ShellContext: ft.ContextProvider[Shell | None] = ft.create_context(None)


def use_shell() -> Shell:
    shell = ft.use_context(ShellContext)
    assert shell is not None, "screens render inside App"
    return shell


def go(route: str) -> None:
    ft.context.page.navigate(route)
