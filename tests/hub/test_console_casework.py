"""The DSL's and the admin's console screens, through the fake Flet client over the hub's
console service (on SQLite: what they add on PostgreSQL is the service's, tested in
test_console.py on both): planning a visit, its risk assessment and sign-off, a week's list
signed off at once, outcomes and concerns first, follow-ups with an owner and a date, a
child's chronology, the exports for CPOMS read back, and the admin's staff, phones and
contacts. Every read and change is in the audit log; a session that ends mid-screen goes back
to sign-in."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

import pypdfium2
import pytest
from sqlalchemy import update

from fieldapp.domain import commands as c
from fieldapp.domain.events import Author
from fieldapp.domain.journeys import go_ahead_assessment, let_in, no_answer
from fieldapp.domain.policy import load_pack
from fieldapp.domain.simulate import SimulatedVisit
from fieldapp.hub.accounts import SESSION_FOR
from fieldapp.hub.directory import Contacts, staff
from fieldapp.hub.errors import HubError
from fieldapp.sync.protocol import Push
from tests.app.fake_flet import Screen, run
from tests.hub.test_access_matrix import rows
from tests.hub.test_console_screens import service, signed_in, until, visit_opened
from tests.hub.world import PASSWORD, School, World

pytestmark = pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
SHOTS = Path(__file__).resolve().parents[1] / "screenshots"


def pdf_text(pdf: bytes) -> str:
    """The PDF's words, as a reader would copy them (lines joined by a space)."""
    document = pypdfium2.PdfDocument(pdf)
    return " ".join(" ".join(page.get_textpage().get_text_range().split())
                    for page in document)


def saved(screen: Screen) -> tuple[str, bytes]:
    """The last file the console handed the browser to save: (name, bytes). Other calls (the
    alert chime) may have come after it."""
    saves = [args for name, method, args in screen.client.calls
             if (name, method) == ("FilePicker", "save_file")]
    assert saves, screen.client.calls
    return saves[-1]["file_name"], bytes(saves[-1]["src_bytes"])


async def fill(screen: Screen, values: dict[str, Any]) -> None:
    """Type, tick or choose each field, by the field's name (the phone's own controls)."""
    for name, value in values.items():
        ident = "field-" + name.replace(".", "-").replace("_", "-")
        if value is True or value is False:
            choice = f"{ident}-{'yes' if value else 'no'}"
            await screen.tap(choice if screen.has(choice) else ident)
        elif screen.has(f"{ident}-{value}"):
            await screen.tap(f"{ident}-{value}")
        else:
            await screen.type(ident, value)


def assessment(pack_id: str) -> dict[str, Any]:
    answers = go_ahead_assessment(load_pack(pack_id))
    values: dict[str, Any] = {f"answers.{k}": v for k, v in answers.answers.items()}
    if answers.level:
        values["level"] = answers.level
    return values


def test_the_dsl_plans_assesses_and_signs_off_a_visit_that_reaches_the_pairs_phone(
        world: World, uplands: School) -> None:
    async def scenario() -> None:
        screen = await signed_in(world, uplands, "dsl")
        await screen.tap("nav-plan")
        await until(screen, "field-child-ref")
        await fill(screen, {"child_ref": "UPN-77", "child_name": "Zoë Łukasz",
                            "address": "7 Elm Row", "purpose": "Welfare check",
                            "scheduled_at": "24/11 10:30", "safe_phrase": "red folder"})
        await screen.tap("send")
        assert "Choose who is visiting" in screen.words("problem")
        await screen.tap(f"staff-{uplands.staff('ann')}")
        await screen.tap("send")
        assert screen.sees("Add a second member of staff")  # the policy's refusal
        await screen.tap(f"staff-{uplands.staff('cat')}")
        await fill(screen, {"scheduled_at": "24/11 19:30"})
        await screen.tap("send")
        assert "Choose a time during the day" in screen.words()
        await fill(screen, {"scheduled_at": "24/11 10:30"})
        await screen.tap("send")
        await until(screen, "notice")
        assert "Visit planned" in screen.words("notice")
        assert screen.has("refused-authorise-risk_assessment_required") or screen.sees(
            "risk assessment")
        await screen.tap("open-assess_risk")
        await until(screen, "form-assess_risk")
        await fill(screen, assessment("uplands-junior"))
        await screen.tap("send")
        await until(screen, "open-authorise")
        await screen.tap("open-authorise")
        await until(screen, "form-authorise")
        await fill(screen, {"step": "safeguarding_lead", "role": "safeguarding_lead"})
        await screen.tap("send")
        await until(screen, "open-authorise", present=False)
        assert "authorised" in screen.words()

    run(scenario)
    console = service(world)
    dsl = console.user(uplands.tokens["dsl"])
    planned = next(v for v in console.visits(dsl) if v.child_ref == "UPN-77")
    assert planned.phase == "authorised" and planned.staff == ("Ann", "Cat")
    pulled = world.client.get("/api/v1/pull", headers=uplands.phone(), params={"cursor": 0})
    assert planned.visit_id in {e["visit_id"] for e in pulled.json()["events"]}, \
        "a planned visit reaches the pair's phone on its next pull"
    done = [(e.action, e.subject) for e in console.audit_log(dsl)]
    for action in ("plan_visit", "assess_risk", "authorise"):
        assert (action, planned.visit_id) in done


