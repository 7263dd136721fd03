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
import gc
import getpass
import os
import secrets
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, make_url

from fieldapp.crypto.sealing import HubKeyPair
from fieldapp.domain import commands as c
from fieldapp.domain.events import Author
from fieldapp.domain.journeys import PAIR, go_ahead_assessment
from fieldapp.domain.policy import PackError, load_pack, pack_ids
from fieldapp.domain.simulate import SimulatedVisit
from fieldapp.hub.accounts import Accounts
from fieldapp.hub.directory import Directory, DirectoryError
from fieldapp.hub.events_store import EventStore, connect
from fieldapp.hub.migrate import MigrationRefused, current
from fieldapp.sync.protocol import Push

if TYPE_CHECKING:
    from fastapi import FastAPI

DEFAULT_DB = "sqlite:///hub.db"
DEMO_LOGINS = (("office-jones", "reception"), ("dsl-webster", "dsl"), ("it-admin", "admin"))


def hub_keys(path: Path, create: bool) -> HubKeyPair:
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


def demo(args: argparse.Namespace) -> str:
    """A demo school (Uplands Junior) with a staff pair, and today's visits planned, risk
    assessed and authorised by the Safeguarding Lead. Prints an enrolment code per phone."""
    engine = connect(args.db)
    directory, store = Directory(engine), EventStore(engine)
    now = datetime.now(UTC)
    try:
        directory.school("uplands")
    except DirectoryError:
        directory.add_school("uplands", "Uplands Junior School", "uplands-junior")
        for member in PAIR:
            directory.add_staff("uplands", member.staff_id, member.name, "staff",
                                member.safeguarding_trained)
        directory.add_staff("uplands", "dsl-webster", "Mrs Webster-Smith", "dsl", True)
        directory.set_pack_roles("uplands", "dsl-webster", ["safeguarding_lead"])
        directory.add_staff("uplands", "office-jones", "Mr Jones", "reception")
        directory.add_staff("uplands", "it-admin", "Trust IT", "admin")
        pack = load_pack("uplands-junior")
        for number, (child, address) in enumerate((("Sam Example", "1 Example Street"),
                                                   ("Alex Sample", "22 Sample Road")), 1):
            visit = SimulatedVisit(pack, now.replace(hour=8, minute=0, second=0, microsecond=0),
                                   visit_id=f"demo-visit-{number}",
                                   author=Author("dsl-webster", "hub-console"), seed=number)
            visit.do(c.Plan(f"UPN-000{number}", child, address, "Attendance: no contact",
                            visit.now + timedelta(hours=2 + 2 * number), PAIR,
                            safe_phrase="blue umbrella"))
            visit.do(go_ahead_assessment(pack))
            visit.do(c.Authorise("safeguarding_lead", "Mrs Webster-Smith", "safeguarding_lead"))
            store.ingest("uplands", "hub-console", Push(events=tuple(visit.events)))
    codes = [f"  {m.name}: {directory.enrol_code('uplands', m.staff_id, now)}" for m in PAIR]
    logins = []
    for staff_id, role in DEMO_LOGINS:
        password = secrets.token_urlsafe(12)  # new each run: the hub keeps only hashes
        Accounts(engine).set_password("uplands", staff_id, password)
        logins.append(f"  {role:<10} school uplands, staff id {staff_id}, password {password}")
    return "\n".join(["Demo school: Uplands Junior School, with today's two authorised visits.",
                      "Enrolment codes (valid 15 minutes):", *codes,
                      "Console logins:", *logins])


