"""`fieldapp-phone`: a phone without a screen, running exactly the code the app runs.

    FIELDAPP_PIN=... FIELDAPP_DURESS_PIN=... fieldapp-phone --data DIR enrol URL SLIP
    FIELDAPP_PIN=... fieldapp-phone --data DIR walk --journey let-in
    FIELDAPP_PIN=... fieldapp-phone --data DIR alert
    FIELDAPP_PIN=... fieldapp-phone --data DIR sync      # exit 0 only when nothing waits
    FIELDAPP_PIN=... fieldapp-phone --data DIR status    # JSON

The store is the app's: a key vault (PIN and duress PIN; no platform keystore here, so the
PIN alone protects it) and the encrypted store in DIR. `walk` records one of the pack's
journeys, from sign-out on, for a visit the school authorised (pulled from the hub), as the
app's screens would, one command at a time through the engine. `--clock-offset` sets the
phone's clock that many minutes from the machine's, for tests of phones whose clocks are out.

Exit codes: 0 done; 1 a bad request (a wrong PIN, no such visit, a refused command); 2 the
hub could not be reached or answered wrongly (nothing lost: sync again); 3 `sync` finished
with something still waiting (set aside by the hub); 4 this phone was revoked and wiped.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fieldapp.crypto.keystore import NoKeystore
from fieldapp.crypto.vault import DEFAULT_KDF, KDF_FLOOR, ScryptParams, Vault, VaultError
from fieldapp.domain import commands as c
from fieldapp.domain.events import Author
from fieldapp.domain.journeys import JOURNEYS, Visit
from fieldapp.domain.journeys import Step as JourneyStep
from fieldapp.domain.lifecycle import OUT, IllegalTransition, Phase
from fieldapp.domain.policy import Pack
from fieldapp.domain.state import VisitState, fold
from fieldapp.store.repository import Repository
from fieldapp.store.session import OpenStore, open_store
from fieldapp.store.visits import record, walk_journey
from fieldapp.sync.client import (
    EnrolmentError,
    NotEnrolled,
    Revoked,
    SyncClient,
    SyncError,
    duress_sender,
    enrol,
    enrolment_of,
    pack_of,
)
from fieldapp.sync.slip import SlipError

VAULT = "vault"


class PhoneError(Exception):
    """A request the phone refuses; the message says why."""


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    clock = _clock(args.clock_offset)
    try:
        return run(args, clock)
    except Revoked as revoked:
        print(revoked.say, file=sys.stderr)
        return 4
    except SyncError as failure:
        print(failure.say, file=sys.stderr)
        return 1 if isinstance(failure, NotEnrolled | EnrolmentError) else 2
    except (PhoneError, SlipError, VaultError, c.CommandError, IllegalTransition) as refused:
        print(f"refused: {refused}", file=sys.stderr)
        return 1


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="fieldapp-phone", description=__doc__.split("\n\n")[0])
    top.add_argument("--data", type=Path, required=True, help="the phone's own directory")
    top.add_argument("--clock-offset", type=float, default=0.0, metavar="MINUTES",
                     help="the phone's clock, this many minutes from the machine's")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    enrolling = commands.add_parser("enrol", help="set the PINs up (first run) and enrol "
                                    "with the hub, using the slip's code")
    enrolling.add_argument("url", help="the hub's address (https://, or http:// to this "
                           "machine)")
    enrolling.add_argument("slip", help="the slip code, as printed")
    enrolling.add_argument("--name", default="headless phone", help="the device's name")
    enrolling.add_argument("--again", action="store_true", help="enrol again, when the hub "
                           "says it does not know this phone (what it holds is kept)")
    enrolling.add_argument("--tls-pin", action="append", default=[], dest="tls_pins",
                           help="the hub's TLS key's SPKI pin, where the slip gives one "
                           "(repeat for the backup key's)")
    enrolling.add_argument("--kdf-cost", type=int, default=DEFAULT_KDF.n.bit_length() - 1,
                           help="scrypt's log2(N) for the PINs: below the vault's floor "
                           f"({KDF_FLOOR.n.bit_length() - 1}) only for tests and demos")
    walking = commands.add_parser("walk", help="record a journey for an authorised visit")
    walking.add_argument("--journey", choices=sorted(JOURNEYS), default="let-in")
    walking.add_argument("--visit", help="which visit (default: the first authorised)")
    walking.add_argument("--until", choices=sorted(STOPS), help="stop there (the visit is "
                         "then still out)")
    commands.add_parser("alert", help="use the safe phrase on the visit out")
    commands.add_parser("sync", help="sync once; exit 0 only when nothing is left waiting")
    commands.add_parser("status", help="sync status and the visits held, as JSON")
    return top


def run(args: argparse.Namespace, clock: Any) -> int:
    data: Path = args.data
    if args.command == "enrol":
        store = _first_run(data, args.kdf_cost, clock())
        try:
            if enrolment_of(store.repository) is not None and not args.again:
                raise PhoneError("this phone is enrolled already (`enrol --again` if the hub "
                                 "no longer knows it)")
            enrolment = enrol(store.repository, args.url, args.slip, args.name,
                              tls_pins=args.tls_pins)
            print(json.dumps({"enrolled": enrolment.device_id, "school": enrolment.school_name,
                              "staff": enrolment.staff_id}))
        finally:
            store.close()
        return 0
    store = _unlock(data, clock())
    wiped = False

    def wipe() -> None:
        nonlocal wiped
        wiped = True

    try:
        repository = store.repository
        client = SyncClient(repository, clock=clock, on_wipe=wipe)
        if args.command == "sync":
            report = client.sync()
            print(json.dumps(asdict(report)))
            return 0 if client.status().settled else 3
        if args.command == "status":
            print(json.dumps({**asdict(client.status()), "visits": _visits(repository)},
                             default=list))
            return 0
        author, pack = _me(repository)
        if args.command == "alert":
            out = [v for v, state in _states(repository) if state.phase in OUT]
            if not out:
                raise PhoneError("no visit is out: there is nothing to raise an alert on")
            record(repository, out[0], c.UseSafePhrase(), pack, author, clock())
            print(json.dumps({"alert": out[0]}))
            return 0
        return _walk(repository, pack, author, args, clock)
    finally:
        if wiped:
            store.repository.close()
            store.vault.wipe()
        else:
            store.close()


def _first_run(data: Path, kdf_cost: int, now: datetime) -> OpenStore:
    if not (data / VAULT / "vault.json").exists():
        Vault.create(data / VAULT, _pin("FIELDAPP_PIN"), _pin("FIELDAPP_DURESS_PIN"),
                     NoKeystore(), now, ScryptParams(n=2**kdf_cost),
                     kdf_floor=min(KDF_FLOOR, ScryptParams(n=2**kdf_cost), key=lambda p: p.n))
    return _unlock(data, now)


def _unlock(data: Path, now: datetime) -> OpenStore:
    try:
        vault = Vault.open(data / VAULT, NoKeystore())
    except VaultError:
        raise PhoneError(f"no phone set up in {data}: run `enrol` first") from None
    return open_store(vault, _pin("FIELDAPP_PIN"), now, duress_sender)


def _pin(name: str) -> str:
    pin = os.environ.get(name, "")
    if not pin:
        raise PhoneError(f"set {name} to the phone's PIN")
    return pin


def _me(repository: Repository) -> tuple[Author, Pack]:
    enrolment, pack = enrolment_of(repository), pack_of(repository)
    if enrolment is None or pack is None:
        raise PhoneError("this phone is not enrolled: run `enrol` first")
    return Author(enrolment.staff_id, enrolment.device_id), pack


def _states(repository: Repository) -> list[tuple[str, VisitState]]:
    states = [(visit_id, fold(repository.events(visit_id)))
              for visit_id in repository.visit_ids()]
    return sorted(states, key=lambda item: str(item[1].plan.get("scheduled_at", "")))


def _visits(repository: Repository) -> list[dict[str, Any]]:
    return [{"visit_id": visit_id, "phase": state.phase.value,
             "scheduled_at": state.plan.get("scheduled_at")}
            for visit_id, state in _states(repository)]


STOPS = {"sign-out": c.SignOut, "arrive": c.Arrive}


def _walk(repository: Repository, pack: Pack, author: Author, args: argparse.Namespace,
          clock: Any) -> int:
    authorised = [v for v, state in _states(repository) if state.phase is Phase.AUTHORISED]
    chosen = args.visit or (authorised[0] if authorised else None)
    if chosen is None or chosen not in authorised:
        raise PhoneError("no authorised visit to walk: sync first, or name one with --visit")
    journey, stop = JOURNEYS[args.journey], STOPS.get(args.until or "")

    def until(visit: Visit) -> Iterator[JourneyStep]:
        for step in journey(visit):
            yield step
            if stop is not None and isinstance(step[2], stop):
                return

    steps = [{"step": label, "accepted": decision.accepted, "findings": list(decision.codes())}
             for label, decision in walk_journey(repository, chosen, until, pack, author,
                                                 clock)]
    phase = fold(repository.events(chosen)).phase
    print(json.dumps({"visit": chosen, "phase": phase.value, "steps": steps}))
    return 0


def _clock(offset_minutes: float) -> Any:
    offset = timedelta(minutes=offset_minutes)
    return lambda: datetime.now(UTC) + offset


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
