"""`fieldapp-hub`: set up a school from the command line, and serve the API for real."""

from __future__ import annotations

import argparse
import io
import os
import re
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from fieldapp.crypto.sealing import HubKeyPair
from fieldapp.hub.access_log import LOGGER as ACCESS
from fieldapp.hub.accounts import Accounts
from fieldapp.hub.cli import hub_keys, main
from fieldapp.hub.directory import Directory
from fieldapp.hub.events_store import connect
from fieldapp.sync.slip import key_check, read_slip

PACKS = Path(__file__).parents[2] / "fieldapp" / "policies"


@pytest.fixture
def bare(tmp_path: Path) -> list[str]:
    """Where a hub goes, before `init`."""
    return ["--db", f"sqlite:///{tmp_path / 'hub.db'}", "--key", str(tmp_path / "hub.key")]


@pytest.fixture
def hub(bare: list[str]) -> list[str]:
    """A hub after `init`."""
    assert main([*bare, "init"]) == 0
    return bare


def test_a_school_is_set_up_from_the_command_line(
    bare: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hub = bare
    assert main([*hub, "init"]) == 0
    for private in ("hub.key", "hub.db", "hub.db-wal"):  # names, addresses, keys
        assert oct((tmp_path / private).stat().st_mode & 0o777) == oct(0o600)
    assert main([*hub, "school", "add", "uplands", "--name", "Uplands Junior School",
                 "--pack", "uplands-junior"]) == 0
    assert main([*hub, "staff", "add", "uplands", "staff-ann", "--name", "Ann Patel",
                 "--role", "staff", "--safeguarding-trained"]) == 0
    capsys.readouterr()
    assert main([*hub, "enrol-code", "uplands", "staff-ann"]) == 0
    code, fingerprint = capsys.readouterr().out.splitlines()
    keys = hub_keys(tmp_path / "hub.key", create=False)
    assert len(read_slip(code)[0]) == 10 and read_slip(code)[1] == key_check(keys.public_bytes())
    assert fingerprint == f"hub key fingerprint: {keys.fingerprint()}"
    assert main([*hub, "contacts", "uplands", "--reception", "01902 000111",
                 "--office-hours", "08:00-16:30 Mon-Fri"]) == 0
    assert Directory(connect(f"sqlite:///{tmp_path / 'hub.db'}")).school_contacts(
        "uplands").office_hours == "08:00-16:30 Mon-Fri"
    assert main([*hub, "school", "add", "uplands", "--name", "Again",
                 "--pack", "uplands-junior"]) == 1
    assert "already a school 'uplands'" in capsys.readouterr().err
    assert main([*hub, "staff", "add", "uplands", "staff-ann", "--name", "Ann again",
                 "--role", "staff"]) == 1
    assert "the staff id 'staff-ann' is taken: staff ids are unique across the hub" in (
        capsys.readouterr().err)
    assert main([*hub, "revoke", "uplands", "dev-unknown"]) == 1
    assert "no such device" in capsys.readouterr().err


def test_a_console_password_is_read_from_stdin(
    hub: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*hub, "school", "add", "uplands", "--name", "Uplands Junior School",
                 "--pack", "uplands-junior"]) == 0
    assert main([*hub, "staff", "add", "uplands", "dsl-w", "--name", "Mrs W", "--role",
                 "dsl", "--pack-role", "safeguarding_lead"]) == 0
    assert Directory(connect(hub[1])).pack_roles("dsl-w") == {"safeguarding_lead"}
    assert main([*hub, "staff", "pack-roles", "uplands", "dsl-w", "safeguarding_team"]) == 0
    assert Directory(connect(hub[1])).pack_roles("dsl-w") == {"safeguarding_team"}
    assert main([*hub, "staff", "pack-roles", "uplands", "dsl-w", "headteacher"]) == 1
    assert "not a role in this school's pack" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough passphrase\n"))
    assert main([*hub, "staff", "password", "uplands", "dsl-w"]) == 0
    engine = connect(hub[1])
    assert Accounts(engine).sign_in("uplands", "dsl-w", "a long enough passphrase",
                                    datetime.now(UTC)).user.role == "dsl"
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main([*hub, "staff", "password", "uplands", "dsl-w"]) == 1
    assert "12 to 200 characters" in capsys.readouterr().err


