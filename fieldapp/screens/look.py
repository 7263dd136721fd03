"""How the screens look: colour means one thing everywhere, never colour alone (a word and an
icon go with it), text at least 16 px, touch targets at least 48 px (UX.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import flet as ft

from fieldapp.domain.findings import Finding, Kind

TEXT: Final = 16
QUESTION: Final = 24
TITLE: Final = 22
TARGET: Final = 56  # a primary answer's height (at least 48)
GAP: Final = 8

# red = stop, danger, alert; amber = caution; green = safe to go on; blue = information
STOP: Final = "#B3261E"
CAUTION: Final = "#8A5300"
GO: Final = "#1B6E3A"
INFO: Final = "#1F4E8C"
ON_COLOUR: Final = "#FFFFFF"

STOPPING: Final = frozenset({"do_not_enter", "leave", "call_999", "come_away", "cancel",
                             "refuse", "block", "get_away", "doorstep_only"})


def tone(finding: Finding) -> tuple[str, ft.IconData, str]:
    """(colour, icon, word) for a finding: what it means, said three ways."""
    then = {finding.code, *finding.then}
    if finding.kind is Kind.REFUSAL or then & STOPPING:
        return STOP, ft.Icons.DO_NOT_DISTURB_ON, "Stop"
    if finding.kind is Kind.WARNING:
        return CAUTION, ft.Icons.WARNING_AMBER, "Caution"
    if finding.kind is Kind.STEP:
        return INFO, ft.Icons.CHECKLIST, "Next"
    return INFO, ft.Icons.INFO_OUTLINE, "Do this"


def themes() -> tuple[ft.Theme, ft.Theme]:
    """Light, and a high-contrast dark theme."""
    light = ft.Theme(color_scheme_seed=INFO)
    dark = ft.Theme(color_scheme=ft.ColorScheme(
        primary="#FFFFFF", on_primary="#000000", surface="#000000", on_surface="#FFFFFF",
        secondary="#FFD54F", on_secondary="#000000", error="#FF8A80", on_error="#000000"))
    return light, dark


def text(value: str, size: int = TEXT, weight: ft.FontWeight | None = None,
         colour: str | None = None, key: str | None = None) -> ft.Text:
    return ft.Text(value, size=size, weight=weight, color=colour, key=key, selectable=False)


def button(label: str, on_click: Callable[..., Any] | None, *, says: str = "",
           colour: str | None = None, ident: str = "", icon: ft.IconData | None = None,
           filled: bool = True, disabled: bool = False) -> ft.Control:
    """A full-width button at least 48 px tall; `says` is what a screen reader announces
    ("Answer yes: ID was shown"), `ident` what the browser tests find it by."""
    style = ft.ButtonStyle(
        bgcolor=colour if filled else None, color=ON_COLOUR if (filled and colour) else colour,
        shape=ft.RoundedRectangleBorder(radius=12), text_style=ft.TextStyle(size=18),
        padding=ft.Padding(16, 12, 16, 12))
    kind = ft.FilledButton if filled else ft.OutlinedButton
    control = kind(content=label, icon=icon, on_click=on_click, style=style, height=TARGET,
                   width=float("inf"), disabled=disabled)
    return ft.Semantics(content=control, label=says or label, button=True,
                        identifier=ident or None)


def banner(words: str, colour: str, icon: ft.IconData, ident: str = "") -> ft.Control:
    return ft.Semantics(identifier=ident or None, label=words, content=ft.Container(
        content=ft.Row([ft.Icon(icon, color=ON_COLOUR, size=20),
                        ft.Text(words, color=ON_COLOUR, size=TEXT, expand=True)],
                       spacing=GAP),
        bgcolor=colour, padding=ft.Padding(12, 8, 12, 8), border_radius=8))


def back(says: str, on_click: Callable[..., Any]) -> ft.Control:
    """The back arrow at the top left ("Back to today"), 48 px."""
    return ft.Semantics(identifier="back", content=ft.IconButton(
        ft.Icons.ARROW_BACK, tooltip=says, on_click=on_click, icon_size=28))
