"""What the console's screens share: the one console service (fieldapp.hub.console) and who
is signed in. Screens reach the hub's data only through the service, as the API does."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import flet as ft

from fieldapp.hub.accounts import ConsoleUser
from fieldapp.hub.console import ConsoleService


@ft.observable
@dataclass
class ConsoleShell:
    service: ConsoleService
    token: str = ""
    user: ConsoleUser | None = None

    def signed_in(self) -> ConsoleUser:
        assert self.user is not None, "screens past sign-in only"
        return self.user

    def now(self) -> datetime:
        return self.service.clock()


ShellContext: ft.ContextProvider[ConsoleShell | None] = ft.create_context(None)


def use_shell() -> ConsoleShell:
    shell = ft.use_context(ShellContext)
    assert shell is not None, "screens render inside the console"
    return shell
