"""Every screen from every stage, in plain pytest with the fake Flet client (fake_flet.py):
for two schools, a visit brought to each stage the way a pair would, and the phone's screens
checked against what the engine says ("what now?") — the stage, the question and its answers,
every action open or refused with its reason, the timers, the standing instructions, the help
bar exactly while staff are out — then the next step taken through the screen."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import flet as ft
import httpx
import pytest

from fieldapp.app.main import phone_main
from fieldapp.app.service import PhoneService, Setup
from fieldapp.crypto.keystore import MemoryKeystore
from fieldapp.domain.guide import Stage, WhatNow
from fieldapp.domain.lifecycle import OUT
from fieldapp.domain.simulate import SimulatedVisit
from fieldapp.screens.shell import while_open
from fieldapp.screens.words import AT_SCHOOL, HELP, STAGE, action_words
from tests.app.browser import Calls
from tests.app.conftest import (
    DURESS,
    FAST,
    PIN,
    SIGN_OUT,
    Clock,
    another_school,
    new_phone,
)
from tests.app.fake_flet import Screen, open_app, run
from tests.sync.hubs import Hub
from tests.unit.test_guide import FORWARD, PACKS, has_stage, to_stage

SCHOOLS = {"uplands": "uplands-junior", "hart-hill": "hart-hill-nursery"}
CASES = [(school, stage) for school, pack_id in SCHOOLS.items() for stage in Stage
         if stage is not Stage.PLAN and has_stage(PACKS[pack_id], stage)]
# a visit exists on a phone only once the school has planned it: "plan" is the console's


def phone_at(tmp_path: Path, hub: Hub, school: str, stage: Stage,
             ) -> tuple[PhoneService, Clock, SimulatedVisit]:
    """A phone enrolled at `school` holding one visit at `stage` (recorded by the partner's
    phone, as if synced), its clock at the visit's last step. At Uplands the phone is Ann's,
    on the visit; elsewhere a colleague's, who opens it from its address."""
    if school == "uplands":
        slip = hub.slip("staff-ann")
    else:
        slip = another_school(hub, school, school.replace("-", " ").title())
    visit = to_stage(PACKS[SCHOOLS[school]], stage)
    clock = Clock(visit.now)
    phone = new_phone(tmp_path, clock)
    phone.create(PIN, DURESS)
    phone.enrol(hub.url, slip, "phone")
    phone.repository.append(visit.events, synced=True)
    return phone, clock, visit


def app(phone: PhoneService, calls: Calls) -> Callable[[ft.Page], Awaitable[None]]:
    return phone_main(lambda _: phone, lambda _page: calls)


def check_visit_screen(screen: Screen, guide: WhatNow) -> None:
    """The visit screen shows what the engine says, nothing more and nothing less; a screen
    reader names everything that can be used on it."""
    assert screen.unlabelled() == []
    assert screen.words("stage") == STAGE[guide.stage]
    shown = [a for a in guide.actions if a.name not in HELP | AT_SCHOOL]
    if guide.question is not None:
        assert screen.words("question") == guide.question.ask
        assert screen.sees(f"{guide.question.number} of {guide.question.of}")
        for choice in guide.question.choices:
            assert screen.label(f"answer-{choice.value}") == \
                f"Answer {choice.value}: {choice.label}"
            assert screen.words(f"answer-{choice.value}") == choice.label
        shown = [a for a in shown if a.name in ("leave", "raise_concern", "cancel")]
    else:
        assert not screen.has("question")
    for action in shown:
        if action.open:
            assert screen.has(f"do-{action.name}"), action.name
        else:
            assert screen.has(f"refused-{action.name}"), action.name
            first = action.refusals[0]
            assert first.say in screen.words(f"refusal-{action.name}-{first.code}")
    drawn = {i.removeprefix("do-").removeprefix("refused-") for i in screen.ids()
             if i.startswith(("do-", "refused-"))}
    assert drawn == {a.name for a in shown}, "no action the engine does not offer"
    for timer in guide.timers:
        assert screen.has(f"timer-{timer.name}")
    for finding in guide.standing:
        assert finding.say in screen.words(), finding.code
    for given in guide.given:
        assert screen.has(f"change-{given.item}")
    out = guide.phase in OUT
    assert screen.has("call-office") is out and screen.has("hold-999") is out
    assert screen.has("waiting-sign-off") is (guide.stage is Stage.AUTHORISE)
    assert screen.has("note-text") is (guide.action("leave_note") is not None)


