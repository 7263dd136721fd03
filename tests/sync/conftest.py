"""The sync tests run against a hub on embedded SQLite and on PostgreSQL (127.0.0.1:5432):
each test a database of its own. Without PostgreSQL its tests are skipped on a developer's
machine and fail in CI (CI=true), where a missing dependency is never a skip."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from fieldapp.hub.events_store import connect
from tests.hub.conftest import POSTGRES


def new_database(tmp_path: Path, kind: str) -> Iterator[Engine]:
    """A new, empty hub database of `kind`, dropped afterwards."""
    if kind == "sqlite":
        engine = connect(f"sqlite:///{tmp_path / f'hub-{uuid.uuid4().hex[:8]}.db'}")
        yield engine
        engine.dispose()
        return
    import psycopg

    admin = POSTGRES.replace("postgresql+psycopg://", "postgresql://") + "/test"
    name = f"sync_test_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required in CI and is not reachable: {error}")
        pytest.skip(f"no PostgreSQL at {POSTGRES}: {error}")
    engine = connect(f"{POSTGRES}/{name}")
    yield engine
    engine.dispose()
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def hub_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from new_database(tmp_path, request.param)
