"""Children's data at the hub, on SQLite and PostgreSQL: kept as long as the school's rules say
and then deleted (sealed records too), erased on request but for what the DSL holds, leaving
no trace of the child's name in the database file or a dump, never brought back by a phone,
and given out whole for a subject access request.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, update

from fieldapp.crypto.sealing import SealedRecord, seal
from fieldapp.domain import commands as c
from fieldapp.domain.events import Author, Event, EventType
from fieldapp.domain.journeys import Journey, Step, child_at_door, let_in
from fieldapp.domain.policy import load_pack
from fieldapp.domain.simulate import SimulatedVisit
from fieldapp.domain.state import Staff
from fieldapp.hub.audit import AuditLog
from fieldapp.hub.backup import libpq
from fieldapp.hub.events_store import ERASED, events
from fieldapp.hub.exports import subject_access_pdf
from fieldapp.hub.retention import Retention, RetentionError, Rule
from fieldapp.sync.protocol import Push
from fieldapp.sync.records import visit_record
from tests.hub.test_console_casework import pdf_text
from tests.hub.world import NOW, School, World

PACK = load_pack("uplands-junior")
BY = ("dsl-of-test", "dsl")
SENTINEL = "Zebedee Quillfeather"  # a child's name found nowhere else
PHRASE = "purple heron"  # the pair's safe phrase: theirs and reception's, not the child's


def visit(world: World, school: School, visit_id: str, journey: Journey, child_ref: str,
          name: str = "Sam Example", seal_it: bool = False, unpushed: int = 0) -> list[Event]:
    """A visit walked through `journey` for child `child_ref` (called `name`), stored at the
    hub as the pair's phones would have sent it; with its sealed record if `seal_it`, in
    which the last `unpushed` events are and the hub's events are not (their push lost)."""
    walked = SimulatedVisit(PACK, NOW - timedelta(days=1), visit_id=visit_id,
                            author=Author(school.staff("ann"), school.device["device_id"]),
                            seed=hash(visit_id) % 1000)
    for _label, minutes, command in journey(walked):
        if isinstance(command, c.Plan):
            command = dataclasses.replace(command, child_ref=child_ref, child_name=name,
                                          safe_phrase=PHRASE, staff=(
                Staff(school.staff("ann"), "Ann", True, True),
                Staff(school.staff("dsl"), "Dee", True, True)))
        walked.do(command, minutes)  # a journey may try what the policy refuses
    assert walked.state.returned is not None or walked.state.cancelled is not None
    world.store.ingest(school.id, "hub-console", Push(events=tuple(
        walked.events[:len(walked.events) - unpushed])))
    if seal_it:
        envelope = seal(world.keys.public_bytes(), school.id, f"rec-{visit_id}",
                        visit_record(visit_id, walked.events))
        answer = world.client.post("/api/v1/sealed", headers=school.phone(), json={
            "protocol": 1, "records": [SealedRecord.from_envelope(envelope).to_json()]})
        assert answer.json()["stored"] == [f"rec-{visit_id}"], answer.text
    return walked.events


def cancelled_before_leaving(walked: SimulatedVisit) -> Iterator[Step]:
    """Planned, then called off before anyone went."""
    yield next(let_in(walked))
    yield "Called off", 60, c.Cancel("the family moved away")


def held_visits(world: World, school: School) -> set[str]:
    return set(world.store.visit_ids(school.id))


