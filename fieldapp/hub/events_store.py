"""The hub's event store on SQLAlchemy: embedded SQLite by default, PostgreSQL for a trust.

Events are kept as received (their canonical JSON), each row scoped to a school. Ingest is
idempotent by event id: a resend changes nothing and is answered the same; the same id with
other content is a conflict and the stored event stays as it was. A push is committed in
one transaction before it is answered, so what the answer lists as stored is durable.
"""

from __future__ import annotations

import json
import os
import threading
import weakref
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    bindparam,
    create_engine,
    event,
    func,
    insert,
    make_url,
    or_,
    select,
)
from sqlalchemy.sql.elements import ColumnElement

from fieldapp.domain.events import Event, EventType, device_visit_id, is_printable_id
from fieldapp.domain.payloads import check_event
from fieldapp.hub import migrate
from fieldapp.hub.driver_sql import DriverStatement, driver_connection, in_list
from fieldapp.sync.protocol import Push, PushResult, Rejected, plan_ingest

metadata: Final = MetaData()


def arrival_order() -> Column[int]:
    """A table's `seq`: rows numbered in the order they were stored (BIGSERIAL on PostgreSQL,
    the rowid on SQLite)."""
    return Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                  autoincrement=True)


events: Final = Table(
    "events", metadata,
    # The order events reached the hub: the cursor phones and the console pull from.
    arrival_order(),
    Column("id", String(26), nullable=False, unique=True),
    Column("school_id", String(64), nullable=False),
    Column("visit_id", String(128), nullable=False),
    Column("type", String(40), nullable=False),
    Column("device_id", String(64), nullable=False),
    Column("body", Text, nullable=False),  # the event's canonical JSON, as received
    Index("events_school_visit", "school_id", "visit_id"),
    Index("events_school_seq", "school_id", "seq"),
)

# Who is on which visit, from its plan: a phone pulls only the visits its staff member is on.
visit_staff: Final = Table(
    "visit_staff", metadata,
    Column("school_id", String(64), primary_key=True),
    Column("visit_id", String(128), primary_key=True),
    Column("staff_id", String(64), primary_key=True),
)


# Visits erased (by retention or on request): ids only, so that a phone sending one of their
# events again (it may still hold them) cannot bring the visit back (fieldapp.hub.retention).
erased_visits: Final = Table(
    "erased_visits", metadata,
    Column("school_id", String(64), primary_key=True),
    Column("visit_id", String(128), primary_key=True),
    Column("erased_at", DateTime(timezone=True), nullable=False),
)
ERASED: Final = ("this visit's records were erased at the school (their retention period "
                 "ended, or on request): the hub keeps nothing of it")


def connect(url: str, background_checkpoints: bool = False, upgrade: bool = True) -> Engine:
    """An engine for `url` (e.g. "sqlite:///hub.db", "postgresql+psycopg://host/db"), with
    SQLite made durable and safe for concurrent readers (WAL, synchronous=FULL). A new SQLite
    file is made readable by its owner only (it holds children's names and addresses); SQLite
    gives its -wal and -shm files the same mode. With `background_checkpoints`, SQLite's
    commits leave checkpoints to a `fieldapp.hub.checkpoints.Checkpointer`. With `upgrade`,
    the database is made or migrated to this hub's schema (`init` and `migrate`, and tests);
    without it, it must be a hub's already (`open_hub`)."""
    # A database host that does not answer is given up on after 5 s, not the system's minutes:
    # the request is answered 503 (fieldapp.hub.api) and the phone tries again later.
    waits = {"connect_timeout": 5} if make_url(url).get_backend_name() == "postgresql" else {}
    # hide_parameters: an error's message (and so the log) never carries the values of a
    # statement, which may be a child's name or address.
    engine = create_engine(url, future=True, connect_args=waits, hide_parameters=True)
    if engine.dialect.name == "sqlite":
        path = engine.url.database
        if path and path != ":memory:" and not os.path.exists(path):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        @event.listens_for(engine, "connect")
        def _durable(connection: Any, _record: Any) -> None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA busy_timeout=10000")
            # What is deleted is overwritten, not left in free pages: an erased child's
            # records leave nothing behind in the file (fieldapp.hub.retention).
            cursor.execute("PRAGMA secure_delete=ON")
            if background_checkpoints:
                cursor.execute("PRAGMA wal_autocheckpoint=0")
            cursor.close()
    if upgrade:
        migrate.upgrade(engine)  # to this hub's schema; refuses a database it cannot run on
    return engine


