"""Schools, staff and devices at the hub: enrolment with one-time codes, device tokens kept
only as hashes, revocation.

Every row belongs to a school. A device is enrolled for one member of staff with a code the
hub hands out once (it expires, and works once); it then authenticates every request with a
random token, of which the hub keeps only the SHA-256. A revoked device is refused and told
to wipe itself.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    DateTime,
    Engine,
    ForeignKey,
    String,
    Table,
    Text,
    bindparam,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from fieldapp.domain.events import is_printable_id
from fieldapp.domain.policy import Pack, pack_text, parse_pack
from fieldapp.hub.driver_sql import DriverStatement, driver_connection
from fieldapp.hub.events_store import metadata

ROLES: Final = ("reception", "dsl", "staff", "admin")
LEFT: Final = "left"  # a member of staff who has left: on the records, nowhere else
CODE_ALPHABET: Final = "ABCDEFGHJKMNPQRSTVWXYZ23456789"  # no 0/O, 1/I/L: read over a phone
CODE_LIFETIME: Final = timedelta(minutes=15)

schools: Final = Table(
    "schools", metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("pack_id", String(64), nullable=False),
)
staff: Final = Table(
    "staff", metadata,
    Column("id", String(64), primary_key=True),
    Column("school_id", String(64), ForeignKey("schools.id"), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("role", String(20), nullable=False),
    Column("safeguarding_trained", Boolean, nullable=False, default=False),
    # For reception's escalation steps: "phone the lead visitor's mobile".
    Column("mobile", String(32), nullable=False, default="", server_default=""),
)
devices: Final = Table(
    "devices", metadata,
    Column("id", String(64), primary_key=True),
    Column("school_id", String(64), ForeignKey("schools.id"), nullable=False, index=True),
    Column("staff_id", String(64), ForeignKey("staff.id"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("enrolled_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
)
# The roles a member of staff holds in their school's policy pack ("safeguarding_lead",
# "headteacher", ...): the sign-offs they may give.
staff_pack_roles: Final = Table(
    "staff_pack_roles", metadata,
    Column("staff_id", String(64), ForeignKey("staff.id"), primary_key=True),
    Column("role", String(64), primary_key=True),
)
# A school's own pack, imported by its admin; without one, the shipped pack named in `schools`.
school_packs: Final = Table(
    "school_packs", metadata,
    Column("school_id", String(64), ForeignKey("schools.id"), primary_key=True),
    Column("version", String(16), nullable=False),
    Column("text", Text, nullable=False),
    Column("imported_at", DateTime(timezone=True), nullable=False),
)
enrol_codes: Final = Table(
    "enrol_codes", metadata,
    Column("code_hash", String(64), primary_key=True),
    Column("school_id", String(64), ForeignKey("schools.id"), nullable=False),
    Column("staff_id", String(64), ForeignKey("staff.id"), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True)),
    # The phone's request id (hashed) and the device it made: the same phone may ask again
    # when the answer was lost on the way, and gets the same device with a new token.
    Column("claim_hash", String(64)),
    Column("device_id", String(64)),
)
# What a school's phones dial and show: the safe-phrase call goes to reception.
school_contacts: Final = Table(
    "school_contacts", metadata,
    Column("school_id", String(64), ForeignKey("schools.id"), primary_key=True),
    Column("reception_phone", String(32), nullable=False),
    Column("school_phone", String(32), nullable=False),
    Column("dsl_mobile", String(32), nullable=False),
    Column("office_hours", String(100), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
# The hub's own facts: `database_id`, made when the database was, names it to the phones.
hub_meta: Final = Table(
    "hub_meta", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(200), nullable=False),
)


@dataclass(frozen=True, slots=True)
class Contacts:
    """What a school's phones dial and show."""

    reception_phone: str
    school_phone: str
    dsl_mobile: str
    office_hours: str

    def to_dict(self) -> dict[str, str]:
        return {"reception_phone": self.reception_phone, "school_phone": self.school_phone,
                "dsl_mobile": self.dsl_mobile, "office_hours": self.office_hours}


@dataclass(frozen=True, slots=True)
class StaffMember:
    staff_id: str
    name: str
    role: str  # at the console: reception, dsl, staff, admin
    safeguarding_trained: bool
    mobile: str
    pack_roles: tuple[str, ...]  # the sign-offs they may give, in the school's pack


