"""Every hub test runs on embedded SQLite and on PostgreSQL (127.0.0.1:5432, trust auth).

Each PostgreSQL test session gets a database of its own, dropped at the end. Without a
PostgreSQL server the PostgreSQL tests are skipped on a developer's machine, and fail in CI
(CI=true), where a missing dependency is never a skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, MetaData

from fieldapp.hub.events_store import connect
from tests.hub.world import School, World

POSTGRES = os.environ.get("HUB_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    import psycopg

    admin = POSTGRES.replace("postgresql+psycopg://", "postgresql://") + "/test"
    name = f"hub_test_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required in CI and is not reachable: {error}")
        pytest.skip(f"no PostgreSQL at {POSTGRES}: {error}")
    yield f"{POSTGRES}/{name}"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
        Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('hub') / 'hub.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = connect(url)
    yield engine
    if request.param == "postgresql":
        everything = MetaData()  # every table there, the migrations' own record included
        everything.reflect(engine)
        everything.drop_all(engine)
    engine.dispose()


@pytest.fixture
def world(engine: Engine) -> World:
    """Two schools with a console user of every role, phones and visits (tests/hub/world.py)."""
    return World(engine)


@pytest.fixture
def uplands(world: World) -> School:
    return world.schools["uplands"]
