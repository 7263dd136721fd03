"""The phone's own services, behind the small ports the screens use (fieldapp.screens.shell):
dialling (`tel:`, `sms:`), the last known position for an alert, and Android's battery
optimisation setting. Each degrades to "not available" rather than failing a screen."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Final

import flet as ft

LOOK_FOR: Final = 0.5  # seconds: an alert waits no longer than this for a position
DIAL_WAIT: Final = 3.0  # seconds: a platform that has not opened the dialler by then did not


@dataclass
class Device:
    """The Flet services of one page (each registers with the page when made: keep them)."""

    page: ft.Page
    launcher: Any = None
    geolocator: Any = None
    permissions: Any = None
    battery: Any = None

    def __post_init__(self) -> None:
        self.launcher = ft.UrlLauncher()
        self.battery = ft.Battery()
        try:
            import flet_geolocator as geo
            import flet_permission_handler as perms
        except ImportError:  # pragma: no cover - both are dependencies
            return
        self.geolocator = geo.Geolocator()
        self.permissions = perms.PermissionHandler()

    async def dial(self, url: str) -> bool:
        """Launch `tel:`/`sms:`. On Android `can_launch_url` is not asked (no <queries> entry
        for tel:): launch, and catch a refusal."""
        try:
            await asyncio.wait_for(self.launcher.launch_url(url), DIAL_WAIT)
        except Exception:  # the platform refused (no dialler, no SIM, blocked) or is silent
            return False
        return True

    async def locate(self) -> tuple[float, float] | None:
        """The last known position, if the person allowed location and the phone has one at
        once: an alert is never held up for a fix."""
        if self.geolocator is None:
            return None
        import flet_geolocator as geo

        allowed = (geo.GeolocatorPermissionStatus.ALWAYS,
                   geo.GeolocatorPermissionStatus.WHILE_IN_USE)
        try:
            status = await asyncio.wait_for(self.geolocator.get_permission_status(), LOOK_FOR)
            if status not in allowed:
                return None
            ask = self.geolocator.get_current_position if self.page.web \
                else self.geolocator.get_last_known_position
            found = await asyncio.wait_for(ask(), LOOK_FOR)
        except Exception:  # no answer in time, unsupported, refused: no position
            return None
        if found is None or found.latitude is None or found.longitude is None:
            return None
        return float(found.latitude), float(found.longitude)

    async def battery_level(self) -> int | None:
        """The battery's charge in percent, where the phone says (None: it does not)."""
        try:
            level = await asyncio.wait_for(self.battery.get_battery_level(), LOOK_FOR)
        except Exception:  # not on this platform, or no answer in time
            return None
        return None if level is None else int(level)

    async def allow_location(self) -> bool:
        """Ask the person to allow location (Settings); True if they did."""
        if self.geolocator is None:
            return False
        import flet_geolocator as geo

        try:
            status = await self.geolocator.request_permission()
        except Exception:
            return False
        return status in (geo.GeolocatorPermissionStatus.ALWAYS,
                          geo.GeolocatorPermissionStatus.WHILE_IN_USE)

    async def battery_settings(self) -> None:
        """Android: ask to be left out of battery optimisation, so sync runs in the
        background; if refused, open the app's settings page."""
        if self.permissions is None:
            return
        import flet_permission_handler as perms

        try:
            status = await self.permissions.request(
                perms.Permission.IGNORE_BATTERY_OPTIMIZATIONS)
            if status is not perms.PermissionStatus.GRANTED:
                await self.permissions.open_app_settings()
        except Exception:  # not on this platform
            return