def test_a_weeks_list_is_signed_off_in_one_go_each_visit_standing_alone(
        world: World, uplands: School) -> None:
    console = service(world)
    dsl = console.user(uplands.tokens["dsl"])
    later = []
    for n in range(3):
        visit_id, _ = console.plan(dsl, {
            "child_ref": f"UPN-W{n}", "address": f"{n} Week Street", "purpose": "Attendance",
            "scheduled_at": f"{24 + n}/11 10:00", "safe_phrase": "red folder",
            "staff": [uplands.staff("ann"), uplands.staff("cat")]})
        if n < 2:
            console.act(dsl, visit_id, "assess_risk", assessment("uplands-junior"))
        later.append(visit_id)

    async def scenario() -> None:
        screen = await signed_in(world, uplands, "dsl")
        await screen.tap("nav-visits")
        await until(screen, "sign-off-week")
        await screen.tap("sign-off-week")
        await until(screen, "result-2")
        said = screen.words()
        assert said.count(": signed off") == 3  # two planned here, and the world's waiting one
        assert "UPN-W2: not signed off: " in said  # no risk assessment yet: refused, alone

    run(scenario)
    phases = {v.visit_id: v.phase for v in console.visits(dsl)}
    assert [phases[v] for v in later] == ["authorised", "authorised", "planned"]


def visit_with_concern(world: World, school: School, child_ref: str, note: str,
                       days: int, visit_id: str = "") -> str:
    """A visit `days` ago, walked on Ann's phone: let in, a concern raised, an outcome with an
    action, back at school; the DSL's debrief still to come."""
    pack = load_pack("uplands-junior")
    visit = SimulatedVisit(pack, world.now - timedelta(days=days),
                           visit_id=visit_id or f"{child_ref}-v",
                           author=Author(school.staff("ann"), "phone-1"), seed=days)
    for _, after, command in let_in(visit):
        if isinstance(command, c.Plan):
            command = replace(command, child_ref=child_ref)
        if isinstance(command, c.RecordOutcome):
            assert visit.do(c.RaiseConcern("disclosure", note), after).accepted
            command = c.RecordOutcome(True, "Seen and spoken to", actions=(
                c.Action('=HYPERLINK("x")', "Ann"),))
        if isinstance(command, c.Debrief):
            break
        assert visit.do(command, after).accepted, command
    world.store.ingest(school.id, "phone-1", Push(events=tuple(visit.events)))
    return visit.visit_id


