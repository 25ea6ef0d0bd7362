"""trusted cosign public keys, per project

Revision ID: 0109_cosign_keys
Revises: 0108_referrers
Create Date: 2026-12-20 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0109_cosign_keys"
down_revision = "0108_referrers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cosign_keys",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "project_id",
            sa.Integer(),
            sa.ForeignKey("projects.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("algorithm", sa.String(length=32), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("pem", sa.Text(), nullable=False),
        sa.Column("creator", sa.String(length=255), nullable=False),
        sa.Column("creation_time", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("project_id", "fingerprint", name="uq_cosign_keys_project_key"),
    )


def downgrade() -> None:
    op.drop_table("cosign_keys")
