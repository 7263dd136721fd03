"""Console sign-in at the hub: passwords kept only as scrypt hashes, sessions kept only as
token hashes, wrong passwords slowed down without letting anyone lock the real person out.

A member of staff signs in to their own school's console with their staff id and password and
gets a random session token (a school day long). Every request re-reads their role from the
directory, so a role taken away or a sign-out takes effect at once. Every refusal (a wrong
school, staff id or password, or a locked login) gets the same answer after the same work, so
the sign-in page does not tell who has an account.

Lockout, and why it cannot lock the real person out (OWASP's "device cookies"). A sign-in
answers a *console device* token with the session: the browser keeps it and sends it with its
next sign-ins. Wrong passwords are counted per device for a browser that has signed in to
this account before, and for every other browser together. Five in a row lock that counter
for 15 minutes: an attacker guessing from anywhere locks only the "unknown browsers" counter,
and the DSL's own browser, which holds its device token, still signs in. A member of staff on
a new browser while someone is guessing waits 15 minutes, or asks an admin for a new password
(which lifts every lock). Password hashing is memory-hard (128 MiB each at OWASP's cost), so
at most two run at once and eight wait; past that a sign-in is answered at once with `Busy`
(503, try again) instead of taking the hub's memory: this also caps guessing at the rate two
hashes allow (about 10 a second here, against a 12-character minimum password).
"""

from __future__ import annotations

import base64
import hmac
import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    ForeignKey,
    Integer,
    String,
    Table,
    delete,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.sql.elements import ColumnElement

from fieldapp.hub.directory import DirectoryError, as_utc, digest, require_staff, staff
from fieldapp.hub.events_store import metadata

MIN_PASSWORD: Final = 12
MAX_PASSWORD: Final = 200
LOCK_AFTER: Final = 5
LOCK_FOR: Final = timedelta(minutes=15)
SESSION_FOR: Final = timedelta(hours=10)
DEVICE_FOR: Final = timedelta(days=90)  # a console device token, from its last sign-in
HASHING: Final = 2  # password hashes at once (128 MiB each)
HASH_QUEUE: Final = 8  # sign-ins waiting for one, each at most HASH_WAIT seconds
HASH_WAIT: Final = 5.0
REFUSED: Final = ("wrong school, staff id or password (after 5 wrong passwords in a row, "
                  "sign-in from this browser waits 15 minutes)")
# OWASP's scrypt minimum is N=2^17, r=8, p=1; the cost is stored with each hash, so it can
# rise later without locking anyone out.
SCRYPT_LOG_N: Final = 17

console_logins: Final = Table(
    "console_logins", metadata,
    Column("staff_id", String(64), ForeignKey("staff.id"), primary_key=True),
    Column("password_hash", String(200), nullable=False),
    Column("failures", Integer, nullable=False, default=0),
    Column("locked_until", DateTime(timezone=True)),
)
# The browsers a member of staff has signed in from: each counts its own wrong passwords.
console_devices: Final = Table(
    "console_devices", metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("staff_id", String(64), ForeignKey("staff.id"), nullable=False, index=True),
    Column("failures", Integer, nullable=False, default=0),
    Column("locked_until", DateTime(timezone=True)),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)
console_sessions: Final = Table(
    "console_sessions", metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("staff_id", String(64), ForeignKey("staff.id"), nullable=False, index=True),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)


class SignInRefused(DirectoryError):
    """Wrong school, staff id or password, a locked login, or a session that has ended."""


class Busy(RuntimeError):
    """Too many sign-ins are being checked at once: try again in a moment."""


class HashGate:
    """At most `workers` password hashes at once and `queue` sign-ins waiting for one (each
    for at most `wait` seconds); any more is `Busy` at once, so that a flood of sign-ins
    costs the hub a bounded amount of memory and leaves it free to serve the board."""

    def __init__(self, workers: int = HASHING, queue: int = HASH_QUEUE,
                 wait: float = HASH_WAIT) -> None:
        self._slots = threading.BoundedSemaphore(workers)
        self._admitted = threading.BoundedSemaphore(workers + queue)
        self._wait = wait

    @contextmanager
    def slot(self) -> Iterator[None]:
        if not self._admitted.acquire(blocking=False):
            raise Busy("the hub is checking many sign-ins at once: try again in a moment")
        try:
            if not self._slots.acquire(timeout=self._wait):
                raise Busy("the hub is checking many sign-ins at once: try again in a moment")
            try:
                yield
            finally:
                self._slots.release()
        finally:
            self._admitted.release()


