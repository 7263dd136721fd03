"""Opening the store with a PIN: duress raises a silent alert, rotation re-keys everything,
and a wipe takes the store with the vault."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fieldapp.crypto.keystore import MemoryKeystore
from fieldapp.crypto.sealing import TOKEN_SIZE, HubKeyPair, open_token
from fieldapp.crypto.storage import WrongKeyError
from fieldapp.crypto.vault import ScryptParams, Vault, Wiped, WrongPin
from fieldapp.domain.events import Author, Event, EventType
from fieldapp.domain.journeys import let_in
from fieldapp.domain.lifecycle import Phase
from fieldapp.domain.policy import load_pack
from fieldapp.domain.simulate import SimulatedVisit
from fieldapp.domain.state import fold
from fieldapp.store.repository import EncryptedRepository
from fieldapp.store.session import STORE, Sender, open_store, rekey_repository, rotate_key

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
FAST = ScryptParams(n=2**10, r=8, p=1)
PIN, DURESS = "28491375", "71930564"
AUTHOR = Author("staff-ann", "phone-a")
HUB = HubKeyPair.generate()
SENDER = Sender(AUTHOR, HUB.public_bytes())


def new_vault(tmp_path: Path) -> tuple[Vault, MemoryKeystore]:
    keystore = MemoryKeystore()
    Vault.create(tmp_path, PIN, DURESS, keystore, NOW, kdf_params=FAST, kdf_floor=FAST)
    return Vault.open(tmp_path, keystore), keystore


def out_on_a_visit(stop_before: str = "Went in") -> SimulatedVisit:
    visit = SimulatedVisit(load_pack("uplands-junior"), NOW)
    for label, minutes, command in let_in(visit):
        if label == stop_before:
            break
        visit.do(command, after_minutes=minutes)
    return visit


def alert_in(token: bytes) -> list[Event]:
    """What the hub reads in an unlock token: the duress alert's events, or nothing."""
    opened = open_token(HUB, token)
    return [] if opened is None else [Event.from_dict(e) for e in json.loads(opened)["events"]]


def test_the_duress_pin_seals_a_silent_alert_for_the_visit_staff_are_on_to_the_hub(
    tmp_path: Path,
) -> None:
    vault, _ = new_vault(tmp_path)
    opened = open_store(vault, PIN, NOW, SENDER)
    visit = out_on_a_visit()
    opened.repository.append(visit.events)
    opened.close()

    duress = open_store(vault, DURESS, NOW + timedelta(minutes=40), SENDER)
    state = fold(duress.repository.events(visit.visit_id))
    assert state.phase is Phase.AT_DOOR and state.alerts == ()  # nothing shows, nothing changed
    assert [e.type for e in duress.repository.unsynced()] == [e.type for e in visit.events]
    first, second = duress.repository.unlocks()  # the normal unlock's, then the duress one's
    assert alert_in(first) == []
    (alert,) = alert_in(second)
    assert (alert.type, alert.visit_id, alert.author) == (EventType.DURESS_ALERT,
                                                          visit.visit_id, AUTHOR)
    assert alert.payload == {"silent": True}
    duress.close()


def test_a_duress_unlock_with_no_visit_out_alerts_on_the_devices_record(tmp_path: Path) -> None:
    vault, _ = new_vault(tmp_path)
    duress = open_store(vault, DURESS, NOW, SENDER)
    assert duress.repository.visit_ids() == ()
    (alert,) = alert_in(duress.repository.unlocks()[0])
    assert alert.visit_id == "device-phone-a" and alert.author == AUTHOR
    duress.close()