def test_a_schools_own_pack_is_checked(hub: list[str], tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*hub, "pack", "import", str(PACKS / "blue-coat-secondary.toml")]) == 0
    assert "is valid" in capsys.readouterr().out
    broken = tmp_path / "ours.toml"
    broken.write_text("format = 1\n")
    assert main([*hub, "pack", "import", str(broken)]) == 1
    assert "ours.toml: id: expected text (missing)" in capsys.readouterr().err


def test_an_imported_pack_becomes_the_schools(hub: list[str], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*hub, "school", "add", "uplands", "--name", "Uplands Junior School",
                 "--pack", "uplands-junior"]) == 0
    ours = tmp_path / "ours.toml"
    ours.write_text((PACKS / "uplands-junior.toml").read_text().replace(
        'policy = "Home Visit Policy and Procedure, January 2024"',
        'policy = "Home Visit Policy and Procedure, January 2027"'))
    assert main([*hub, "pack", "import", str(ours), "--school", "uplands"]) == 0
    assert "phones get it on their next sync" in capsys.readouterr().out
    assert Directory(connect(hub[1])).pack("uplands").pack.policy.endswith("January 2027")
    assert main([*hub, "pack", "import", str(ours), "--school", "nowhere"]) == 1
    assert "no school 'nowhere'" in capsys.readouterr().err


def test_the_demo_is_set_up_once_and_hands_out_fresh_codes(
    hub: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*hub, "demo"]) == 0
    first = capsys.readouterr().out
    assert main([*hub, "demo"]) == 0
    second = capsys.readouterr().out
    assert "two authorised visits (" in first and "Ann Patel:" in first
    assert "another: " in first and "enrol-code uplands staff-ann" in first
    assert "the next at" in second  # not planned again while they are still to come
    assert "staff id dsl-webster, password " in first
    assert first != second  # new codes, same school


def test_serve_needs_init_first(bare: list[str], tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="run `fieldapp-hub init` first"):
        main([*bare, "serve"])
    assert not (tmp_path / "hub.db").exists()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_hub_serves_the_api_over_http(hub: list[str],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*hub, "demo"]) == 0
    passwords = dict(re.findall(r"staff id (\S+), password (\S+)", capsys.readouterr().out))
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "fieldapp.hub.cli", *hub, "serve",
                               "--port", str(port)], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert server.stdout is not None
        banner = [server.stdout.readline() for _ in range(6)]
        assert f"open http://127.0.0.1:{port}/api/v1/health" in "".join(banner)
        assert f"POST http://127.0.0.1:{port}/api/v1/console/sign-in" in "".join(banner)
        deadline = time.monotonic() + 20
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the hub did not start"
                time.sleep(0.1)
        assert answer.json() == {"status": "ok", "protocol": 1, "database": "ok"}
        signed_in = httpx.post(f"http://127.0.0.1:{port}/api/v1/console/sign-in", json={
            "school_id": "uplands", "staff_id": "office-jones", "password": passwords[
                "office-jones"]}, timeout=5)
        board = httpx.get(f"http://127.0.0.1:{port}/api/v1/console/board", timeout=5,
                          headers={"Authorization": f"Bearer {signed_in.json()['token']}"})
        assert board.status_code == 200 and board.json()["rows"] == []  # nobody out yet
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=10)


