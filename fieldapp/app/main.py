"""The phone app's entry: `flet run` (a phone or a desktop with a Flet client), `flet build
apk|ipa`, or a browser next to the demo hub (`fieldapp-field --web`).

On a phone the data lives in the app's own storage (FLET_APP_STORAGE_DATA, set by Flet) and
the vault's secret in the platform keystore. In a browser (the demo) the Python side runs
on the server: one phone's data in `--data`, protected by the PIN alone, shared by every tab.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import flet as ft

from fieldapp.app.device import Device
from fieldapp.app.service import PhoneService
from fieldapp.crypto.keystore import Keystore, NoKeystore
from fieldapp.crypto.keystore_flet import platform_keystore
from fieldapp.screens.app import App
from fieldapp.screens.look import themes
from fieldapp.screens.shell import Ports, Shell


def phone_main(make_phone: Callable[[Keystore], PhoneService],
               ports: Callable[[ft.Page], Ports] = Device,
               ) -> Callable[[ft.Page], Awaitable[None]]:
    """The Flet `main` for one phone. Every session of a web server shares the one phone."""
    phones: dict[str, PhoneService] = {}

    async def main(page: ft.Page) -> None:
        page.title = "Home Visits"
        light, dark = themes()
        page.theme, page.dark_theme = light, dark
        page.theme_mode = ft.ThemeMode.LIGHT
        if "phone" not in phones:
            keystore = NoKeystore() if page.web else platform_keystore(page)
            phones["phone"] = make_phone(keystore)
        phone = phones["phone"]
        device = ports(page)
        page.render(App, lambda: Shell(phone, device))

    return main


def data_directory(given: Path | None) -> Path:
    if given is not None:
        return given
    return Path(os.environ.get("FLET_APP_STORAGE_DATA") or Path.home() / ".home-visits")


def main(argv: list[str] | None = None) -> None:  # pragma: no cover - runs the app
    top = argparse.ArgumentParser(prog="fieldapp-field", description=__doc__.split("\n\n")[0])
    top.add_argument("--data", type=Path, help="the phone's own directory")
    top.add_argument("--web", action="store_true", help="serve to a browser")
    top.add_argument("--host", default="127.0.0.1")
    top.add_argument("--port", type=int, default=8550)
    args = top.parse_args(argv)
    data = data_directory(args.data)

    def make_phone(keystore: Keystore) -> PhoneService:
        return PhoneService(data, keystore, lambda: datetime.now(UTC))

    target: Any = phone_main(make_phone)
    if args.web:  # served as the demo serves it: no browser opened, no CDN
        import uvicorn
        from flet_web.fastapi import app as web_app

        uvicorn.run(web_app(target, no_cdn=True), host=args.host, port=args.port,
                    log_level="warning")
    else:
        ft.run(target)


if __name__ == "__main__":  # pragma: no cover
    main()
