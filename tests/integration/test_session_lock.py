"""The phone locks itself after the school's idle time; the PIN opens it again."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fieldapp.crypto.keystore import MemoryKeystore
from fieldapp.crypto.vault import Locked, ScryptParams, Vault
from fieldapp.domain.policy import load_pack

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
FAST = ScryptParams(n=2**10, r=8, p=1)


def test_the_phone_locks_after_the_packs_idle_time(tmp_path: Path) -> None:
    pack = replace(load_pack("uplands-junior"), lock_after_minutes=2)
    keystore = MemoryKeystore()
    Vault.create(tmp_path, "28491375", "71930564", keystore, NOW, kdf_params=FAST, kdf_floor=FAST)
    session = Vault.open(tmp_path, keystore).unlock("28491375", NOW)
    session.touch(NOW + timedelta(minutes=1))  # a tap
    assert not session.is_locked(NOW + timedelta(minutes=2, seconds=59), pack.lock_after_minutes)
    assert session.is_locked(NOW + timedelta(minutes=3), pack.lock_after_minutes)
    with pytest.raises(Locked, match="enter the PIN again"):
        _ = session.key
    again = Vault.open(tmp_path, keystore).unlock("28491375", NOW + timedelta(minutes=4))
    assert len(again.key) == 32
