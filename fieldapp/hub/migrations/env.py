"""What Alembic runs for each command `fieldapp.hub.migrate` gives it: the migrations, on the
connection `migrate` passes in and inside its transaction, which holds the migration lock."""

from __future__ import annotations

from alembic import context

context.configure(
    connection=context.config.attributes["connection"],
    # The same revisions run on SQLite and on PostgreSQL, and SQLite cannot ALTER most of a
    # table: a generated revision should use `op.batch_alter_table`, which works on both.
    render_as_batch=True,
)
with context.begin_transaction():  # the caller's transaction: commits nothing itself
    context.run_migrations()
