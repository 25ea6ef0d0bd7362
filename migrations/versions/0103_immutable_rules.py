"""tag immutability rules, per project

Revision ID: 0103_immutable_rules
Revises: 0102_robots_and_revocations
Create Date: 2026-12-08 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0103_immutable_rules"
down_revision = "0102_robots_and_revocations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "immutable_rules",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "project_id",
            sa.Integer(),
            sa.ForeignKey("projects.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("priority", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("template", sa.String(length=64), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("tag_selectors", sa.JSON(), nullable=False),
        sa.Column("scope_selectors", sa.JSON(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("creation_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("project_id", "fingerprint", name="uq_immutable_rules_project_rule"),
    )


def downgrade() -> None:
    op.drop_table("immutable_rules")
