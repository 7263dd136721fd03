"""0002: the console and sealed records: console logins and sessions, the audit log of case
content reads, sealed visit records (kept sealed), a school's own imported policy pack, and
the roles in it that each member of staff holds."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "console_logins",
        sa.Column("staff_id", sa.String(64), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("staff_id"),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"]),
    )
    op.create_table(
        "console_sessions",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("staff_id", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token_hash"),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"]),
    )
    op.create_index("ix_console_sessions_staff_id", "console_sessions", ["staff_id"])
    op.create_table(
        "audit_log",
        sa.Column("seq", SEQ, autoincrement=True, nullable=False),
        sa.Column("school_id", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("staff_id", sa.String(64), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("subject", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index("audit_school_seq", "audit_log", ["school_id", "seq"])
    op.create_table(
        "sealed_records",
        sa.Column("seq", SEQ, autoincrement=True, nullable=False),
        sa.Column("record_id", sa.String(64), nullable=False),
        sa.Column("school_id", sa.String(64), nullable=False),
        sa.Column("visit_id", sa.String(128), nullable=False),
        sa.Column("hub_key", sa.String(16), nullable=False),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("envelope", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("school_id", "record_id", name="sealed_school_record"),
    )
    op.create_index("sealed_school_visit", "sealed_records", ["school_id", "visit_id"])
    op.create_table(
        "staff_pack_roles",
        sa.Column("staff_id", sa.String(64), nullable=False),
        sa.Column("role", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("staff_id", "role"),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"]),
    )
    op.create_table(
        "school_packs",
        sa.Column("school_id", sa.String(64), nullable=False),
        sa.Column("version", sa.String(16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("school_id"),
        sa.ForeignKeyConstraint(["school_id"], ["schools.id"]),
    )


def downgrade() -> None:
    for table in ("school_packs", "staff_pack_roles", "sealed_records", "audit_log",
                  "console_sessions", "console_logins"):
        op.drop_table(table)
