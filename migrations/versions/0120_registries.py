"""registry endpoints, with encrypted credentials

Revision ID: 0120_registries
Revises: 0111_cve_allowlists
Create Date: 2026-12-01 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0120_registries"
down_revision = "0111_cve_allowlists"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("insecure", sa.Boolean(), nullable=False),
        sa.Column("ca_certificate", sa.Text(), nullable=True),
        sa.Column("credential_type", sa.String(16), nullable=False),
        sa.Column("access_key", sa.String(1024), nullable=True),
        sa.Column("access_secret_sealed", sa.Text(), nullable=True),
        sa.Column("rate_per_second", sa.Float(), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_message", sa.Text(), nullable=False),
        sa.Column("checked_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("creation_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("registries")
