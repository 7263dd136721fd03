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
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    create_engine,
    event,
    func,
    insert,
    select,
)
from sqlalchemy.sql.elements import ColumnElement

from fieldapp.domain.events import Event, EventType, is_printable_id
from fieldapp.hub import migrate
from fieldapp.hub.driver_sql import DriverStatement, driver_connection, in_list
from fieldapp.sync.protocol import Push, PushResult, plan_ingest

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


def connect(url: str, background_checkpoints: bool = False) -> Engine:
    """An engine for `url` (e.g. "sqlite:///hub.db", "postgresql+psycopg://host/db"), with
    SQLite made durable and safe for concurrent readers (WAL, synchronous=FULL). A new SQLite
    file is made readable by its owner only (it holds children's names and addresses); SQLite
    gives its -wal and -shm files the same mode. With `background_checkpoints`, SQLite's
    commits leave checkpoints to a `fieldapp.hub.checkpoints.Checkpointer`."""
    engine = create_engine(url, future=True)
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
            if background_checkpoints:
                cursor.execute("PRAGMA wal_autocheckpoint=0")
            cursor.close()
    migrate.upgrade(engine)  # to this hub's schema; refuses a database it cannot run on
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
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
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
        self._insert = DriverStatement(insert(events), dialect, _NEW_EVENT, many=True)
        self._on_visit = DriverStatement(insert(visit_staff), dialect, _ON_VISIT, many=True)

    def ingest(self, school_id: str, device_id: str, push: Push) -> PushResult:
        """Store a push's new events durably; answer what became of each."""
        bodies = {e.id: e.canonical() for e in push.events}  # before waiting for the writer
        for attempt in range(3):
            try:
                return self._ingest_once(school_id, device_id, push, bodies)
            except self._integrity_error:  # another push stored one of these ids meanwhile
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _ingest_once(self, school_id: str, device_id: str, push: Push,
                     bodies: dict[str, str]) -> PushResult:
        with self._writer, driver_connection(self.engine) as connection:
            cursor = connection.cursor()
            cursor.execute(self._stored.sql, self._stored.params(
                {"ids": self._list(list(bodies))}))
            # An id another school holds is a conflict, whatever it carries: nothing is
            # stored, nothing about the other school is said.
            plan = plan_ingest(push.events, {
                event_id: body if school == school_id else ""
                for event_id, body, school in cursor.fetchall()})
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

    def visit_events(self, school_id: str, visit_id: str) -> tuple[Event, ...]:
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(events.c.body)
                .where(events.c.school_id == school_id, events.c.visit_id == visit_id)
                .order_by(events.c.id)).all()
        return tuple(Event.from_dict(json.loads(row.body)) for row in rows)

    def visit_ids(self, school_id: str) -> tuple[str, ...]:
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(events.c.visit_id).where(events.c.school_id == school_id)
                .distinct().order_by(events.c.visit_id)).all()
        return tuple(row.visit_id for row in rows)

    def since(self, school_id: str, cursor: int, limit: int = 500) -> tuple[list[Event], int]:
        """The school's events after `cursor`, in arrival order, and the cursor to ask with
        next (unchanged when there is nothing new)."""
        return self._page(school_id, cursor, limit)

    def since_for_staff(self, school_id: str, staff_id: str, cursor: int,
                        limit: int = 500) -> tuple[list[Event], int]:
        """Like `since`, but only the visits this member of staff is on."""
        on_visit = select(visit_staff.c.visit_id).where(
            visit_staff.c.school_id == school_id, visit_staff.c.staff_id == staff_id)
        return self._page(school_id, cursor, limit, events.c.visit_id.in_(on_visit))

    def _page(self, school_id: str, cursor: int, limit: int,
              *conditions: ColumnElement[bool]) -> tuple[list[Event], int]:
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(events.c.seq, events.c.body)
                .where(events.c.school_id == school_id, events.c.seq > cursor, *conditions)
                .order_by(events.c.seq).limit(limit)).all()
        found = [Event.from_dict(json.loads(row.body)) for row in rows]
        return found, (rows[-1].seq if rows else cursor)

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


def _listed(staff: Any) -> list[dict[str, Any]]:
    """A plan's staff who could be members of staff at the hub: an id no member of staff can
    have (too long, or with control characters) reaches no phone, and is not indexed."""
    if not isinstance(staff, list):
        return []
    return [m for m in staff if isinstance(m, dict) and isinstance(m.get("staff_id"), str)
            and is_printable_id(m["staff_id"], 64)]
