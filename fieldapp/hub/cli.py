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
    fieldapp-hub migrate                             # upgrade the schema (only it does)
    fieldapp-hub backup /srv/backups/                # while it serves; 0600, verified
    fieldapp-hub --db sqlite:///restored.db restore /srv/backups/hub-2026-12-01T0200.db

The database is embedded SQLite by default; a trust running many schools passes
`--db postgresql+psycopg://host/db`. The hub's private key for opening sealed records is kept
beside the database in `--key` (created 0600 by `init`).
"""

from __future__ import annotations

import argparse
import errno
import logging
import math
import os
import secrets
import socket
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo
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


def demo(args: argparse.Namespace, engine: Engine, now: datetime | None = None) -> str:
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
    from fieldapp.hub.events_store import EventStore
    from fieldapp.sync.protocol import Push
    from fieldapp.sync.slip import slip_code

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


def retired(paths: Sequence[Path]) -> list[HubKeyPair]:
    """The keys a hub used before rotations."""
    from fieldapp.crypto.sealing import HubKeyPair

    keys = []
    for path in paths:
        if not path.exists():
            raise SystemExit(f"no retired hub key at {path}")
        keys.append(HubKeyPair.from_private_bytes(path.read_bytes()))
    return keys


def served_api(db: str, key: Path, retired_keys: Sequence[Path],
               access_log: bool = False) -> tuple[Engine, FastAPI]:
    """The API as `serve` runs it, on an engine whose SQLite log is checkpointed in the
    background (fieldapp.hub.checkpoints), opening records with the live key and with every
    retired key it is given."""
    from fieldapp.console.app import mount_console
    from fieldapp.hub.api import create_api
    from fieldapp.hub.events_store import open_hub

    live = hub_keys(key, create=False)
    old = retired(retired_keys)

    engine = open_hub(db, background_checkpoints=True)
    app = create_api(engine, live, retired_keys=old, access_log=access_log)
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
    commands.add_parser("rotate-key", help="retire the hub's key (kept beside it, to open and "
                        "take what was sealed to it) and make a new one; the hub must be "
                        "stopped")
    school = commands.add_parser("school", help="add a school").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    add_school = school.add_parser("add", help="add a school with a shipped pack or its own")
    add_school.add_argument("school_id", help="a short id, e.g. uplands")
    add_school.add_argument("--name", required=True, help="the school's full name")
    packed = add_school.add_mutually_exclusive_group(required=True)
    packed.add_argument("--pack", choices=pack_ids(), help="one of the shipped policy packs")
    packed.add_argument("--pack-file", type=Path, help="the school's own pack (checked first)")
    school.add_parser("list", help="every school the hub serves, with its pack")
    gone = school.add_parser("remove", help="delete everything the hub holds of a school "
                             "(for good; refused while the DSL holds any visit)")
    gone.add_argument("school_id")
    gone.add_argument("--confirm", required=True, help="the school's id again")
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
    listing = staff.add_parser("list", help="a school's staff: role, training, mobile, "
                               "sign-offs, console login")
    listing.add_argument("school_id")
    leaver = staff.add_parser("remove", help="a member of staff who has left: their phones "
                              "revoked (sync them first), their login and mobile gone; their "
                              "name stays on the visits they made")
    leaver.add_argument("school_id")
    leaver.add_argument("staff_id")
    unlock = staff.add_parser("unlock", help="lift every lock on their console sign-in, "
                              "keeping their password")
    unlock.add_argument("school_id")
    unlock.add_argument("staff_id")
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
    code.add_argument("--cancel", action="store_true", help="instead, cancel every unused "
                      "code of theirs (a slip lost or given to the wrong person)")
    phones = commands.add_parser("device", help="a school's phones").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    phones.add_parser("list", help="a school's phones, revoked ones too, and the enrolment "
                      "codes not used yet").add_argument("school_id")
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
    backup = commands.add_parser("backup", help="back the database up while the hub runs, "
                                 "0600, verified (SQLite's online backup; pg_dump)")
    backup.add_argument("dest", type=Path, help="a file, or a folder (made 0700 if missing) "
                        "to hold hub-<date and time>.db (.dump for PostgreSQL)")
    check = commands.add_parser("check", help="prove a database or a restored backup: "
                                "integrity, schema, counts, every event read, every sealed "
                                "record opened with --key and each --retired-key")
    restore = commands.add_parser("restore", help="restore a backup into a new database "
                                  "(--db: a SQLite file not there yet, or an empty PostgreSQL "
                                  "database), check it, and give it a new database id")
    restore.add_argument("backup", type=Path)
    for proving in (check, restore):
        proving.add_argument("--retired-key", type=Path, action="append", default=[],
                             dest="retired_keys", help="a key retired by a rotation (repeat)")
    kept = commands.add_parser("retention", help="how long each kind of record is kept, and "
                               "deleting what has been kept long enough").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    for action, words in (("show", "the rules, the holds, and what a run would delete now"),
                          ("run", "delete what the rules say has been kept long enough (run "
                           "it daily); without --school, every school")):
        shown = kept.add_parser(action, help=words)
        shown.add_argument("--school", dest="school_id")
    rule = kept.add_parser("set", help="how long a kind of record is kept: routine visits, "
                           "safeguarding visits (a concern or an alert raised), or "
                           "audit entries")
    rule.add_argument("school_id")
    rule.add_argument("kind", choices=("routine", "safeguarding", "audit"))
    keep = rule.add_mutually_exclusive_group(required=True)
    keep.add_argument("--years", type=int, help="this many years after the visit ended")
    keep.add_argument("--until-age", type=int, help="until the child is this old (needs "
                      "the child's date of birth: `retention born`)")
    keep.add_argument("--keep", action="store_true", help="no rule: kept")
    born = kept.add_parser("born", help="a child's date of birth, for --until-age rules")
    born.add_argument("school_id")
    born.add_argument("child_ref")
    born.add_argument("born", type=date.fromisoformat, help="YYYY-MM-DD")
    hold = commands.add_parser("hold", help="keep a visit whatever the rules say, and from "
                               "erasure (the console's DSL does this too)")
    hold.add_argument("school_id")
    hold.add_argument("visit_id")
    holding = hold.add_mutually_exclusive_group(required=True)
    holding.add_argument("--reason", help="why it is kept (a case, a court, an inquiry)")
    holding.add_argument("--release", action="store_true", help="let it go")
    erase = commands.add_parser("erase", help="erase every visit to one child on request, "
                                "except those on hold (for good)")
    erase.add_argument("school_id")
    erase.add_argument("child_ref", help="the school's reference for the child")
    erase.add_argument("--confirm", required=True, help="the child's reference again")
    access = commands.add_parser("subject-access", help="everything held about one child, "
                                 "as JSON and PDF (0600), for a subject access request")
    access.add_argument("school_id")
    access.add_argument("child_ref")
    access.add_argument("out", type=Path, help="the folder to write them to (made 0700)")
    access.add_argument("--retired-key", type=Path, action="append", default=[],
                        dest="retired_keys", help="a key retired by a rotation (repeat)")
    serve = commands.add_parser("serve", help="serve the sync API and the console")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--retired-key", type=Path, action="append", default=[],
                       dest="retired_keys", help="a key the hub used before a rotation, to "
                       "open the records sealed to it (repeat for each)")
    serve.add_argument("--access-log", action="store_true", help="a line per request on "
                       "stderr: time, method, route, status, duration; never an address, "
                       "an id, a query or a token")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return run(args)
    except BrokenPipeError:  # pragma: no cover - test_cli.py pipes a command into head
        # `... | head -1`: the reader has gone; nothing to say, and nothing more to write
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def rotate_key(key: Path, now: datetime) -> str:
    """Move the live key aside as retired (never deleted: it opens what was sealed to it) and
    make a new one; say what to do next."""
    old = hub_keys(key, create=False)
    retired_at = key.with_name(f"{key.name}.retired-{now:%Y%m%dT%H%M%S}")
    os.link(key, retired_at)  # the old key is never missing, whatever happens between
    key.unlink()
    new = hub_keys(key, create=True)
    return "\n".join([
        f"retired key {old.fingerprint()}: kept at {retired_at} (back it up with the live one)",
        f"new key {new.fingerprint()}: at {key}",
        f"Start the hub with `--retired-key {retired_at}` (and every earlier retired key):",
        "it opens the records sealed to the old key and takes those phones still send.",
        "Then give each phone a new slip (`enrol-code`) and enrol it again: it keeps its",
        "records and its device, and seals to the new key from then on."])


def who() -> tuple[str, str]:
    """Whoever runs a command, as the audit log names them: the system account (`cli:<user>`),
    as an operator (the console's actions name the member of staff and their role)."""
    import getpass

    return f"cli:{getpass.getuser()}"[:64], "operator"


def operator(engine: Engine, school_id: str, action: str, subject: str,
             now: datetime) -> None:
    """An administrator's command, in the school's audit log."""
    from fieldapp.hub.audit import AuditLog

    AuditLog(engine).record(school_id, now, *who(), action, subject[:128])


def retention(args: argparse.Namespace, engine: Engine, now: datetime) -> int:
    """The `retention`, `hold`, `erase` and `subject-access` commands."""
    from fieldapp.hub.directory import Directory
    from fieldapp.hub.retention import Retention, Rule

    kept = Retention(engine)
    schools = ([args.school_id] if getattr(args, "school_id", None)
               else [school_id for school_id, _name, _pack in Directory(engine).schools()])
    for school_id in schools:
        Directory(engine).school(school_id)
    if args.command == "hold":
        if args.release:
            kept.release(args.school_id, args.visit_id, now, who())
        else:
            kept.hold(args.school_id, args.visit_id, args.reason or "", now, who())
    elif args.command == "erase":
        if args.confirm != args.child_ref:
            print(f"fieldapp-hub: erasing is for good: repeat the child's reference with "
                  f"--confirm {args.child_ref} to go ahead; nothing was erased",
                  file=sys.stderr)
            return 1
        gone, held = kept.erase_child(args.school_id, args.child_ref, now, who())
        print(f"erased {len(gone)} visit{'s' * (len(gone) != 1)} to {args.child_ref}: "
              f"{', '.join(gone) or 'none'}")
        if held:
            print(f"kept, on hold by the DSL: {', '.join(held)}")
        print("Backups taken before now still hold them until they expire.")
    elif args.command == "subject-access":
        import json

        from fieldapp.hub import exports

        found = kept.subject_access(args.school_id, args.child_ref,
                                    [hub_keys(args.key, create=False),
                                     *retired(args.retired_keys)], now, who())
        args.out.mkdir(mode=0o700, parents=True, exist_ok=True)
        stem = args.out / f"subject-access-{args.school_id}-{args.child_ref}-{now:%Y%m%d}"
        pack = Directory(engine).pack(args.school_id).pack
        for path, data in ((stem.with_suffix(".json"), json.dumps(found, indent=2).encode()),
                           (stem.with_suffix(".pdf"), exports.subject_access_pdf(found, pack))):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as file:
                file.write(data)
            print(f"written: {path}")
    elif args.action == "set":
        kept.set_rule(args.school_id, Rule(args.kind, args.years, args.until_age), now, who())
    elif args.action == "born":
        kept.set_born(args.school_id, args.child_ref, args.born, now, who())
    else:  # show, run
        for school_id in schools:
            rules = kept.rules(school_id)
            due = (kept.expire(school_id, now, who()) if args.action == "run"
                   else kept.due(school_id, now))
            print(f"{school_id}: " + "; ".join(f"{kind} {rule.words()}"
                                              for kind, rule in rules.items()))
            verb = "deleted" if args.action == "run" else "due now"
            print(f"  {verb}: {len(due.expired)} visits"
                  + (f" ({', '.join(f.visit_id for f in due.expired)})" if due.expired else "")
                  + (f"; {due.audit_entries} audit entries" if due.audit_entries else ""))
            for facts, why in due.kept:
                print(f"  kept {facts.visit_id}: {why}")
            for visit_id, hold in kept.holds(school_id).items():
                print(f"  on hold {visit_id}: by {hold.staff_id}, {hold.reason}")
    return 0


def list_staff(engine: Engine, school_id: str, now: datetime) -> None:
    from fieldapp.hub.accounts import Accounts
    from fieldapp.hub.directory import Directory

    directory = Directory(engine)
    directory.school(school_id)
    logins = Accounts(engine).logins(school_id, now)
    for member in directory.staff(school_id):
        login = ("no console login" if member.staff_id not in logins else "console login"
                 + (" (locked for new browsers)" if logins[member.staff_id] else ""))
        print("\t".join([member.staff_id, member.name, member.role,
                         "trained" if member.safeguarding_trained else "not trained",
                         member.mobile or "no mobile",
                         "signs off as " + ", ".join(member.pack_roles) if member.pack_roles
                         else "no sign-offs", login]))


def list_devices(directory: Directory, school_id: str, now: datetime) -> None:
    directory.school(school_id)
    for phone in directory.devices(school_id):
        revoked = phone["revoked_at"]
        print("\t".join([phone["device_id"], phone["staff_id"], phone["name"],
                         f"enrolled {phone['enrolled_at']:%Y-%m-%d %H:%M}",
                         f"REVOKED {revoked:%Y-%m-%d %H:%M}" if revoked else "active"]))
    for staff_id, expires in directory.unused_codes(school_id, now):
        print(f"unused enrolment code\t{staff_id}\texpires {expires:%Y-%m-%d %H:%M} UTC")


def initialise(url: str) -> Engine:
    """`init`: a new hub's database (a missing or empty one is made at this hub's schema); a
    hub's database already there is kept as it is, and must be at this hub's schema."""
    from fieldapp.hub import migrate
    from fieldapp.hub.events_store import connect

    engine = connect(url, upgrade=False)
    if migrate.is_empty(engine):
        migrate.upgrade(engine)
    migrate.require_head(engine)
    return engine


def run(args: argparse.Namespace) -> int:
    from fieldapp.domain.policy import PackError, load_pack
    from fieldapp.hub.backup import BackupError
    from fieldapp.hub.directory import Directory, DirectoryError
    from fieldapp.hub.events_store import open_hub
    from fieldapp.hub.migrate import MigrationRefused, upgrade

    now = datetime.now(UTC)
    try:
        if args.command == "init":
            keys = hub_keys(args.key, create=True)
            from fieldapp.hub.migrate import where

            print(f"hub ready: {where(initialise(args.db))}; key fingerprint "
                  f"{keys.fingerprint()}")
        elif args.command == "migrate":  # the one command that changes the schema
            from fieldapp.hub.running import stopped

            engine = open_hub(args.db, at_head=False)
            with stopped(engine, "migrate"):
                print(f"database schema at revision {upgrade(engine)}")
        elif args.command == "rotate-key":
            from fieldapp.hub.running import stopped

            with stopped(open_hub(args.db), "rotate-key"):
                print(rotate_key(args.key, now))
        elif args.command == "school" and args.action == "remove":
            from fieldapp.hub.retention import Retention

            engine = open_hub(args.db)
            Directory(engine).school(args.school_id)
            if args.confirm != args.school_id:
                print(f"fieldapp-hub: removing a school is for good: repeat its id with "
                      f"--confirm {args.school_id} to go ahead; nothing was deleted",
                      file=sys.stderr)
                return 1
            deleted = Retention(engine).remove_school(args.school_id)
            print(f"{args.school_id} removed by {who()[0]}: " + ", ".join(
                f"{count} {table}" for table, count in sorted(deleted.items())))
        elif args.command == "school" and args.action == "list":
            for school_id, name, pack_id in Directory(open_hub(args.db)).schools():
                print(f"{school_id}\t{name}\tpack {pack_id}")
        elif args.command == "school":
            directory = Directory(open_hub(args.db))
            if args.pack_file:  # a school with its own pack: checked, then added with it
                text = args.pack_file.read_text(encoding="utf-8")
                own = load_pack(args.pack_file)
                directory.add_school(args.school_id, args.name, own.id)
                directory.import_pack(args.school_id, text, now)
            else:
                directory.add_school(args.school_id, args.name, args.pack)
            operator(directory.engine, args.school_id, "add_school", args.school_id, now)
        elif args.command == "staff" and args.action == "remove":
            directory = Directory(open_hub(args.db))
            revoked = directory.remove_staff(args.school_id, args.staff_id, now)
            operator(directory.engine, args.school_id, "remove_staff", args.staff_id, now)
            print(f"{args.staff_id} has left: {revoked} phone{'s' * (revoked != 1)} revoked")
        elif args.command == "staff" and args.action == "list":
            list_staff(open_hub(args.db), args.school_id, now)
        elif args.command == "staff" and args.action in ("password", "unlock"):
            from fieldapp.hub.accounts import Accounts

            accounts = Accounts(open_hub(args.db))
            if args.action == "unlock":
                accounts.unlock(args.school_id, args.staff_id)
            else:
                accounts.set_password(args.school_id, args.staff_id, read_password())
            operator(accounts.engine, args.school_id, "unlock_login" if args.action == "unlock"
                     else "set_password", args.staff_id, now)
        elif args.command == "staff" and args.action == "pack-roles":
            directory = Directory(open_hub(args.db))
            directory.set_pack_roles(args.school_id, args.staff_id, args.roles)
            operator(directory.engine, args.school_id, "set_pack_roles", args.staff_id, now)
        elif args.command == "staff":
            directory = Directory(open_hub(args.db))
            directory.add_staff(args.school_id, args.staff_id, args.name, args.role,
                                args.safeguarding_trained, args.mobile)
            if args.pack_roles:
                directory.set_pack_roles(args.school_id, args.staff_id, args.pack_roles)
            operator(directory.engine, args.school_id, "add_staff", args.staff_id, now)
        elif args.command == "enrol-code" and args.cancel:
            directory = Directory(open_hub(args.db))
            cancelled = directory.cancel_codes(args.school_id, args.staff_id, now)
            operator(directory.engine, args.school_id, "cancel_enrol_codes", args.staff_id, now)
            print(f"{cancelled} unused enrolment code{'s' * (cancelled != 1)} of "
                  f"{args.staff_id} cancelled")
        elif args.command == "enrol-code":  # the enrolment slip: the code, and the key's check
            from fieldapp.sync.slip import slip_code

            keys = hub_keys(args.key, create=False)
            directory = Directory(open_hub(args.db))
            code = directory.enrol_code(args.school_id, args.staff_id, now)
            operator(directory.engine, args.school_id, "enrol_code", args.staff_id, now)
            print(slip_code(code, keys.public_bytes()))
            print(f"hub key fingerprint: {keys.fingerprint()}")
        elif args.command == "device":
            list_devices(Directory(open_hub(args.db)), args.school_id, now)
        elif args.command == "contacts":
            from fieldapp.hub.directory import Contacts

            directory = Directory(open_hub(args.db))
            directory.set_contacts(args.school_id, Contacts(
                args.reception, args.school_phone, args.dsl_mobile, args.office_hours), now)
            operator(directory.engine, args.school_id, "set_contacts", args.school_id, now)
        elif args.command == "revoke":
            directory = Directory(open_hub(args.db))
            directory.revoke(args.school_id, args.device_id, now)
            operator(directory.engine, args.school_id, "revoke_device", args.device_id, now)
        elif args.command == "pack":
            loaded = load_pack(args.file)
            print(f"{args.file.name}: pack '{loaded.id}' for {loaded.school} is valid")
            if args.school:
                directory = Directory(open_hub(args.db))
                imported = directory.import_pack(args.school, args.file.read_text(
                    encoding="utf-8"), now)
                operator(directory.engine, args.school, "import_pack", imported.version, now)
                print(f"now {args.school}'s pack (version {imported.version}); phones get it "
                      "on their next sync")
        elif args.command == "backup":
            from fieldapp.hub.backup import backup

            written, report = backup(args.db, args.dest, now)
            print("\n".join([*report.lines, f"backup written and verified: {written} "
                              f"({written.stat().st_size:,} bytes, readable by its owner "
                              "only)"]))
        elif args.command in ("check", "restore"):
            from fieldapp.hub.backup import check, restore

            held = [hub_keys(args.key, create=False), *retired(args.retired_keys)]
            report = (check(args.db, held) if args.command == "check"
                      else restore(args.backup, args.db, held))
            print("\n".join(report.lines))
            if report.problems:
                return 1
            print("restored and checked: start the hub on it" if args.command == "restore"
                  else "check: ok")
        elif args.command in ("retention", "hold", "erase", "subject-access"):
            return retention(args, open_hub(args.db), now)
        elif args.command == "demo":
            hub_keys(args.key, create=True)
            print(demo(args, initialise(args.db)))
        else:  # serve
            if not port_free(args.host, args.port):
                print(f"fieldapp-hub: port {args.port} on {args.host} is in use (another hub?): "
                      f"choose another, e.g. `--port {args.port + 1}` (`make run PORT="
                      f"{args.port + 1}`)", file=sys.stderr)
                return 1
            from fieldapp.hub.running import serving

            engine, app = served_api(args.db, args.key, args.retired_keys, args.access_log)
            if args.access_log:
                from fieldapp.hub.access_log import LOGGER

                LOGGER.setLevel("INFO")
                LOGGER.addHandler(logging.StreamHandler())
            with serving(engine):
                serve_forever(engine, app, args.host, args.port)
    except (DirectoryError, PackError, MigrationRefused, BackupError) as error:
        print(f"fieldapp-hub: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
