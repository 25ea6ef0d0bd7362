"""CVE allowlists, system and per project

Revision ID: 0111_cve_allowlists
Revises: 0110_scanning
Create Date: 2026-12-01 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0111_cve_allowlists"
down_revision = "0110_scanning"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # placeholder: its helper writes the tables


def downgrade() -> None:
    pass
