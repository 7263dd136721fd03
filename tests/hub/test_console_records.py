"""Children's records at the console, through the fake Flet client (on SQLite; the service's
rules run on both databases in test_retention.py): the DSL holds a visit, downloads a child's
subject access export, and erases a child's visits but the held one; the admin sets how long
routine visits are kept and deletes what is due. Each is in the audit log."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from fieldapp.hub.audit import AuditLog
from fieldapp.hub.retention import Retention
from tests.app.fake_flet import run
from tests.hub.test_console_casework import pdf_text, saved, visit_with_concern
from tests.hub.test_console_screens import signed_in, until, visit_opened
from tests.hub.world import School, World

pytestmark = pytest.mark.parametrize("engine", ["sqlite"], indirect=True)


def test_the_dsl_holds_a_visit_exports_a_childs_records_and_erases_the_rest(
        world: World, uplands: School) -> None:
    held = visit_with_concern(world, uplands, "UPN-Q", "Bruise on the arm", 3)
    other = visit_with_concern(world, uplands, "UPN-Q", "Missed meals", 1, "UPN-Q-later")

    async def scenario() -> None:
        screen = await visit_opened(world, uplands, "dsl", held, "hold")
        await screen.tap("hold")  # no reason given: refused, and said
        assert "say why the visit is held" in screen.words("hold-card")
        await screen.type("hold-reason", "Police inquiry")
        await screen.tap("hold")
        await until(screen, "release-hold")
        assert "On hold" in screen.words("hold-card") and "Police inquiry" in screen.words(
            "hold-card")
        await screen.tap("release-hold")  # let go, and held again
        await until(screen, "hold")
        await screen.type("hold-reason", "Police inquiry")
        await screen.tap("hold")
        await until(screen, "release-hold")
        await screen.tap("chronology")
        await until(screen, "subject-access-pdf")
        await screen.tap("subject-access-pdf")
        name, pdf = saved(screen)
        assert name == "subject-access-UPN-Q.pdf" and "Bruise on the arm" in pdf_text(pdf)
        await screen.tap("subject-access-json")
        name, data = saved(screen)
        assert [v["visit_id"] for v in json.loads(data)["visits"]] == sorted([held, other])
        await screen.type("erase-confirm", "UPN-X")
        await screen.tap("erase")
        assert "nothing was erased" in screen.words("erase-outcome")
        await screen.type("erase-confirm", "UPN-Q")
        await screen.tap("erase")
        assert f"Erased 1 visits; kept 1 on hold: {held}" in screen.words("erase-outcome")
        await screen.tap("nav-records")
        await until(screen, f"hold-{held}")
        assert "Police inquiry" in screen.words(f"hold-{held}")

    run(scenario)
    assert set(world.store.visit_ids("uplands")) >= {held} and other not in set(
        world.store.visit_ids("uplands"))
    actions = [e.action for e in AuditLog(world.engine).entries("uplands")]
    assert {"hold_visit", "release_hold", "subject_access", "erase_child", "erase_visit"} <= set(
        actions) and actions.count("hold_visit") == 2


def test_a_child_erased_already_is_said_and_nothing_more_happens(
        world: World, uplands: School) -> None:
    visit_with_concern(world, uplands, "UPN-W", "Left alone at night", 2)

    async def scenario() -> None:
        screen = await visit_opened(world, uplands, "dsl", "UPN-W-v", "chronology")
        await screen.tap("chronology")
        await until(screen, "erase")
        await screen.type("erase-confirm", "UPN-W")
        await screen.tap("erase")
        assert "Erased 1 visits. Backups keep them" in screen.words("erase-outcome")
        await screen.tap("erase")  # a second tap, or a second DSL on the same child
        assert "no visits to child 'UPN-W' at this school" in screen.words("erase-outcome")

    run(scenario)
    assert [e.action for e in AuditLog(world.engine).entries("uplands")].count(
        "erase_child") == 1


def test_a_dsl_who_has_left_is_signed_out_at_their_next_tap_and_holds_nothing(
        world: World, uplands: School) -> None:
    held = visit_with_concern(world, uplands, "UPN-L", "Bruise", 3)

    async def scenario() -> None:
        screen = await visit_opened(world, uplands, "dsl", held, "hold")
        world.directory.remove_staff("uplands", uplands.staff("dsl"), world.now)
        await screen.type("hold-reason", "Police inquiry")
        await screen.tap("hold")
        await until(screen, "sign-in")

    run(scenario)
    assert held not in Retention(world.engine).holds("uplands")



def test_the_admin_sets_how_long_routine_visits_are_kept_and_deletes_what_is_due(
        world: World, uplands: School) -> None:
    async def scenario() -> None:
        screen = await signed_in(world, uplands, "admin")
        await until(screen, "nav-records")
        await screen.tap("nav-records")
        await until(screen, "save-routine")
        assert "Nothing." in screen.words()
        await screen.type("retention-routine-years", "1")
        await screen.type("retention-routine-age", "25")
        await screen.tap("save-routine")
        assert "not both" in screen.words("outcome")
        await screen.type("retention-routine-age", "")
        await screen.tap("save-routine")
        assert "kept 1 years after the visit" in screen.words("outcome")
        await screen.type("retention-audit-years", "1")
        await screen.tap("save-audit")
        world.now += timedelta(days=800)  # two years on, signed in again
        screen = await signed_in(world, uplands, "admin")
        await until(screen, "nav-records")
        await screen.tap("nav-records")
        await until(screen, f"due-{uplands.waiting}")
        entries = len(AuditLog(world.engine).entries("uplands", limit=1000))
        assert f"{entries} audit entries" in screen.words()  # all over a year old
        await screen.tap("delete-due")
        assert f"Deleted 1 visits and {entries} audit entries" in screen.words("outcome")
        assert screen.unlabelled() == []

    run(scenario)
    assert uplands.waiting not in world.store.visit_ids("uplands")
    assert ("expire_visit", uplands.waiting) in [
        (e.action, e.subject) for e in AuditLog(world.engine).entries("uplands")]


def test_the_admin_says_a_member_of_staff_has_left(world: World, uplands: School) -> None:
    ann = uplands.staff("ann")

    async def scenario() -> None:
        screen = await signed_in(world, uplands, "admin")
        await until(screen, f"leave-{ann}")
        await screen.tap(f"leave-{ann}")
        await until(screen, f"cancel-leave-{ann}")
        await screen.tap(f"cancel-leave-{ann}")  # changed their mind: nothing happens
        await until(screen, f"confirm-leave-{ann}", present=False)
        await screen.tap(f"leave-{ann}")
        await until(screen, f"confirm-leave-{ann}")
        world.directory.remove_staff("uplands", ann, world.now)  # another admin, just now
        await screen.tap(f"confirm-leave-{ann}")
        assert "no such member of staff at this school" in screen.words(f"said-{ann}")
        dee = uplands.staff("dsl")
        await screen.tap(f"leave-{dee}")
        await until(screen, f"confirm-leave-{dee}")
        await screen.tap(f"confirm-leave-{dee}")
        await until(screen, f"staff-{dee}", present=False)
        assert "has left: 0 phone(s) revoked" in screen.words("notice")
        await screen.tap(f"leave-{uplands.staff('admin')}")
        await screen.tap(f"confirm-leave-{uplands.staff('admin')}")
        assert "you cannot remove yourself" in screen.words(f"said-{uplands.staff('admin')}")

    run(scenario)
    assert not {ann, uplands.staff("dsl")} & {m.staff_id for m in world.directory.staff(
        "uplands")}
    assert ("remove_staff", uplands.staff("dsl")) in [
        (e.action, e.subject) for e in AuditLog(world.engine).entries("uplands")]
