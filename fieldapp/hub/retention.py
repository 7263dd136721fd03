"""Children's data kept no longer than the school says, erased on request, and given out on
request (a subject access request).

- **Retention rules**, per school and kind of record: a visit is a `safeguarding` record when
  a concern or an alert was raised on it, else a `routine` one (attendance,
  a welfare check that found nothing, a new starter). A rule keeps a kind for some years after
  the visit ended, or until the child reaches an age (safeguarding records are commonly kept
  until the child is 25; that needs the child's date of birth, which the school gives the hub:
  without it such a record is kept, and the run says so). `audit` entries have a rule of their
  own. A school with no rule for a kind keeps it.
- **A visit is over** once the pair are back or it was cancelled; one planned and never
  carried out is over at its last event. A visit out and not back is never expired.
- **The DSL's hold** keeps a visit whatever the rules say, and it cannot be erased.
- **Erasing** a visit deletes its events, who was on it and its sealed records, in one
  transaction, and remembers its id (`erased_visits`) so a phone that still holds its events
  cannot bring them back. On SQLite deleted content is overwritten (`secure_delete`, set on
  every connection) and the log is emptied into the database afterwards (a TRUNCATE
  checkpoint), so nothing of it is left in `hub.db` or `hub.db-wal`. Backups taken before keep
  it until they expire themselves.
- Every expiry, erasure and hold goes in the school's audit log (ids only).
"""

from __future__ import annotations

import calendar
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Final

from sqlalchemy import (
    Column,
    Date,
    DateTime,
    Engine,
    ForeignKey,
    Integer,
    String,
    Table,
    delete,
    insert,
    select,
)

from fieldapp.crypto.sealing import HubKeyPair
from fieldapp.domain.events import EventType
from fieldapp.domain.state import VisitState, fold
from fieldapp.hub.audit import AuditLog, audit_log
from fieldapp.hub.directory import DirectoryError, as_utc
from fieldapp.hub.events_store import (
    EventStore,
    erased_visits,
    events,
    metadata,
    visit_staff,
)
from fieldapp.hub.records import SealedStore, sealed_records

KINDS: Final = ("routine", "safeguarding", "audit")
# Left out of what is given to a child or their family: the pair's safe phrase is a secret
# between staff and reception, not the child's data.
WITHHELD: Final = frozenset({"safe_phrase", "phrase"})