def open_hub(url: str, background_checkpoints: bool = False, at_head: bool = True) -> Engine:
    """An engine for an existing hub's database, changing nothing: a SQLite file that is not
    there, or a database with none of the hub's tables, is refused (`migrate.NotReady`), not
    made; so is one at another schema revision than this hub's, unless not `at_head` (for
    `migrate`)."""
    database = make_url(url).database
    if make_url(url).get_backend_name() == "sqlite" and database and database != ":memory:":
        if not os.path.exists(database):
            raise migrate.NotReady(f"no hub database at {database}: `fieldapp-hub init` makes "
                                   "a new hub; to restore one, see `fieldapp-hub restore`")
        if os.path.getsize(database) == 0:  # left as it is: opening it would write a header
            raise migrate.empty(url)
    engine = connect(url, background_checkpoints, upgrade=False)
    (migrate.require_head if at_head else migrate.require_hub)(engine)
    return engine


# One push writes at a time per SQLite database in this process (and the checkpointer's last
# step waits for it: fieldapp.hub.checkpoints). SQLite has one writer anyway; a push waiting
# here starts the moment the other commits, where SQLite's busy handler would sleep and retry
# (1, 2, 5, 10... ms), which is what made the slowest pushes slow.
_SQLITE_WRITERS: Final[weakref.WeakKeyDictionary[Engine, threading.Lock]] = (
    weakref.WeakKeyDictionary())
_NEW_EVENT: Final = ("id", "school_id", "visit_id", "type", "device_id", "body")
_ON_VISIT: Final = ("school_id", "visit_id", "staff_id")


def sqlite_writer(engine: Engine) -> AbstractContextManager[Any]:
    """The lock a push holds while it writes to this engine's SQLite database (none on
    PostgreSQL, which takes many writers)."""
    if engine.dialect.name != "sqlite":
        return nullcontext()
    return _SQLITE_WRITERS.setdefault(engine, threading.Lock())


