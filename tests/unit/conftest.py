"""Fixtures shared by the unit tests."""

from __future__ import annotations

import pytest

from fieldapp.domain.policy import Pack, load_pack


@pytest.fixture
def uplands() -> Pack:
    return load_pack("uplands-junior")