def test_a_duress_alert_carries_as_many_visits_out_as_its_token_holds(tmp_path: Path) -> None:
    vault, _ = new_vault(tmp_path)
    opened = open_store(vault, PIN, NOW)
    for n in range(40):
        visit = SimulatedVisit(load_pack("uplands-junior"), NOW, visit_id=f"visit-{n:02d}",
                               seed=n + 1)
        for label, minutes, command in let_in(visit):
            if label == "Went in":
                break
            visit.do(command, after_minutes=minutes)
        opened.repository.append(visit.events)
    opened.close()
    duress = open_store(vault, DURESS, NOW, SENDER)
    alerts = alert_in(duress.repository.unlocks()[-1])
    assert 10 < len(alerts) < 40 and len({a.visit_id for a in alerts}) == len(alerts)
    duress.close()


def test_a_normal_unlock_or_one_before_enrolment_seals_only_a_decoy(tmp_path: Path) -> None:
    vault, _ = new_vault(tmp_path)
    for pin, sender in ((PIN, SENDER), (DURESS, None), (PIN, None)):
        opened = open_store(vault, pin, NOW, sender)
        assert opened.repository.visit_ids() == () and opened.session.duress is (pin == DURESS)
        tokens = opened.repository.unlocks()
        opened.close()
    assert len(tokens) == 3 and all(alert_in(t) == [] for t in tokens)
    assert {len(t) for t in tokens} == {TOKEN_SIZE}


def test_a_duress_unlock_looks_like_a_normal_one_in_every_file(tmp_path: Path) -> None:
    """The same files, of the same sizes, after a normal unlock as after a duress one."""
    sizes = []
    for pin in (PIN, DURESS):
        folder = tmp_path / pin
        vault, _ = new_vault(folder)
        opened = open_store(vault, PIN, NOW, SENDER)
        opened.repository.append(out_on_a_visit().events)
        opened.close()
        open_store(vault, pin, NOW, SENDER).close()
        sizes.append({str(p.relative_to(folder)): p.stat().st_size
                      for p in folder.rglob("*") if p.is_file()})
    assert sizes[0] == sizes[1]


def test_rotation_re_keys_the_whole_store(tmp_path: Path) -> None:
    vault, _ = new_vault(tmp_path)
    opened = open_store(vault, PIN, NOW)
    old_key = opened.session.key
    visit = out_on_a_visit()
    opened.repository.append(visit.events)
    opened.close()

    rotate_key(vault, PIN, DURESS, NOW)
    with pytest.raises(WrongKeyError):
        EncryptedRepository(tmp_path / STORE, old_key)
    again = open_store(vault, PIN, NOW)
    assert again.session.key != old_key
    assert [e.id for e in again.repository.events(visit.visit_id)] == [e.id for e in visit.events]
    again.close()


def test_a_rotation_cut_short_is_finished_on_the_next_unlock(tmp_path: Path) -> None:
    vault, _ = new_vault(tmp_path)
    opened = open_store(vault, PIN, NOW)
    visit = out_on_a_visit()
    opened.repository.append(visit.events)
    opened.close()
    old, new = vault.rotate(PIN, DURESS, NOW)  # then the phone died
    again = open_store(vault, PIN, NOW)
    assert len(again.repository.events(visit.visit_id)) == len(visit.events)
    again.close()
    assert vault.rotation_pending is False
    # repeating the store step after it is done is harmless
    generation, anchor = rekey_repository(vault, old, new)
    assert generation == vault.generation
    vault.finish_rotation(generation, anchor)
    third = open_store(vault, PIN, NOW)
    assert len(third.repository.events(visit.visit_id)) == len(visit.events)
    third.close()


def test_ten_wrong_pins_wipe_the_store_with_the_vault(tmp_path: Path) -> None:
    vault, keystore = new_vault(tmp_path)
    opened = open_store(vault, PIN, NOW)
    opened.repository.append(out_on_a_visit().events)
    opened.close()
    for _ in range(9):
        with pytest.raises(WrongPin):
            open_store(vault, "99999990", NOW)
    with pytest.raises(Wiped):
        open_store(vault, "99999990", NOW)
    assert list(tmp_path.iterdir()) == [] and keystore.names() == frozenset()