def test_concerns_come_first_and_the_file_records_debrief_and_follow_ups(
        world: World, uplands: School) -> None:
    concerned = visit_with_concern(world, uplands, "UPN-C", "Said there is no food", 2)

    async def scenario() -> None:
        screen = await signed_in(world, uplands, "dsl")
        await screen.tap("nav-visits")
        await until(screen, f"visit-{concerned}")
        cards = [i for i in screen.ids() if i.startswith("visit-")]
        assert cards[0] == f"visit-{concerned}", cards
        assert "1 concern" in screen.words(cards[0])
        await screen.tap(cards[0])
        await until(screen, "concern-0")
        assert "Said there is no food" in screen.words("concern-0")
        assert "Seen and spoken to" in screen.words("outcome")
        await screen.tap("open-debrief")
        await until(screen, "form-debrief")
        await fill(screen, {"with_whom": "Mrs Webster-Smith", "note": "Referral to MASH"})
        await screen.tap("send")
        await until(screen, "open-create_follow_up")
        await screen.tap("open-create_follow_up")
        await until(screen, "form-create_follow_up")
        await fill(screen, {"text": "Ring the family", "owner": "Ann", "due": "31/2"})
        await screen.tap("send")
        assert "By when: 31/2 is not a date" in screen.words("problem")
        await fill(screen, {"due": "4/12"})
        await screen.tap("send")
        await until(screen, "follow-ups")
        assert "Ring the family — Ann, by 2026-12-04 (open)" in screen.words("follow-ups")
        await screen.tap("chronology")
        await until(screen, f"chronology-{concerned}")
        assert "Concern: disclosure: Said there is no food" in screen.words(
            f"chronology-{concerned}")

    run(scenario)


def test_the_forms_for_cpoms_hold_the_visit_and_every_export_is_audited(
        world: World, uplands: School) -> None:
    concerned = visit_with_concern(world, uplands, "UPN-E", "Bruise on the arm", 1)
    SHOTS.mkdir(exist_ok=True)

    async def scenario() -> None:
        screen = await signed_in(world, uplands, "dsl")
        await screen.tap("nav-visits")
        await until(screen, f"visit-{concerned}")
        await screen.tap(f"visit-{concerned}")
        await until(screen, "pdf-visit")
        await screen.tap("pdf-visit")
        name, pdf = saved(screen)
        assert name == "visit-form-UPN-E.pdf"
        words = pdf_text(pdf)
        for expected in ("Uplands Junior School – Home Visit Form", "UPN-E", "1 Example Street",
                         "Attendance", "Ann Patel, Ben Okafor",
                         "A. Senior (safeguarding lead)",
                         "Child seen. Seen and spoken to", "disclosure: Bruise on the arm"):
            assert expected in words, expected
        assert "red folder" not in words, "the pair's safe phrase stays off the form"
        page = pypdfium2.PdfDocument(pdf)[0]
        page.render(scale=1.5).to_pil().save(SHOTS / "console-home-visit-form.png")
        await screen.tap("pdf-not-at-home")
        assert "nobody was recorded as not at home" in screen.words("error")
        await screen.tap("back")
        await until(screen, "csv-actions")
        await screen.tap("csv-actions")
        name, data = saved(screen)
        rows = list(csv.DictReader(io.StringIO(data.decode())))
        row = next(r for r in rows if r["visit"] == concerned)
        assert row["what"] == "'=HYPERLINK(\"x\")", "a formula is never run by a spreadsheet"

    run(scenario)
    console = service(world)
    done = {(e.action, e.subject) for e in console.audit_log(console.user(uplands.tokens["dsl"]))}
    assert {("export_visit_pdf", concerned), ("export_actions_csv", "*")} <= done


def test_reception_and_another_schools_dsl_cannot_plan_read_or_export(
        world: World, uplands: School) -> None:
    console = service(world)
    reception = console.user(uplands.tokens["reception"])
    other = console.user(world.schools["hart-hill"].tokens["dsl"])
    for refused in (lambda: console.plan_form(reception),
                    lambda: console.export(reception, uplands.out, "visit"),
                    lambda: console.export_csv(reception, "visits"),
                    lambda: console.chronology(reception, "UPN-uplands-0"),
                    lambda: console.casework(reception, uplands.out)):
        with pytest.raises(HubError) as caught:
            refused()
        assert caught.value.status == 403
    with pytest.raises(HubError) as caught:
        console.export(other, uplands.out, "visit")
    assert caught.value.status == 404
    assert console.chronology(other, "UPN-uplands-0") == ()

    async def scenario() -> None:
        screen = await signed_in(world, uplands, "reception")
        await until(screen, "nav-board")
        assert [i for i in screen.ids() if i.startswith("nav-")] == ["nav-board"]

    run(scenario)


def test_a_session_that_ends_goes_back_to_sign_in_at_the_next_tap(
        world: World, uplands: School) -> None:
    async def scenario() -> None:
        screen = await signed_in(world, uplands, "dsl")
        await screen.tap("nav-visits")
        world.now += SESSION_FOR + timedelta(minutes=1)
        await screen.tap("nav-plan")
        await until(screen, "sign-in")

    run(scenario)