class EventStore:
    def __init__(self, engine: Engine,
                 connect: Callable[[Engine], AbstractContextManager[Any]] = driver_connection
                 ) -> None:
        """`connect`: the driver connection a push is stored on (a test's stands between)."""
        self.engine = engine
        self._connect = connect
        self._writer = sqlite_writer(engine)
        # The push path runs on the driver (fieldapp.hub.driver_sql says why).
        dialect = engine.dialect
        self._integrity_error: type[Exception] = dialect.loaded_dbapi.IntegrityError
        ids, self._list = in_list(events.c.id, "ids", dialect)
        self._stored = DriverStatement(
            select(events.c.id, events.c.body, events.c.school_id).where(ids), dialect)
        planned_visits, _ = in_list(events.c.visit_id, "visits", dialect)
        self._planned = DriverStatement(select(events.c.visit_id).where(
            events.c.school_id == bindparam("school"),
            events.c.type == EventType.PLANNED.value, planned_visits), dialect)
        staff_visits, _ = in_list(visit_staff.c.visit_id, "visits", dialect)
        self._staff_on = DriverStatement(select(visit_staff.c.visit_id).where(
            visit_staff.c.school_id == bindparam("school"),
            visit_staff.c.staff_id == bindparam("staff"), staff_visits), dialect)
        erased, _ = in_list(erased_visits.c.visit_id, "visits", dialect)
        self._erased = DriverStatement(select(erased_visits.c.visit_id).where(
            erased_visits.c.school_id == bindparam("school"), erased), dialect)
        self._insert = DriverStatement(insert(events), dialect, _NEW_EVENT, many=True)
        self._on_visit = DriverStatement(insert(visit_staff), dialect, _ON_VISIT, many=True)

    def ingest(self, school_id: str, device_id: str, push: Push,
               staff_id: str | None = None) -> PushResult:
        """Store a push's new events durably; answer what became of each. With `staff_id`
        (a phone's push: the member of staff it is enrolled for), an event is taken only for
        a visit they are on (`_off_visit` says which); without it (the console), any visit."""
        bodies = {e.id: e.canonical() for e in push.events}  # before waiting for the writer
        for attempt in range(3):
            try:
                return self._ingest_once(school_id, device_id, push, bodies, staff_id)
            except self._integrity_error:  # another push stored one of these ids meanwhile
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _ingest_once(self, school_id: str, device_id: str, push: Push,
                     bodies: dict[str, str], staff_id: str | None) -> PushResult:
        with self._writer, self._connect(self.engine) as connection:
            cursor = connection.cursor()
            off = {} if staff_id is None else self._off_visit(cursor, school_id, device_id,
                                                               staff_id, push.events)
            off.update(self._erased_from(cursor, school_id, push.events))  # says it first
            if off:
                push = Push(tuple(e for e in push.events if e.id not in off), (
                    *push.rejected, *(Rejected(event_id, why) for event_id, why in off.items())))
            # An id another school holds is a conflict, whatever it carries: nothing is
            # stored, nothing about the other school is said.
            plan = plan_ingest(push.events, self._held(cursor, school_id, list(bodies)))
            if plan.new:
                on_visit = self._newly_on_visit(cursor, school_id, plan.new)
                cursor.executemany(self._insert.sql, self._insert.rows(
                    (e.id, school_id, e.visit_id, e.type.value, device_id, bodies[e.id])
                    for e in plan.new))
                if on_visit:
                    cursor.executemany(self._on_visit.sql, on_visit)
            connection.commit()
        return PushResult(stored=tuple(e.id for e in plan.new), already=plan.already,
                          conflicts=plan.conflicts, rejected=push.rejected)

    def _erased_from(self, cursor: Any, school_id: str,
                     pushed: tuple[Event, ...]) -> dict[str, str]:
        """The pushed events (id -> why) of visits the school has erased."""
        if not pushed:
            return {}
        cursor.execute(self._erased.sql, self._erased.params(
            {"school": school_id, "visits": self._list(list({e.visit_id for e in pushed}))}))
        erased = {visit_id for (visit_id,) in cursor.fetchall()}
        return {e.id: ERASED for e in pushed if e.visit_id in erased}

    def _off_visit(self, cursor: Any, school_id: str, device_id: str, staff_id: str,
                   pushed: tuple[Event, ...]) -> dict[str, str]:
        """The pushed events (id -> why) for visits this member of staff is not on. They are
        on a visit its first plan lists them on; a plan in this push puts them on a visit
        that has none yet only if it lists them. A phone opened with the duress PIN while
        no visit is out raises its alert on a visit of its own, `device-<device id>`."""
        visits = list({e.visit_id for e in pushed})
        cursor.execute(self._staff_on.sql, self._staff_on.params(
            {"school": school_id, "staff": staff_id, "visits": self._list(visits)}))
        on = {visit_id for (visit_id,) in cursor.fetchall()}
        plans = {e.visit_id: e for e in reversed(pushed)
                 if e.type is EventType.PLANNED and e.visit_id not in on}
        if plans:
            cursor.execute(self._planned.sql, self._planned.params(
                {"school": school_id, "visits": self._list(list(plans))}))
            planned = {visit_id for (visit_id,) in cursor.fetchall()}
            on.update(visit_id for visit_id, plan in plans.items() if visit_id not in planned
                      and staff_id in {m["staff_id"] for m in _listed(plan.payload.get(
                          "staff"))})
        own = device_visit_id(device_id)
        return {e.id: ("a visit this phone's member of staff is not on (a plan must list "
                       "them)") for e in pushed if e.visit_id not in on
                and not (e.visit_id == own and e.type is EventType.DURESS_ALERT)}

    def _newly_on_visit(self, cursor: Any, school_id: str,
                        new: tuple[Event, ...]) -> list[Any]:
        """Who these new events put on a visit, as rows for `visit_staff`. Who is on a visit
        is settled by the first plan the hub receives for it: a later plan (which the fold
        sets aside) adds nobody."""
        plans = {e.visit_id: e for e in reversed(new) if e.type is EventType.PLANNED}
        if not plans:
            return []
        cursor.execute(self._planned.sql, self._planned.params(
            {"school": school_id, "visits": self._list(list(plans))}))
        planned = {visit_id for (visit_id,) in cursor.fetchall()}
        on_visit = {(visit_id, str(member["staff_id"]))
                    for visit_id, e in plans.items() if visit_id not in planned
                    for member in _listed(e.payload.get("staff"))}
        return self._on_visit.rows((school_id, visit_id, staff_id)
                                   for visit_id, staff_id in sorted(on_visit))

    def held(self, school_id: str, ids: list[str]) -> dict[str, str]:
        """Which of these event ids the hub holds: id -> the event's canonical text, or ""
        where another school holds the id (it is nobody else's business what it holds)."""
        with driver_connection(self.engine) as connection:
            return self._held(connection.cursor(), school_id, ids)

    def _held(self, cursor: Any, school_id: str, ids: list[str]) -> dict[str, str]:
        cursor.execute(self._stored.sql, self._stored.params({"ids": self._list(ids)}))
        return {event_id: body if school == school_id else ""
                for event_id, body, school in cursor.fetchall()}

    def visit_events(self, school_id: str, visit_id: str) -> tuple[Event, ...]:
        """The visit's events the hub can read, in id order (see `history`)."""
        return self.history(school_id, visit_id).events

    def history(self, school_id: str, visit_id: str) -> History:
        """The visit's events in id order, and the rows that cannot be read as events of
        their type (kept from before the hub checked payloads, or a bug): set aside with
        their reasons, so that one bad row never stops a reader."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(events.c.id, events.c.body)
                .where(events.c.school_id == school_id, events.c.visit_id == visit_id)
                .order_by(events.c.id)).all()
        return History(*_read(rows))

    def visit_ids(self, school_id: str) -> tuple[str, ...]:
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(events.c.visit_id).where(events.c.school_id == school_id)
                .distinct().order_by(events.c.visit_id)).all()
        return tuple(row.visit_id for row in rows)

    def since(self, school_id: str, cursor: int, limit: int = 500) -> Page:
        """The school's events after `cursor`, in arrival order, and the cursor to ask with
        next (unchanged when there is nothing new)."""
        return self._page(school_id, cursor, limit)

    def since_for_staff(self, school_id: str, staff_id: str, cursor: int,
                        limit: int = 500, baseline: int | None = None,
                        device_id: str | None = None) -> Page:
        """Like `since`, but only the visits this member of staff is on, and not those that
        were over (back at school, debriefed, or cancelled before anyone left) by `baseline`:
        a phone's first pull, at the hub's head then, brings the live visits, not the whole
        history; its later pulls, from that baseline, every event of a visit it has. Events
        `device_id` pushed are not sent back to it (it has them)."""
        on_visit = select(visit_staff.c.visit_id).where(
            visit_staff.c.school_id == school_id, visit_staff.c.staff_id == staff_id)
        conditions: list[ColumnElement[bool]] = [events.c.visit_id.in_(on_visit)]
        if device_id is not None:
            conditions.append(events.c.device_id != device_id)
        if baseline is not None:
            conditions.append(events.c.visit_id.not_in(self._over_by(school_id, baseline)))
        return self._page(school_id, cursor, limit, *conditions)

    @staticmethod
    def _over_by(school_id: str, seq: int) -> Any:
        """The visits over by event `seq`."""
        signed_out = select(events.c.visit_id).where(
            events.c.school_id == school_id, events.c.type == EventType.SIGNED_OUT.value)
        return select(events.c.visit_id).where(
            events.c.school_id == school_id, events.c.seq <= seq,
            or_(events.c.type.in_((EventType.RETURNED.value, EventType.DEBRIEFED.value)),
                and_(events.c.type == EventType.CANCELLED.value,
                     events.c.visit_id.not_in(signed_out))))

    def head(self, school_id: str) -> int:
        """The school's newest event position (0: none yet)."""
        with self.engine.connect() as connection:
            return int(connection.execute(select(func.coalesce(func.max(events.c.seq), 0))
                                          .where(events.c.school_id == school_id))
                       .scalar_one())

    def _page(self, school_id: str, cursor: int, limit: int,
              *conditions: ColumnElement[bool]) -> Page:
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(events.c.seq, events.c.id, events.c.body)
                .where(events.c.school_id == school_id, events.c.seq > cursor, *conditions)
                .order_by(events.c.seq).limit(limit)).all()
        found, unreadable = _read(rows)
        return Page(list(found), list(unreadable), rows[-1].seq if rows else cursor,
                    len(rows) == limit)

    def staff_visits(self, school_id: str, staff_id: str) -> tuple[str, ...]:
        """The visits this member of staff is on, by their plans."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(visit_staff.c.visit_id).where(visit_staff.c.school_id == school_id,
                                                     visit_staff.c.staff_id == staff_id)
                .order_by(visit_staff.c.visit_id)).all()
        return tuple(row.visit_id for row in rows)

    def count(self, school_id: str | None = None) -> int:
        query = select(func.count()).select_from(events)
        if school_id is not None:
            query = query.where(events.c.school_id == school_id)
        with self.engine.connect() as connection:
            return int(connection.execute(query).scalar_one())


@dataclass(frozen=True, slots=True)
class History:
    events: tuple[Event, ...]
    unreadable: tuple[Rejected, ...] = ()  # rows that are not events of their type


@dataclass(frozen=True, slots=True)
class Page:
    events: list[Event]
    unreadable: list[Rejected]  # rows of this page withheld: not events of their type
    cursor: int  # ask with this next
    full: bool  # the page is full: there may be more


def _read(rows: Sequence[Any]) -> tuple[tuple[Event, ...], tuple[Rejected, ...]]:
    """Stored rows as events, each checked as a push is, and those that fail with why."""
    found: list[Event] = []
    unreadable: list[Rejected] = []
    for row in rows:
        try:
            found.append(check_event(Event.from_dict(json.loads(row.body))))
        except (ValueError, RecursionError) as error:  # EventError and JSON's errors
            unreadable.append(Rejected(row.id, str(error)[:200]))
    return tuple(found), tuple(unreadable)


def _listed(staff: Any) -> list[dict[str, Any]]:
    """A plan's staff who could be members of staff at the hub: an id no member of staff can
    have (too long, or with control characters) reaches no phone, and is not indexed."""
    if not isinstance(staff, list):
        return []
    return [m for m in staff if isinstance(m, dict) and isinstance(m.get("staff_id"), str)
            and is_printable_id(m["staff_id"], 64)]
