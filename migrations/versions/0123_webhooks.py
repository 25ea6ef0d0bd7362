"""webhook policies and deliveries

Revision ID: 0123_webhooks
Revises: 0122_proxy_cache
Create Date: 2026-12-01 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0123_webhooks"
down_revision = "0122_proxy_cache"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # placeholder: its helper writes the tables


def downgrade() -> None:
    pass