def test_the_admin_keeps_staff_phones_and_contacts(world: World, uplands: School) -> None:
    ann = uplands.staff("ann")

    async def scenario() -> None:
        screen = await signed_in(world, uplands, "admin")
        await until(screen, f"save-{ann}")
        assert [i for i in screen.ids() if i.startswith("nav-")] == [
            "nav-staff", "nav-phones", "nav-contacts", "nav-records", "nav-audit"]
        await screen.type(f"mobile-{ann}", "07700 900123")
        await screen.tap(f"role-{ann}-safeguarding_lead")
        await screen.tap(f"save-{ann}")
        assert "Saved" in screen.words()
        await screen.tap(f"enrol-{ann}")
        await until(screen, f"slip-{ann}")
        code = screen.words(f"slip-{ann}")
        await screen.tap(f"print-{ann}")
        name, pdf = saved(screen)
        assert name == f"enrolment-slip-{ann}.pdf" and code in pdf_text(pdf)
        assert service(world).keys.fingerprint() in pdf_text(pdf)
        await screen.tap("nav-phones")
        device = uplands.device["device_id"]
        await until(screen, f"revoke-{device}")
        await screen.tap(f"revoke-{device}")
        await until(screen, f"confirm-revoke-{device}")
        await screen.tap(f"confirm-revoke-{device}")
        assert "Revoked" in screen.words(f"phone-{device}")
        await screen.tap("nav-contacts")
        await until(screen, "contact-reception-phone")
        await screen.type("contact-reception-phone", "01902 000111")
        await screen.tap("save")
        assert "Saved" in screen.words("outcome")
        await screen.tap("nav-audit")
        await until(screen, "nav-audit")
        for _ in range(20):
            if "set contacts" in screen.words():
                break
            await screen.settle()
        for action in ("update staff", "enrol code", "revoke device", "set contacts"):
            assert action in screen.words(), action
        assert screen.unlabelled() == []

    run(scenario)
    staff = {m.staff_id: m for m in world.directory.staff(uplands.id)}
    assert staff[ann].mobile == "07700 900123"
    assert staff[ann].pack_roles == ("safeguarding_lead",)
    assert world.directory.school_contacts(uplands.id).reception_phone == "01902 000111"
    pulled = world.client.get("/api/v1/pull", headers=uplands.phone(), params={"cursor": 0})
    assert pulled.status_code == 401, "the revoked phone is refused"


def test_the_forms_and_the_csvs_are_in_the_api_too(world: World, uplands: School) -> None:
    dsl = uplands.auth("dsl")
    base = f"/api/v1/console/visits/{uplands.out}/forms"
    pdf = world.client.get(f"{base}/visit", headers=dsl)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert "attachment" in pdf.headers["content-disposition"]
    assert "UPN-uplands-0" in pdf_text(pdf.content)
    missing = world.client.get(f"{base}/not_at_home", headers=dsl)
    assert missing.status_code == 409 and missing.json()["error"] == "no_such_record"
    assert world.client.get(f"{base}/anything", headers=dsl).status_code == 422
    listed = world.client.get("/api/v1/console/exports/visits", headers=dsl)
    assert listed.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(listed.text)))
    assert {r["visit"] for r in rows} == {uplands.out, uplands.waiting}
    assert {r["child reference"] for r in rows} == {"UPN-uplands-0", "UPN-uplands-1"}


async def reached(world: World, school: School, user: str, taps: list[str]) -> Screen:
    """The console signed in as `user`, after tapping through `taps`."""
    screen = await signed_in(world, school, user)
    await until(screen, "sign-out")
    for ident in taps:
        await until(screen, ident)
        await screen.tap(ident)
    return screen


