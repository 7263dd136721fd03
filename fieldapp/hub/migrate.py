"""The hub's schema, migrated in place: Alembic revisions in `fieldapp/hub/migrations/`, run from
code (there is no alembic.ini).

`upgrade(engine)` brings the database to the newest revision this hub knows, in one
transaction, holding a lock, so hub workers starting together migrate it once: the others
wait, then find nothing left to do.

- An empty database gets every revision.
- A database the hub made before it had migrations (`create_all`, no `alembic_version`) holds
  exactly revision 0001's tables: it is stamped 0001 as it is, then upgraded. One with only
  some of them, or with other columns, is refused: it is not the hub's to guess about.
- A database at a revision this hub does not know was migrated by newer hub software: it is
  refused, unchanged, rather than run by code that does not understand its schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Final

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import DBAPIError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS: Final = Path(__file__).with_name("migrations")
BASELINE: Final = "0001"
# The newest revision in MIGRATIONS (tests/hub/test_migrations.py checks it): a database
# already there is not looked at further, so that a command starts without loading Alembic.
HEAD: Final = "0005"
# The tables (and their columns) the hub's `create_all` made before it had migrations.
BEFORE_MIGRATIONS: Final = {
    "schools": {"id", "name", "pack_id"},
    "staff": {"id", "school_id", "name", "role", "safeguarding_trained"},
    "devices": {"id", "school_id", "staff_id", "name", "token_hash", "enrolled_at",
                "revoked_at"},
    "enrol_codes": {"code_hash", "school_id", "staff_id", "expires_at", "used_at"},
    "events": {"seq", "id", "school_id", "visit_id", "type", "device_id", "body"},
    "visit_staff": {"school_id", "visit_id", "staff_id"},
}
# PostgreSQL's advisory lock for migrating: a number nothing else in the hub locks ("fieldapp").
LOCK_KEY: Final = 0x6669656C64617070


class MigrationRefused(RuntimeError):
    """The hub will not migrate this database as it is; nothing was changed. The message says
    why, and is safe to show."""


class NotReady(MigrationRefused):
    """The database is not one this hub can run on as it is: missing, empty, or at another
    schema revision. Only `init` makes a database and only `migrate` changes its schema."""


def is_empty(engine: Engine) -> bool:
    """Whether the database holds nothing of a hub's (no revision, none of its tables)."""
    with engine.connect() as connection:
        return _revision(connection) is None and not _made_before_migrations(connection)


def require_hub(engine: Engine) -> None:
    """Refuse (NotReady) a database with none of the hub's tables."""
    if is_empty(engine):
        raise empty(where(engine))


def empty(database: str) -> NotReady:
    return NotReady(f"{database} holds no hub: it is empty. `fieldapp-hub init` makes a new "
                    "hub; to restore one, see `fieldapp-hub restore`")


def require_head(engine: Engine) -> None:
    """Refuse (NotReady) a database this hub cannot run on without changing it: one with none
    of the hub's tables, or with a schema at another revision than HEAD."""
    if _at_head(engine):
        return
    require_hub(engine)
    revision = current(engine)
    if revision is not None and revision > HEAD:  # revisions are numbered: 0001, 0002...
        raise NotReady(
            f"{where(engine)} has its schema at revision {revision}, newer than this hub's "
            f"{HEAD}: it was migrated by a newer version of the hub. Run that version; nothing "
            "was changed")
    raise NotReady(
        f"{where(engine)} has its schema at revision {revision or 'from before migrations'}, and "
        f"this hub runs on {HEAD}. Upgrade it on purpose: back it up, stop every hub process, "
        "then run `fieldapp-hub migrate` (docs/hub.md, Upgrading); nothing was changed")


def where(engine: Engine) -> str:
    """The database's URL without its password, for messages."""
    return engine.url.render_as_string(hide_password=True)


def upgrade(engine: Engine) -> str:
    """Migrate the database to this hub's newest revision; answer that revision."""
    if _at_head(engine):
        return HEAD
    from alembic import command

    with _migrating(engine) as (connection, config):
        if _revision(connection) is None and _made_before_migrations(connection):
            command.stamp(config, BASELINE)
        command.upgrade(config, "head")
        return str(_revision(connection))


def downgrade(engine: Engine, revision: str) -> None:
    """Take the schema back to `revision` ("base": none of the hub's tables), e.g. before
    going back to older hub software. This drops what later revisions added, data included."""
    from alembic import command

    with _migrating(engine) as (_connection, config):
        command.downgrade(config, revision)


def current(engine: Engine) -> str | None:
    """The database's revision (None: not migrated yet)."""
    with engine.connect() as connection:
        return _revision(connection)


def _at_head(engine: Engine) -> bool:
    """Whether the database is at HEAD already, by one plain query."""
    try:
        with engine.connect() as connection:
            found = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    except DBAPIError:  # no such table: a new database, or one from before migrations
        return False
    return [row[0] for row in found] == [HEAD]


@contextmanager
def _migrating(engine: Engine) -> Iterator[tuple[Connection, Config]]:
    """One transaction holding the migration lock, at a revision this hub knows."""
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    with engine.connect() as connection:
        # The lock comes first and is held until the transaction ends; every statement after
        # it sees what the worker that held it before committed (PostgreSQL at READ COMMITTED,
        # as the hub's engines are; SQLite reads from once it holds the write lock).
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({LOCK_KEY})")
        else:  # SQLite: the write lock, at once; other processes wait for it (busy_timeout)
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
        config.attributes["connection"] = connection
        script = ScriptDirectory.from_config(config)
        known = {revision.revision for revision in script.walk_revisions()}
        unknown = sorted(set(MigrationContext.configure(connection).get_current_heads()) - known)
        if unknown:
            raise MigrationRefused(
                f"the database's schema is at revision {', '.join(unknown)}, newer than this "
                f"hub knows (its newest is {script.get_current_head()}): it was migrated by a "
                "newer version of the hub. Run that version (or restore a backup from before "
                "the upgrade); nothing was changed")
        yield connection, config
        connection.commit()


def _revision(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def _made_before_migrations(connection: Connection) -> bool:
    """Whether this unversioned database holds the hub's tables from before migrations (False:
    it holds none of them, so it is new to the hub)."""
    inspector = inspect(connection)
    present = set(inspector.get_table_names()) & BEFORE_MIGRATIONS.keys()
    if not present:
        return False
    wrong = [name for name, columns in BEFORE_MIGRATIONS.items()
             if name not in present
             or {column["name"] for column in inspector.get_columns(name)} != columns]
    if wrong:
        raise MigrationRefused(
            "the database has some of the hub's tables but no schema revision, and they are "
            "not those the hub made before it had migrations (missing or different: "
            f"{', '.join(wrong)}): it will not guess how to migrate it; nothing was changed")
    return True
