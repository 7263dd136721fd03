"""The console's root, served by the hub at /console: sign-in, then a bar of the screens the
signed-in role may use (fieldapp.hub.console says which): reception the live board; the DSL
the board, the visits, planning, how long records are kept and the audit log; a member of
staff their own visits; the admin staff, phones, contacts, how long records are kept and the
audit log."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final, cast

import flet as ft
from fastapi import FastAPI

from fieldapp.console.admin import AuditScreen, ContactsScreen, PhonesScreen, StaffScreen
from fieldapp.console.board import Board
from fieldapp.console.casework import Chronology, PlanVisit, VisitFile, VisitList
from fieldapp.console.records import RetentionScreen
from fieldapp.console.shell import ConsoleShell, ShellContext
from fieldapp.console.signin import SignIn
from fieldapp.hub.console import ConsoleService
from fieldapp.screens.look import GAP, INFO, button, text, themes

# The console's screens, in the order the bar offers them, each with who may use it (the
# service's table: fieldapp.hub.console.MAY). A visit's file and a child's chronology open
# from the visits.
NAV: Final = (("board", "Board", "board", Board), ("visits", "Visits", "visits", VisitList),
              ("plan", "Plan a visit", "plan", PlanVisit), ("staff", "Staff", "staff", StaffScreen),
              ("phones", "Phones", "devices", PhonesScreen),
              ("contacts", "Contacts", "staff", ContactsScreen),
              ("records", "Keeping records", "retention", RetentionScreen),
              ("audit", "Audit log", "audit", AuditScreen))
OPENED: Final = {"visit": ("visits", VisitFile), "child": ("visits", Chronology)}


@ft.component
def Console(make_shell: Callable[[], ConsoleShell]) -> ft.Control:
    shell: ConsoleShell = ft.use_state(cast(Any, make_shell))[0]
    user = shell.user
    if user is None:
        return ShellContext(shell, SignIn)
    mine = [(view, label, screen) for view, label, action, screen in NAV
            if shell.service.may(user, action)]
    view = shell.view if shell.view in {v for v, _, _ in mine} | set(OPENED) else mine[0][0]
    under, screen = OPENED[view] if view in OPENED else (
        view, next(s for v, _, s in mine if v == view))

    def screens() -> ft.Control:
        tabs: list[ft.Control] = [ft.Container(width=170, content=button(
            label, lambda _=None, v=name: shell.go(v), filled=name == under, colour=INFO,
            ident=f"nav-{name}")) for name, label, _ in mine]
        header = ft.Row([
            ft.Row(tabs, wrap=True, spacing=GAP, expand=True),
            text(f"{user.name} · {user.role}", 16, ft.FontWeight.BOLD),
            ft.Container(width=140, content=button("Sign out", shell.sign_out, filled=False,
                                                   colour=INFO, ident="sign-out")),
        ], spacing=GAP * 2)
        return ft.Column([header, ft.Container(content=screen(), expand=True)], expand=True,
                         spacing=GAP * 2)

    return ShellContext(shell, lambda: ft.Container(padding=16, expand=True,
                                                    content=screens()))


def console_main(service: ConsoleService) -> Callable[[ft.Page], Awaitable[None]]:
    """The Flet `main` of the console, over the hub's one console service."""
    async def main(page: ft.Page) -> None:
        page.title = "Home Visits — console"
        page.theme, page.dark_theme = themes()
        page.theme_mode = ft.ThemeMode.LIGHT
        page.render(Console, lambda: ConsoleShell(service))

    return main


def mount_console(app: FastAPI) -> None:
    """Serve the console's screens at /console, next to the hub's API, over the API's own
    console service (so a push reaches the open boards at once)."""
    from flet_web.fastapi import app as flet_app
    from flet_web.fastapi import app_manager

    app.mount("/console", flet_app(console_main(app.state.console), no_cdn=True))
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(root: Any) -> AsyncIterator[Any]:
        await app_manager.start()  # a mounted app's own lifespan never runs (FLET.md)
        try:
            async with inner(root) as state:
                yield state
        finally:
            await app_manager.shutdown()

    app.router.lifespan_context = lifespan
