"""What the console's screens share: the one console service (fieldapp.hub.console), the
session, and which screen is showing. Screens reach the hub's data only through the service,
as the API does, and only through `call`: each action asks the service who the session's
user is now, so a session that has expired, or was signed out elsewhere, goes back to
sign-in at the next tap, and a refusal comes back as the HubError to show, the database not
answering included."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any, Final, TypeVar

import flet as ft

from fieldapp.hub.accounts import ConsoleUser
from fieldapp.hub.console import ConsoleService
from fieldapp.hub.errors import HubError
from fieldapp.screens.look import GAP
from fieldapp.screens.shell import draws_nothing_on

T = TypeVar("T")


class SignedOut(Exception):
    """A screen drawn as its session ends: it draws nothing, and sign-in comes next."""


@ft.observable
@dataclass
class ConsoleShell:
    service: ConsoleService
    token: str = field(default="", repr=False)
    user: ConsoleUser | None = None  # as at sign-in; `call` checks the session each time
    view: str = ""  # the screen showing: "board", "visits", "visit", "plan", ...
    subject: str = ""  # what it is about: a visit id, a child's reference
    notice: str = ""  # what the last change did, said once on the next screen

    def signed_in(self) -> ConsoleUser:
        if self.user is None:
            raise SignedOut
        return self.user

    def now(self) -> datetime:
        return self.service.clock()

    def zone(self) -> tzinfo:
        """The school's clock, which every time on its screens is shown on."""
        return self.service.pack(self.signed_in()).hours.zone

    def go(self, view: str, subject: str = "", notice: str = "") -> None:
        self.view, self.subject, self.notice = view, subject, notice

    def call(self, do: Callable[[ConsoleUser], T]) -> T | HubError:
        """`do`, as the session's user is now; its refusal returned, not raised. A session
        that is no longer valid signs this console out."""
        try:
            return do(self.service.user(self.token))
        except HubError as refused:
            if refused.status == 401:
                self.token, self.user, self.view = "", None, ""
            return refused
        except Exception as error:  # the database not answering: said, and nothing changed
            if (down := self.service.unavailable(error)) is None:
                raise
            return down

    def sign_out(self) -> None:
        self.service.sign_out(self.token)
        self.token, self.user, self.view, self.subject = "", None, "", ""


ShellContext: ft.ContextProvider[ConsoleShell | None] = ft.create_context(None)


def use_shell() -> ConsoleShell:
    shell = ft.use_context(ShellContext)
    assert shell is not None, "screens render inside the console"
    return shell


# A screen past sign-in. Drawn just as the session ends (sign-out, or an expired session found
# by `call`), it draws nothing: the root puts sign-in up next.
while_signed_in: Final = draws_nothing_on(SignedOut)


# --- parts every console screen uses ---------------------------------------------------

def card(lines: list[ft.Control], colour: str | None = None, ident: str = "",
         on_click: Callable[[], None] | None = None, label: str = "") -> ft.Control:
    box = ft.Container(content=ft.Column(lines, spacing=4), padding=14, border_radius=12,
                       bgcolor=colour, border=None if colour else ft.Border.all(1, "#9E9E9E"),
                       on_click=on_click, ink=on_click is not None)
    return ft.Semantics(identifier=ident or None, container=True, label=label or None,
                        button=on_click is not None, content=box)


def screen(body: list[ft.Control]) -> ft.Control:
    """A console screen: its parts one under the other, scrolling."""
    return ft.Column(body, spacing=GAP * 1.5, scroll=ft.ScrollMode.AUTO, expand=True)


def said(result: Any) -> str:
    """A refusal's message, or ""."""
    return str(result) if isinstance(result, HubError) else ""


async def download(name: str, data: bytes) -> None:
    """The browser saves the file (Flet's file picker, in web mode: a download)."""
    await ft.FilePicker().save_file(file_name=name, src_bytes=data)
