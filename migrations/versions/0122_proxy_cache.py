"""proxy-cache projects

Revision ID: 0122_proxy_cache
Revises: 0121_replication
Create Date: 2026-12-01 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0122_proxy_cache"
down_revision = "0121_replication"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # placeholder: its helper writes the tables


def downgrade() -> None:
    pass
