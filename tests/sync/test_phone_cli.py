"""`fieldapp-phone` in process (tests/sync/test_phone_processes.py runs it as processes): every
command and every refusal, with its exit code and its words."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import delete

from fieldapp.crypto.sealing import HubKeyPair
from fieldapp.hub.directory import devices
from fieldapp.hub.events_store import connect, visit_staff
from fieldapp.sync.phone import main
from tests.sync.hubs import MORNING, Hub, serve_in_thread

PIN, DURESS = "28491375", "71930564"


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    monkeypatch.setenv("FIELDAPP_PIN", PIN)
    monkeypatch.setenv("FIELDAPP_DURESS_PIN", DURESS)
    running = serve_in_thread(connect(f"sqlite:///{tmp_path / 'hub.db'}"),
                              HubKeyPair.generate())
    running.plan("visit-1")
    running.plan("visit-2")
    yield running
    running.stop()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    said = capsys.readouterr()
    return code, said.out, said.err


def at_morning() -> str:
    return str((MORNING - datetime.now(UTC)).total_seconds() / 60)


def test_every_command_of_a_headless_phone(hub: Hub, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    data = ["--data", str(tmp_path / "ann"), "--clock-offset", at_morning()]
    code, out, _ = run(capsys, *data, "enrol", hub.url, hub.slip("staff-ann"), "--kdf-cost", "10")
    assert code == 0 and json.loads(out)["staff"] == "staff-ann"
    assert run(capsys, *data, "walk")[0] == 1  # nothing pulled yet: nothing authorised
    assert run(capsys, *data, "sync")[0] == 0
    code, out, _ = run(capsys, *data, "walk", "--journey", "let-in", "--until", "sign-out")
    assert code == 0 and json.loads(out)["phase"] == "signed_out"
    code, out, _ = run(capsys, *data, "alert")
    assert code == 0 and json.loads(out) == {"alert": "visit-1"}
    code, out, err = run(capsys, *data, "walk", "--visit", "visit-1")
    assert code == 1 and "no authorised visit" in err
    code, out, _ = run(capsys, *data, "walk", "--visit", "visit-2", "--journey", "no-answer")
    assert code == 0 and json.loads(out)["phase"] == "debriefed"
    assert run(capsys, *data, "sync")[0] == 0
    code, out, _ = run(capsys, *data, "status")
    status = json.loads(out)
    assert status["waiting"] == 0 and [v["visit_id"] for v in status["visits"]] == ["visit-1"]


def test_a_duress_pin_opens_the_phone_and_raises_a_silent_alert(
        hub: Hub, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    data = ["--data", str(tmp_path / "ann"), "--clock-offset", at_morning()]
    run(capsys, *data, "enrol", hub.url, hub.slip("staff-ann"), "--kdf-cost", "10")
    code, normal, _ = run(capsys, *data, "status")
    monkeypatch.setenv("FIELDAPP_PIN", DURESS)
    code, out, _ = run(capsys, *data, "status")  # looks like any other opening
    assert code == 0 and out == normal and json.loads(out)["waiting"] == 0
    monkeypatch.setenv("FIELDAPP_PIN", PIN)
    assert run(capsys, *data, "sync")[0] == 0
    alerts = [e for e in hub.events() if e.type.value == "duress_alert"]
    assert len(alerts) == 1 and alerts[0].author.staff_id == "staff-ann"
    assert run(capsys, *data, "sync")[0] == 0  # every token went, once
    assert len([e for e in hub.events() if e.type.value == "duress_alert"]) == 1


@pytest.mark.parametrize(("argv", "env", "says"), [
    (["status"], {}, "no phone set up"),
    (["enrol", "http://127.0.0.1:9", "ABCD"], {}, "36 letters and digits"),
    (["enrol", "http://127.0.0.1:9", "A" * 36], {"FIELDAPP_PIN": ""}, "set FIELDAPP_PIN"),
])
def test_bad_requests_are_refused_with_a_reason(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        argv: list[str], env: dict[str, str], says: str) -> None:
    monkeypatch.setenv("FIELDAPP_PIN", PIN)
    monkeypatch.setenv("FIELDAPP_DURESS_PIN", DURESS)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code, _, err = run(capsys, "--data", str(tmp_path / "p"), *argv)
    assert code == 1 and says in err


def test_a_phone_that_cannot_reach_its_hub_says_so(
        hub: Hub, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = ["--data", str(tmp_path / "ann")]
    run(capsys, *data, "enrol", hub.url, hub.slip("staff-ann"), "--kdf-cost", "10")
    hub.stop()
    time.sleep(0.5)  # the server has closed its socket
    code, _, err = run(capsys, *data, "sync")
    assert code == 2 and "no connection" in err


def test_a_phone_the_hub_does_not_know_is_told_to_enrol_again(
        hub: Hub, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = ["--data", str(tmp_path / "ann")]
    run(capsys, *data, "enrol", hub.url, hub.slip("staff-ann"), "--kdf-cost", "10")
    with hub.engine.begin() as connection:
        connection.execute(delete(devices))
    code, _, err = run(capsys, *data, "sync")
    assert code == 1 and "enrol it again" in err


def test_a_revoked_phone_wipes_itself_in_process(hub: Hub, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    data = ["--data", str(tmp_path / "ann")]
    code, out, _ = run(capsys, *data, "enrol", hub.url, hub.slip("staff-ann"), "--kdf-cost",
                       "10")
    hub.directory.revoke("uplands", json.loads(out)["enrolled"], datetime.now(UTC))
    code, _, err = run(capsys, *data, "sync")
    assert code == 4 and "revoked" in err
    assert [p for p in (tmp_path / "ann").rglob("*") if p.is_file()] == []


def test_a_phone_enrols_once_and_only_with_a_good_slip(
        hub: Hub, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = ["--data", str(tmp_path / "ann")]
    used = hub.slip("staff-ann")
    run(capsys, *data, "enrol", hub.url, used, "--kdf-cost", "10")
    code, _, err = run(capsys, *data, "enrol", hub.url, hub.slip("staff-ann"))
    assert code == 1 and "enrolled already" in err
    other = ["--data", str(tmp_path / "ben")]
    code, _, err = run(capsys, *other, "enrol", hub.url, used, "--kdf-cost", "10")
    assert code == 1 and "not valid" in err  # the vault is set up; the phone is not enrolled
    code, _, err = run(capsys, *other, "alert")
    assert code == 1 and "not enrolled" in err
    code, _, err = run(capsys, *other, "sync")
    assert code == 1 and "not enrolled" in err


def test_sync_says_when_something_is_left_set_aside(
        hub: Hub, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = ["--data", str(tmp_path / "ann"), "--clock-offset", at_morning()]
    run(capsys, *data, "enrol", hub.url, hub.slip("staff-ann"), "--kdf-cost", "10")
    run(capsys, *data, "sync")
    assert run(capsys, *data, "alert")[0] == 1  # nothing out yet
    run(capsys, *data, "walk", "--until", "sign-out")
    with hub.engine.begin() as connection:  # the school revokes the visit's plan's staff...
        connection.execute(delete(visit_staff))  # ...so the hub no longer takes ann's events
    code, out, _ = run(capsys, *data, "sync")
    assert code == 3
    code, out, _ = run(capsys, *data, "status")
    assert json.loads(out)["quarantined"]


def test_a_duress_pin_before_enrolment_opens_the_phone_as_the_pin_does(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """No hub to seal an alert to yet (and no visit can be out): the unlock leaves a decoy,
    as a normal one does, and nothing on the phone tells the two apart."""
    monkeypatch.setenv("FIELDAPP_PIN", PIN)
    monkeypatch.setenv("FIELDAPP_DURESS_PIN", DURESS)
    data = ["--data", str(tmp_path / "new")]
    assert run(capsys, *data, "enrol", "http://127.0.0.1:9", "A" * 36, "--kdf-cost", "10")[0] \
        == 2  # no hub there: the vault is set up, the phone not enrolled
    code, normal, _ = run(capsys, *data, "status")
    monkeypatch.setenv("FIELDAPP_PIN", DURESS)
    code, out, _ = run(capsys, *data, "status")
    assert code == 0 and out == normal and json.loads(out)["waiting"] == 0


def test_a_phone_enrols_again_when_asked_to(hub: Hub, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    data = ["--data", str(tmp_path / "ann")]
    code, out, _ = run(capsys, *data, "enrol", hub.url, hub.slip("staff-ann"), "--kdf-cost",
                       "10")
    first = json.loads(out)["enrolled"]
    with hub.engine.begin() as connection:  # the hub lost the phone (a restored backup)
        connection.execute(delete(devices))
    code, out, _ = run(capsys, *data, "enrol", hub.url, hub.slip("staff-ann"), "--again")
    assert code == 0 and json.loads(out)["enrolled"] == first