@dataclass(frozen=True, slots=True)
class SchoolPack:
    version: str  # changes whenever the text does: phones pull the text when theirs differs
    text: str
    pack: Pack


class DirectoryError(ValueError):
    """A request the directory refuses; the message is safe to show."""


class EnrolmentRefused(DirectoryError):
    pass


class NotAuthenticated(DirectoryError):
    def __init__(self, message: str, wipe: bool = False) -> None:
        super().__init__(message)
        self.wipe = wipe


@dataclass(frozen=True, slots=True)
class Device:
    id: str
    school_id: str
    staff_id: str


@dataclass(frozen=True, slots=True)
class Enrolment:
    device: Device
    token: str = field(repr=False)  # shown to the phone once; the hub keeps its hash


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Directory:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # Every push and pull asks this first: it runs on the driver (see driver_sql).
        self._device = DriverStatement(
            select(devices.c.id, devices.c.school_id, devices.c.staff_id, devices.c.revoked_at)
            .where(devices.c.token_hash == bindparam("token_hash")), engine.dialect)

    def add_school(self, school_id: str, name: str, pack_id: str) -> None:
        if not (is_printable_id(school_id, 64) and name.strip()
                and is_printable_id(name, 200)):
            raise DirectoryError("a school id is 1 to 64 printable characters, and its name "
                                 "1 to 200")
        try:
            with self.engine.begin() as connection:
                connection.execute(insert(schools).values(id=school_id, name=name,
                                                          pack_id=pack_id))
        except IntegrityError:
            raise DirectoryError(f"there is already a school {school_id!r}") from None

    def add_staff(self, school_id: str, staff_id: str, name: str, role: str,
                  safeguarding_trained: bool = False, mobile: str = "") -> None:
        """A member of staff. Staff ids are unique across the whole hub, every school's staff
        included (a trust's hub serves many schools)."""
        if role not in ROLES:
            raise DirectoryError(f"role: one of {', '.join(ROLES)}")
        for what, value, most in (("a staff id", staff_id, 64), ("a name", name, 200),
                                  ("a mobile number", mobile, 32)):
            if len(value) > most or (value and not value.isprintable()) or (
                    what != "a mobile number" and not value.strip()):
                raise DirectoryError(f"{what} is 1 to {most} printable characters")
        self.school(school_id)
        try:
            with self.engine.begin() as connection:
                connection.execute(insert(staff).values(
                    id=staff_id, school_id=school_id, name=name, role=role,
                    safeguarding_trained=safeguarding_trained, mobile=mobile.strip()))
        except IntegrityError:
            raise DirectoryError(f"the staff id {staff_id!r} is taken: staff ids are unique "
                                 "across the hub, every school's staff included") from None

    def staff(self, school_id: str) -> list[StaffMember]:
        """The school's staff, by name, with the sign-offs each may give (not those who have
        left)."""
        with self.engine.connect() as connection:
            rows = connection.execute(select(staff).where(staff.c.school_id == school_id,
                                                          staff.c.role != LEFT)
                                      .order_by(staff.c.name, staff.c.id)).all()
            held = connection.execute(
                select(staff_pack_roles).join(staff, staff.c.id == staff_pack_roles.c.staff_id)
                .where(staff.c.school_id == school_id)).all()
        roles: dict[str, list[str]] = {}
        for row in held:
            roles.setdefault(row.staff_id, []).append(row.role)
        return [StaffMember(row.id, row.name, row.role, bool(row.safeguarding_trained),
                            row.mobile, tuple(sorted(roles.get(row.id, ()))))
                for row in rows]

    def remove_staff(self, school_id: str, staff_id: str, now: datetime) -> int:
        """A member of staff who has left: their phones are revoked (told to wipe at their
        next sync: sync them first), their console login, sessions, sign-offs and unused
        enrolment codes go, and so does their mobile. Their name stays on the visits they
        made, as the records' own. Answers how many phones were revoked."""
        from fieldapp.hub import accounts  # which imports this module

        with self.engine.begin() as connection:
            require_staff(connection, school_id, staff_id)
            revoked = connection.execute(update(devices).where(
                devices.c.staff_id == staff_id, devices.c.revoked_at.is_(None))
                .values(revoked_at=now)).rowcount
            for table in (accounts.console_sessions, accounts.console_devices,
                          accounts.console_logins):
                connection.execute(delete(table).where(table.c.staff_id == staff_id))
            connection.execute(delete(staff_pack_roles).where(
                staff_pack_roles.c.staff_id == staff_id))
            connection.execute(update(enrol_codes).where(
                enrol_codes.c.staff_id == staff_id, enrol_codes.c.used_at.is_(None),
                enrol_codes.c.expires_at > now).values(expires_at=now))
            connection.execute(update(staff).where(staff.c.id == staff_id).values(
                role=LEFT, mobile="", safeguarding_trained=False))
        return int(revoked)

    def update_staff(self, school_id: str, staff_id: str, *, mobile: str,
                     safeguarding_trained: bool) -> None:
        """A member of staff's mobile and whether they have had safeguarding training."""
        if len(mobile) > 32 or (mobile and not mobile.isprintable()):
            raise DirectoryError("a mobile number is up to 32 printable characters")
        with self.engine.begin() as connection:
            require_staff(connection, school_id, staff_id)
            connection.execute(update(staff).where(staff.c.id == staff_id).values(
                mobile=mobile.strip(), safeguarding_trained=safeguarding_trained))

    def contacts(self, school_id: str) -> dict[str, tuple[str, str]]:
        """staff id -> (name, mobile) for the school's staff."""
        with self.engine.connect() as connection:
            rows = connection.execute(select(staff.c.id, staff.c.name, staff.c.mobile)
                                      .where(staff.c.school_id == school_id)).all()
        return {row.id: (row.name, row.mobile) for row in rows}

    def schools(self) -> list[tuple[str, str, str]]:
        """Every school the hub serves: (id, name, pack id), by id."""
        with self.engine.connect() as connection:
            return [(row.id, row.name, row.pack_id) for row in connection.execute(
                select(schools).order_by(schools.c.id))]

    def school(self, school_id: str) -> tuple[str, str]:
        """(name, pack id) of a school."""
        with self.engine.connect() as connection:
            row = connection.execute(select(schools.c.name, schools.c.pack_id)
                                     .where(schools.c.id == school_id)).first()
        if row is None:
            raise DirectoryError(f"no school {school_id!r}")
        return row.name, row.pack_id

    def set_pack_roles(self, school_id: str, staff_id: str, roles: Iterable[str]) -> None:
        """The sign-offs this member of staff may give: roles named in the school's pack."""
        wanted = sorted(set(roles))
        pack = self.pack(school_id).pack
        known = {role for step in (*pack.authorisation.steps,
                                   *(pack.authorisation.unannounced_steps or ()))
                 for role in step.roles}
        unknown = [role for role in wanted if role not in known]
        if unknown:
            raise DirectoryError(f"{', '.join(unknown)}: not a role in this school's pack "
                                 f"(its roles: {', '.join(sorted(known))})")
        with self.engine.begin() as connection:
            require_staff(connection, school_id, staff_id)
            connection.execute(delete(staff_pack_roles).where(
                staff_pack_roles.c.staff_id == staff_id))
            if wanted:
                connection.execute(insert(staff_pack_roles), [
                    {"staff_id": staff_id, "role": role} for role in wanted])

    def pack_roles(self, staff_id: str) -> frozenset[str]:
        with self.engine.connect() as connection:
            return frozenset(connection.execute(select(staff_pack_roles.c.role).where(
                staff_pack_roles.c.staff_id == staff_id)).scalars())

    def pack(self, school_id: str) -> SchoolPack:
        """The school's policy pack as phones get it: its own if imported, else the shipped one."""
        with self.engine.connect() as connection:
            row = connection.execute(
                select(schools.c.pack_id, school_packs.c.text)
                .outerjoin(school_packs, school_packs.c.school_id == schools.c.id)
                .where(schools.c.id == school_id)).first()
        if row is None:
            raise DirectoryError(f"no school {school_id!r}")
        return _school_pack(row.text if row.text is not None else pack_text(row.pack_id))

    def import_pack(self, school_id: str, text: str, now: datetime) -> SchoolPack:
        """Make `text` the school's pack (refused with a PackError if it is not valid); phones
        pick it up on their next pull."""
        imported = _school_pack(text)
        self.school(school_id)
        with self.engine.begin() as connection:
            connection.execute(delete(school_packs).where(school_packs.c.school_id == school_id))
            connection.execute(insert(school_packs).values(
                school_id=school_id, version=imported.version, text=text, imported_at=now))
        return imported

    def enrol_code(self, school_id: str, staff_id: str, now: datetime) -> str:
        """A one-time code to enrol a phone for this member of staff (valid 15 minutes)."""
        with self.engine.begin() as connection:
            require_staff(connection, school_id, staff_id)
            code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(10))
            connection.execute(insert(enrol_codes).values(
                code_hash=digest(code), school_id=school_id, staff_id=staff_id,
                expires_at=now + CODE_LIFETIME))
        return code

    def unused_codes(self, school_id: str, now: datetime) -> list[tuple[str, datetime]]:
        """The school's enrolment codes not used yet and still valid: (staff id, expiry)."""
        with self.engine.connect() as connection:
            rows = connection.execute(select(enrol_codes.c.staff_id, enrol_codes.c.expires_at)
                                      .where(enrol_codes.c.school_id == school_id,
                                             enrol_codes.c.used_at.is_(None),
                                             enrol_codes.c.expires_at > now)
                                      .order_by(enrol_codes.c.expires_at)).all()
        return [(row.staff_id, as_utc(row.expires_at)) for row in rows]

    def cancel_codes(self, school_id: str, staff_id: str, now: datetime) -> int:
        """Cancel every unused enrolment code of this member of staff (a slip lost, or given
        to the wrong person); answers how many."""
        with self.engine.begin() as connection:
            require_staff(connection, school_id, staff_id)
            return connection.execute(update(enrol_codes).where(
                enrol_codes.c.school_id == school_id, enrol_codes.c.staff_id == staff_id,
                enrol_codes.c.used_at.is_(None), enrol_codes.c.expires_at > now)
                .values(expires_at=now)).rowcount

    def enrol(self, code: str, device_name: str, now: datetime,
              request_id: str = "", previous_device_id: str = "",
              previous_token: str = "") -> Enrolment:
        """Trade a one-time code for a device and its token. A phone that sends a request id
        (random, its own) and lost the answer may ask again with the same code and id, within
        the code's lifetime from its first use: it gets the same device and a new token (the
        lost one stops working). Any other second use of a code is refused.

        A phone enrolling again keeps its device id if no device has it (the hub lost it), or
        if it proves it is that device with its live token, for the code's member of staff at
        the code's school (enrolled again after a key rotation): the device gets the new
        token, and the old one stops working."""
        normalised = code.strip().upper().replace("-", "").replace(" ", "")
        code_hash = digest(normalised)
        claim = digest(request_id) if request_id else None
        token = secrets.token_urlsafe(32)
        with self.engine.begin() as connection:
            claimed = connection.execute(update(enrol_codes).where(
                enrol_codes.c.code_hash == code_hash, enrol_codes.c.used_at.is_(None),
                enrol_codes.c.expires_at > now).values(used_at=now, claim_hash=claim)).rowcount
            row = connection.execute(select(enrol_codes).where(
                enrol_codes.c.code_hash == code_hash)).first()
            if claimed != 1:
                again = (row is not None and claim is not None and row.claim_hash == claim
                         and row.device_id is not None
                         and as_utc(row.used_at) + CODE_LIFETIME > now)
                if not again:  # unknown, used or expired: the phone is told no more than that
                    raise EnrolmentRefused("this enrolment code is not valid: ask for a new one")
                assert row is not None
                renewed = connection.execute(update(devices).where(
                    devices.c.id == row.device_id, devices.c.revoked_at.is_(None))
                    .values(token_hash=digest(token))).rowcount
                if renewed != 1:
                    raise EnrolmentRefused("this enrolment code is not valid: ask for a new one")
                return Enrolment(Device(row.device_id, row.school_id, row.staff_id), token)
            assert row is not None
            device_id = f"dev-{secrets.token_hex(8)}"
            held = connection.execute(select(devices).where(
                devices.c.id == previous_device_id)).first() if previous_device_id else None
            if previous_device_id and held is None:
                device_id = previous_device_id  # a phone the hub lost: its events stay its own
            device = Device(id=device_id, school_id=row.school_id, staff_id=row.staff_id)
            if held is not None and previous_token and held.revoked_at is None \
                    and held.token_hash == digest(previous_token) \
                    and (held.school_id, held.staff_id) == (row.school_id, row.staff_id):
                device = Device(held.id, held.school_id, held.staff_id)  # the same phone
                connection.execute(update(devices).where(devices.c.id == held.id).values(
                    token_hash=digest(token), enrolled_at=now))
            else:
                connection.execute(insert(devices).values(
                    id=device.id, school_id=device.school_id, staff_id=device.staff_id,
                    name=device_name.strip()[:100] or "phone", token_hash=digest(token),
                    enrolled_at=now))
            connection.execute(update(enrol_codes).where(enrol_codes.c.code_hash == code_hash)
                               .values(device_id=device.id))
        return Enrolment(device=device, token=token)

    def set_contacts(self, school_id: str, contacts: Contacts, now: datetime) -> None:
        """The numbers the school's phones dial and show, sent to them on their next pull."""
        for value, what, most in ((contacts.reception_phone, "the reception number", 32),
                                  (contacts.school_phone, "the school number", 32),
                                  (contacts.dsl_mobile, "the DSL's mobile", 32),
                                  (contacts.office_hours, "the office hours", 100)):
            if len(value) > most or not value.isprintable():
                raise DirectoryError(f"{what} is up to {most} printable characters")
        self.school(school_id)
        values = {**contacts.to_dict(), "updated_at": now}
        with self.engine.begin() as connection:
            done = connection.execute(update(school_contacts).where(
                school_contacts.c.school_id == school_id).values(**values)).rowcount
            if done == 0:
                connection.execute(insert(school_contacts).values(school_id=school_id,
                                                                  **values))

    def school_contacts(self, school_id: str) -> Contacts:
        """The school's contacts as set at the hub; where none are set, its pack's."""
        with self.engine.connect() as connection:
            row = connection.execute(select(school_contacts).where(
                school_contacts.c.school_id == school_id)).first()
        if row is not None:
            return Contacts(row.reception_phone, row.school_phone, row.dsl_mobile,
                            row.office_hours)
        shipped = self.pack(school_id).pack.contacts
        return Contacts(shipped.reception_phone, shipped.school_phone, "", "")

    def database_id(self) -> str:
        """The name the hub gives its database (made with it; a restore may make a new one)."""
        with self.engine.connect() as connection:
            return str(connection.execute(select(hub_meta.c.value).where(
                hub_meta.c.key == "database_id")).scalar_one())

    def authenticate(self, token: str) -> Device:
        with driver_connection(self.engine) as connection:
            cursor = connection.cursor()
            cursor.execute(self._device.sql, self._device.params({"token_hash": digest(token)}))
            row = cursor.fetchone()
        if row is None:
            raise NotAuthenticated("unknown device token")
        device_id, school_id, staff_id, revoked_at = row
        if revoked_at is not None:
            raise NotAuthenticated("this device has been revoked: wipe it", wipe=True)
        return Device(id=device_id, school_id=school_id, staff_id=staff_id)

    def devices(self, school_id: str) -> list[dict[str, Any]]:
        """The school's phones, newest first, revoked ones included."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(devices).where(devices.c.school_id == school_id)
                .order_by(devices.c.enrolled_at.desc(), devices.c.id)).all()
        return [{"device_id": row.id, "staff_id": row.staff_id, "name": row.name,
                 "enrolled_at": as_utc(row.enrolled_at),
                 "revoked_at": None if row.revoked_at is None else as_utc(row.revoked_at)}
                for row in rows]

    def revoke(self, school_id: str, device_id: str, now: datetime) -> None:
        with self.engine.begin() as connection:
            done = connection.execute(update(devices).where(
                devices.c.id == device_id, devices.c.school_id == school_id)
                .values(revoked_at=now)).rowcount
        if done != 1:
            raise DirectoryError("no such device at this school")


def require_staff(connection: Connection, school_id: str, staff_id: str) -> None:
    """Refuse a staff id that is not a member of staff at this school (another school's
    staff, and those who have left, are as unknown as nobody's)."""
    if connection.execute(select(staff.c.id).where(
            staff.c.id == staff_id, staff.c.school_id == school_id,
            staff.c.role != LEFT)).first() is None:
        raise DirectoryError("no such member of staff at this school")


def as_utc(moment: datetime) -> datetime:
    """SQLite hands datetimes back without their zone; everything the hub stores is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@functools.lru_cache(maxsize=64)
def _school_pack(text: str) -> SchoolPack:
    return SchoolPack(hashlib.sha256(text.encode()).hexdigest()[:16], text, parse_pack(text))
