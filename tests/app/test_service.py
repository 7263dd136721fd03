"""The phone's one service, as the screens use it: set up, enrol, lock, the visits, a tap
through the engine, the help calls, sync. Against a real hub and the real encrypted store."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fieldapp.app.service import NotOpen, PhoneService, ServiceError, Setup
from fieldapp.crypto.vault import WeakPin, Wiped, WrongPin
from fieldapp.domain.events import Event, EventType, new_event_id
from fieldapp.domain.forms import FormError
from fieldapp.domain.guide import Stage
from fieldapp.domain.lifecycle import Phase
from tests.app.conftest import DURESS, PIN, SIGN_OUT, Clock, new_phone
from tests.samples import STAFF, sample
from tests.sync.hubs import Hub


def test_first_run_sets_the_pins_then_enrols_with_the_slip(tmp_path: Path, hub: Hub,
                                                           clock: Clock) -> None:
    phone = new_phone(tmp_path, clock)
    assert phone.setup() is Setup.NEW
    with pytest.raises(WeakPin, match="at least 8 digits"):
        phone.create("482916", DURESS)
    assert phone.setup() is Setup.NEW
    phone.create(PIN, DURESS)
    assert phone.setup() is Setup.NOT_ENROLLED
    with pytest.raises(ServiceError, match="not right"):
        phone.enrol(hub.url, "not-a-code", "Ann's phone")
    with pytest.raises(ServiceError, match="http"):
        phone.enrol("hub.example", hub.slip("staff-ann"), "Ann's phone")
    with pytest.raises(ServiceError, match=r"did not answer at http://127\.0\.0\.1:9"):
        phone.enrol("http://127.0.0.1:9", hub.slip("staff-ann"), "Ann's phone")
    assert phone.setup() is Setup.NOT_ENROLLED
    phone.enrol(hub.url, hub.slip("staff-ann"), "Ann's phone")
    assert phone.setup() is Setup.READY
    assert phone.settings().school == "Uplands Junior School"


def test_today_lists_the_visits_this_person_is_on(ann: PhoneService) -> None:
    [card] = ann.today()
    assert (card.child, card.address, card.partner) == ("Sam S.", "1 Sentinel Street",
                                                        "Ben Okafor")
    assert card.stage is Stage.SIGN_OUT and not card.out and card.when.endswith("09:00")


def test_a_tap_goes_through_the_engine_and_is_stored(ann: PhoneService, clock: Clock) -> None:
    with pytest.raises(FormError, match="Back at school by") as empty:
        ann.act("visit-1", "sign_out", {**SIGN_OUT, "expected_return": ""})
    assert empty.value.field == "expected_return"
    assert ann.state("visit-1").phase is Phase.AUTHORISED
    decision = ann.act("visit-1", "sign_out", SIGN_OUT)
    assert decision.accepted and ann.state("visit-1").phase is Phase.SIGNED_OUT
    assert ann.today()[0].out
    clock.advance(10)
    assert ann.act("visit-1", "arrive", {}).accepted
    assert ann.act("visit-1", "door_answered", {"by": "parent"}).accepted
    question = ann.guide("visit-1").question
    assert question is not None
    assert ann.answer("visit-1", question.item, True).accepted
    with pytest.raises(ServiceError, match="not possible at this stage"):
        ann.act("visit-1", "debrief", {})


def test_a_refused_action_comes_back_with_the_policys_words(ann: PhoneService) -> None:
    ann.act("visit-1", "sign_out", SIGN_OUT)
    ann.act("visit-1", "arrive", {})
    ann.act("visit-1", "door_answered", {"by": "unsupervised_child"})
    enter = ann.guide("visit-1").action("enter")
    assert enter is not None and not enter.open
    decision = ann.act("visit-1", "enter", {})
    assert not decision.accepted and decision.refusals == enter.refusals
    assert all(r.quote and r.policy.startswith("Uplands Junior School") for r in enter.refusals)
    assert ann.state("visit-1").phase is Phase.AT_DOOR


def test_the_safe_phrase_is_stored_before_the_call_and_dials_reception(
        ann: PhoneService) -> None:
    with pytest.raises(ServiceError, match="out on a visit"):
        ann.call("visit-1", "safe_phrase")
    ann.act("visit-1", "sign_out", SIGN_OUT)
    call = ann.call("visit-1", "safe_phrase")
    assert call.phrase == "red folder"
    assert call.tel == "tel:01902558870" and call.number == "01902 558870"
    assert call.sms.startswith("sms:01902558870?body=Help%20needed")
    stored = [e.type for e in ann.repository.events("visit-1")]
    assert stored[-1] is EventType.SAFE_PHRASE_USED
    emergency = ann.call("visit-1", "emergency")
    assert emergency.tel == "tel:999" and emergency.phrase == ""


def test_a_storage_error_on_a_tap_says_so_and_loses_nothing(
        ann: PhoneService, monkeypatch: pytest.MonkeyPatch) -> None:
    ann.act("visit-1", "sign_out", SIGN_OUT)
    before = ann.repository.events("visit-1")

    def disk_full(*_: object, **__: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ann.repository, "append", disk_full)
    with pytest.raises(ServiceError, match=r"could not be saved on the phone.*nothing saved"):
        ann.act("visit-1", "arrive", {})
    monkeypatch.undo()
    assert ann.repository.events("visit-1") == before


def test_the_phone_locks_after_the_schools_idle_time(ann: PhoneService, clock: Clock) -> None:
    assert ann.touch()
    clock.advance(ann.lock_after() + 0.5)
    assert not ann.touch()
    assert ann.setup() is Setup.LOCKED and ann.idle_lock()
    with pytest.raises(NotOpen, match="locked"):
        ann.today()
    with pytest.raises(NotOpen, match="locked"):
        ann.pack()
    with pytest.raises(WrongPin, match="9 attempts left"):
        ann.unlock("13572469")
    ann.unlock(PIN)
    assert ann.setup() is Setup.READY and len(ann.today()) == 1


def test_a_tap_during_the_idle_check_does_not_lock_the_phone(ann: PhoneService,
                                                             clock: Clock) -> None:
    """The screen's idle check runs on its own thread. A tap stamped just after the check read
    the clock is not time going back: the phone stays open (it locked, in a journey test)."""
    tapped = threading.Thread(target=lambda: (clock.advance(4), ann.touch()))

    def reading() -> datetime:
        now = clock.now
        if not tapped.is_alive() and tapped.ident is None:  # the check's read: a tap lands
            tapped.start()
            tapped.join(timeout=0.5)  # done at once if nothing holds it back
        return now

    ann.clock = reading
    assert not ann.idle_lock()
    tapped.join()
    ann.clock = clock
    assert ann.setup() is Setup.READY and ann.touch()


def test_a_duress_unlock_opens_the_same_visits_and_raises_a_silent_alert(
        ann: PhoneService, hub: Hub) -> None:
    ann.act("visit-1", "sign_out", SIGN_OUT)
    ann.lock()
    ann.unlock(DURESS)
    assert ann.setup() is Setup.READY and [c.visit_id for c in ann.today()] == ["visit-1"]
    assert ann.state("visit-1").alerts == ()  # nothing on the phone shows it...
    assert ann.repository.events("visit-1")[-1].type is EventType.SIGNED_OUT
    ann.sync()  # ...and the hub has it once the phone syncs
    alerts = [e for e in hub.events() if e.type is EventType.DURESS_ALERT]
    assert [(e.visit_id, e.author.staff_id) for e in alerts] == [("visit-1", "staff-ann")]
    assert ann.state("visit-1").alerts == ()  # nor does a pull bring it back


def test_a_pin_change_asks_for_the_pin_and_keeps_the_duress_pin(ann: PhoneService) -> None:
    new = "40617283"
    with pytest.raises(WeakPin, match="its repeat differ"):
        ann.change_pin(PIN, new, "40617284")
    with pytest.raises(WrongPin, match="9 attempts left"):
        ann.change_pin("13572469", new, new)
    with pytest.raises(WeakPin, match="differ from the PIN and the duress PIN"):
        ann.change_pin(PIN, DURESS, DURESS)
    ann.change_pin(PIN, new, new)
    assert ann.setup() is Setup.READY and len(ann.today()) == 1  # still open
    ann.lock()
    with pytest.raises(WrongPin, match="9 attempts left"):  # the counter was reset
        ann.unlock(PIN)
    ann.unlock(new)
    assert [c.visit_id for c in ann.today()] == ["visit-1"]
    ann.lock()
    ann.unlock(DURESS)
    assert [c.visit_id for c in ann.today()] == ["visit-1"]
    ann.lock()
    with pytest.raises(NotOpen, match="locked"):
        ann.change_pin(new, PIN, PIN)


def test_the_tenth_wrong_pin_in_a_pin_change_wipes_the_phone(ann: PhoneService) -> None:
    for left in range(9, 0, -1):
        with pytest.raises(WrongPin, match=f"{left} attempt"):
            ann.change_pin("13572469", "40617283", "40617283")
    with pytest.raises(Wiped, match="too many wrong PINs"):
        ann.change_pin("13572469", "40617283", "40617283")
    assert ann.setup() is Setup.NEW and ann.wiped
    assert sorted(p.name for p in ann.data.rglob("*") if p.is_file()) == []
    with pytest.raises(NotOpen, match="locked"):
        ann.today()


def test_an_unreachable_hub_is_said_in_the_status_and_nothing_is_lost(
        ann: PhoneService, hub: Hub) -> None:
    ann.act("visit-1", "sign_out", SIGN_OUT)
    hub.stop()
    hub.server = None
    import time
    time.sleep(0.3)
    status = ann.sync()
    assert status.last_failure and status.waiting >= 1
    assert ann.state("visit-1").phase is Phase.SIGNED_OUT


def test_what_the_phone_refuses_before_it_is_enrolled(tmp_path: Path, clock: Clock) -> None:
    phone = new_phone(tmp_path, clock)
    assert phone.lock_after() == 5  # the default until the school's pack says
    phone.create(PIN, DURESS)
    for asked in (phone.today, phone.me, phone.pack):
        with pytest.raises(NotOpen, match="not enrolled"):
            asked()
    with pytest.raises(ServiceError, match="Invalid IPv6"):
        phone.enrol("http://[::1", "A" * 36)
    phone.lock()
    phone.lock()  # locking a locked phone changes nothing
    phone.unlock(DURESS)  # before enrolment there is no hub to tell: a decoy, as ever
    assert phone.repository.visit_ids() == () and len(phone.repository.unlocks()) == 2


def test_a_duress_alert_with_no_visit_out_is_not_a_visit_on_today(ann: PhoneService,
                                                                  hub: Hub) -> None:
    ann.lock()
    ann.unlock(DURESS)
    assert ann.repository.visit_ids() == ("visit-1",)
    assert [card.visit_id for card in ann.today()] == ["visit-1"]
    ann.sync()
    alerts = [e for e in hub.events() if e.type is EventType.DURESS_ALERT]
    assert [e.visit_id for e in alerts] == [f"device-{ann.me().device_id}"]


def test_a_visit_this_member_of_staff_is_not_on_is_not_on_today(ann: PhoneService) -> None:
    plan = Event.from_dict({**Event(new_event_id(datetime.now(UTC), bytes(10)), "visit-ben",
                                    EventType.PLANNED, datetime.now(UTC), ann.me(), {}).to_dict(),
                            "payload": sample(EventType.PLANNED, staff=STAFF[1:])})
    ann.repository.append([plan], synced=True)  # Ben's alone: a plan this phone was sent
    assert ann.state("visit-ben").phase is not Phase.NEW
    assert [card.visit_id for card in ann.today()] == ["visit-1"]


def test_a_policy_that_cannot_be_read_is_said(ann: PhoneService) -> None:
    ann.repository.set("pack", "not = [a pack")
    with pytest.raises(ServiceError, match="policy on this phone cannot be read"):
        ann.today()


def test_a_command_the_engine_cannot_take_is_said(ann: PhoneService) -> None:
    ann.act("visit-1", "sign_out", SIGN_OUT)
    with pytest.raises(ServiceError, match="cannot record 'checklist_answered'"):
        ann.answer("visit-1", "no-such-question", True)


def test_no_safe_phrase_call_without_a_number_to_dial(ann: PhoneService) -> None:
    ann.act("visit-1", "sign_out", SIGN_OUT)
    pack = ann.repository.get("pack")
    ann.repository.set("pack", pack.replace('reception_phone = "01902 558870"',
                                            'reception_phone = ""'))
    ann.repository.set("contacts", {})
    with pytest.raises(ServiceError, match="does not have reception's number"):
        ann.call("visit-1", "safe_phrase")
    assert ann.call("visit-1", "emergency").tel == "tel:999"  # 999 needs no school number


def test_a_revoked_phone_is_wiped_and_says_so(ann: PhoneService, hub: Hub) -> None:
    hub.directory.revoke("uplands", ann.me().device_id, datetime.now(UTC))
    with pytest.raises(ServiceError, match="the school has revoked this phone"):
        ann.sync()
    assert ann.wiped and ann.setup() is Setup.NEW


def test_wiping_a_locked_phone(ann: PhoneService) -> None:
    ann.lock()
    ann.wipe()
    assert ann.setup() is Setup.NEW


def wait_until(condition: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not within the time"
        time.sleep(0.02)


def test_an_alert_reaches_the_hub_in_the_background_and_the_screens_hear_of_it(
        ann: PhoneService, hub: Hub) -> None:
    heard = threading.Event()
    stop_listening = ann.listen(heard.set)
    ann.act("visit-1", "sign_out", SIGN_OUT)
    ann.call("visit-1", "safe_phrase")
    ann.sync_soon()  # as the help bar does: nobody waits for "Sync now"
    wait_until(lambda: EventType.SAFE_PHRASE_USED in {e.type for e in hub.events("visit-1")})
    wait_until(heard.is_set)
    assert ann.status().waiting == 0
    heard.clear()
    stop_listening()
    ann.act("visit-1", "arrive", {})
    ann.sync_soon()  # the same loop, woken
    wait_until(lambda: EventType.ARRIVED in {e.type for e in hub.events("visit-1")})
    assert not heard.is_set(), "a listener that stopped is not told"
    stop_listening()  # twice: nothing happens


def test_a_screen_gone_does_not_stop_the_background_sync(ann: PhoneService, hub: Hub) -> None:
    told: list[str] = []

    def gone() -> None:
        told.append("gone")
        raise RuntimeError("Event loop is closed")  # a browser tab that was closed

    ann.listen(gone)
    ann.listen(lambda: told.append("open"))
    ann.sync_soon()
    wait_until(lambda: told == ["gone", "open"])
    ann.act("visit-1", "sign_out", SIGN_OUT)
    ann.sync_soon()
    wait_until(lambda: EventType.SIGNED_OUT in {e.type for e in hub.events("visit-1")})
    wait_until(lambda: told == ["gone", "open", "open"])


def test_nothing_syncs_while_locked_and_locking_stops_the_background_sync(
        ann: PhoneService, hub: Hub) -> None:
    ann.sync_soon()
    ann.lock()
    ann.sync_soon()  # locked: nothing to sync with
    ann.unlock(PIN)
    ann.act("visit-1", "sign_out", SIGN_OUT)
    time.sleep(0.3)
    assert EventType.SIGNED_OUT not in {e.type for e in hub.events("visit-1")}, \
        "the loop of the locked phone is gone"
    ann.sync_soon()  # unlocked: a new loop
    wait_until(lambda: EventType.SIGNED_OUT in {e.type for e in hub.events("visit-1")})