def test_expired_records_are_gone_after_a_run_with_an_injected_clock(
        world: World, uplands: School) -> None:
    kept = Retention(world.engine)
    visit(world, uplands, "routine-1", let_in, "UPN-R1", seal_it=True)
    visit(world, uplands, "routine-held", let_in, "UPN-R3")
    visit(world, uplands, "concern-dob", child_at_door, "UPN-S1")
    visit(world, uplands, "concern-no-dob", child_at_door, "UPN-S2")
    visit(world, uplands, "called-off", cancelled_before_leaving, "UPN-R4")
    unreadable = visit(world, uplands, "unreadable", let_in, "UPN-R5")
    with world.engine.begin() as connection:  # a visit none of whose rows read as events
        connection.execute(update(events).where(events.c.visit_id == "unreadable").values(
            body='{"not": "an event"}'))
    kept.set_rule("uplands", Rule("routine", after_years=1), NOW, BY)
    kept.set_rule("uplands", Rule("safeguarding", until_age=25), NOW, BY)
    kept.set_rule("uplands", Rule("audit", after_years=6), NOW, BY)
    kept.set_born("uplands", "UPN-S1", date(2015, 3, 1), NOW, BY)
    kept.hold("uplands", "routine-held", "a case before the family court", NOW, BY)
    AuditLog(world.engine).record("uplands", NOW - timedelta(days=7 * 365), "x", "dsl",
                                  "read_visit", "an old read")
    before = held_visits(world, uplands)
    assert kept.due("uplands", NOW).expired == []  # nothing is old enough yet
    later = NOW + timedelta(days=2 * 365)
    due = kept.expire("uplands", later, BY)
    gone = {facts.visit_id for facts in due.expired}
    # The routine visit that ended, the one called off and the one planned and never carried
    # out are gone; the visit out and not back stays, whatever its age, and so does the one
    # whose rows cannot be read (nobody can tell whose it is: the console shows it as needing
    # attention).
    assert gone == {"routine-1", "called-off", uplands.waiting}
    assert len(world.store.history("uplands", "unreadable").unreadable) == len(unreadable)
    assert held_visits(world, uplands) == before - gone
    assert {facts.visit_id: why.split(":")[0] for facts, why in due.kept} == {
        "routine-held": "held by dsl-of-test", "concern-no-dob": "no date of birth for child "
        "UPN-S2"}
    assert world.client.get("/api/v1/console/records/rec-routine-1",
                            headers=uplands.auth("dsl")).status_code == 404
    assert due.audit_entries == 1
    log = AuditLog(world.engine).entries("uplands", limit=1000)
    assert "an old read" not in {entry.subject for entry in log}
    assert {(e.action, e.subject) for e in log} >= {
        ("expire_visit", "routine-1"), ("expire_visit", uplands.waiting),
        ("hold_visit", "routine-held"), ("set_retention", "routine: kept 1 years after the "
                                                          "visit")}
    # Hart Hill has no rules: it keeps everything.
    assert kept.due("hart-hill", later).expired == []
    # The child born in 2015 is 25 in March 2040: then, and not before, the visit goes.
    assert "concern-dob" not in {f.visit_id for f in kept.due("uplands", datetime(
        2040, 2, 28, tzinfo=UTC)).expired}
    assert "concern-dob" in {f.visit_id for f in kept.expire("uplands", datetime(
        2040, 3, 2, tzinfo=UTC), BY).expired}


def test_an_erased_visit_cannot_be_brought_back_by_a_phone(world: World,
                                                           uplands: School) -> None:
    events = visit(world, uplands, "to-erase", let_in, "UPN-E1")
    Retention(world.engine).erase_child("uplands", "UPN-E1", NOW, BY)
    answer = world.client.post("/api/v1/push", headers=uplands.phone(), json={
        "protocol": 1, "events": [e.to_dict() for e in events
                                  if e.type is not EventType.AUTHORISED]}).json()
    assert answer["stored"] == [] and {r["reason"] for r in answer["rejected"]} == {ERASED}
    assert "to-erase" not in held_visits(world, uplands)


def test_erasure_on_request_leaves_no_trace_of_the_childs_name_and_spares_what_is_held(
        world: World, uplands: School, tmp_path: Path) -> None:
    kept = Retention(world.engine)
    visit(world, uplands, "sentinel-1", let_in, "UPN-Z", SENTINEL, seal_it=True)
    visit(world, uplands, "sentinel-2", child_at_door, "UPN-Z", SENTINEL)
    visit(world, uplands, "sentinel-held", child_at_door, "UPN-Z", SENTINEL)
    kept.hold("uplands", "sentinel-held", "police inquiry", NOW, BY)
    assert traces(world.engine, tmp_path) > 0
    gone, held = kept.erase_child("uplands", "UPN-Z", NOW, BY)
    assert (gone, held) == (["sentinel-1", "sentinel-2"], ["sentinel-held"])
    kept.release("uplands", "sentinel-held", NOW, BY)
    assert kept.erase_child("uplands", "UPN-Z", NOW, BY) == (["sentinel-held"], [])
    assert traces(world.engine, tmp_path) == 0
    with pytest.raises(RetentionError, match="no visits to child 'UPN-Z'"):
        kept.erase_child("uplands", "UPN-Z", NOW, BY)
    actions = [(e.action, e.subject) for e in AuditLog(world.engine).entries("uplands")]
    assert ("erase_child", "UPN-Z") in actions and ("erase_visit", "sentinel-1") in actions


def traces(engine: Engine, tmp_path: Path) -> int:
    """How often the sentinel name is in the database's files (SQLite: hub.db and its log) or
    in a dump of it (PostgreSQL)."""
    needle = SENTINEL.encode()
    if engine.dialect.name == "sqlite":
        database = Path(str(engine.url.database))
        return sum(path.read_bytes().count(needle) for path in (
            database, Path(f"{database}-wal")) if path.exists())
    dump = tmp_path / "dump.sql"
    subprocess.run(["pg_dump", f"--file={dump}", f"--dbname={libpq(engine.url)}"],
                   check=True)
    return dump.read_bytes().count(needle)