# (who, how to reach the screen, tapped before the session ends, tapped after)
AFTER_THE_SESSION: Final = [
    ("admin", (), None, "nav-phones"), ("admin", (), None, "nav-contacts"),
    ("admin", (), None, "nav-audit"), ("admin", (), None, "save-{ann}"),
    ("admin", (), None, "enrol-{ann}"), ("admin", ("enrol-{ann}",), "slip-{ann}", "print-{ann}"),
    ("admin", ("nav-phones", "revoke-{device}"), "confirm-revoke-{device}",
     "confirm-revoke-{device}"),
    ("admin", ("nav-contacts",), "contact-school-phone", "save"),
    ("dsl", ("nav-visits",), "sign-off-week", "sign-off-week"),
    ("dsl", ("nav-visits",), "csv-visits", "csv-visits"),
    ("dsl", ("nav-visits", "visit-{out}"), "pdf-visit", "pdf-visit"),
    ("dsl", ("nav-visits", "visit-{out}"), "chronology", "chronology"),
    ("dsl", ("nav-visits", "visit-{waiting}", "open-cancel"), "form-cancel", "send"),
    ("dsl", ("nav-plan",), "field-child-ref", "send"), ("dsl", (), None, "nav-visits"),
    ("dsl", ("nav-visits", "visit-{out}"), "hold", "hold"),
    ("dsl", ("nav-visits", "visit-{out}", "chronology"), "erase", "subject-access-pdf"),
    ("admin", ("nav-records",), "save-routine", "save-routine"),
    ("admin", ("leave-{ann}",), "confirm-leave-{ann}", "confirm-leave-{ann}"),
]


@pytest.mark.parametrize(("user", "reach", "ready", "tapped"), AFTER_THE_SESSION)
def test_a_tap_after_the_session_ended_changes_nothing_and_asks_to_sign_in_again(
        world: World, uplands: School, user: str, reach: tuple[str, ...], ready: str | None,
        tapped: str) -> None:
    fill_in = {"ann": uplands.staff("ann"), "device": uplands.device["device_id"],
               "out": uplands.out, "waiting": uplands.waiting}

    async def scenario() -> None:
        screen = await reached(world, uplands, user, [i.format(**fill_in) for i in reach])
        if ready:
            await until(screen, ready.format(**fill_in))
        await until(screen, tapped.format(**fill_in))
        before = rows(world.engine)
        world.now += SESSION_FOR + timedelta(minutes=1)
        await screen.tap(tapped.format(**fill_in))
        await until(screen, "sign-in")
        assert rows(world.engine) == before

    run(scenario)


def test_a_board_whose_session_ended_signs_in_again_at_the_next_change(
        world: World, uplands: School) -> None:
    console = service(world)
    dsl = console.user(uplands.tokens["dsl"])
    for alert in uplands.alerts:
        console.acknowledge(dsl, uplands.out, alert)

    async def scenario() -> None:
        screen = await signed_in(world, uplands, "reception")
        await until(screen, f"row-{uplands.out}")
        world.now += SESSION_FOR + timedelta(minutes=1)
        console.changes.publish(uplands.id, {uplands.out})
        await until(screen, "sign-in")

    run(scenario)


def test_what_the_service_refuses_it_says_and_records_nothing(world: World,
                                                              uplands: School) -> None:
    console = service(world)
    dsl = console.user(uplands.tokens["dsl"])
    admin = console.user(uplands.tokens["admin"])
    before = rows(world.engine)
    refusals = {
        "plan with a stranger": (lambda: console.plan(dsl, {"staff": ["nobody-here"]}), 400),
        "a debrief before the visit": (lambda: console.act(dsl, uplands.waiting, "debrief",
                                                           {"with_whom": "Dee"}), 409),
        "a form that is not one": (lambda: console.export(dsl, uplands.out, "letter"), 404),
        "an export that is not one": (lambda: console.export_csv(dsl, "children"), 404),
        "a mobile too long": (lambda: console.update_staff(
            admin, uplands.staff("ann"), mobile="0" * 40, safeguarding_trained=True,
            pack_roles=()), 400),
        "a stranger's record": (lambda: console.update_staff(
            admin, "nobody-here", mobile="", safeguarding_trained=True, pack_roles=()), 404),
        "a role not in the pack": (lambda: console.update_staff(
            admin, uplands.staff("ann"), mobile="", safeguarding_trained=True,
            pack_roles=("headteacher_of_everything",)), 400),
        "a number too long": (lambda: console.set_contacts(
            admin, Contacts("0" * 40, "", "", "")), 400),
    }
    for what, (refused, status) in refusals.items():
        with pytest.raises(HubError) as caught:
            refused()
        assert caught.value.status == status, (what, caught.value)
    assert rows(world.engine) == before


