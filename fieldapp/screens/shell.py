"""What every screen shares: the phone's service, a way to say "something changed, draw again",
and the ports to the phone itself (dialling, position). Screens reach the vault, the store,
the engine and the hub only through `Shell.phone` (fieldapp.app.service)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final, ParamSpec, Protocol

import flet as ft

from fieldapp.app.service import NotOpen, PhoneService


class Ports(Protocol):
    """The phone itself, as the screens use it (fieldapp.app.device on a phone)."""

    async def dial(self, url: str) -> bool: ...  # tel:/sms:; True when the phone took it

    async def locate(self) -> tuple[float, float] | None: ...  # last known, if allowed

    async def allow_location(self) -> bool: ...

    async def battery_level(self) -> int | None: ...  # percent, where the phone says

    async def battery_settings(self) -> None: ...


@ft.observable
@dataclass
class Shell:
    phone: PhoneService
    device: Ports
    revision: int = 0  # bumped after every change: the screens read the service again
    flash: str = ""  # one line to show once: "Synced", "Saved"
    dark: bool = False

    def changed(self, flash: str = "") -> None:
        """Something changed (a tap was saved, a sync finished): draw again. A tap also
        keeps the phone from locking."""
        self.phone.touch()
        self.flash = flash
        self.revision += 1

    def now(self) -> datetime:
        return self.phone.clock()


P = ParamSpec("P")

ShellContext: ft.ContextProvider[Shell | None] = ft.create_context(None)


def use_shell() -> Shell:
    shell = ft.use_context(ShellContext)
    assert shell is not None, "screens render inside App"
    return shell


def draws_nothing_on(ended: type[Exception]
                     ) -> Callable[[Callable[P, ft.Control]], Callable[P, ft.Control]]:
    """A screen that, drawn just as what it shows ends (`ended` raised), draws nothing: its
    root puts the next screen up."""
    def wrap(screen: Callable[P, ft.Control]) -> Callable[P, ft.Control]:
        @functools.wraps(screen)
        def draw(*args: P.args, **kwargs: P.kwargs) -> ft.Control:
            try:
                return screen(*args, **kwargs)
            except ended:
                return ft.Container()

        return draw

    return wrap


# A screen of the open phone. Drawn just as the phone locks or is wiped (the idle lock, "Lock
# now", or a revocation heard by the background sync on its own thread), it draws nothing:
# the root puts the unlock or set-up screen up next.
while_open: Final = draws_nothing_on(NotOpen)


def go(route: str) -> None:
    ft.context.page.navigate(route)