def read_password() -> str:
    """One line from stdin; at a terminal, asked for twice without echo."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("New console password: ")  # pragma: no cover - needs a terminal
    if getpass.getpass("Again: ") != first:  # pragma: no cover
        raise DirectoryError("the two passwords differ")
    return first  # pragma: no cover


def served_api(db: str, key: Path, retired: Sequence[Path]) -> tuple[Engine, FastAPI]:
    """The API as `serve` runs it, on an engine whose SQLite log is checkpointed in the
    background (fieldapp.hub.checkpoints), opening records with the live key and with every
    retired key it is given."""
    from fieldapp.hub.api import create_api

    live = hub_keys(key, create=False)
    old = []
    for path in retired:
        if not path.exists():
            raise SystemExit(f"no retired hub key at {path}")
        old.append(HubKeyPair.from_private_bytes(path.read_bytes()))
    engine = connect(db, background_checkpoints=True)
    return engine, create_api(engine, live, retired_keys=old)


def serve_forever(engine: Engine, app: FastAPI, host: str,
                  port: int) -> None:  # pragma: no cover
    """Runs in the server process: test_cli.py starts it and talks to it over HTTP."""
    import uvicorn

    from fieldapp.hub.checkpoints import Checkpointer

    print(f"Hub API:      http://{host}:{port}/api/v1/health")
    print(f"OpenAPI:      http://{host}:{port}/openapi.json")
    print(f"Console API:  http://{host}:{port}/api/v1/console/sign-in")
    print("Console and field app: not built yet (later issues).", flush=True)
    # Everything made so far lives as long as the server: left out of the garbage collector's
    # full passes, which would otherwise walk it all every few hundred pushes (on this
    # machine, a 100 ms pause that was the slowest pushes' time under load).
    gc.collect()
    gc.freeze()
    with Checkpointer(engine):
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fieldapp-hub", description=__doc__.split("\n")[0])
    parser.add_argument("--db", default=os.environ.get("HUB_DB", DEFAULT_DB))
    parser.add_argument("--key", type=Path, default=Path(os.environ.get("HUB_KEY", "hub.key")))
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("init", help="create the database and the hub's key")
    commands.add_parser("migrate", help="upgrade the database's schema to this hub's")
    school = commands.add_parser("school").add_subparsers(dest="action", required=True)
    add_school = school.add_parser("add")
    add_school.add_argument("school_id")
    add_school.add_argument("--name", required=True)
    add_school.add_argument("--pack", required=True, choices=pack_ids())
    staff = commands.add_parser("staff").add_subparsers(dest="action", required=True)
    add_staff = staff.add_parser("add")
    add_staff.add_argument("school_id")
    add_staff.add_argument("staff_id")
    add_staff.add_argument("--name", required=True)
    add_staff.add_argument("--role", required=True, choices=("reception", "dsl", "staff",
                                                             "admin"))
    add_staff.add_argument("--safeguarding-trained", action="store_true")
    add_staff.add_argument("--pack-role", action="append", default=[], dest="pack_roles",
                           help="a role in the school's pack whose sign-offs they give "
                           "(e.g. safeguarding_lead); repeat for several")
    roles = staff.add_parser("pack-roles", help="set the pack roles a member of staff holds")
    roles.add_argument("school_id")
    roles.add_argument("staff_id")
    roles.add_argument("roles", nargs="*")
    password = staff.add_parser("password", help="set a console password (read from stdin)")
    password.add_argument("school_id")
    password.add_argument("staff_id")
    code = commands.add_parser("enrol-code")
    code.add_argument("school_id")
    code.add_argument("staff_id")
    revoke = commands.add_parser("revoke")
    revoke.add_argument("school_id")
    revoke.add_argument("device_id")
    pack = commands.add_parser("pack").add_subparsers(dest="action", required=True)
    import_pack = pack.add_parser("import", help="validate a pack; with --school, make it "
                                  "that school's (phones get it on their next pull)")
    import_pack.add_argument("file", type=Path)
    import_pack.add_argument("--school")
    commands.add_parser("demo")
    serve = commands.add_parser("serve")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--retired-key", type=Path, action="append", default=[],
                       dest="retired_keys", help="a key the hub used before a rotation, to "
                       "open the records sealed to it (repeat for each)")
    args = parser.parse_args(argv)

    now = datetime.now(UTC)
    try:
        if args.command == "init":
            connect(args.db)
            keys = hub_keys(args.key, create=True)
            where = make_url(args.db).render_as_string(hide_password=True)
            print(f"hub ready: {where}; key fingerprint {keys.fingerprint()}")
        elif args.command == "migrate":
            print(f"database schema at revision {current(connect(args.db))}")
        elif args.command == "school":
            Directory(connect(args.db)).add_school(args.school_id, args.name, args.pack)
        elif args.command == "staff" and args.action == "password":
            Accounts(connect(args.db)).set_password(args.school_id, args.staff_id,
                                                    read_password())
        elif args.command == "staff" and args.action == "pack-roles":
            Directory(connect(args.db)).set_pack_roles(args.school_id, args.staff_id,
                                                       args.roles)
        elif args.command == "staff":
            directory = Directory(connect(args.db))
            directory.add_staff(args.school_id, args.staff_id, args.name, args.role,
                                args.safeguarding_trained)
            if args.pack_roles:
                directory.set_pack_roles(args.school_id, args.staff_id, args.pack_roles)
        elif args.command == "enrol-code":  # the enrolment slip: the code, and the key to pin
            print(Directory(connect(args.db)).enrol_code(args.school_id, args.staff_id, now))
            print(f"hub key fingerprint: {hub_keys(args.key, create=False).fingerprint()}")
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
            serve_forever(*served_api(args.db, args.key, args.retired_keys), args.host,
                          args.port)
    except (DirectoryError, PackError, MigrationRefused) as error:
        print(f"fieldapp-hub: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