def test_a_new_schools_console_says_what_is_not_there_yet(world: World) -> None:
    world.directory.add_school("oak", "Oak Primary", "uplands-junior")
    for user, role in (("oak-admin", "admin"), ("oak-dsl", "dsl")):
        world.directory.add_staff("oak", user, user.title(), role, True)
        world.accounts.set_password("oak", user, PASSWORD)
    oak = School("oak")

    async def scenario() -> None:
        admin = await signed_in(world, oak, "admin")
        await until(admin, "nav-phones")
        await admin.tap("nav-phones")
        await until(admin, "nav-phones")
        for _ in range(20):
            if admin.sees("No phones enrolled yet"):
                break
            await admin.settle()
        assert admin.sees("No phones enrolled yet")
        dsl = await signed_in(world, oak, "dsl")
        await until(dsl, "nav-visits")
        await dsl.tap("nav-visits")
        await until(dsl, "sign-off-week")
        assert dsl.sees("No visits yet. Plan one")

    run(scenario)


def test_nobody_at_home_gives_the_not_at_home_form_with_the_schools_number(
        world: World, uplands: School) -> None:
    pack = load_pack("uplands-junior")
    visit = SimulatedVisit(pack, world.now - timedelta(days=1), visit_id="UPN-N-v",
                           author=Author(uplands.staff("ann"), "phone-1"), seed=7)
    for _, after, command in no_answer(visit):
        assert visit.do(command, after).accepted, command
    world.store.ingest(uplands.id, "phone-1", Push(events=tuple(visit.events)))
    console = service(world)
    dsl = console.user(uplands.tokens["dsl"])
    pdf = console.export(dsl, visit.visit_id, "not_at_home")
    words = pdf_text(pdf)
    for expected in ("Uplands Junior School – Not at home",
                     "could you please contact school on 01902 558870",
                     "Nobody answered at", "Note pushed through the letterbox left at",
                     "1 Example Street"):
        assert expected in words, (expected, words)
    pypdfium2.PdfDocument(pdf)[0].render(scale=1.5).to_pil().save(
        SHOTS / "console-not-at-home-form.png")
    assert "with Line manager" in pdf_text(console.export(dsl, visit.visit_id, "visit"))


@pytest.mark.parametrize(("user", "reach", "tapped"), [
    ("admin", ("nav-phones", "revoke-{device}"), "confirm-revoke-{device}"),
    ("dsl", ("nav-visits",), "sign-off-week"), ("admin", (), "nav-contacts"),
    ("dsl", ("nav-visits", "visit-{out}"), "chronology"), ("admin", (), "nav-audit"),
    ("admin", ("nav-phones",), "nav-staff"), ("dsl", ("nav-plan",), "send"),
    ("dsl", ("nav-visits",), "visit-{out}"),
])
def test_a_role_taken_away_mid_screen_refuses_the_next_tap_and_says_why(
        world: World, uplands: School, user: str, reach: tuple[str, ...], tapped: str) -> None:
    fill_in = {"device": uplands.device["device_id"], "out": uplands.out}

    async def scenario() -> None:
        screen = await reached(world, uplands, user, [i.format(**fill_in) for i in reach])
        await until(screen, tapped.format(**fill_in))
        before = rows(world.engine)
        with world.engine.begin() as connection:  # no longer the DSL or the admin
            connection.execute(update(staff).where(staff.c.id == uplands.staff(user))
                               .values(role="staff"))
        await screen.tap(tapped.format(**fill_in))
        for _ in range(50):
            if "a staff cannot do this" in screen.words():
                break
            await screen.settle()
        assert "a staff cannot do this: ask " in screen.words()
        assert rows(world.engine) == before

    run(scenario)


def test_a_visits_chronology_shows_each_visit_with_or_without_an_outcome(
        world: World, uplands: School) -> None:
    async def scenario() -> None:
        screen = await visit_opened(world, uplands, "dsl", uplands.out, "chronology")
        await screen.tap("chronology")
        await until(screen, f"chronology-{uplands.out}")
        assert "Out: on the way" in screen.words(f"chronology-{uplands.out}")
        assert "Outcome" not in screen.words(f"chronology-{uplands.out}")
        await screen.tap(f"chronology-{uplands.out}")
        await until(screen, "pdf-visit")

    run(scenario)
