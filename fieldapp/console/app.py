"""The console's root, served by the hub at /console: sign-in, then the screens the signed-in
role may use (fieldapp.hub.console says which). Reception and the DSL get the live board."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

import flet as ft
from fastapi import FastAPI

from fieldapp.console.board import Board
from fieldapp.console.shell import ConsoleShell, ShellContext
from fieldapp.console.signin import SignIn
from fieldapp.hub.console import ConsoleService
from fieldapp.screens.look import GAP, INFO, TITLE, button, text, themes


@ft.component
def Console(make_shell: Callable[[], ConsoleShell]) -> ft.Control:
    shell: ConsoleShell = ft.use_state(cast(Any, make_shell))[0]
    user = shell.user
    if user is None:
        return ShellContext(shell, SignIn)

    def sign_out() -> None:
        shell.service.sign_out(shell.token)
        shell.token, shell.user = "", None

    def screens() -> ft.Control:
        header = ft.Row([
            text(f"{user.name} · {user.role}", 18, ft.FontWeight.BOLD),
            ft.Container(width=200, content=button("Sign out", sign_out, filled=False,
                                                   colour=INFO, ident="sign-out")),
        ], alignment=ft.MainAxisAlignment.SPACE_BETWEEN)
        if shell.service.may(user, "board"):
            body: ft.Control = Board()
        else:
            body = text("The reception board is for reception and the DSL. Your screens "
                        f"({user.role}) are not in the console yet: use the API "
                        "(/openapi.json).", TITLE)
        return ft.Column([header, ft.Container(content=body, expand=True)], expand=True,
                         spacing=GAP)

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
