"""`fieldapp-hub`: set up and run a school hub.

    fieldapp-hub --db sqlite:///hub.db init
    fieldapp-hub school add uplands --name "Uplands Junior School" --pack uplands-junior
    fieldapp-hub staff add uplands staff-ann --name "Ann Patel" --role staff --safeguarding-trained
    fieldapp-hub enrol-code uplands staff-ann        # a one-time code for Ann's phone
    fieldapp-hub revoke uplands dev-1a2b3c           # a lost phone: refused, told to wipe
    fieldapp-hub staff password uplands dsl-webster  # a console password (read from stdin)
    fieldapp-hub staff pack-roles uplands dsl-webster safeguarding_lead  # sign-offs she gives
    fieldapp-hub pack import our-school.toml         # validate a school's own pack
    fieldapp-hub pack import our-school.toml --school uplands   # ...and give it to the phones
    fieldapp-hub demo                                # a demo school with today's visits
    fieldapp-hub serve --host 127.0.0.1 --port 8080
    fieldapp-hub migrate                             # upgrade the schema (every command does)

The database is embedded SQLite by default; a trust running many schools passes
`--db postgresql+psycopg://host/db`. The hub's private key for opening sealed records is kept
beside the database in `--key` (created 0600 by `init`).
"""

from __future__ import annotations

import argparse
import errno
import math
import os
import secrets
import socket
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the commands import what they use: `--help` and a quick command stay quick
    from fastapi import FastAPI
    from sqlalchemy import Engine

    from fieldapp.crypto.sealing import HubKeyPair
    from fieldapp.hub.directory import Directory
    from fieldapp.hub.events_store import EventStore

DEFAULT_DB = "sqlite:///hub.db"
DEMO_LOGINS = (("office-jones", "reception"), ("dsl-webster", "dsl"), ("it-admin", "admin"))
# The demo's two visits, 90 minutes apart, each back 90 minutes after it starts: both home
# before 17:30, within Uplands' working day (its pack: no visits from 18:00).
LAST_DEMO_START = time(14, 30)
TOMORROW_AT = (time(9, 30), time(11, 0))


def demo_times(now: datetime, zone: tzinfo) -> tuple[str, tuple[datetime, datetime]]:
    """When the demo's visits are, by the school's clock: today, from the next half hour at
    least 30 minutes away (not before 9:00), if both can be back before the end of the day;
    else tomorrow morning. Answers "today" or "tomorrow", and the two times."""
    local = now.astimezone(zone)
    hour = local.replace(minute=0, second=0, microsecond=0)
    halves = math.ceil((local + timedelta(minutes=30) - hour) / timedelta(minutes=30))
    first = max(hour + halves * timedelta(minutes=30), hour.replace(hour=9))
    if first.date() == local.date() and first.time() <= LAST_DEMO_START:
        return "today", (first, first + timedelta(minutes=90))
    day = local.date() + timedelta(days=1)
    return "tomorrow", (datetime.combine(day, TOMORROW_AT[0], zone),
                        datetime.combine(day, TOMORROW_AT[1], zone))


def hub_keys(path: Path, create: bool) -> HubKeyPair:
    from fieldapp.crypto.sealing import HubKeyPair

    if path.exists():
        return HubKeyPair.from_private_bytes(path.read_bytes())
    if not create:
        raise SystemExit(f"no hub key at {path}: run `fieldapp-hub init` first")
    keys = HubKeyPair.generate()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(keys.private_bytes())
        os.fsync(file.fileno())
    return keys


def add_demo_school(directory: Directory) -> None:
    """Uplands Junior with the journeys' staff pair, its DSL (who signs visits off),
    reception and the trust's IT admin."""
    from fieldapp.domain.journeys import PAIR

    directory.add_school("uplands", "Uplands Junior School", "uplands-junior")
    for member in PAIR:
        directory.add_staff("uplands", member.staff_id, member.name, "staff",
                            member.safeguarding_trained, member.mobile)
    directory.add_staff("uplands", "dsl-webster", "Mrs Webster-Smith", "dsl", True)
    directory.set_pack_roles("uplands", "dsl-webster", ["safeguarding_lead"])
    directory.add_staff("uplands", "office-jones", "Mr Jones", "reception")
    directory.add_staff("uplands", "it-admin", "Trust IT", "admin")


