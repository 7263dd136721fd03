"""The phone's own services behind the screens' ports, with Flet's services faked: a refused
location permission gives no position, a slow fix never holds an alert up, the dialler's
refusal falls back, and battery optimisation is asked about, then the settings opened."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import flet_geolocator as geo
import flet_permission_handler as perms
import pytest

from fieldapp.app import device as device_module
from fieldapp.app.device import Device


class Fake:
    """A Flet service: each method answers what the test set, after `delay` seconds."""

    def __init__(self, delay: float = 0.0, **answers: Any) -> None:
        self.delay = delay
        self.answers = answers
        self.called: list[str] = []

    def __getattr__(self, name: str) -> Any:
        if name not in self.answers:
            raise AttributeError(name)

        async def method(*_: Any) -> Any:
            self.called.append(name)
            await asyncio.sleep(self.delay)
            answer = self.answers[name]
            if isinstance(answer, Exception):
                raise answer
            return answer

        return method


def device(web: bool = False, **services: Any) -> Device:
    made = Device.__new__(Device)
    made.page = SimpleNamespace(web=web)  # type: ignore[assignment]
    made.launcher = services.get("launcher")
    made.geolocator = services.get("geolocator")
    made.permissions = services.get("permissions")
    made.battery = services.get("battery")
    return made


HERE = geo.GeolocatorPosition(latitude=52.586, longitude=-2.128)
ALLOWED = geo.GeolocatorPermissionStatus.WHILE_IN_USE


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def test_a_position_only_where_allowed_and_at_once() -> None:
    phone = Fake(get_permission_status=ALLOWED, get_last_known_position=HERE)
    assert run(device(geolocator=phone).locate()) == (52.586, -2.128)
    assert phone.called == ["get_permission_status", "get_last_known_position"]
    browser = Fake(get_permission_status=ALLOWED, get_current_position=HERE)
    assert run(device(web=True, geolocator=browser).locate()) == (52.586, -2.128)
    refused = Fake(get_permission_status=geo.GeolocatorPermissionStatus.DENIED)
    assert run(device(geolocator=refused).locate()) is None
    unknown = Fake(get_permission_status=ALLOWED, get_last_known_position=None)
    assert run(device(geolocator=unknown).locate()) is None
    no_fix = Fake(get_permission_status=ALLOWED,
                  get_last_known_position=geo.GeolocatorPosition())
    assert run(device(geolocator=no_fix).locate()) is None
    failing = Fake(get_permission_status=RuntimeError("unsupported"))
    assert run(device(geolocator=failing).locate()) is None
    assert run(device().locate()) is None


def test_a_slow_fix_never_holds_the_alert_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(device_module, "LOOK_FOR", 0.05)
    slow = Fake(delay=1.0, get_permission_status=ALLOWED)
    assert run(device(geolocator=slow).locate()) is None


def test_asking_to_allow_location() -> None:
    assert run(device(geolocator=Fake(request_permission=ALLOWED)).allow_location())
    denied = Fake(request_permission=geo.GeolocatorPermissionStatus.DENIED_FOREVER)
    assert not run(device(geolocator=denied).allow_location())
    broken = Fake(request_permission=RuntimeError("no"))
    assert not run(device(geolocator=broken).allow_location())
    assert not run(device().allow_location())


def test_the_dialler_says_when_the_phone_refused() -> None:
    assert run(device(launcher=Fake(launch_url=None)).dial("tel:999"))
    assert not run(device(launcher=Fake(launch_url=RuntimeError("no SIM"))).dial("tel:999"))


def test_the_battery_level_where_the_phone_says() -> None:
    assert run(device(battery=Fake(get_battery_level=82)).battery_level()) == 82
    assert run(device(battery=Fake(get_battery_level=None)).battery_level()) is None
    broken = Fake(get_battery_level=RuntimeError("not on this platform"))
    assert run(device(battery=broken).battery_level()) is None


def test_battery_optimisation_is_asked_then_the_settings_opened() -> None:
    granted = Fake(request=perms.PermissionStatus.GRANTED, open_app_settings=True)
    run(device(permissions=granted).battery_settings())
    assert granted.called == ["request"]
    denied = Fake(request=perms.PermissionStatus.DENIED, open_app_settings=True)
    run(device(permissions=denied).battery_settings())
    assert denied.called == ["request", "open_app_settings"]
    broken = Fake(request=RuntimeError("not on this platform"))
    run(device(permissions=broken).battery_settings())
    run(device().battery_settings())  # no service: nothing to do


def test_the_phones_data_lives_where_flet_says_or_where_asked(
        tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from fieldapp.app.main import data_directory

    assert data_directory(tmp_path) == tmp_path
    monkeypatch.setenv("FLET_APP_STORAGE_DATA", str(tmp_path / "flet"))
    assert data_directory(None) == tmp_path / "flet"
    monkeypatch.delenv("FLET_APP_STORAGE_DATA")
    assert data_directory(None).name == ".home-visits"
