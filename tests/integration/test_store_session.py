"""Opening the store with a PIN: duress raises a silent alert, rotation re-keys everything,
and a wipe takes the store with the vault."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fieldapp.crypto.keystore import MemoryKeystore
from fieldapp.crypto.storage import WrongKeyError
from fieldapp.crypto.vault import ScryptParams, Vault, Wiped, WrongPin
from fieldapp.domain.events import Author, EventType
from fieldapp.domain.journeys import let_in
from fieldapp.domain.lifecycle import Phase
from fieldapp.domain.policy import load_pack
from fieldapp.domain.simulate import SimulatedVisit
from fieldapp.domain.state import fold
from fieldapp.store.repository import EncryptedRepository
from fieldapp.store.session import STORE, open_store, rekey_repository, rotate_key

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
FAST = ScryptParams(n=2**10, r=8, p=1)
PIN, DURESS = "28491375", "71930564"
AUTHOR = Author("staff-ann", "phone-a")


def new_vault(tmp_path: Path) -> tuple[Vault, MemoryKeystore]:
    keystore = MemoryKeystore()
    Vault.create(tmp_path, PIN, DURESS, keystore, NOW, kdf_params=FAST)
    return Vault.open(tmp_path, keystore), keystore


def out_on_a_visit(stop_before: str = "Went in") -> SimulatedVisit:
    visit = SimulatedVisit(load_pack("uplands-junior"), NOW)
    for label, minutes, command in let_in(visit):
        if label == stop_before:
            break
        visit.do(command, after_minutes=minutes)
    return visit


def test_the_duress_pin_opens_the_store_and_silently_alerts_the_visit_staff_are_on(
    tmp_path: Path,
) -> None:
    vault, _ = new_vault(tmp_path)
    opened = open_store(vault, PIN, NOW, AUTHOR)
    visit = out_on_a_visit()
    opened.repository.append(visit.events)
    opened.close()

    duress = open_store(vault, DURESS, NOW + timedelta(minutes=40), AUTHOR)
    state = fold(duress.repository.events(visit.visit_id))
    assert state.phase is Phase.AT_DOOR  # nothing else changed
    assert [a.detail["type"] for a in state.alerts] == ["duress_alert"]
    assert state.alerts[0].detail["silent"] is True
    assert duress.repository.unsynced()[-1].type is EventType.DURESS_ALERT  # it will sync
    duress.close()


def test_a_duress_unlock_with_no_visit_out_alerts_on_the_devices_record(tmp_path: Path) -> None:
    vault, _ = new_vault(tmp_path)
    duress = open_store(vault, DURESS, NOW, AUTHOR)
    assert duress.repository.visit_ids() == ("device-phone-a",)
    (alert,) = duress.repository.events("device-phone-a")
    assert alert.type is EventType.DURESS_ALERT and alert.author == AUTHOR
    duress.close()


def test_a_normal_unlock_raises_no_alert(tmp_path: Path) -> None:
    vault, _ = new_vault(tmp_path)
    opened = open_store(vault, PIN, NOW, AUTHOR)
    assert opened.repository.visit_ids() == () and not opened.session.duress
    opened.close()


def test_rotation_re_keys_the_whole_store(tmp_path: Path) -> None:
    vault, _ = new_vault(tmp_path)
    opened = open_store(vault, PIN, NOW, AUTHOR)
    old_key = opened.session.key
    visit = out_on_a_visit()
    opened.repository.append(visit.events)
    opened.close()

    rotate_key(vault, PIN, DURESS, NOW)
    with pytest.raises(WrongKeyError):
        EncryptedRepository(tmp_path / STORE, old_key)
    again = open_store(vault, PIN, NOW, AUTHOR)
    assert again.session.key != old_key
    assert [e.id for e in again.repository.events(visit.visit_id)] == [e.id for e in visit.events]
    again.close()


def test_a_rotation_cut_short_is_finished_on_the_next_unlock(tmp_path: Path) -> None:
    vault, _ = new_vault(tmp_path)
    opened = open_store(vault, PIN, NOW, AUTHOR)
    visit = out_on_a_visit()
    opened.repository.append(visit.events)
    opened.close()
    old, new = vault.rotate(PIN, DURESS, NOW)  # then the phone died
    again = open_store(vault, PIN, NOW, AUTHOR)
    assert len(again.repository.events(visit.visit_id)) == len(visit.events)
    again.close()
    assert vault.rotation_pending is False
    # repeating the store step after it is done is harmless
    generation, anchor = rekey_repository(vault, old, new)
    assert generation == vault.generation
    vault.finish_rotation(generation, anchor)
    third = open_store(vault, PIN, NOW, AUTHOR)
    assert len(third.repository.events(visit.visit_id)) == len(visit.events)
    third.close()


def test_ten_wrong_pins_wipe_the_store_with_the_vault(tmp_path: Path) -> None:
    vault, keystore = new_vault(tmp_path)
    opened = open_store(vault, PIN, NOW, AUTHOR)
    opened.repository.append(out_on_a_visit().events)
    opened.close()
    for _ in range(9):
        with pytest.raises(WrongPin):
            open_store(vault, "99999990", NOW, AUTHOR)
    with pytest.raises(Wiped):
        open_store(vault, "99999990", NOW, AUTHOR)
    assert list(tmp_path.iterdir()) == [] and keystore.names() == frozenset()