def demo(args: argparse.Namespace, now: datetime | None = None) -> str:
    """A demo school (Uplands Junior) with a staff pair, and two visits planned, risk assessed
    and authorised by the Safeguarding Lead, in school hours today or, too late for that,
    tomorrow morning. Prints an enrolment code per phone and the console logins."""
    from fieldapp.domain import commands as c
    from fieldapp.domain.events import Author
    from fieldapp.domain.journeys import PAIR, go_ahead_assessment
    from fieldapp.domain.policy import load_pack
    from fieldapp.domain.simulate import SimulatedVisit
    from fieldapp.hub.accounts import Accounts
    from fieldapp.hub.directory import Directory, DirectoryError
    from fieldapp.hub.events_store import EventStore, connect
    from fieldapp.sync.protocol import Push
    from fieldapp.sync.slip import slip_code

    engine = connect(args.db)
    directory, store = Directory(engine), EventStore(engine)
    pack = load_pack("uplands-junior")
    now = (now or datetime.now(UTC)).astimezone(pack.hours.zone)  # the school's clock
    try:
        directory.school("uplands")
    except DirectoryError:
        add_demo_school(directory)
    ahead = sorted(at for at in (_scheduled(store, visit_id) for visit_id in
                                 store.visit_ids("uplands") if visit_id.startswith("demo-"))
                   if at is not None and at > now)
    if ahead:  # run again: the visits already planned are still to come
        when = f"the next at {ahead[0]:%d %b %H:%M}"
    else:
        day, starts = demo_times(now, pack.hours.zone)
        when = f"{day}, at {' and '.join(f'{at:%H:%M}' for at in starts)}"
        for number, ((child, address), start) in enumerate(zip(
                (("Sam Example", "1 Example Street"), ("Alex Sample", "22 Sample Road")),
                starts, strict=True), 1):
            visit = SimulatedVisit(pack, now, visit_id=f"demo-{start:%Y%m%d}-{number}",
                                   author=Author("dsl-webster", "hub-console"), seed=number)
            visit.do(c.Plan(f"UPN-000{number}", child, address, "Attendance: no contact",
                            start, PAIR, safe_phrase="blue umbrella"))
            visit.do(go_ahead_assessment(pack))
            visit.do(c.Authorise("safeguarding_lead", "Mrs Webster-Smith", "safeguarding_lead"))
            store.ingest("uplands", "hub-console", Push(events=tuple(visit.events)))
    public = hub_keys(args.key, create=False).public_bytes()
    codes = [f"  {m.name}: {slip_code(directory.enrol_code('uplands', m.staff_id, now), public)}"
             for m in PAIR]
    logins = []
    for staff_id, role in DEMO_LOGINS:
        password = secrets.token_urlsafe(12)  # new each run: the hub keeps only hashes
        Accounts(engine).set_password("uplands", staff_id, password)
        logins.append(f"  {role:<10} school uplands, staff id {staff_id}, password {password}")
    program = sys.argv[0] if sys.argv[0].endswith("fieldapp-hub") else "fieldapp-hub"
    again = f"{os.path.relpath(program)} --db {args.db} --key {args.key} enrol-code uplands " \
        "staff-ann"
    return "\n".join([f"Demo school: Uplands Junior School, two authorised visits ({when}).",
                      "Enrolment codes, one per phone (each works once, for 15 minutes):",
                      *codes, f"  another: {again}",
                      "Console logins:", *logins])


def _scheduled(store: EventStore, visit_id: str) -> datetime | None:
    """When a demo visit is scheduled, by its plan."""
    from fieldapp.domain.state import fold

    at = fold(store.visit_events("uplands", visit_id)).plan.get("scheduled_at")
    return datetime.fromisoformat(at) if isinstance(at, str) else None


def read_password() -> str:
    """One line from stdin; at a terminal, asked for twice without echo."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    import getpass  # pragma: no cover - needs a terminal

    first = getpass.getpass("New console password: ")  # pragma: no cover
    if getpass.getpass("Again: ") != first:  # pragma: no cover
        from fieldapp.hub.directory import DirectoryError

        raise DirectoryError("the two passwords differ")
    return first  # pragma: no cover


def served_api(db: str, key: Path, retired: Sequence[Path]) -> tuple[Engine, FastAPI]:
    """The API as `serve` runs it, on an engine whose SQLite log is checkpointed in the
    background (fieldapp.hub.checkpoints), opening records with the live key and with every
    retired key it is given."""
    from fieldapp.crypto.sealing import HubKeyPair
    from fieldapp.hub.api import create_api
    from fieldapp.hub.events_store import connect

    live = hub_keys(key, create=False)
    old = []
    for path in retired:
        if not path.exists():
            raise SystemExit(f"no retired hub key at {path}")
        old.append(HubKeyPair.from_private_bytes(path.read_bytes()))
    from fieldapp.console.app import mount_console

    engine = connect(db, background_checkpoints=True)
    app = create_api(engine, live, retired_keys=old)
    mount_console(app)
    return engine, app


def port_free(host: str, port: int) -> bool:
    """Whether the hub could listen on host:port (checked before it prints where it is)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def banner(host: str, port: int) -> str:
    base = f"http://{host}:{port}"
    return "\n".join([
        f"Home Visits hub: {base}",
        f"  open {base}/api/v1/health           the sync API (answers ok)",
        f"  open {base}/openapi.json            every route, for phones and the console",
        f"  open {base}/console/                the school's console: the reception board",
        f"  the console's API starts with a sign-in: POST {base}/api/v1/console/sign-in",
        "Stop it with Ctrl-C."])


