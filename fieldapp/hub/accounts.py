"""Console sign-in at the hub: passwords kept only as scrypt hashes, sessions kept only as
token hashes, and a lock after repeated wrong passwords.

A member of staff signs in to their own school's console with their staff id and password and
gets a random session token (a school day long). Every request re-reads their role from the
directory, so a role taken away or a sign-out takes effect at once. Five wrong passwords in a
row lock the login for 15 minutes. Every refusal (a wrong school, staff id or password, or a
locked login) gets the same answer after the same work, so the sign-in page does not tell who
has an account.
"""

from __future__ import annotations

import base64
import hmac
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from sqlalchemy import (
    Column,
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

from fieldapp.hub.directory import DirectoryError, as_utc, digest, require_staff, staff
from fieldapp.hub.events_store import metadata

MIN_PASSWORD: Final = 12
MAX_PASSWORD: Final = 200
LOCK_AFTER: Final = 5
LOCK_FOR: Final = timedelta(minutes=15)
SESSION_FOR: Final = timedelta(hours=10)
REFUSED: Final = ("wrong school, staff id or password (after 5 wrong passwords in a row a login "
                  "is locked for 15 minutes)")
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
console_sessions: Final = Table(
    "console_sessions", metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("staff_id", String(64), ForeignKey("staff.id"), nullable=False, index=True),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)


class SignInRefused(DirectoryError):
    """Wrong school, staff id or password, a locked login, or a session that has ended."""


@dataclass(frozen=True, slots=True)
class ConsoleUser:
    school_id: str
    staff_id: str
    name: str
    role: str  # reception | dsl | staff | admin


@dataclass(frozen=True, slots=True)
class Session:
    token: str  # shown to the browser once; the hub keeps only its hash
    user: ConsoleUser
    expires_at: datetime


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


class Accounts:
    def __init__(self, engine: Engine, log_n: int = SCRYPT_LOG_N) -> None:
        self.engine = engine
        self.log_n = log_n
        self._decoy = ""  # a hash of no one's password: checked when the login does not exist

    def set_password(self, school_id: str, staff_id: str, password: str) -> None:
        """Give a member of staff a console password (or a new one, which also ends their
        sessions and lifts a lock)."""
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

    def sign_in(self, school_id: str, staff_id: str, password: str, now: datetime) -> Session:
        """A session, or SignInRefused with one answer for every refusal (no such login, wrong
        password, locked), each taking as long as a password check."""
        mine = console_logins.c.staff_id == staff_id
        with self.engine.begin() as connection:
            # Count the attempt before checking it: attempts made at once cannot all slip in
            # under the limit while their passwords are being checked.
            counted = connection.execute(update(console_logins).where(
                mine, console_logins.c.staff_id.in_(
                    select(staff.c.id).where(staff.c.school_id == school_id)),
                or_(console_logins.c.locked_until.is_(None),
                    console_logins.c.locked_until <= now))
                .values(failures=console_logins.c.failures + 1)).rowcount
            row = connection.execute(
                select(console_logins.c.failures, console_logins.c.password_hash, staff.c.name,
                       staff.c.role)
                .join(staff, staff.c.id == console_logins.c.staff_id).where(mine)).first()
            if counted and row is not None and row.failures > LOCK_AFTER:
                connection.execute(update(console_logins).where(mine).values(
                    failures=0, locked_until=now + LOCK_FOR))
        if not counted or row is None or row.failures > LOCK_AFTER:
            self._decoy = self._decoy or hash_password(secrets.token_hex(8), self.log_n)
            password_matches(password, self._decoy)  # as slow as a real check
            raise SignInRefused(REFUSED)
        if not password_matches(password, row.password_hash):
            if row.failures == LOCK_AFTER:
                with self.engine.begin() as connection:
                    connection.execute(update(console_logins).where(mine).values(
                        failures=0, locked_until=now + LOCK_FOR))
            raise SignInRefused(REFUSED)
        token = secrets.token_urlsafe(32)
        with self.engine.begin() as connection:
            connection.execute(update(console_logins).where(mine).values(
                failures=0, locked_until=None))
            connection.execute(insert(console_sessions).values(
                token_hash=digest(token), staff_id=staff_id, expires_at=now + SESSION_FOR))
        return Session(token, ConsoleUser(school_id, staff_id, row.name, row.role),
                       now + SESSION_FOR)

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