@pytest.mark.parametrize(("school", "stage"), CASES)
def test_each_screen_from_each_stage(tmp_path: Path, hub: Hub, school: str,
                                     stage: Stage) -> None:
    phone, _clock, visit = phone_at(tmp_path, hub, school, stage)
    calls = Calls(phone)
    visit_id = visit.visit_id

    async def scenario() -> None:
        screen = await open_app(app(phone, calls), route=f"/visit/{visit_id}")
        guide = phone.guide(visit_id)
        assert guide.stage is stage
        check_visit_screen(screen, guide)
        # every form the stage offers asks for every field the engine lists
        for action in guide.actions:
            fields = [f for f in action.fields if f.kind not in ("value", "new_id", "staff")]
            if not action.open or action.name in HELP | AT_SCHOOL or not fields:
                continue
            await screen.go(f"/visit/{visit_id}/do/{action.name}")
            assert screen.sees(action_words(action.name)) and screen.has("send")
            assert screen.unlabelled() == []
            for field in fields:
                ident = "field-" + field.name.replace(".", "-").replace("_", "-")
                if field.kind == "actions":
                    ident = "action-1-what"
                elif field.kind == "choice" or field.choices[1:]:
                    ident += f"-{field.choices[0].value}"
                assert screen.has(ident), (action.name, field.name)
            await screen.tap("back")
            assert screen.page.route == f"/visit/{visit_id}"
        await step_forward(screen, phone, visit_id, guide)

    run(scenario)


async def step_forward(screen: Screen, phone: PhoneService, visit_id: str,
                       guide: WhatNow) -> None:
    """The next step, through the screen: the question's first answer, or the step forward
    that needs nothing filled in; what the phone stored and shows moves on with it."""
    before = len(phone.repository.events(visit_id))
    if guide.question is not None:
        await screen.tap(f"answer-{guide.question.choices[0].value}")
    else:
        forward = [a for a in guide.actions if a.open and a.name in FORWARD.get(guide.stage, ())
                   and not [f for f in a.fields if f.kind not in ("value", "new_id")]]
        if not forward:
            return
        await screen.tap(f"do-{forward[0].name}")
    assert len(phone.repository.events(visit_id)) == before + 1
    check_visit_screen(screen, phone.guide(visit_id))


@pytest.mark.parametrize("stage", [s for s in Stage if s is not Stage.PLAN
                                   and has_stage(PACKS["uplands-junior"], s)])
def test_today_says_where_each_visit_is(tmp_path: Path, hub: Hub, stage: Stage) -> None:
    phone, _clock, visit = phone_at(tmp_path, hub, "uplands", stage)

    async def scenario() -> None:
        screen = await open_app(app(phone, Calls(phone)))
        card = phone.today()[0]
        words = screen.label(f"open-{visit.visit_id}")
        assert words.startswith("Continue" if card.out else
                                {Stage.SIGN_OUT: "Start sign-out",
                                 Stage.ASSESS_RISK: "Risk assessment",
                                 Stage.AUTHORISE: "Waiting for sign-off"}.get(stage, "Open"))
        assert f"{card.child}, {card.address}" in words

    run(scenario)


