"""0001: the hub's first six tables, as `metadata.create_all` made them before the hub had
migrations (such a database is stamped 0001 as it is).

Constraints are left unnamed, as they were then, so that PostgreSQL names them the same way
in both (e.g. "staff_school_id_fkey"); the two named indexes and the `index=True` ones
("ix_<table>_<column>") keep the names SQLAlchemy gave them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schools",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("pack_id", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "staff",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("school_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("safeguarding_trained", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(["school_id"], ["schools.id"]),
    )
    op.create_index("ix_staff_school_id", "staff", ["school_id"])
    op.create_table(
        "devices",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("school_id", sa.String(64), nullable=False),
        sa.Column("staff_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(["school_id"], ["schools.id"]),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"]),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_devices_school_id", "devices", ["school_id"])
    op.create_table(
        "enrol_codes",
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("school_id", sa.String(64), nullable=False),
        sa.Column("staff_id", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("code_hash"),
        sa.ForeignKeyConstraint(["school_id"], ["schools.id"]),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"]),
    )
    op.create_table(
        "events",
        # BIGSERIAL on PostgreSQL; on SQLite, INTEGER PRIMARY KEY (the rowid) numbers rows.
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  autoincrement=True, nullable=False),
        sa.Column("id", sa.String(26), nullable=False),
        sa.Column("school_id", sa.String(64), nullable=False),
        sa.Column("visit_id", sa.String(128), nullable=False),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("id"),
    )
    op.create_index("events_school_visit", "events", ["school_id", "visit_id"])
    op.create_index("events_school_seq", "events", ["school_id", "seq"])
    op.create_table(
        "visit_staff",
        sa.Column("school_id", sa.String(64), nullable=False),
        sa.Column("visit_id", sa.String(128), nullable=False),
        sa.Column("staff_id", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("school_id", "visit_id", "staff_id"),
    )


def downgrade() -> None:
    op.drop_table("visit_staff")
    op.drop_index("events_school_seq", table_name="events")
    op.drop_index("events_school_visit", table_name="events")
    op.drop_table("events")
    op.drop_table("enrol_codes")
    op.drop_index("ix_devices_school_id", table_name="devices")
    op.drop_table("devices")
    op.drop_index("ix_staff_school_id", table_name="staff")
    op.drop_table("staff")
    op.drop_table("schools")
