"""The sync tests run against a hub on embedded SQLite and on PostgreSQL (127.0.0.1:5432):
each test a database of its own. Without PostgreSQL its tests are skipped on a developer's
machine and fail in CI (CI=true), where a missing dependency is never a skip."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from fieldapp.hub.events_store import connect
from tests.postgres import fresh_database


def new_database(tmp_path: Path, kind: str) -> Iterator[Engine]:
    """A new, empty hub database of `kind`, dropped afterwards."""
    if kind == "sqlite":
        engine = connect(f"sqlite:///{tmp_path / f'hub-{uuid.uuid4().hex[:8]}.db'}")
        yield engine
        engine.dispose()
        return
    with fresh_database("sync_test") as url:
        engine = connect(url)
        yield engine
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def hub_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from new_database(tmp_path, request.param)
