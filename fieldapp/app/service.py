"""The phone's one service: what every screen calls, and the only way a screen reaches the
vault, the store, the engine and the hub.

A tap goes: gather (fold the visit as stored) -> decide -> stamp -> append (durable before
the call returns) -> the screen re-renders from `guide(visit)`. Screens hold no policy: they
show `guide`, collect values for an action's fields and call `act`; a refusal comes back as
a Decision whose findings carry the engine's reason and the policy's words.

It holds the vault, the open store (None while locked), and the sync client. Storage and
hub failures come out as `ServiceError`s with a message a person can act on; nothing already
saved is lost by one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

import httpx

from fieldapp.crypto.keystore import Keystore
from fieldapp.crypto.storage import StoreError
from fieldapp.crypto.vault import (
    DEFAULT_KDF,
    KDF_FLOOR,
    WHY_LONG,
    ScryptParams,
    Vault,
    VaultError,
    WeakPin,
    Wiped,
)
from fieldapp.domain import commands as c
from fieldapp.domain.events import Author
from fieldapp.domain.facts import not_at_home_text, safe_phrase
from fieldapp.domain.findings import Decision, refused
from fieldapp.domain.forms import (
    call_addresses,
    command_for,
    reception_refusal,
    with_contacts,
    with_reception,
)
from fieldapp.domain.guide import Stage, WhatNow, what_now
from fieldapp.domain.lifecycle import OUT, IllegalTransition, Phase
from fieldapp.domain.policy import Pack, PackError
from fieldapp.domain.state import VisitState, fold
from fieldapp.store.repository import EncryptedRepository
from fieldapp.store.session import OpenStore, open_store
from fieldapp.store.visits import record
from fieldapp.sync.client import (
    Enrolment,
    Offline,
    Revoked,
    Status,
    SyncClient,
    SyncError,
    duress_sender,
    enrol,
    enrolment_of,
    pack_of,
)
from fieldapp.sync.loop import SyncLoop
from fieldapp.sync.slip import SlipError

VAULT: Final = "vault"
Clock = Callable[[], datetime]


class Setup(StrEnum):
    """Where the phone is in being set up, which decides the first screen."""

    NEW = "new"  # no PINs yet
    LOCKED = "locked"  # set up: the PIN opens it
    NOT_ENROLLED = "not_enrolled"  # open, but not yet enrolled with the school's hub
    READY = "ready"


class ServiceError(Exception):
    """What went wrong, in words to show. Nothing already saved was lost."""


class NotOpen(ServiceError):
    """The phone is locked (or was wiped): unlock first."""


@dataclass(frozen=True, slots=True)
class Card:
    """A visit on Today: what a person needs to pick it out."""

    visit_id: str
    at: datetime
    when: str  # "Tue 3 Mar, 10:30" on the school's clock
    child: str  # first name and initial
    address: str
    purpose: str
    risk: str  # the assessed level, "" if none
    partner: str  # the other member of staff (or "on your own")
    stage: Stage
    out: bool  # signed out and not yet back


@dataclass(frozen=True, slots=True)
class Call:
    """The safe-phrase call (or 999): stored first, then dialled."""

    kind: str  # "safe_phrase" | "emergency"
    phrase: str  # what to say, large on screen ("" for 999)
    number: str
    tel: str
    sms: str  # the fallback when the call cannot be placed
    decision: Decision


@dataclass(frozen=True, slots=True)
class Settings:
    school: str
    staff: str
    device: str
    reception: str
    school_phone: str
    lock_after_minutes: int
    hub: str
    protection: str  # how the data key is protected on this device


class PhoneService:
    def __init__(self, data: Path, keystore: Keystore, clock: Clock = lambda: datetime.now(UTC),
                 transport: httpx.BaseTransport | None = None,
                 kdf: ScryptParams = DEFAULT_KDF, kdf_floor: ScryptParams = KDF_FLOOR) -> None:
        self.data = Path(data)
        self.keystore = keystore
        self.clock = clock
        self.transport = transport
        self.kdf = kdf
        self.kdf_floor = kdf_floor  # lowered only by tests, which want a quick scrypt
        self._store: OpenStore | None = None
        self._tap = threading.Lock()  # one tap at a time: gather, decide, stamp, append
        # The clock is read and the idle time judged in one step: a check that read the clock
        # just before a tap stamped a later time would see time go back, and lock.
        self._idle = threading.Lock()
        self.wiped = False  # the school revoked this phone: its data is gone
        self._syncing: SyncLoop | None = None  # in the background, while open and enrolled
        self._listeners: list[Callable[[], None]] = []  # told when a background sync ends

    # --- setting up, locking ------------------------------------------------------------

    def setup(self) -> Setup:
        if self._store is None:
            return Setup.LOCKED if (self.data / VAULT / "vault.json").exists() else Setup.NEW
        return Setup.READY if enrolment_of(self._store.repository) else Setup.NOT_ENROLLED

    def create(self, pin: str, duress_pin: str) -> None:
        """First run: the PIN and the duress PIN (WeakPin says why one is refused)."""
        Vault.create(self.data / VAULT, pin, duress_pin, self.keystore, self.clock(), self.kdf,
                     self.kdf_floor)
        self.unlock(pin)

    def unlock(self, pin: str) -> None:
        """Open the store. WrongPin (with the attempts left), Wiped, KeystoreNotAnswering and
        the other VaultErrors pass through. The duress PIN opens it the same way."""
        vault = Vault.open(self.data / VAULT, self.keystore)
        self._store = open_store(vault, pin, self.clock(), duress_sender)
        self.wiped = False

    def change_pin(self, pin: str, new_pin: str, again: str) -> None:
        """A new PIN in place of `pin`; the duress PIN stays. WeakPin says why a new one is
        refused (the repeat differs, too easy, the duress PIN); WrongPin counts as a wrong
        unlock does, and the last one wipes the phone (Wiped: set up again)."""
        store = self._store
        if store is None:
            raise NotOpen("the phone is locked: unlock it with your PIN")
        if new_pin != again:
            raise WeakPin("the new PIN and its repeat differ: type the same PIN twice")
        try:
            store.vault.change_pin(pin, new_pin)
        except Wiped:  # the vault deleted the keys and the files: let the store go
            self._let_go()
            store.close(wiped=True)
            self.wiped = True
            raise

    def lock(self) -> None:
        store = self._let_go()
        if store is not None:
            store.session.lock()
            store.close()

    def _let_go(self) -> OpenStore | None:
        """Stop syncing and take the open store away from the screens: a tap being saved is
        saved first. The caller closes what it gets."""
        self._stop_syncing()
        with self._tap:
            store, self._store = self._store, None
        return store

    def touch(self) -> bool:
        """A tap: keep the phone open. False (and locked) once the school's idle time passed."""
        store = self._store
        return store is not None and not self._idle_passed(store, tap=True)

    def idle_lock(self) -> bool:
        """Lock if the school's idle time has passed since the last tap; True if locked."""
        store = self._store
        if store is not None:
            self._idle_passed(store, tap=False)
        return self._store is None

    def _idle_passed(self, store: OpenStore, tap: bool) -> bool:
        """Lock if the idle time has passed (True), else count a `tap` from now. The clock
        is read and judged in one step (see `_idle`)."""
        after = self.lock_after()
        with self._idle:
            now = self.clock()
            locked = store.session.is_locked(now, after)
            if tap and not locked:
                store.session.touch(now)
        if locked:
            self.lock()
        return locked

    def lock_after(self) -> int:
        pack = self._pack_or_none()
        return pack.lock_after_minutes if pack else 5

    @property
    def repository(self) -> EncryptedRepository:
        if self._store is None:
            raise NotOpen("the phone is locked: unlock it with your PIN")
        return self._store.repository

    # --- enrolment ------------------------------------------------------------------------

    def enrol(self, url: str, slip: str, device_name: str = "phone") -> Enrolment:
        try:
            return enrol(self.repository, url.strip(), slip, device_name, self.transport)
        except SlipError as error:
            raise ServiceError(f"The code is not right: {error}. Type it as printed on the "
                               "slip.") from None
        except ValueError as error:
            raise ServiceError(str(error)) from None
        except Offline:
            raise ServiceError(f"The school's hub did not answer at {url.strip()}: check the "
                               "address and that the phone has signal, then try again.") \
                from None
        except SyncError as failure:
            raise ServiceError(failure.say) from None

    # --- the visits -----------------------------------------------------------------------

    def me(self) -> Author:
        enrolment = enrolment_of(self.repository)
        if enrolment is None:
            raise NotOpen("this phone is not enrolled with the school yet")
        return Author(enrolment.staff_id, enrolment.device_id)

    def pack(self) -> Pack:
        _ = self.repository  # locked: NotOpen says so
        pack = self._pack_or_none()
        if pack is None:
            raise NotOpen("this phone is not enrolled with the school yet")
        return pack

    def _pack_or_none(self) -> Pack | None:
        if self._store is None:
            return None
        repository = self._store.repository
        try:
            pack = pack_of(repository)
        except PackError:  # kept only once it parsed: a damaged store, said so
            raise ServiceError("the school's policy on this phone cannot be read: sync "
                               "again to fetch it") from None
        return None if pack is None else with_contacts(pack, repository.get("contacts"))

    def state(self, visit_id: str) -> VisitState:
        return fold(self.repository.events(visit_id))

    def today(self) -> list[Card]:
        """The visits this person is on, out ones first, then by time."""
        me, pack = self.me(), self.pack()
        cards = []
        for visit_id in self.repository.visit_ids():
            state = self.state(visit_id)
            if state.phase is Phase.NEW or not any(s.staff_id == me.staff_id
                                                   for s in state.staff):
                continue
            cards.append(_card(state, pack, me, self.clock()))
        return sorted(cards, key=lambda card: (not card.out, card.at))

    def guide(self, visit_id: str) -> WhatNow:
        pack = self.pack()
        return with_reception(what_now(self.state(visit_id), pack, self.clock(), by=self.me()),
                              pack)

    def act(self, visit_id: str, action: str, values: Mapping[str, Any]) -> Decision:
        """Send `action` with the values staff filled in; FormError (a ValueError) names a
        field to put right; a refusal is a Decision with the engine's reasons."""
        guide = self.guide(visit_id)
        offered = guide.action(action)
        if offered is None:
            raise ServiceError(f"'{action.replace('_', ' ')}' is not possible at this stage")
        if not offered.open:
            return refused(*offered.refusals)
        pack = self.pack()
        command = command_for(offered, values, self.clock(), pack.hours.zone)
        return self._record(visit_id, command)

    def answer(self, visit_id: str, item: str, yes: bool) -> Decision:
        """An answer to the checklist's question (changeable until the next step)."""
        return self._record(visit_id, c.Answer(item, yes))

    def call(self, visit_id: str, kind: str,
             position: tuple[float, float] | None = None) -> Call:
        """The safe phrase (one tap) or 999: the alert is stored first, then the screen dials
        `tel` (and falls back on `sms`). Refused with no number to dial."""
        pack = self.pack()
        state = self.state(visit_id)
        if state.phase not in OUT:
            raise ServiceError("help calls are for when you are out on a visit")
        if kind == "emergency":
            number, phrase = pack.contacts.emergency or "999", ""
            decision = self._record(visit_id, c.EmergencyCall(position))
        else:
            missing = reception_refusal(pack)
            if missing is not None:
                raise ServiceError(missing.say)
            number, phrase = pack.contacts.reception_phone, safe_phrase(state, pack)
            decision = self._record(visit_id, c.UseSafePhrase(position))
        tel, sms = call_addresses(number, visit_id[:8])
        return Call(kind, phrase, number, tel, sms, decision)

    def safe_phrase(self, visit_id: str) -> str:
        return safe_phrase(self.state(visit_id), self.pack())

    def note_text(self) -> str:
        return not_at_home_text(self.pack())

    def _record(self, visit_id: str, command: c.Command) -> Decision:
        with self._tap:
            try:
                return record(self.repository, visit_id, command, self.pack(), self.me(),
                              self.clock())
            except (c.CommandError, IllegalTransition) as error:
                raise ServiceError(str(error)) from None
            except (StoreError, OSError) as error:
                raise ServiceError("This could not be saved on the phone "
                                   f"({type(error).__name__}): nothing saved before it is "
                                   "lost. Try again; if it fails again, phone the school.") \
                    from None

    # --- sync and settings ----------------------------------------------------------------

    def sync_client(self) -> SyncClient:
        """The sync client for the open store; a revoked phone wipes itself through it."""
        return SyncClient(self.repository, self.transport, self.clock, self.wipe)

    def sync(self) -> Status:
        """Sync now; the status after it. A hub out of reach is not an error: it is said in
        the status (`last_failure`), and everything waits on the phone."""
        client = self.sync_client()
        try:
            client.sync()
        except Revoked as revoked:
            raise ServiceError(revoked.say) from None
        except SyncError:
            pass
        return client.status()

    def status(self) -> Status:
        return self.sync_client().status()

    def sync_soon(self) -> None:
        """Sync in the background, now: the phone was unlocked or came back to the front, an
        alert was raised, a minute passed with the app open. One loop while the phone is open
        (fieldapp.sync.loop): one sync at a time, again every minute while anything waits,
        backing off with jitter while the hub is out of reach. Nothing while locked."""
        if self.setup() is not Setup.READY:
            return
        if self._syncing is None:
            self._syncing = SyncLoop(self.sync_client(), after=self._synced)
            self._syncing.start()  # it syncs at once
        else:
            self._syncing.trigger()

    def listen(self, listener: Callable[[], None]) -> Callable[[], None]:
        """`listener` is told (on the sync's thread) each time a background sync ends; the
        function returned stops telling it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners \
            else None

    def _synced(self) -> None:
        for listener in list(self._listeners):
            try:
                listener()
            except Exception:  # its screen is gone (a tab closed): not told again, and the
                self._listeners.remove(listener)  # sync goes on for the others

    def _stop_syncing(self) -> None:
        syncing, self._syncing = self._syncing, None
        if syncing is not None:  # not waited for: locking is never held up by the network
            syncing.stop(wait=False)

    def wipe(self) -> None:
        """The school revoked this phone: the keys and everything held go."""
        store = self._let_go()  # on the sync's thread: a tap on screen is saved first
        vault = Vault.open(self.data / VAULT, self.keystore) if store is None else store.vault
        if store is not None:
            store.repository.close()
        vault.wipe()
        self.wiped = True

    def settings(self) -> Settings:
        enrolment = enrolment_of(self.repository)
        pack = self._pack_or_none()
        assert self._store is not None  # repository said so
        return Settings(
            school=enrolment.school_name if enrolment else "",
            staff=enrolment.staff_id if enrolment else "",
            device=enrolment.device_id if enrolment else "",
            reception=pack.contacts.reception_phone if pack else "",
            school_phone=pack.contacts.school_phone if pack else "",
            lock_after_minutes=self.lock_after(),
            hub=enrolment.hub_url if enrolment else "",
            protection=self._store.vault.protection)


def _card(state: VisitState, pack: Pack, me: Author, now: datetime) -> Card:
    plan = state.plan
    when = datetime.fromisoformat(str(plan.get("scheduled_at"))).astimezone(pack.hours.zone)
    name = str(plan.get("child_name") or plan.get("child_ref") or "")
    first, _, rest = name.partition(" ")
    others = [s.name for s in state.staff if s.staff_id != me.staff_id]
    guide = what_now(state, pack, now, by=me)
    return Card(visit_id=state.visit_id, at=when, when=f"{when:%a %-d %b, %H:%M}",
                child=f"{first} {rest[:1]}." if rest else first,
                address=str(plan.get("address", "")), purpose=str(plan.get("purpose", "")),
                risk=str((state.risk or {}).get("level", "")),
                partner=" and ".join(others) or "on your own", stage=guide.stage,
                out=state.phase in OUT)


__all__ = ["WHY_LONG", "Call", "Card", "NotOpen", "PhoneService", "ServiceError", "Settings",
           "Setup", "VaultError", "Wiped"]