retention_rules: Final = Table(
    "retention_rules", metadata,
    Column("school_id", String(64), ForeignKey("schools.id"), primary_key=True),
    Column("kind", String(20), primary_key=True),
    Column("after_years", Integer),  # kept this many years after the visit ended...
    Column("until_age", Integer),  # ...or until the child is this old
)
holds: Final = Table(
    "holds", metadata,
    Column("school_id", String(64), primary_key=True),
    Column("visit_id", String(128), primary_key=True),
    Column("staff_id", String(64), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("reason", String(500), nullable=False),
)
children: Final = Table(
    "children", metadata,
    Column("school_id", String(64), primary_key=True),
    Column("child_ref", String(64), primary_key=True),
    Column("born", Date, nullable=False),
)


class RetentionError(DirectoryError):
    """Refused; nothing changed. The message says why."""


@dataclass(frozen=True, slots=True)
class Rule:
    kind: str
    after_years: int | None = None
    until_age: int | None = None

    def words(self) -> str:
        if self.after_years is not None:
            return f"kept {self.after_years} years after the visit"
        if self.until_age is not None:
            return f"kept until the child is {self.until_age}"
        return "kept (no rule)"


@dataclass(frozen=True, slots=True)
class Held:
    visit_id: str
    staff_id: str
    at: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class VisitFacts:
    visit_id: str
    child_ref: str
    kind: str  # "routine" or "safeguarding"
    ended: datetime | None  # None: out and not back yet


@dataclass
class Due:
    """What a retention run deletes, and what it keeps that a rule would otherwise reach."""

    expired: list[VisitFacts] = field(default_factory=list)
    kept: list[tuple[VisitFacts, str]] = field(default_factory=list)
    audit_before: datetime | None = None  # audit entries older than this go
    audit_entries: int = 0


def kind_of(state: VisitState) -> str:
    return "safeguarding" if state.concerns or state.alerts else "routine"


def ended(state: VisitState, last: datetime) -> datetime | None:
    if state.returned is not None:
        return state.returned.at
    if state.cancelled is not None:
        return state.cancelled.at
    if state.sign_out is not None:
        return None  # out, or overdue: never expired
    return last  # planned and never carried out


def years_after(moment: datetime, years: int) -> datetime:
    """The same day and time `years` later (29 February: the 28th in a common year)."""
    year = moment.year + years
    day = min(moment.day, calendar.monthrange(year, moment.month)[1])
    return moment.replace(year=year, day=day)


class Retention:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.store = EventStore(engine)
        self.audit = AuditLog(engine)

    # -- the school's rules, holds and dates of birth --------------------------------------

    def rules(self, school_id: str) -> dict[str, Rule]:
        with self.engine.connect() as connection:
            rows = connection.execute(select(retention_rules).where(
                retention_rules.c.school_id == school_id)).all()
        found = {row.kind: Rule(row.kind, row.after_years, row.until_age) for row in rows}
        return {kind: found.get(kind, Rule(kind)) for kind in KINDS}

    def set_rule(self, school_id: str, rule: Rule, now: datetime, by: tuple[str, str]) -> None:
        """A kind's rule (neither years nor age: no rule, keep it); audited."""
        if rule.kind not in KINDS:
            raise RetentionError(f"a kind of record is one of {', '.join(KINDS)}")
        if rule.after_years is not None and rule.until_age is not None:
            raise RetentionError("keep a kind for some years after the visit, or until the "
                                 "child is an age: not both")
        if rule.kind == "audit" and rule.until_age is not None:
            raise RetentionError("audit entries are kept for some years, not to an age")
        for value, least, most in ((rule.after_years, 1, 100), (rule.until_age, 18, 100)):
            if value is not None and not least <= value <= most:
                raise RetentionError(f"years after the visit: 1 to 100; until an age: 18 to "
                                     f"100 (got {value})")
        with self.engine.begin() as connection:
            connection.execute(delete(retention_rules).where(
                retention_rules.c.school_id == school_id, retention_rules.c.kind == rule.kind))
            if rule.after_years is not None or rule.until_age is not None:
                connection.execute(insert(retention_rules).values(
                    school_id=school_id, kind=rule.kind, after_years=rule.after_years,
                    until_age=rule.until_age))
        self._audited(school_id, now, by, "set_retention", f"{rule.kind}: {rule.words()}")

    def hold(self, school_id: str, visit_id: str, reason: str, now: datetime,
             by: tuple[str, str]) -> None:
        """The DSL keeps a visit whatever the rules say (a case open, a court, an inquiry);
        audited."""
        if not reason.strip() or len(reason) > 500 or not reason.isprintable():
            raise RetentionError("say why the visit is held, in 1 to 500 characters")
        if not self.store.visit_events(school_id, visit_id):
            raise RetentionError(f"no visit {visit_id!r} at this school")
        with self.engine.begin() as connection:
            connection.execute(delete(holds).where(holds.c.school_id == school_id,
                                                   holds.c.visit_id == visit_id))
            connection.execute(insert(holds).values(school_id=school_id, visit_id=visit_id,
                                                    staff_id=by[0], at=now, reason=reason))
        self._audited(school_id, now, by, "hold_visit", visit_id)

    def release(self, school_id: str, visit_id: str, now: datetime,
                by: tuple[str, str]) -> None:
        with self.engine.begin() as connection:
            gone = connection.execute(delete(holds).where(
                holds.c.school_id == school_id, holds.c.visit_id == visit_id)).rowcount
        if not gone:
            raise RetentionError(f"visit {visit_id!r} is not on hold")
        self._audited(school_id, now, by, "release_hold", visit_id)

    def holds(self, school_id: str) -> dict[str, Held]:
        with self.engine.connect() as connection:
            rows = connection.execute(select(holds).where(holds.c.school_id == school_id)).all()
        return {row.visit_id: Held(row.visit_id, row.staff_id, as_utc(row.at), row.reason)
                for row in rows}

    def set_born(self, school_id: str, child_ref: str, born: date, now: datetime,
                 by: tuple[str, str]) -> None:
        """A child's date of birth, for rules that keep records until an age."""
        if not child_ref or len(child_ref) > 64 or born > now.date():
            raise RetentionError("a child's reference (1 to 64 characters) and a date of "
                                 "birth that is not in the future")
        with self.engine.begin() as connection:
            connection.execute(delete(children).where(children.c.school_id == school_id,
                                                      children.c.child_ref == child_ref))
            connection.execute(insert(children).values(school_id=school_id,
                                                       child_ref=child_ref, born=born))
        self._audited(school_id, now, by, "set_date_of_birth", child_ref)

    def _born(self, school_id: str) -> dict[str, date]:
        with self.engine.connect() as connection:
            return {row.child_ref: row.born for row in connection.execute(
                select(children).where(children.c.school_id == school_id))}

    # -- what is held ---------------------------------------------------------------------

    def visits(self, school_id: str) -> list[VisitFacts]:
        found = []
        for visit_id in self.store.visit_ids(school_id):
            history = self.store.history(school_id, visit_id)
            if not history.events:
                continue
            state = fold(history.events)
            found.append(VisitFacts(visit_id, str(state.plan.get("child_ref", "")),
                                    kind_of(state),
                                    ended(state, max(e.at for e in history.events))))
        return found

    def child_visits(self, school_id: str, child_ref: str) -> list[str]:
        """Every visit to this child, by the child's reference in its plans (each plan the
        hub holds, the set-aside ones too)."""
        with self.engine.connect() as connection:
            rows = connection.execute(select(events.c.visit_id, events.c.body).where(
                events.c.school_id == school_id,
                events.c.type == EventType.PLANNED.value)).all()
        return sorted({row.visit_id for row in rows
                       if json.loads(row.body).get("payload", {}).get("child_ref") == child_ref})

    # -- expiry and erasure ---------------------------------------------------------------

    def due(self, school_id: str, now: datetime) -> Due:
        """What the school's rules delete now, and what they would but cannot (held, no date
        of birth)."""
        rules, held, born = self.rules(school_id), self.holds(school_id), self._born(school_id)
        due = Due()
        for facts in self.visits(school_id):
            rule = rules[facts.kind]
            if facts.ended is None or (rule.after_years is None and rule.until_age is None):
                continue
            if rule.after_years is not None:
                until = years_after(facts.ended, rule.after_years)
            elif facts.child_ref in born:
                birthday = datetime.combine(born[facts.child_ref], datetime.min.time(), UTC)
                until = max(years_after(birthday, rule.until_age or 0), facts.ended)
            else:
                due.kept.append((facts, f"no date of birth for child {facts.child_ref}: "
                                 "give it (`fieldapp-hub retention born`) and run again"))
                continue
            if until > now:
                continue
            if facts.visit_id in held:
                due.kept.append((facts, f"held by {held[facts.visit_id].staff_id}: "
                                 f"{held[facts.visit_id].reason}"))
            else:
                due.expired.append(facts)
        audit_rule = rules["audit"]
        if audit_rule.after_years is not None:
            due.audit_before = years_after(now, -audit_rule.after_years)
            with self.engine.connect() as connection:
                due.audit_entries = len(connection.execute(select(audit_log.c.seq).where(
                    audit_log.c.school_id == school_id,
                    audit_log.c.at < due.audit_before)).all())
        return due

    def expire(self, school_id: str, now: datetime, by: tuple[str, str]) -> Due:
        """Delete what the school's rules say has been kept long enough; audited (ids)."""
        due = self.due(school_id, now)
        if due.audit_before is not None and due.audit_entries:
            with self.engine.begin() as connection:
                connection.execute(delete(audit_log).where(
                    audit_log.c.school_id == school_id, audit_log.c.at < due.audit_before))
            self._audited(school_id, now, by, "expire_audit",
                          f"{due.audit_entries} entries before {due.audit_before:%Y-%m-%d}")
        self._erase(school_id, [facts.visit_id for facts in due.expired], now)
        for facts in due.expired:
            self._audited(school_id, now, by, "expire_visit", facts.visit_id)
        return due

    def erase_child(self, school_id: str, child_ref: str, now: datetime,
                    by: tuple[str, str]) -> tuple[list[str], list[str]]:
        """Erase every visit to this child on request, except those the DSL holds; answers
        (erased, held). Audited, the request and each visit."""
        visit_ids = self.child_visits(school_id, child_ref)
        if not visit_ids:
            raise RetentionError(f"no visits to child {child_ref!r} at this school")
        held = self.holds(school_id)
        kept = [visit_id for visit_id in visit_ids if visit_id in held]
        gone = [visit_id for visit_id in visit_ids if visit_id not in held]
        self._erase(school_id, gone, now)
        if not kept:
            with self.engine.begin() as connection:
                connection.execute(delete(children).where(children.c.school_id == school_id,
                                                          children.c.child_ref == child_ref))
        self._audited(school_id, now, by, "erase_child", child_ref)
        for visit_id in gone:
            self._audited(school_id, now, by, "erase_visit", visit_id)
        return gone, kept

    def _erase(self, school_id: str, visit_ids: Sequence[str], now: datetime) -> None:
        if not visit_ids:
            return
        with self.engine.begin() as connection:
            connection.execute(insert(erased_visits), [
                {"school_id": school_id, "visit_id": visit_id, "erased_at": now}
                for visit_id in visit_ids])
            for table in (events, visit_staff, sealed_records):
                connection.execute(delete(table).where(table.c.school_id == school_id,
                                                       table.c.visit_id.in_(visit_ids)))
        if self.engine.dialect.name == "sqlite":  # the log's copies of what was deleted, too
            with self.engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    # -- a school the hub no longer serves --------------------------------------------------

    def remove_school(self, school_id: str) -> dict[str, int]:
        """Delete everything the hub holds of a school (its visits, sealed records, audit
        log, staff, phones, logins, pack, contacts and rules) in one transaction; refused
        while the DSL holds any of its visits. Answers the rows deleted, by table."""
        from fieldapp.hub import accounts  # its tables: the staff's logins
        from fieldapp.hub.directory import schools, staff

        if self.holds(school_id):
            raise RetentionError(f"{len(self.holds(school_id))} of the school's visits are on "
                                 "hold: the DSL must let them go first; nothing was deleted")
        deleted: dict[str, int] = {}
        with self.engine.begin() as connection:
            members = select(staff.c.id).where(staff.c.school_id == school_id)
            for table in (accounts.console_sessions, accounts.console_devices,
                          accounts.console_logins, metadata.tables["staff_pack_roles"]):
                deleted[table.name] = connection.execute(delete(table).where(
                    table.c.staff_id.in_(members))).rowcount
            for table in reversed(metadata.sorted_tables):  # what refers to staff, first
                if "school_id" in table.c and table is not schools:
                    deleted[table.name] = connection.execute(delete(table).where(
                        table.c.school_id == school_id)).rowcount
            deleted["schools"] = connection.execute(delete(schools).where(
                schools.c.id == school_id)).rowcount
        if self.engine.dialect.name == "sqlite":
            with self.engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        return {name: count for name, count in deleted.items() if count}

    # -- a subject access request -----------------------------------------------------------

    def subject_access(self, school_id: str, child_ref: str, keys: Sequence[HubKeyPair],
                       now: datetime, by: tuple[str, str]) -> dict[str, Any]:
        """Everything the hub holds about one child, as JSON: each visit's events as
        recorded and its sealed records opened, the DSL's holds, the date of birth given, and
        who read or did what with these records (the audit log). The pair's safe phrase is
        left out (staff's, not the child's). Audited."""
        visit_ids = self.child_visits(school_id, child_ref)
        if not visit_ids:
            raise RetentionError(f"no visits to child {child_ref!r} at this school")
        live, *retired = keys
        sealed = SealedStore(self.engine, live, retired)
        held, born = self.holds(school_id), self._born(school_id)
        visits = []
        for visit_id in visit_ids:
            history = self.store.history(school_id, visit_id)
            records = []
            for stored in sealed.for_visit(school_id, visit_id):
                opened = sealed.open(school_id, stored)
                records.append({"record_id": stored.record_id,
                                "received_at": stored.received_at.isoformat(),
                                "events": [_shown(e.to_dict()) for e in opened.events]})
            hold = held.get(visit_id)
            visits.append({
                "visit_id": visit_id, "kind": kind_of(fold(history.events)),
                "events": [_shown(e.to_dict()) for e in history.events],
                "sealed_records": records,
                "hold": None if hold is None else {"by": hold.staff_id,
                                                   "at": hold.at.isoformat(),
                                                   "reason": hold.reason}})
        subjects = {*visit_ids, child_ref}
        with self.engine.connect() as connection:
            entries = connection.execute(select(audit_log).where(
                audit_log.c.school_id == school_id, audit_log.c.subject.in_(subjects))
                .order_by(audit_log.c.seq)).all()
        self._audited(school_id, now, by, "subject_access", child_ref)
        return {"school_id": school_id, "child_ref": child_ref,
                "generated_at": now.isoformat(),
                "date_of_birth": born[child_ref].isoformat() if child_ref in born else None,
                "visits": visits,
                "audit": [{"at": as_utc(row.at).isoformat(), "staff_id": row.staff_id,
                           "role": row.role, "action": row.action, "subject": row.subject}
                          for row in entries],
                "left_out": "the pair's safe phrase, a secret between staff and reception"}

    def _audited(self, school_id: str, now: datetime, by: tuple[str, str], action: str,
                 subject: str) -> None:
        self.audit.record(school_id, now, by[0], by[1], action, subject[:128])


def _shown(event: dict[str, Any]) -> dict[str, Any]:
    payload = {key: value for key, value in event.get("payload", {}).items()
               if key not in WITHHELD}
    return {**event, "payload": payload}
