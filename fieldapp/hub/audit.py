"""The audit log: every read of case content at the hub, written durably before the content is
sent. An entry says who (staff id and role), when, what kind of read, and which visit or
record by id: never the content, never a child's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Index,
    String,
    Table,
    insert,
    select,
)

from fieldapp.hub.directory import as_utc
from fieldapp.hub.events_store import arrival_order, metadata

audit_log: Final = Table(
    "audit_log", metadata,
    arrival_order(),
    Column("school_id", String(64), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("staff_id", String(64), nullable=False),
    Column("role", String(20), nullable=False),
    Column("action", String(40), nullable=False),  # e.g. "read_visit", "open_record"
    Column("subject", String(128), nullable=False),  # a visit or record id
    Index("audit_school_seq", "school_id", "seq"),
)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    seq: int
    at: datetime
    staff_id: str
    role: str
    action: str
    subject: str


class AuditLog:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(self, school_id: str, at: datetime, staff_id: str, role: str, action: str,
               subject: str) -> None:
        """Committed before it returns: the caller sends the content only after this."""
        with self.engine.begin() as connection:
            connection.execute(insert(audit_log).values(
                school_id=school_id, at=at, staff_id=staff_id, role=role, action=action,
                subject=subject))

    def entries(self, school_id: str, before: int | None = None,
                limit: int = 200) -> tuple[AuditEntry, ...]:
        """The school's entries, newest first; `before` pages back from an entry's seq."""
        query = select(audit_log).where(audit_log.c.school_id == school_id)
        if before is not None:
            query = query.where(audit_log.c.seq < before)
        with self.engine.connect() as connection:
            rows = connection.execute(query.order_by(audit_log.c.seq.desc()).limit(limit)).all()
        return tuple(AuditEntry(row.seq, as_utc(row.at),
                                row.staff_id, row.role, row.action, row.subject) for row in rows)
