"""0004: what the phones' sync needs. An enrolment whose answer was lost can be retried with
the same code and request id (`enrol_codes.claim_hash`, `device_id`); the school's contacts
(reception and school numbers, the DSL's mobile, office hours) reach the phones on pull; and the
hub names its database (`hub_meta.database_id`), so a phone notices a database it has not met
(a restored backup) and starts again."""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("enrol_codes") as codes:
        codes.add_column(sa.Column("claim_hash", sa.String(64), nullable=True))
        codes.add_column(sa.Column("device_id", sa.String(64), nullable=True))
    op.create_table(
        "school_contacts",
        sa.Column("school_id", sa.String(64), nullable=False),
        sa.Column("reception_phone", sa.String(32), nullable=False),
        sa.Column("school_phone", sa.String(32), nullable=False),
        sa.Column("dsl_mobile", sa.String(32), nullable=False),
        sa.Column("office_hours", sa.String(100), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("school_id"),
        sa.ForeignKeyConstraint(["school_id"], ["schools.id"]),
    )
    meta = op.create_table(
        "hub_meta",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.bulk_insert(meta, [{"key": "database_id", "value": secrets.token_hex(16)}])


def downgrade() -> None:
    op.drop_table("hub_meta")
    op.drop_table("school_contacts")
    with op.batch_alter_table("enrol_codes") as codes:
        codes.drop_column("device_id")
        codes.drop_column("claim_hash")
