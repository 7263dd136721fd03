"""Today: a card per visit this person is on, and how sync stands."""

from __future__ import annotations

import flet as ft

from fieldapp.app.service import Card
from fieldapp.domain.guide import Stage
from fieldapp.screens.look import CAUTION, GAP, GO, INFO, STOP, TITLE, banner, button, text
from fieldapp.screens.shell import Shell, go, use_shell, while_open

START: dict[Stage, str] = {Stage.SIGN_OUT: "Start sign-out", Stage.ASSESS_RISK:
                           "Risk assessment", Stage.AUTHORISE: "Waiting for sign-off"}


def sync_status(shell: Shell) -> ft.Control:
    """The header's sync line, and the offline banner: offline is normal, never a modal."""
    status = shell.phone.status()
    waiting = f"{status.waiting} waiting to send" if status.waiting else "everything sent"
    last = status.last_synced[11:16] if status.last_synced else "never"
    parts: list[ft.Control] = [text(f"Last synced {last} · {waiting}", key="sync-line")]
    if status.last_failure:
        parts.append(banner(f"Offline — saved on this phone, will send when back in signal "
                            f"({status.waiting} waiting)", CAUTION, ft.Icons.CLOUD_OFF,
                            "offline"))
    for problem in (*status.problems,
                    *(f"The school's hub set aside an entry: {why}" for _, why in
                      status.quarantined)):
        parts.append(banner(problem, STOP, ft.Icons.ERROR_OUTLINE))
    return ft.Column(parts, spacing=GAP)


def _card(card: Card) -> ft.Control:
    action = "Continue" if card.out else START.get(card.stage, "Open")
    risk = [ft.Container(text(f"Risk: {card.risk}"), bgcolor="#FFF3CD", padding=6,
                         border_radius=6)] if card.risk else []
    return ft.Card(content=ft.Container(padding=16, content=ft.Column([
        text(f"{card.when} · {card.child}", 18, ft.FontWeight.BOLD),
        text(card.address),
        text(card.purpose),
        ft.Row([*risk, text(f"With {card.partner}")], wrap=True, spacing=GAP),
        button(action, lambda: go(f"/visit/{card.visit_id}"),
               says=f"{action}: {card.child}, {card.address}", colour=GO if card.out else INFO,
               ident=f"open-{card.visit_id}"),
    ], spacing=GAP)))


@ft.component
@while_open
def Today() -> ft.Control:
    shell = use_shell()
    _ = shell.revision
    cards = shell.phone.today()
    busy, set_busy = ft.use_state(False)

    def sync() -> None:
        set_busy(True)
        status = shell.phone.sync()
        set_busy(False)
        shell.changed("Synced" if not status.last_failure else status.last_failure)

    body: list[ft.Control] = [
        ft.Row([text("Today", TITLE, ft.FontWeight.BOLD),
                ft.Semantics(identifier="settings", content=ft.IconButton(
                    ft.Icons.SETTINGS, tooltip="Settings", icon_size=28,
                    on_click=lambda: go("/settings")))],
               alignment=ft.MainAxisAlignment.SPACE_BETWEEN),
        sync_status(shell),
    ]
    body += [_card(card) for card in cards] or [
        text("No visits for you on this phone. Sync to fetch the visits the school has "
             "authorised.")]
    body += [ft.ProgressBar(visible=busy),
             button("Sync now", lambda: sync(), ident="sync-now", filled=False,
                    disabled=busy)]
    return ft.Column(body, spacing=GAP * 2, scroll=ft.ScrollMode.AUTO, expand=True,
                       horizontal_alignment=ft.CrossAxisAlignment.STRETCH)
