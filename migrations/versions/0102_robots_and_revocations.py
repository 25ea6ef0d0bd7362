"""robot accounts, and the revocations registry tokens are checked against

Revision ID: 0102_robots_and_revocations
Revises: 0101_labels
Create Date: 2026-12-01 12:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0102_robots_and_revocations"
down_revision = "0101_labels"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "robots",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(length=255), nullable=False, unique=True),
        sa.Column("description", sa.Text(), nullable=False, server_default=""),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column(
            "project_id",
            sa.Integer(),
            sa.ForeignKey("projects.id", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column("secret_hash", sa.String(length=255), nullable=False),
        sa.Column("duration", sa.Integer(), nullable=False, server_default="-1"),
        sa.Column("expires_at", sa.BigInteger(), nullable=False, server_default="-1"),
        sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("permissions", sa.JSON(), nullable=False),
        sa.Column("creator_type", sa.String(length=16), nullable=False, server_default="local"),
        sa.Column("creator_ref", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_used", sa.DateTime(timezone=True), nullable=True),
        sa.Column("creation_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_robots_project_id", "robots", ["project_id"])
    op.create_table(
        "revocations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_revocations_at_ms", "revocations", ["at_ms"])


def downgrade() -> None:
    op.drop_index("ix_revocations_at_ms", "revocations")
    op.drop_table("revocations")
    op.drop_index("ix_robots_project_id", "robots")
    op.drop_table("robots")
