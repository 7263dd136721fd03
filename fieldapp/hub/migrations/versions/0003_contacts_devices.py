"""0003: staff mobiles, for the reception board's escalation steps ("phone the lead visitor's
mobile"); console devices, the browsers a member of staff has signed in from, each with its own
count of wrong passwords (fieldapp.hub.accounts says why)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("staff") as staff:
        staff.add_column(sa.Column("mobile", sa.String(32), nullable=False, server_default=""))
    op.create_table(
        "console_devices",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("staff_id", sa.String(64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token_hash"),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"]),
    )
    op.create_index("ix_console_devices_staff_id", "console_devices", ["staff_id"])


def downgrade() -> None:
    op.drop_table("console_devices")
    with op.batch_alter_table("staff") as staff:
        staff.drop_column("mobile")
