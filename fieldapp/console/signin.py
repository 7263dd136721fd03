"""Signing in to the console: school, staff id and password (wrong ones slow down, then
lock the login for a while: fieldapp.hub.accounts)."""

from __future__ import annotations

from typing import Any

import flet as ft

from fieldapp.console.shell import use_shell
from fieldapp.hub.errors import HubError
from fieldapp.screens.look import GAP, STOP, TITLE, button, text


def _box(label: str, ident: str, ref: Any, password: bool = False,
         on_submit: Any = None) -> ft.Control:
    def keep(event: ft.Event[ft.TextField]) -> None:
        ref.current = event.control.value

    return ft.Semantics(identifier=ident, content=ft.TextField(
        label=label, value=ref.current or "", on_change=keep, password=password,
        can_reveal_password=password, text_size=18, on_submit=on_submit))


@ft.component
def SignIn() -> ft.Control:
    shell = use_shell()
    school: Any = ft.use_ref("")
    staff: Any = ft.use_ref("")
    password: Any = ft.use_ref("")
    error, set_error = ft.use_state("")

    def sign_in(_: Any = None) -> None:
        try:
            session = shell.service.sign_in(str(school.current or "").strip(),
                                            str(staff.current or "").strip(),
                                            str(password.current or ""))
        except HubError as refused:
            set_error(str(refused))
            return
        shell.token, shell.user = session.token, session.user

    return ft.Container(alignment=ft.Alignment.TOP_CENTER, padding=24, content=ft.Column([
        text("Home Visits — the school's console", TITLE, ft.FontWeight.BOLD),
        _box("School", "school", school),
        _box("Staff id", "staff", staff),
        _box("Password", "password", password, password=True, on_submit=sign_in),
        text(error, colour=STOP, key="error"),
        button("Sign in", sign_in, ident="sign-in"),
    ], spacing=GAP * 2, width=420, horizontal_alignment=ft.CrossAxisAlignment.STRETCH))
