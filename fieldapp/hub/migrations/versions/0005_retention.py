"""0005: children's data kept only as long as the school says. Retention rules per school and
kind of record; the DSL's holds on visits (kept whatever the rules say, and never erased);
children's dates of birth, for rules that keep records until the child reaches an age; and the
visits erased (ids only), so that a phone sending one again cannot bring it back."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "retention_rules",
        sa.Column("school_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("after_years", sa.Integer(), nullable=True),
        sa.Column("until_age", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("school_id", "kind"),
        sa.ForeignKeyConstraint(["school_id"], ["schools.id"]),
    )
    op.create_table(
        "holds",
        sa.Column("school_id", sa.String(64), nullable=False),
        sa.Column("visit_id", sa.String(128), nullable=False),
        sa.Column("staff_id", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.PrimaryKeyConstraint("school_id", "visit_id"),
    )
    op.create_table(
        "children",
        sa.Column("school_id", sa.String(64), nullable=False),
        sa.Column("child_ref", sa.String(64), nullable=False),
        sa.Column("born", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("school_id", "child_ref"),
    )
    op.create_table(
        "erased_visits",
        sa.Column("school_id", sa.String(64), nullable=False),
        sa.Column("visit_id", sa.String(128), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("school_id", "visit_id"),
    )


def downgrade() -> None:
    for table in ("erased_visits", "children", "holds", "retention_rules"):
        op.drop_table(table)
