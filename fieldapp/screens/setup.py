"""First run (the PIN and the duress PIN), enrolment with the school's slip, unlock, and a
change of PIN from the settings.

A duress unlock looks exactly like a normal one: the same screen follows, the same words."""

from __future__ import annotations

from typing import Any

import flet as ft

from fieldapp.app.service import WHY_LONG, ServiceError, VaultError, Wiped
from fieldapp.screens.look import GAP, STOP, TITLE, back, button, text
from fieldapp.screens.shell import go, use_shell, while_open


def _pin_field(label: str, ident: str, ref: Any, on_submit: Any = None) -> ft.Control:
    """A PIN box whose text survives the screen being drawn again (kept in `ref`)."""
    def keep(event: ft.Event[ft.TextField]) -> None:
        ref.current = event.control.value

    return ft.Semantics(identifier=ident, content=ft.TextField(
        label=label, password=True, can_reveal_password=True, text_size=18,
        value=ref.current or "", on_change=keep,
        keyboard_type=ft.KeyboardType.VISIBLE_PASSWORD, on_submit=on_submit))


def _value(ref: Any) -> str:
    return str(ref.current or "")


def _said(error: Exception) -> str:
    words = str(error)
    return words[:1].upper() + words[1:]


@ft.component
def FirstRun() -> ft.Control:
    shell = use_shell()
    error, set_error = ft.use_state("")
    pin: Any = ft.use_ref("")
    duress: Any = ft.use_ref("")

    def create() -> None:
        try:
            shell.phone.create(_value(pin), _value(duress))
        except VaultError as refused:
            set_error(_said(refused))
            return
        shell.changed()

    pin_field = _pin_field("Your PIN", "new-pin", pin)
    duress_field = _pin_field("Your duress PIN", "new-duress", duress)
    return ft.Column([
        text("Set up this phone", TITLE, ft.FontWeight.BOLD),
        text(WHY_LONG),
        pin_field,
        text("The duress PIN opens the phone in the same way, and silently tells the school "
             "you are not safe. Use it if someone makes you unlock the phone."),
        duress_field,
        text(error, colour=STOP, key="error"),
        button("Save PINs", lambda: create(), ident="save-pins"),
    ], spacing=GAP * 2, scroll=ft.ScrollMode.AUTO,
        horizontal_alignment=ft.CrossAxisAlignment.STRETCH)


@ft.component
def Enrol() -> ft.Control:
    shell = use_shell()
    error, set_error = ft.use_state("")
    busy, set_busy = ft.use_state(False)
    hub: Any = ft.use_ref("")
    slip: Any = ft.use_ref("")

    def enrol() -> None:
        set_busy(True)
        try:
            shell.phone.enrol(_value(hub), _value(slip), "phone")
        except ServiceError as refused:
            set_error(str(refused))
            set_busy(False)
            return
        set_busy(False)
        shell.changed("Enrolled with the school")
        shell.phone.sync_soon()  # the visits the school has authorised

    def keep(ref: Any) -> Any:
        def on_change(event: ft.Event[ft.TextField]) -> None:
            ref.current = event.control.value
        return on_change

    hub_field = ft.Semantics(identifier="hub-address", content=ft.TextField(
        label="The school's hub address", hint_text="https://hub.school.example",
        text_size=18, keyboard_type=ft.KeyboardType.URL, value=hub.current or "",
        on_change=keep(hub)))
    slip_field = ft.Semantics(identifier="slip-code", content=ft.TextField(
        label="The code on your enrolment slip", text_size=18, value=slip.current or "",
        on_change=keep(slip), capitalization=ft.TextCapitalization.CHARACTERS))
    return ft.Column([
        text("Enrol with your school", TITLE, ft.FontWeight.BOLD),
        text("The school's office gives you a slip with the hub's address and a code. The "
             "code also checks that the phone talks to your school's hub and nobody else's."),
        hub_field, slip_field,
        text(error, colour=STOP, key="error"),
        ft.ProgressBar(visible=busy),
        button("Enrol", lambda: enrol(), ident="enrol", disabled=busy),
    ], spacing=GAP * 2, scroll=ft.ScrollMode.AUTO,
        horizontal_alignment=ft.CrossAxisAlignment.STRETCH)


@ft.component
def Unlock() -> ft.Control:
    shell = use_shell()
    error, set_error = ft.use_state("")
    pin: Any = ft.use_ref("")

    def unlock() -> None:
        try:
            shell.phone.unlock(_value(pin))
        except VaultError as refused:
            set_error(_said(refused))
            if shell.phone.setup().value == "new":  # wiped after too many wrong PINs
                shell.changed()
            return
        shell.changed()
        shell.phone.sync_soon()

    field = _pin_field("PIN", "unlock-pin", pin, lambda _: unlock())
    return ft.Column([
        text("Home Visits", TITLE, ft.FontWeight.BOLD),
        text("Enter your PIN to open the phone."),
        field,
        text(error, colour=STOP, key="error"),
        button("Unlock", lambda: unlock(), ident="unlock"),
    ], spacing=GAP * 2, horizontal_alignment=ft.CrossAxisAlignment.STRETCH)


@ft.component
@while_open
def ChangePin() -> ft.Control:
    """The PIN now, the new one twice. A wrong PIN counts as a wrong unlock does. It says
    nothing of the duress PIN (which stays): the screen is the same after either unlock, and
    someone making you open the phone may be reading it."""
    shell = use_shell()
    error, set_error = ft.use_state("")
    pin: Any = ft.use_ref("")
    new: Any = ft.use_ref("")
    again: Any = ft.use_ref("")

    def change() -> None:
        try:
            shell.phone.change_pin(_value(pin), _value(new), _value(again))
        except Wiped:
            shell.changed()  # the keys and the store are gone: set up again
            return
        except VaultError as refused:
            set_error(_said(refused))
            return
        shell.changed("PIN changed: use the new one from now on")
        go("/settings")

    return ft.Column([
        ft.Row([back("Back to settings", lambda: go("/settings")),
                text("Change your PIN", TITLE, ft.FontWeight.BOLD)]),
        text("Type the PIN you use now, then the new one twice."),
        _pin_field("Your PIN now", "pin-now", pin),
        _pin_field("The new PIN", "pin-new", new),
        _pin_field("The new PIN again", "pin-again", again, lambda _: change()),
        text(error, colour=STOP, key="error"),
        button("Change PIN", lambda: change(), ident="change-pin"),
    ], spacing=GAP * 2, scroll=ft.ScrollMode.AUTO,
        horizontal_alignment=ft.CrossAxisAlignment.STRETCH)
