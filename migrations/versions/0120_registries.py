"""registry endpoints, with encrypted credentials

Revision ID: 0120_registries
Revises: 0109_cosign_keys
Create Date: 2026-12-01 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0120_registries"
down_revision = "0109_cosign_keys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # placeholder: its helper writes the tables


def downgrade() -> None:
    pass