def test_serve_builds_the_api_from_the_database_and_the_hubs_key(
    hub: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    served: list[tuple[Engine, FastAPI, str, int]] = []
    monkeypatch.setattr("fieldapp.hub.cli.serve_forever",
                        lambda *args: served.append(args))
    assert main([*hub, "init"]) == 0
    assert main([*hub, "serve", "--host", "127.0.0.1", "--port", "9999", "--access-log"]) == 0
    ((engine, app, host, port),) = served
    assert (host, port) == ("127.0.0.1", 9999)
    assert "/api/v1/push" in app.openapi()["paths"]
    try:  # each request a line on stderr, for the journal
        TestClient(app).get("/api/v1/health")
        assert " GET /api/v1/health 200 " in capsys.readouterr().err
    finally:
        ACCESS.handlers.clear()
        ACCESS.setLevel("NOTSET")
    with engine.connect() as connection:  # commits leave checkpoints to the Checkpointer
        assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one() == 0


def test_serve_takes_the_keys_retired_by_a_rotation(
    hub: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fieldapp.hub import api

    given: list[list[str]] = []
    real = api.create_api

    def create_api(*args: Any, retired_keys: list[HubKeyPair], **kwargs: Any) -> FastAPI:
        given.append([key.fingerprint() for key in retired_keys])
        return real(*args, retired_keys=retired_keys, **kwargs)

    monkeypatch.setattr(api, "create_api", create_api)
    monkeypatch.setattr("fieldapp.hub.cli.serve_forever", lambda *args: None)
    assert main([*hub, "init"]) == 0
    old = HubKeyPair.generate()
    retired = tmp_path / "hub.key.retired-2026-11"
    retired.write_bytes(old.private_bytes())
    assert main([*hub, "serve", "--retired-key", str(retired)]) == 0
    assert given == [[old.fingerprint()]]  # test_records.py shows what a retired key opens
    with pytest.raises(SystemExit, match="no retired hub key at"):
        main([*hub, "serve", "--retired-key", str(tmp_path / "missing.key")])


@pytest.mark.parametrize(("hour", "minute", "day", "first"), [
    (6, 0, "today", "09:00"), (8, 40, "today", "09:30"), (9, 0, "today", "09:30"),
    (14, 0, "today", "14:30"), (14, 1, "tomorrow", "09:30"), (16, 28, "tomorrow", "09:30"),
    (19, 0, "tomorrow", "09:30"), (23, 59, "tomorrow", "09:30"),
])
def test_the_demos_visits_are_in_school_hours_whenever_it_is_run(
        hub: list[str], hour: int, minute: int, day: str, first: str) -> None:
    """Whenever it runs, the pair can sign out for the demo's visits at their time: planned
    today if both can be back before the evening, else tomorrow morning."""
    from fieldapp.domain import commands as c
    from fieldapp.domain.events import Author
    from fieldapp.domain.journeys import PAIR
    from fieldapp.domain.policy import load_pack
    from fieldapp.domain.rules import decide
    from fieldapp.domain.state import fold
    from fieldapp.hub.cli import demo, demo_times, parser
    from fieldapp.hub.events_store import EventStore

    pack = load_pack("uplands-junior")
    now = datetime(2026, 11, 30, hour, minute, tzinfo=pack.hours.zone)
    when, starts = demo_times(now, pack.hours.zone)
    assert (when, f"{starts[0]:%H:%M}") == (day, first)
    assert starts[0].date() == (now.date() if day == "today" else now.date() + timedelta(1))
    args = parser().parse_args([*hub, "demo"])
    hub_keys(args.key, create=True)
    assert f"({day}, at {first} and " in demo(args, connect(hub[1]), now)
    store = EventStore(connect(hub[1]))
    for visit_id, start in zip(sorted(store.visit_ids("uplands")), starts, strict=True):
        state = fold(store.visit_events("uplands", visit_id))
        leaving = start - timedelta(minutes=15)
        decision = decide(state, c.SignOut(
            start + timedelta(minutes=75), ("AB12 CDE",),
            told=tuple(who.split("|")[0] for who in pack.sign_out.tell),
            safe_phrase_reminded=True, checks=tuple(check.id for check in pack.sign_out.checks)),
            pack, leaving, by=Author(PAIR[0].staff_id, "phone-ann"))
        assert decision.accepted, [f.code for f in decision.findings]
        assert [m.staff_id for m in state.staff] == [m.staff_id for m in PAIR]


def test_serve_on_a_port_in_use_says_so_before_printing_where_it_is(
        hub: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*hub, "init"]) == 0
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main([*hub, "serve", "--port", str(port)]) == 1
    said = capsys.readouterr()
    assert f"port {port} on 127.0.0.1 is in use" in said.err and "make run PORT=" in said.err
    assert "http://" not in said.out


def test_a_command_piped_into_head_ends_quietly(hub: list[str]) -> None:
    assert main([*hub, "demo"]) == 0
    piped = subprocess.run(f"{sys.executable} -m fieldapp.hub.cli {' '.join(hub)} enrol-code "
                           "uplands staff-ann | head -1", shell=True, capture_output=True,
                           text=True, timeout=60, check=True)
    assert len(read_slip(piped.stdout.strip())[0]) == 10 and piped.stderr == ""


def test_every_command_says_what_it_does() -> None:
    from fieldapp.hub.cli import parser

    def commands(found: argparse.ArgumentParser) -> list[tuple[str, str | None]]:
        listed = []
        for action in found._actions:
            if isinstance(action, argparse._SubParsersAction):
                helps = {choice.dest: choice.help for choice in action._choices_actions}
                for name, sub in action.choices.items():
                    listed.append((name, helps.get(name)))
                    listed += commands(sub)
        return listed

    listed = commands(parser())
    assert len(listed) >= 14
    assert [name for name, help_text in listed if not help_text] == []


def test_the_banner_says_what_to_open_and_what_to_post() -> None:
    from fieldapp.hub.cli import banner, port_free

    said = banner("127.0.0.1", 8081)
    assert "open http://127.0.0.1:8081/api/v1/health" in said
    assert "POST http://127.0.0.1:8081/api/v1/console/sign-in" in said
    assert "open http://127.0.0.1:8081/console/" in said and len(said.splitlines()) == 6
    with pytest.raises(OSError):  # not "in use": an address this machine does not have
        port_free("192.0.2.1", 8081)


def test_an_administrators_commands_list_cancel_unlock_and_are_audited(
        hub: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    import getpass

    from fieldapp.hub.accounts import LOCK_AFTER, SignInRefused
    from fieldapp.hub.audit import AuditLog
    from fieldapp.hub.directory import DirectoryError

    own = tmp_path / "ours.toml"
    own.write_text((PACKS / "uplands-junior.toml").read_text().replace(
        "January 2024", "January 2027"))
    assert main([*hub, "school", "add", "uplands", "--name", "Uplands Junior School",
                 "--pack-file", str(own)]) == 0  # a school with its own pack, directly
    engine = connect(hub[1])
    directory = Directory(engine)
    assert directory.pack("uplands").pack.policy.endswith("January 2027")
    assert main([*hub, "school", "add", "hart", "--name", "Hart Hill", "--pack",
                 "hart-hill-nursery"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    for command in (["staff", "add", "uplands", "ann", "--name", "Ann", "--role", "staff",
                     "--mobile", "07700 900001", "--safeguarding-trained"],
                    ["staff", "add", "uplands", "dsl", "--name", "Dee", "--role", "dsl"],
                    ["staff", "pack-roles", "uplands", "dsl", "safeguarding_lead"],
                    ["staff", "password", "uplands", "dsl"],
                    ["enrol-code", "uplands", "ann"],
                    ["contacts", "uplands", "--reception", "01902 000111"],
                    ["pack", "import", str(own), "--school", "uplands"]):
        assert main([*hub, *command]) == 0, command
    capsys.readouterr()
    assert main([*hub, "school", "list"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "hart\tHart Hill\tpack hart-hill-nursery", "uplands\tUplands Junior School\tpack "
        "uplands-junior"]
    accounts = Accounts(engine, 4)
    for _ in range(LOCK_AFTER + 1):  # someone guesses Dee's password from a new browser
        with pytest.raises(SignInRefused):
            accounts.sign_in("uplands", "dsl", "a wrong guess!!", datetime.now(UTC))
    assert main([*hub, "staff", "list", "uplands"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "ann\tAnn\tstaff\ttrained\t07700 900001\tno sign-offs\tno console login",
        "dsl\tDee\tdsl\tnot trained\tno mobile\tsigns off as safeguarding_lead\tconsole login "
        "(locked for new browsers)"]
    assert main([*hub, "staff", "unlock", "uplands", "dsl"]) == 0  # her password still works
    unlocked = accounts.sign_in("uplands", "dsl", "a long enough password", datetime.now(UTC))
    assert (unlocked.user.staff_id, unlocked.user.role) == ("dsl", "dsl")
    assert main([*hub, "device", "list", "uplands"]) == 0
    (unused,) = capsys.readouterr().out.splitlines()
    assert unused.startswith("unused enrolment code\tann\texpires ")
    code = directory.enrol_code("uplands", "ann", datetime.now(UTC))
    phone = directory.enrol(directory.enrol_code("uplands", "ann", datetime.now(UTC)),
                            "Ann's phone", datetime.now(UTC))
    assert main([*hub, "enrol-code", "uplands", "ann", "--cancel"]) == 0
    assert capsys.readouterr().out == "2 unused enrolment codes of ann cancelled\n"
    with pytest.raises(DirectoryError):
        directory.enrol(code, "a stranger's phone", datetime.now(UTC))
    assert main([*hub, "revoke", "uplands", phone.device.id]) == 0
    assert main([*hub, "device", "list", "uplands"]) == 0
    (listed,) = capsys.readouterr().out.splitlines()
    assert listed.startswith(f"{phone.device.id}\tann\tAnn's phone\tenrolled ")
    assert "\tREVOKED " in listed
    entries = AuditLog(engine).entries("uplands")
    assert {entry.staff_id for entry in entries} == {f"cli:{getpass.getuser()}"}
    assert {entry.role for entry in entries} == {"operator"}
    assert [(entry.action, entry.subject) for entry in reversed(entries)] == [
        ("add_school", "uplands"), ("add_staff", "ann"), ("add_staff", "dsl"),
        ("set_pack_roles", "dsl"), ("set_password", "dsl"), ("enrol_code", "ann"),
        ("set_contacts", "uplands"), ("import_pack", directory.pack("uplands").version),
        ("unlock_login", "dsl"), ("cancel_enrol_codes", "ann"),
        ("revoke_device", phone.device.id)]


class TwoYearsOn(datetime):
    @classmethod
    def now(cls, tz: tzinfo | None = None) -> TwoYearsOn:
        return cls.fromtimestamp(datetime.now(tz).timestamp() + 2 * 366 * 86400, tz)


def test_retention_holds_erasure_and_subject_access_from_the_command_line(
        hub: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    import getpass
    import json

    from fieldapp.hub.events_store import EventStore

    assert main([*hub, "demo"]) == 0
    store = EventStore(connect(hub[1]))
    first, second = sorted(store.visit_ids("uplands"))
    for command in (["retention", "set", "uplands", "routine", "--years", "1"],
                    ["retention", "set", "uplands", "safeguarding", "--until-age", "25"],
                    ["retention", "set", "uplands", "audit", "--keep"],
                    ["retention", "born", "uplands", "UPN-0001", "2015-01-01"],
                    ["hold", "uplands", first, "--reason", "open case"]):
        assert main([*hub, *command]) == 0, command
    capsys.readouterr()
    assert main([*hub, "retention", "show"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "uplands: routine kept 1 years after the visit; safeguarding kept until the child is "
        "25; audit kept (no rule)", "  due now: 0 visits",
        f"  on hold {first}: by cli:{getpass.getuser()}, open case"]
    assert main([*hub, "subject-access", "uplands", "UPN-0001", str(tmp_path / "sar")]) == 0
    written = sorted((tmp_path / "sar").iterdir())
    assert [path.suffix for path in written] == [".json", ".pdf"]
    assert all(oct(path.stat().st_mode & 0o777) == oct(0o600) for path in written)
    assert json.loads(written[0].read_text())["visits"][0]["visit_id"] == first
    capsys.readouterr()
    assert main([*hub, "erase", "uplands", "UPN-0002", "--confirm", "UPN-0001"]) == 1
    assert "nothing was erased" in capsys.readouterr().err
    assert main([*hub, "erase", "uplands", "UPN-0002", "--confirm", "UPN-0002"]) == 0
    assert f"erased 1 visit to UPN-0002: {second}" in capsys.readouterr().out
    assert main([*hub, "erase", "uplands", "UPN-0001", "--confirm", "UPN-0001"]) == 0
    assert f"kept, on hold by the DSL: {first}" in capsys.readouterr().out
    assert store.visit_ids("uplands") == (first,)
    with monkeypatch.context() as later:  # two years on, the held visit would be due
        later.setattr("fieldapp.hub.cli.datetime", TwoYearsOn)
        assert main([*hub, "retention", "show", "--school", "uplands"]) == 0
    assert f"  kept {first}: held by cli:{getpass.getuser()}: open case" in (
        capsys.readouterr().out.splitlines())
    assert main([*hub, "hold", "uplands", first, "--release"]) == 0
    assert main([*hub, "retention", "run", "--school", "uplands"]) == 0
    assert "deleted: 0 visits" in capsys.readouterr().out  # not over yet: still kept
    assert main([*hub, "retention", "show", "--school", "nowhere"]) == 1
    assert "no school 'nowhere'" in capsys.readouterr().err


def test_a_member_of_staff_who_has_left_is_on_the_records_and_nowhere_else(
        hub: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    from fieldapp.hub.accounts import SignInRefused
    from fieldapp.hub.directory import DirectoryError, NotAuthenticated

    assert main([*hub, "demo"]) == 0
    engine = connect(hub[1])
    directory = Directory(engine)
    phone = directory.enrol(directory.enrol_code("uplands", "dsl-webster", datetime.now(UTC)),
                            "her phone", datetime.now(UTC))
    capsys.readouterr()
    assert main([*hub, "staff", "remove", "uplands", "dsl-webster"]) == 0
    assert capsys.readouterr().out == "dsl-webster has left: 1 phone revoked\n"
    with pytest.raises(NotAuthenticated) as refused:
        directory.authenticate(phone.token)
    assert refused.value.wipe
    with pytest.raises(SignInRefused):
        Accounts(engine, 4).sign_in("uplands", "dsl-webster", "anything at all",
                                    datetime.now(UTC))
    with pytest.raises(DirectoryError, match="no such member of staff"):
        directory.enrol_code("uplands", "dsl-webster", datetime.now(UTC))
    assert "dsl-webster" not in {m.staff_id for m in directory.staff("uplands")}
    assert directory.contacts("uplands")["dsl-webster"] == ("Mrs Webster-Smith", "")
    assert main([*hub, "staff", "remove", "uplands", "dsl-webster"]) == 1
    assert main([*hub, "school", "remove", "uplands", "--confirm", "nope"]) == 1
    assert "nothing was deleted" in capsys.readouterr().err
    assert main([*hub, "school", "remove", "uplands", "--confirm", "uplands"]) == 0
    assert capsys.readouterr().out.startswith("uplands removed by cli:")
    assert main([*hub, "school", "list"]) == 0 and capsys.readouterr().out == ""
