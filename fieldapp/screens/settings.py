"""Settings: the school, reception's number, the auto-lock, sync now, the theme, a change of
PIN, licences; and on Android, a word about battery optimisation stopping sync in the
background."""

from __future__ import annotations

import flet as ft

from fieldapp.screens.look import GAP, INFO, TITLE, back, banner, button, text
from fieldapp.screens.shell import go, use_shell, while_open

LICENCES = (
    "Home Visits: the school's own software.",
    "Flet (Apache-2.0), Flutter (BSD-3-Clause), TinyDB (MIT), cryptography (Apache-2.0 or "
    "BSD-3-Clause), httpx (BSD-3-Clause).",
)


def on_android(page: ft.Page) -> bool:
    return page.platform is ft.PagePlatform.ANDROID and not page.web


@ft.component
@while_open
def SettingsScreen() -> ft.Control:
    shell = use_shell()
    _ = shell.revision
    settings = shell.phone.settings()
    page = ft.context.page
    android = on_android(page)

    def sync() -> None:
        status = shell.phone.sync()
        shell.changed(status.last_failure or "Synced")

    def toggle_theme() -> None:
        shell.dark = not shell.dark
        page.theme_mode = ft.ThemeMode.DARK if shell.dark else ft.ThemeMode.LIGHT
        page.update()

    async def allow_location() -> None:
        allowed = await shell.device.allow_location()
        shell.changed("Your position will go with alerts" if allowed else
                      "Location is off: alerts go without your position")

    def lock() -> None:
        shell.phone.lock()
        shell.changed()
        go("/")

    rows: list[ft.Control] = [
        ft.Row([back("Back to today", lambda: go("/")),
                text("Settings", TITLE, ft.FontWeight.BOLD)]),
        text(f"School: {settings.school}"),
        ft.Semantics(identifier="reception-number", content=text(
            f"Reception: {settings.reception or 'not on this phone yet — sync'}")),
        text(f"Locks after {settings.lock_after_minutes} minutes without a tap "
             "(set by the school)"),
        text(f"Hub: {settings.hub}"),
        text(f"Protection: {settings.protection}"),
        text(shell.flash, key="flash") if shell.flash else ft.Container(),
        button("Sync now", lambda: sync(), ident="settings-sync", filled=False, colour=INFO),
        button("High-contrast dark theme" if not shell.dark else "Light theme",
               lambda: toggle_theme(), ident="theme", filled=False, colour=INFO),
        button("Lock now", lambda: lock(), ident="lock", filled=False, colour=INFO),
        button("Change my PIN", lambda: go("/pin"), ident="settings-pin", filled=False,
               colour=INFO),
        button("Send my position with alerts", allow_location, ident="allow-location",
               filled=False, colour=INFO,
               says="Allow location: your last known position goes with a help alert"),
    ]
    if android:
        rows.append(banner("Android may stop this app syncing in the background to save "
                           "battery. Allow it to run unrestricted so alerts and visits reach "
                           "the school.", INFO, ft.Icons.BATTERY_ALERT))
        rows.append(button("Open battery settings", shell.device.battery_settings,
                           ident="battery", filled=False, colour=INFO))
    rows += [text("Licences", 18, ft.FontWeight.BOLD), *[text(line, 14) for line in LICENCES]]
    return ft.Column(rows, spacing=GAP * 1.5, scroll=ft.ScrollMode.AUTO, expand=True,
                       horizontal_alignment=ft.CrossAxisAlignment.STRETCH)