def test_a_slip_of_the_thumb_is_put_right_until_the_next_step(tmp_path: Path,
                                                              hub: Hub) -> None:
    phone, _clock, visit = phone_at(tmp_path, hub, "uplands", Stage.KNOCK)
    visit_id = visit.visit_id

    async def scenario() -> None:
        screen = await open_app(app(phone, Calls(phone)), route=f"/visit/{visit_id}")
        await screen.tap("do-door_answered")
        await screen.tap("field-by-parent")
        await screen.tap("send")
        assert phone.guide(visit_id).stage is Stage.AT_DOOR
        while phone.guide(visit_id).question.item != "feel_safe":  # type: ignore[union-attr]
            await screen.tap("answer-yes")
        await screen.tap("answer-no")  # "Not safe": the stop takes the screen
        assert screen.has("told-leave") or any(i.startswith("told-") for i in screen.ids())
        assert not screen.has("question") and screen.has("do-leave")
        assert screen.label("change-feel_safe").startswith("Change the answer to 'Do you both")
        await screen.tap("change-feel_safe")  # meant "Safe": the questions go on
        assert not any(i.startswith("told-") for i in screen.ids())
        guide = phone.guide(visit_id)
        assert guide.standing == () and guide.action("enter").open  # type: ignore[union-attr]
        check_visit_screen(screen, guide)
        answers = [e.payload for e in phone.repository.events(visit_id)
                   if e.payload.get("item") == "feel_safe"]
        assert [a["answer"] for a in answers] == ["no", "yes"], "the change is recorded too"
        assert screen.has("change-feel_safe") and screen.has("change-id_shown")
        while phone.guide(visit_id).question is not None:
            await screen.tap("answer-yes")
        await screen.tap("do-enter")  # the next step: the answers are the record now
        assert phone.guide(visit_id).stage is Stage.INSIDE
        assert not any(i.startswith("change-") for i in screen.ids())

    run(scenario)


class BrokenPackHub(httpx.BaseTransport):
    """The real hub, except that once `broken`, its pulls hand out a pack that does not
    parse (a school's edit gone wrong)."""

    def __init__(self) -> None:
        self.real = httpx.HTTPTransport()
        self.broken = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.real.handle_request(request)
        if not self.broken or request.url.path != "/api/v1/pull":
            return response
        response.read()
        answer = {**json.loads(response.content), "pack": "format = 1\nid = 'broken'",
                  "pack_version": "v-broken"}
        return httpx.Response(response.status_code, json=answer)


def test_a_pack_update_that_does_not_parse_is_said_and_the_old_pack_kept(
        tmp_path: Path, hub: Hub) -> None:
    hub.plan("visit-1")
    transport = BrokenPackHub()
    phone = PhoneService(tmp_path / "ann", MemoryKeystore(), Clock(), transport, kdf=FAST,
                         kdf_floor=FAST)
    phone.create(PIN, DURESS)
    phone.enrol(hub.url, hub.slip("staff-ann"), "phone")
    phone.sync()
    pack = phone.pack()
    transport.broken = True

    async def scenario() -> None:
        screen = await open_app(app(phone, Calls(phone)))
        await screen.tap("sync-now")
        assert screen.sees("the school's new pack cannot be used: the school's pack")
        assert phone.pack() == pack, "the pack it had is kept"
        await screen.tap("open-visit-1")  # and the phone goes on working under it
        check_visit_screen(screen, phone.guide("visit-1"))
        assert screen.has("do-sign_out")

    run(scenario)


def test_coming_back_to_the_front_syncs_and_draws_what_came(ann: PhoneService,
                                                            hub: Hub) -> None:
    async def scenario() -> None:
        screen = await open_app(app(ann, Calls(ann)))
        assert screen.has("open-visit-1") and not screen.has("open-visit-2")
        hub.plan("visit-2")  # the DSL signs off another visit while the phone is away
        await screen.fire(screen.page, "app_lifecycle_state_change", {"state": "resume"})
        for _ in range(200):
            if screen.has("open-visit-2"):
                break
            await screen.settle()
        assert screen.has("open-visit-2"), "drawn again once the background sync ended"

    run(scenario)