def serve_forever(engine: Engine, app: FastAPI, host: str,
                  port: int) -> None:  # pragma: no cover
    """Runs in the server process: test_cli.py starts it and talks to it over HTTP."""
    import gc

    import uvicorn

    from fieldapp.hub.checkpoints import Checkpointer

    print(banner(host, port), flush=True)
    # Everything made so far lives as long as the server: left out of the garbage collector's
    # full passes, which would otherwise walk it all every few hundred pushes (on this
    # machine, a 100 ms pause that was the slowest pushes' time under load).
    gc.collect()
    gc.freeze()
    with Checkpointer(engine):
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


def parser() -> argparse.ArgumentParser:
    from fieldapp.domain.policy import pack_ids

    top = argparse.ArgumentParser(prog="fieldapp-hub", description=__doc__.split("\n")[0],
                                  epilog="Each command has its own --help.")
    top.add_argument("--db", default=os.environ.get("HUB_DB", DEFAULT_DB),
                     help="the database: sqlite:///hub.db (default), or "
                     "postgresql+psycopg://host/db for a trust (env HUB_DB)")
    top.add_argument("--key", type=Path, default=Path(os.environ.get("HUB_KEY", "hub.key")),
                     help="the hub's private key file (default hub.key; env HUB_KEY)")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("init", help="create the database and the hub's key")
    commands.add_parser("migrate", help="upgrade the database's schema to this hub's")
    school = commands.add_parser("school", help="add a school").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    add_school = school.add_parser("add", help="add a school with one of the shipped packs")
    add_school.add_argument("school_id", help="a short id, e.g. uplands")
    add_school.add_argument("--name", required=True, help="the school's full name")
    add_school.add_argument("--pack", required=True, choices=pack_ids(),
                            help="its policy pack (import its own later with `pack import`)")
    staff = commands.add_parser("staff", help="add staff, set passwords and pack roles"
                                ).add_subparsers(dest="action", required=True, metavar="ACTION")
    add_staff = staff.add_parser("add", help="add a member of staff (staff ids are unique "
                                 "across the whole hub, every school's staff included)")
    add_staff.add_argument("school_id")
    add_staff.add_argument("staff_id", help="unique across the hub, e.g. uplands-ann-patel")
    add_staff.add_argument("--name", required=True)
    add_staff.add_argument("--role", required=True, choices=("reception", "dsl", "staff",
                                                             "admin"),
                           help="what they may do at the console")
    add_staff.add_argument("--mobile", default="", help="their work mobile: reception "
                           "phones it when a visit is overdue")
    add_staff.add_argument("--safeguarding-trained", action="store_true")
    add_staff.add_argument("--pack-role", action="append", default=[], dest="pack_roles",
                           help="a role in the school's pack whose sign-offs they give "
                           "(e.g. safeguarding_lead); repeat for several")
    roles = staff.add_parser("pack-roles", help="set the pack roles a member of staff holds")
    roles.add_argument("school_id")
    roles.add_argument("staff_id")
    roles.add_argument("roles", nargs="*", help="none: they give no sign-offs")
    password = staff.add_parser("password", help="set a console password (read from stdin; "
                                "also lifts every lock on their sign-in)")
    password.add_argument("school_id")
    password.add_argument("staff_id")
    code = commands.add_parser("enrol-code", help="a one-time code to enrol a phone (works "
                               "once, for 15 minutes: run it again for another)")
    code.add_argument("school_id")
    code.add_argument("staff_id", help="whose phone it is")
    contacts = commands.add_parser("contacts", help="the numbers the school's phones dial "
                                   "and show (sent on their next pull)")
    contacts.add_argument("school_id")
    contacts.add_argument("--reception", required=True, help="reception's number: the "
                          "safe-phrase call dials it")
    contacts.add_argument("--school-phone", default="", help="for the Not-at-Home note")
    contacts.add_argument("--dsl-mobile", default="")
    contacts.add_argument("--office-hours", default="", help='e.g. "08:00-16:30 Mon-Fri"')
    revoke = commands.add_parser("revoke", help="a lost phone: refused from now on, and told "
                                 "to wipe itself when it next syncs")
    revoke.add_argument("school_id")
    revoke.add_argument("device_id", help="as the console's device list shows it")
    pack = commands.add_parser("pack", help="check or import a school's own policy pack"
                               ).add_subparsers(dest="action", required=True, metavar="ACTION")
    import_pack = pack.add_parser("import", help="validate a pack; with --school, make it "
                                  "that school's (phones get it on their next pull)")
    import_pack.add_argument("file", type=Path)
    import_pack.add_argument("--school")
    commands.add_parser("demo", help="a demo school with two authorised visits, enrolment "
                        "codes and console logins (run again for new codes and passwords)")
    serve = commands.add_parser("serve", help="serve the sync API and the console")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--retired-key", type=Path, action="append", default=[],
                       dest="retired_keys", help="a key the hub used before a rotation, to "
                       "open the records sealed to it (repeat for each)")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return run(args)
    except BrokenPipeError:  # pragma: no cover - test_cli.py pipes a command into head
        # `... | head -1`: the reader has gone; nothing to say, and nothing more to write
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def run(args: argparse.Namespace) -> int:
    from fieldapp.domain.policy import PackError, load_pack
    from fieldapp.hub.directory import Directory, DirectoryError
    from fieldapp.hub.events_store import connect
    from fieldapp.hub.migrate import MigrationRefused, current

    now = datetime.now(UTC)
    try:
        if args.command == "init":
            from sqlalchemy import make_url

            connect(args.db)
            keys = hub_keys(args.key, create=True)
            where = make_url(args.db).render_as_string(hide_password=True)
            print(f"hub ready: {where}; key fingerprint {keys.fingerprint()}")
        elif args.command == "migrate":
            print(f"database schema at revision {current(connect(args.db))}")
        elif args.command == "school":
            Directory(connect(args.db)).add_school(args.school_id, args.name, args.pack)
        elif args.command == "staff" and args.action == "password":
            from fieldapp.hub.accounts import Accounts

            Accounts(connect(args.db)).set_password(args.school_id, args.staff_id,
                                                    read_password())
        elif args.command == "staff" and args.action == "pack-roles":
            Directory(connect(args.db)).set_pack_roles(args.school_id, args.staff_id,
                                                       args.roles)
        elif args.command == "staff":
            directory = Directory(connect(args.db))
            directory.add_staff(args.school_id, args.staff_id, args.name, args.role,
                                args.safeguarding_trained, args.mobile)
            if args.pack_roles:
                directory.set_pack_roles(args.school_id, args.staff_id, args.pack_roles)
        elif args.command == "enrol-code":  # the enrolment slip: the code, and the key's check
            from fieldapp.sync.slip import slip_code

            keys = hub_keys(args.key, create=False)
            code = Directory(connect(args.db)).enrol_code(args.school_id, args.staff_id, now)
            print(slip_code(code, keys.public_bytes()))
            print(f"hub key fingerprint: {keys.fingerprint()}")
        elif args.command == "contacts":
            from fieldapp.hub.directory import Contacts

            Directory(connect(args.db)).set_contacts(args.school_id, Contacts(
                args.reception, args.school_phone, args.dsl_mobile, args.office_hours), now)
        elif args.command == "revoke":
            Directory(connect(args.db)).revoke(args.school_id, args.device_id, now)
        elif args.command == "pack":
            loaded = load_pack(args.file)
            print(f"{args.file.name}: pack '{loaded.id}' for {loaded.school} is valid")
            if args.school:
                imported = Directory(connect(args.db)).import_pack(
                    args.school, args.file.read_text(encoding="utf-8"), now)
                print(f"now {args.school}'s pack (version {imported.version}); phones get it "
                      "on their next sync")
        elif args.command == "demo":
            hub_keys(args.key, create=True)
            print(demo(args))
        else:  # serve
            if not port_free(args.host, args.port):
                print(f"fieldapp-hub: port {args.port} on {args.host} is in use (another hub?): "
                      f"choose another, e.g. `--port {args.port + 1}` (`make run PORT="
                      f"{args.port + 1}`)", file=sys.stderr)
                return 1
            serve_forever(*served_api(args.db, args.key, args.retired_keys), args.host,
                          args.port)
    except (DirectoryError, PackError, MigrationRefused) as error:
        print(f"fieldapp-hub: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
