"""portal sessions remember the password they were opened with

Revision ID: 0101_session_password_stamp
Revises: 0100_portal_sessions
Create Date: 2026-11-28 00:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0101_session_password_stamp"
down_revision = "0100_portal_sessions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("portal_sessions") as batch:
        batch.add_column(
            sa.Column("password_stamp", sa.String(length=32), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("portal_sessions") as batch:
        batch.drop_column("password_stamp")