@dataclass(frozen=True, slots=True)
class ConsoleUser:
    school_id: str
    staff_id: str
    name: str
    role: str  # reception | dsl | staff | admin


@dataclass(frozen=True, slots=True)
class Session:
    token: str = field(repr=False)  # shown to the browser once; the hub keeps its hash
    user: ConsoleUser
    expires_at: datetime
    # the console device token: the browser sends it with its next sign-in
    device: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class _Counter:
    """The row that counts an attempt's wrong passwords."""

    table: Table
    mine: ColumnElement[bool]
    device: str  # the browser's device token, when its own row counts


def hash_password(password: str, log_n: int = SCRYPT_LOG_N) -> str:
    salt = os.urandom(16)
    derived = _scrypt(salt, log_n).derive(password.encode())
    return "$".join(("scrypt", str(log_n), _b64(salt), _b64(derived)))


def password_matches(password: str, stored: str) -> bool:
    _scheme, log_n, salt, expected = stored.split("$")
    derived = _scrypt(base64.b64decode(salt), int(log_n)).derive(password.encode())
    return hmac.compare_digest(derived, base64.b64decode(expected))


def _scrypt(salt: bytes, log_n: int) -> Scrypt:
    return Scrypt(salt=salt, length=32, n=2**log_n, r=8, p=1)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unlock(connection: Connection, staff_id: str) -> None:
    """No wrong passwords counted against this login, from any browser."""
    for table in (console_logins, console_devices):
        connection.execute(update(table).where(table.c.staff_id == staff_id)
                           .values(failures=0, locked_until=None))


