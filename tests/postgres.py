"""A PostgreSQL database of a test's own (127.0.0.1:5432, trust auth), dropped afterwards.

Without a PostgreSQL server the test is skipped on a developer's machine, and fails in CI
(CI=true), where a missing dependency is never a skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

POSTGRES = os.environ.get("HUB_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432")


@contextmanager
def fresh_database(prefix: str) -> Iterator[str]:
    """The URL of a new, empty database named `prefix_<random>`."""
    import psycopg

    admin = POSTGRES.replace("postgresql+psycopg://", "postgresql://") + "/test"
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required in CI and is not reachable: {error}")
        pytest.skip(f"no PostgreSQL at {POSTGRES}: {error}")
    try:
        yield f"{POSTGRES}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
