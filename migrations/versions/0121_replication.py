"""replication policies, executions and tasks

Revision ID: 0121_replication
Revises: 0120_registries
Create Date: 2026-12-01 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0121_replication"
down_revision = "0120_registries"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # placeholder: its helper writes the tables


def downgrade() -> None:
    pass
