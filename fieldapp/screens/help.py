"""The help bar, pinned at the bottom from sign-out until back at school.

- "Call the office": one tap. The alert is stored first (it reaches the reception board on
  the next sync, which starts at once), then `tel:` to reception is launched, and the screen
  shows the phrase to say, large, looking like an ordinary call to the office. If the call
  cannot be placed, `sms:` to reception with the visit's reference.
- "999": press and hold about 2 s while a ring fills; letting go before then cancels.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

import flet as ft

from fieldapp.app.service import ServiceError
from fieldapp.screens.look import GAP, INFO, ON_COLOUR, STOP, TARGET, TITLE, button, text
from fieldapp.screens.shell import Shell, go, use_shell, while_open

HOLD_SECONDS: Final = 2.0
STEPS: Final = 20


async def place_call(shell: Shell, visit_id: str, kind: str) -> None:
    """Store the alert, then dial; fall back on a text message to reception."""
    position = await shell.device.locate()  # the last known, at once, or none
    call = shell.phone.call(visit_id, kind, position)  # durable before anything is dialled
    shell.phone.sync_soon()  # towards the reception board, while the call is placed
    go(f"/visit/{visit_id}/call/{kind}")
    if not await shell.device.dial(call.tel) and kind == "safe_phrase":
        await shell.device.dial(call.sms)
    shell.changed()


@ft.component
def HelpBar(visit_id: str) -> ft.Control:
    shell = use_shell()
    held, set_held = ft.use_state(0)
    holding: Any = ft.use_ref(list)  # the hold's countdown, while a finger is down
    error, set_error = ft.use_state("")

    async def safe_phrase() -> None:
        try:
            await place_call(shell, visit_id, "safe_phrase")
        except ServiceError as failure:
            set_error(str(failure))

    async def hold() -> None:
        for step in range(1, STEPS + 1):
            await asyncio.sleep(HOLD_SECONDS / STEPS)
            set_held(step)
        set_held(0)
        try:
            await place_call(shell, visit_id, "emergency")
        except ServiceError as failure:
            set_error(str(failure))

    def press(_: Any = None) -> None:
        let_go()
        holding.current.append(ft.context.page.run_task(hold))

    def let_go(_: Any = None) -> None:
        for countdown in holding.current:  # cancelling a finished countdown does nothing
            countdown.cancel()
        holding.current.clear()
        set_held(0)

    ring = ft.Stack([
        ft.Container(width=TARGET + 8, height=TARGET + 8, bgcolor=STOP, border_radius=40,
                     alignment=ft.Alignment.CENTER,
                     content=text("999", 18, ft.FontWeight.BOLD, ON_COLOUR)),
        ft.ProgressRing(value=held / STEPS, width=TARGET + 8, height=TARGET + 8,
                        stroke_width=6, color="#FFD54F"),
    ])
    emergency = ft.Semantics(
        identifier="hold-999", button=True, label="Emergency: press and hold for two seconds "
        "to call 999", content=ft.GestureDetector(
            # taps only: a long-press or pan recogniser would win the hold and cancel it
            content=ring, on_tap_down=press, on_tap_up=let_go, on_tap_cancel=let_go))
    return ft.Container(padding=ft.Padding(0, 8, 0, 0), content=ft.Column([
        text(error, colour=STOP) if error else ft.Container(),
        ft.Row([
            ft.Container(expand=True, content=button(
                "Call the office", safe_phrase, colour=INFO, icon=ft.Icons.PHONE,
                says="Call the office with the safe phrase", ident="call-office")),
            emergency,
        ], spacing=GAP, vertical_alignment=ft.CrossAxisAlignment.CENTER),
        text("Hold 999 for 2 seconds" if not held else "Keep holding… let go to cancel", 14),
    ], spacing=4))


@ft.component
@while_open
def CallScreen() -> ft.Control:
    """During the call: the phrase to say, large and calm — an ordinary call to the office."""
    shell = use_shell()
    params = ft.use_route_params()
    visit_id, kind = params["visit_id"], params["kind"]
    pack = shell.phone.pack()
    if kind == "emergency":
        lines: list[ft.Control] = [text("Calling 999", TITLE, ft.FontWeight.BOLD),
                 text("Give the address and say you are school staff on a home visit. "
                      "The school has been alerted.", 18)]
    else:
        phrase = shell.phone.safe_phrase(visit_id)
        lines = [text(f"Calling the office · {pack.contacts.reception_phone}", 18),
                 text("Say:", 18),
                 ft.Semantics(identifier="phrase", label=phrase, content=text(
                     f"“{phrase}”", 34, ft.FontWeight.BOLD))]
    return ft.Column([
        *lines,
        ft.Container(expand=True),
        button("Back to the visit", lambda: go(f"/visit/{visit_id}"), filled=False,
               colour=INFO, ident="back-to-visit"),
    ], spacing=GAP * 2, expand=True)
