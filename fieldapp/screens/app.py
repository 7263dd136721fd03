"""The phone app's root: the first screen follows how far the phone is set up (PINs, enrolment,
unlock); once open, the router. The phone locks itself after the school's idle time. It syncs
in the background while open (PhoneService.sync_soon): once unlocked, when it comes back to
the front, after a help call, and every minute; every screen is drawn again after each."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Final, cast

import flet as ft

from fieldapp.app.service import Setup
from fieldapp.screens.form import ActionForm
from fieldapp.screens.help import CallScreen
from fieldapp.screens.settings import SettingsScreen
from fieldapp.screens.setup import ChangePin, Enrol, FirstRun, Unlock
from fieldapp.screens.shell import Shell, ShellContext
from fieldapp.screens.today import Today
from fieldapp.screens.visit import VisitScreen

CHECK_EVERY: Final = 15.0  # seconds: the idle lock, and a sync every fourth time

ROUTES: Final = [
    ft.Route(index=True, component=Today),
    ft.Route(path="settings", component=SettingsScreen),
    ft.Route(path="pin", component=ChangePin),
    ft.Route(path="visit/:visit_id", children=[
        ft.Route(index=True, component=VisitScreen),
        ft.Route(path="do/:action", component=ActionForm),
        ft.Route(path="call/:kind", component=CallScreen),
    ]),
]


@ft.component
def App(make_shell: Callable[[], Shell]) -> ft.Control:
    shell: Shell = ft.use_state(cast(Any, make_shell))[0]
    _ = shell.revision
    setup = shell.phone.setup()

    def keep_watch() -> Any:
        page = ft.context.page

        async def redraw() -> None:
            shell.revision += 1

        async def watch() -> None:
            rounds = 0
            while True:
                await asyncio.sleep(CHECK_EVERY)
                rounds += 1
                if shell.phone.setup() is Setup.READY and shell.phone.idle_lock():
                    shell.revision += 1
                elif rounds % 4 == 0:  # while open, news from school: a visit called off
                    shell.phone.sync_soon()

        def came_back(event: ft.AppLifecycleStateChangeEvent) -> None:
            if event.state is ft.AppLifecycleState.RESUME:
                if shell.phone.setup() is Setup.READY and shell.phone.idle_lock():
                    shell.revision += 1
                shell.phone.sync_soon()

        def synced() -> None:  # on the sync's thread: the redraw runs on the page's loop
            if page.session.connection is None:  # the browser went: the phone stops telling
                raise ConnectionError("the page is gone")
            page.run_task(redraw)

        stop_listening = shell.phone.listen(synced)
        task = page.run_task(watch)

        def stop(_: object = None) -> None:
            task.cancel()
            stop_listening()

        page.on_app_lifecycle_state_change = came_back
        page.on_close = stop  # a browser tab closed for good: its session ends, unmounted or not
        return stop

    ft.use_effect(keep_watch, [])
    if setup is Setup.NEW:
        screen: Callable[[], ft.Control] = FirstRun
    elif setup is Setup.LOCKED:
        screen = Unlock
    elif setup is Setup.NOT_ENROLLED:
        screen = Enrol
    else:
        return ft.SafeArea(expand=True, content=ShellContext(
            shell, lambda: ft.Container(padding=12, expand=True, content=ft.Router(ROUTES))))
    return ft.SafeArea(expand=True, content=ShellContext(
        shell, lambda: ft.Container(padding=12, expand=True, content=screen())))