def test_every_other_screen_names_what_can_be_used(tmp_path: Path, hub: Hub,
                                                   clock: Clock) -> None:
    """First run, enrolment, unlock, Today, settings and the call screen, in the order a new
    phone meets them, each read by a screen reader (UX principle 10)."""
    hub.plan("visit-1")
    phone = new_phone(tmp_path, clock)
    calls = Calls(phone)

    async def scenario() -> None:
        screen = await open_app(app(phone, calls))
        await screen.type("new-pin", "123456")
        await screen.type("new-duress", "654321")
        await screen.tap("save-pins")
        assert screen.sees("at least 8 digits") and screen.unlabelled() == []
        await screen.type("new-pin", PIN)
        await screen.type("new-duress", DURESS)
        await screen.tap("save-pins")
        assert screen.has("slip-code") and screen.unlabelled() == []
        await screen.type("hub-address", hub.url)
        await screen.type("slip-code", hub.slip("staff-ann"))
        await screen.tap("enrol")
        for _ in range(200):  # the visits come with the first background sync
            if screen.has("open-visit-1"):
                break
            await screen.settle()
        assert screen.has("sync-now") and screen.unlabelled() == []
        await screen.tap("settings")
        assert screen.has("reception-number") and screen.unlabelled() == []
        await screen.tap("lock")
        assert screen.has("unlock-pin") and screen.unlabelled() == []
        await screen.type("unlock-pin", PIN)
        await screen.tap("unlock")
        phone.act("visit-1", "sign_out", SIGN_OUT)
        await screen.go("/visit/visit-1")
        await screen.tap("call-office")
        assert screen.has("phrase") and screen.unlabelled() == []
        assert calls.made[0][0] == "tel:01902558870"

    run(scenario)


def test_coming_back_after_the_idle_time_locks_first(ann: PhoneService, clock: Clock) -> None:
    async def scenario() -> None:
        screen = await open_app(app(ann, Calls(ann)))
        clock.advance(ann.lock_after() + 1)  # the phone lay in a pocket
        await screen.fire(screen.page, "app_lifecycle_state_change", {"state": "resume"})
        assert screen.has("unlock-pin") and ann.setup() is Setup.LOCKED

    run(scenario)


def test_a_closed_tab_is_no_longer_drawn_after_a_sync(ann: PhoneService, hub: Hub) -> None:
    synced: list[int] = []

    async def scenario() -> None:
        screen = await open_app(app(ann, Calls(ann)))
        ann.listen(lambda: synced.append(1))  # told after the tab's own listener
        await screen.fire(screen.page, "close")  # the browser tab closed for good
        hub.plan("visit-2")
        ann.sync_soon()
        for _ in range(200):
            if synced:
                break
            await screen.settle()
        await screen.settle()  # a redraw the sync asked for would have run by now
        assert len(ann.today()) == 2 and not screen.has("open-visit-2"), \
            "the closed tab's screen is not drawn again"

    run(scenario)


def test_a_screen_drawn_as_the_phone_locks_draws_nothing(ann: PhoneService) -> None:
    def visit_screen() -> ft.Control:
        return ft.Text(ann.guide("visit-1").stage.value)

    shown = while_open(visit_screen)
    assert isinstance(shown(), ft.Text)
    ann.lock()  # the idle lock, or a wipe on the sync's thread, between two draws
    assert type(shown()) is ft.Container


def test_a_browser_gone_without_closing_is_no_longer_told(ann: PhoneService) -> None:
    told: list[int] = []

    async def scenario() -> None:
        screen = await open_app(app(ann, Calls(ann)))
        await screen.session.disconnect(60)  # the tab's connection dropped, not yet expired
        ann.listen(lambda: told.append(1))
        ann.sync_soon()
        for _ in range(200):
            if told:
                break
            await screen.settle()
        ann.sync_soon()
        for _ in range(200):
            if len(told) == 2:
                break
            await screen.settle()
        assert told == [1, 1], "the others are still told, and the sync goes on"

    run(scenario)
