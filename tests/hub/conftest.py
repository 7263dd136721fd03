"""Every hub test runs on embedded SQLite and on PostgreSQL (127.0.0.1:5432, trust auth).

Each PostgreSQL test session gets a database of its own, dropped at the end. Without a
PostgreSQL server the PostgreSQL tests are skipped on a developer's machine, and fail in CI
(CI=true), where a missing dependency is never a skip.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, MetaData, make_url

from fieldapp.hub.events_store import connect
from tests.hub.outage import Relay
from tests.hub.world import School, World
from tests.postgres import fresh_database


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with fresh_database("hub_test") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
        Engine]:
    yield from hub_database(request, tmp_path_factory)


def hub_database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[Engine]:
    """A fresh hub database of the kind the test asks for (request.param), emptied after."""
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


@pytest.fixture
def relayed() -> Iterator[tuple[Engine, Relay]]:
    """A hub's database on PostgreSQL, reached through a relay that can be cut."""
    with fresh_database("hub_outage") as url:
        parsed = make_url(url)
        relay = Relay((str(parsed.host), int(parsed.port or 5432)))
        engine = connect(parsed.set(port=relay.port).render_as_string(hide_password=False))
        yield engine, relay
        engine.dispose()
        relay.close()