class Accounts:
    def __init__(self, engine: Engine, log_n: int = SCRYPT_LOG_N,
                 gate: HashGate | None = None) -> None:
        self.engine = engine
        self.log_n = log_n
        self.gate = gate or HashGate()
        self._decoy = ""  # a hash of no one's password: checked when the login does not exist

    def set_password(self, school_id: str, staff_id: str, password: str) -> None:
        """Give a member of staff a console password (or a new one, which also ends their
        sessions and lifts every lock on their sign-in)."""
        if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
            raise DirectoryError(f"a console password is {MIN_PASSWORD} to {MAX_PASSWORD} "
                                 "characters long")
        hashed = hash_password(password, self.log_n)
        with self.engine.begin() as connection:
            require_staff(connection, school_id, staff_id)
            connection.execute(delete(console_logins).where(
                console_logins.c.staff_id == staff_id))
            connection.execute(insert(console_logins).values(
                staff_id=staff_id, password_hash=hashed, failures=0))
            connection.execute(delete(console_sessions).where(
                console_sessions.c.staff_id == staff_id))
            _unlock(connection, staff_id)

    def logins(self, school_id: str, now: datetime) -> dict[str, bool]:
        """The school's staff with a console login: staff id -> whether sign-in from browsers
        that have not signed in as them before is locked now."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(console_logins.c.staff_id, console_logins.c.locked_until)
                .join(staff, staff.c.id == console_logins.c.staff_id)
                .where(staff.c.school_id == school_id)).all()
        return {row.staff_id: row.locked_until is not None and as_utc(row.locked_until) > now
                for row in rows}

    def unlock(self, school_id: str, staff_id: str) -> None:
        """Lift every lock on a member of staff's sign-in, keeping their password (someone
        locked out on a new browser while their password was being guessed)."""
        with self.engine.begin() as connection:
            require_staff(connection, school_id, staff_id)
            _unlock(connection, staff_id)

    def sign_in(self, school_id: str, staff_id: str, password: str, now: datetime,
                device: str = "") -> Session:
        """A session, or SignInRefused with one answer for every refusal (no such login, wrong
        password, locked), each taking as long as a password check; `Busy` when too many
        sign-ins are being checked. `device`: the console device token the browser holds
        from an earlier sign-in to this account, if any."""
        counter = self._counter(staff_id, device, now)
        with self.engine.begin() as connection:
            # Count the attempt before checking it: attempts made at once cannot all slip in
            # under the limit while their passwords are being checked.
            counted = connection.execute(update(counter.table).where(
                counter.mine, counter.table.c.staff_id.in_(
                    select(staff.c.id).where(staff.c.school_id == school_id)),
                or_(counter.table.c.locked_until.is_(None),
                    counter.table.c.locked_until <= now))
                .values(failures=counter.table.c.failures + 1)).rowcount
            logins = staff.join(console_logins, console_logins.c.staff_id == staff.c.id)
            if counter.table is console_devices:
                logins = logins.join(console_devices, console_devices.c.staff_id == staff.c.id)
            row = connection.execute(
                select(counter.table.c.failures, console_logins.c.password_hash, staff.c.name,
                       staff.c.role).select_from(logins).where(counter.mine)).first()
            if counted and row is not None and row.failures > LOCK_AFTER:
                connection.execute(update(counter.table).where(counter.mine).values(
                    failures=0, locked_until=now + LOCK_FOR))
        if not counted or row is None or row.failures > LOCK_AFTER:
            self._decoy = self._decoy or hash_password(secrets.token_hex(8), self.log_n)
            with self.gate.slot():
                password_matches(password, self._decoy)  # as slow as a real check
            raise SignInRefused(REFUSED)
        with self.gate.slot():
            matches = password_matches(password, row.password_hash)
        if not matches:
            if row.failures == LOCK_AFTER:
                with self.engine.begin() as connection:
                    connection.execute(update(counter.table).where(counter.mine).values(
                        failures=0, locked_until=now + LOCK_FOR))
            raise SignInRefused(REFUSED)
        return self._session(school_id, staff_id, row.name, row.role, counter, now)

    def _counter(self, staff_id: str, device: str, now: datetime) -> _Counter:
        """Whose wrong passwords this attempt counts toward: the browser's own, if it holds
        a live device token for this account; else every unknown browser's together."""
        if device:
            mine = console_devices.c.token_hash == digest(device)
            with self.engine.connect() as connection:
                known = connection.execute(select(console_devices.c.token_hash).where(
                    mine, console_devices.c.staff_id == staff_id,
                    console_devices.c.expires_at > now)).first()
            if known is not None:
                return _Counter(console_devices, mine, device)
        return _Counter(console_logins, console_logins.c.staff_id == staff_id, "")

    def _session(self, school_id: str, staff_id: str, name: str, role: str,
                 counter: _Counter, now: datetime) -> Session:
        token = secrets.token_urlsafe(32)
        device = counter.device or secrets.token_urlsafe(32)
        with self.engine.begin() as connection:
            connection.execute(update(counter.table).where(counter.mine).values(
                failures=0, locked_until=None))
            connection.execute(insert(console_sessions).values(
                token_hash=digest(token), staff_id=staff_id, expires_at=now + SESSION_FOR))
            if counter.device:
                connection.execute(update(console_devices).where(counter.mine).values(
                    expires_at=now + DEVICE_FOR))
            else:
                connection.execute(insert(console_devices).values(
                    token_hash=digest(device), staff_id=staff_id, failures=0,
                    expires_at=now + DEVICE_FOR))
        return Session(token, ConsoleUser(school_id, staff_id, name, role),
                       now + SESSION_FOR, device)

    def user(self, token: str, now: datetime) -> ConsoleUser:
        """Who holds this session token, with their role as the directory says now."""
        with self.engine.connect() as connection:
            row = connection.execute(
                select(console_sessions.c.expires_at, staff.c.id, staff.c.school_id,
                       staff.c.name, staff.c.role)
                .join(staff, staff.c.id == console_sessions.c.staff_id)
                .where(console_sessions.c.token_hash == digest(token))).first()
        if row is None or as_utc(row.expires_at) <= now:
            raise SignInRefused("not signed in, or the session has ended: sign in again")
        return ConsoleUser(row.school_id, row.id, row.name, row.role)

    def sign_out(self, token: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(delete(console_sessions).where(
                console_sessions.c.token_hash == digest(token)))