def test_a_subject_access_export_holds_everything_about_one_child(
        world: World, uplands: School) -> None:
    kept = Retention(world.engine)
    visit(world, uplands, "sar-1", let_in, "UPN-Z", SENTINEL, seal_it=True, unpushed=1)
    visit(world, uplands, "sar-2", child_at_door, "UPN-Z", SENTINEL, seal_it=True)
    visit(world, uplands, "someone-else", let_in, "UPN-OTHER", "Another Child")
    kept.hold("uplands", "sar-2", "child protection plan", NOW, BY)
    kept.set_born("uplands", "UPN-Z", date(2016, 5, 4), NOW, BY)
    found = kept.subject_access("uplands", "UPN-Z", [world.keys], NOW, BY)
    assert [v["visit_id"] for v in found["visits"]] == ["sar-1", "sar-2"]
    assert [v["kind"] for v in found["visits"]] == ["routine", "safeguarding"]
    assert found["visits"][1]["hold"]["reason"] == "child protection plan"
    assert found["date_of_birth"] == "2016-05-04"
    (record,) = found["visits"][0]["sealed_records"]
    assert record["record_id"] == "rec-sar-1" and record["events"]  # opened with the key
    text = json.dumps(found)
    assert SENTINEL in text and "Another Child" not in text
    assert PHRASE in world.store.visit_events("uplands", "sar-1")[0].payload["safe_phrase"]
    assert PHRASE not in text and '"safe_phrase":' not in text  # left out
    assert {"hold_visit", "set_date_of_birth"} <= {e["action"] for e in found["audit"]}
    words = pdf_text(subject_access_pdf(found, PACK))
    assert SENTINEL in words and "child protection plan" in words and "rec-sar-1" in words
    # The debrief came only in the sealed record (its push was lost): it is in the export too.
    assert "1 more events:" in words and "debriefed — note: Went as planned" in words
    assert "Sealed record rec-sar-2" in words and "every event in it is above." in words
    assert PHRASE not in words
    assert ("subject_access", "UPN-Z") in [(e.action, e.subject) for e in
                                           AuditLog(world.engine).entries("uplands")]


def test_rules_and_holds_refuse_what_makes_no_sense(world: World, uplands: School) -> None:
    kept = Retention(world.engine)
    for rule, said in ((Rule("forever"), "a kind of record is one of"),
                       (Rule("routine", 1, 25), "not both"),
                       (Rule("audit", until_age=25), "not to an age"),
                       (Rule("routine", after_years=0), "1 to 100"),
                       (Rule("safeguarding", until_age=12), "18 to")):
        with pytest.raises(RetentionError, match=said):
            kept.set_rule("uplands", rule, NOW, BY)
    with pytest.raises(RetentionError, match="say why"):
        kept.hold("uplands", uplands.out, " ", NOW, BY)
    with pytest.raises(RetentionError, match="no visit 'nope'"):
        kept.hold("uplands", "nope", "a reason", NOW, BY)
    with pytest.raises(RetentionError, match="is not on hold"):
        kept.release("uplands", uplands.out, NOW, BY)
    with pytest.raises(RetentionError, match="not in the future"):
        kept.set_born("uplands", "UPN-1", NOW.date() + timedelta(days=1), NOW, BY)
    with pytest.raises(RetentionError, match="no visits to child"):
        kept.subject_access("uplands", "UPN-NOBODY", [world.keys], NOW, BY)
    kept.set_rule("uplands", Rule("routine", after_years=3), NOW, BY)
    kept.set_rule("uplands", Rule("routine"), NOW, BY)  # back to keeping them
    assert kept.rules("uplands")["routine"] == Rule("routine")


def test_a_school_removed_leaves_nothing_of_it_and_its_neighbour_untouched(
        world: World, uplands: School) -> None:
    from sqlalchemy import func, select

    from fieldapp.hub.events_store import metadata

    hart = world.schools["hart-hill"]
    kept = Retention(world.engine)
    kept.hold("hart-hill", hart.out, "an inquiry", NOW, BY)
    with pytest.raises(RetentionError, match="on hold: the DSL must let them go first"):
        kept.remove_school("hart-hill")
    kept.release("hart-hill", hart.out, NOW, BY)

    def counts(school_id: str) -> dict[str, int]:
        with world.engine.connect() as connection:
            return {table.name: connection.execute(select(func.count()).select_from(
                table).where(table.c.school_id == school_id)).scalar_one()
                for table in metadata.sorted_tables if "school_id" in table.c}

    neighbour = counts("uplands")
    deleted = kept.remove_school("hart-hill")
    assert deleted["events"] > 0 and deleted["sealed_records"] == 1 and deleted["schools"] == 1
    assert deleted["console_logins"] == 5 and deleted["staff"] == 5
    assert set(counts("hart-hill").values()) == {0}
    assert counts("uplands") == neighbour
    assert world.client.get("/api/v1/pull", headers=hart.phone()).status_code == 401
